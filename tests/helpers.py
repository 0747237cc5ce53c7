"""One helper per kind of check, called from many small named tests.

* :func:`check_forward` - our forward against an independent reference (naive loops, NumPy).
* :func:`check_kernel` with :func:`lesson_conv2d` / :func:`lesson_max_pool2d` - a compiled kernel
  (``kernels/``) against the lesson (``minitorch_cnn/functional/``).
* :func:`check_grad` - float64 central-difference gradient check on a given backend.
* :func:`check_torch` - forward and every gradient against PyTorch, when it is installed.
* :func:`on` / :func:`assert_namespace` - put host data on a backend and check results stay there;
  :func:`model_on` moves a whole model.
* :func:`check_model_grad` - end-to-end float64 gradient check of a whole model, train or eval mode.
* :func:`count_params` / :func:`no_random_init` (from :mod:`minitorch_cnn.nn.utils`) - parameter counts of
  full-size models, built fast.
* :func:`load_weights_without_torch` - weight files read in a process where torch cannot be imported.
* :func:`write_image` / :func:`rand_pixels` - small image files (PNG, JPEG, ...) written with Pillow.
* :func:`require_mpiexec` / :func:`run_mpiexec` - run a script or the CLI under ``mpiexec -n R``.
* :func:`check_torchvision_names` - a zoo model's state-dict keys, shapes and batch-norm
  hyper-parameters against torchvision's model of the same name, at full size.
* :func:`check_torchvision_logits` - torchvision's weights (with non-trivial batch-norm statistics)
  loaded into the zoo model by key give torchvision's eval-mode logits.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import backend
from minitorch_cnn.distributed import launch
from minitorch_cnn.gradcheck import gradcheck_model
from minitorch_cnn.nn.utils import no_random_init

from bench.torch_models import tolerant_fake_registrations


def on(xp, host, requires_grad=False, dtype=None):
    """A Tensor holding a copy of ``host`` (a NumPy array) in namespace ``xp``: in-place updates
    (running statistics, optimiser steps) must not change the host array the test compares with."""
    host = np.asarray(host)
    if dtype is not None:
        host = host.astype(dtype)
    data = xp.asarray(host, copy=True)
    return mt.Tensor(data, requires_grad=requires_grad)


def model_on(xp, model):
    """``model`` with copies of its parameters and buffers in namespace ``xp``; returns the model."""
    for t in list(model.parameters()) + list(model.buffers()):
        t.data = xp.asarray(t.detach().numpy(), copy=True)
    return model


def assert_namespace(t, xp):
    """Results and gradients must stay in the input's array library (no silent copy to NumPy)."""
    arrays = [t.array] + ([t.grad.array] if t.grad is not None else [])
    for a in arrays:
        assert backend.array_namespace(a).__name__ == xp.__name__, (
            f"array left its namespace: expected {xp.__name__}, got {type(a).__module__}"
        )


def check_forward(out, expected, rtol=1e-5, atol=1e-6):
    """Compare a Tensor's values with a NumPy reference, printing the largest difference."""
    got = out.detach().numpy() if isinstance(out, mt.Tensor) else np.asarray(out)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != reference {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


#: Kernel-against-lesson tolerance per dtype: the kernels add in another order, float32 ones in float32.
KERNEL_TOLERANCE = {np.float32: 1e-4, np.float64: 1e-10}


def check_kernel(got, expected, dtype):
    """A compiled kernel's result against the lesson's float64 one: the input's dtype, close values."""
    assert got.dtype == dtype, f"dtype {got.dtype} does not follow the input's {np.dtype(dtype)}"
    check_forward(got, expected, rtol=KERNEL_TOLERANCE[dtype], atol=KERNEL_TOLERANCE[dtype])


def lesson_conv2d(x, w, grad=None, stride=1, padding=0, dilation=1, groups=1, bias=None):
    """The lesson's ``y``, ``dL/dx`` and ``dL/dw`` of ``conv2d(x, w, bias)`` for NumPy arrays, in
    float64: the reference every other conv method and kernel is checked against.

    ``F.conv2d(method="naive")`` is the seven loops of the slide; ``grad = dL/dy`` goes back
    through autograd, so the backward is the lesson's too (``None``: the forward only, and
    ``None`` for both gradients).
    """
    x = mt.tensor(np.asarray(x, dtype=np.float64), requires_grad=grad is not None)
    w = mt.tensor(np.asarray(w, dtype=np.float64), requires_grad=grad is not None)
    b = None if bias is None else mt.tensor(np.asarray(bias, dtype=np.float64))
    y = F.conv2d(x, w, b, stride, padding, dilation, groups, method="naive")
    if grad is None:
        return y.detach().numpy(), None, None
    y.backward(mt.tensor(np.asarray(grad, dtype=np.float64)))
    return y.detach().numpy(), np.asarray(x.grad), np.asarray(w.grad)


def lesson_max_pool2d(x, grad, kernel_size, stride=None, padding=0, ceil_mode=False):
    """The lesson's ``y`` and ``dL/dx`` of ``max_pool2d(x)`` for NumPy arrays, in float64.

    The lesson keeps no argmax; ``dL/dx`` shows which pixel won each window, so a kernel's
    argmax is checked by the gradient its backward routes.
    """
    x = mt.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    y = F.max_pool2d(x, kernel_size, stride, padding, ceil_mode=ceil_mode, method="slices")
    y.backward(mt.tensor(np.asarray(grad, dtype=np.float64)))
    return y.detach().numpy(), np.asarray(x.grad)


def check_grad(fn, xp, *hosts, mode="full", atol=1e-5, rtol=1e-3, grad_mask=None):
    """float64 gradient check of ``fn(*tensors)`` on backend ``xp``.

    ``hosts`` are NumPy arrays; float ones become float64 tensors requiring grad (unless
    ``grad_mask`` says otherwise), integer ones are passed as plain tensors. Afterwards every
    gradient must still live in ``xp``.
    """
    tensors = []
    for i, h in enumerate(hosts):
        h = np.asarray(h)
        wants = h.dtype.kind == "f" and (grad_mask is None or grad_mask[i])
        tensors.append(on(xp, h.astype(np.float64) if h.dtype.kind == "f" else h, requires_grad=wants))
    seen = []

    def traced(*args):
        seen[:] = args
        return fn(*args)

    assert mt.gradcheck(traced, tensors, mode=mode, atol=atol, rtol=rtol)
    for t in seen:
        if isinstance(t, mt.Tensor) and t.grad is not None:
            assert_namespace(t, xp)


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")


def check_torch(ours, theirs, *hosts, rtol=1e-5, atol=1e-5, grad_mask=None):
    """Run ``ours`` on minitorch tensors and ``theirs`` on torch tensors made from the same float32
    ``hosts``; compare the output and the gradient of every float input (loss: sum(out * R))."""
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    ours_in, theirs_in = [], []
    for i, h in enumerate(hosts):
        h = np.asarray(h)
        grad = h.dtype.kind == "f" and (grad_mask is None or grad_mask[i])
        if h.dtype.kind == "f":
            h = h.astype(np.float32)
        ours_in.append(mt.tensor(h, requires_grad=grad))
        theirs_in.append(torch.tensor(h, requires_grad=grad))
    out = ours(*ours_in)
    ref = theirs(*theirs_in)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    weight = rng.standard_normal(out.shape).astype(np.float32)
    (out * mt.tensor(weight)).sum().backward()
    (ref * torch.tensor(weight)).sum().backward()
    for i, (a, b) in enumerate(zip(ours_in, theirs_in)):
        if b.requires_grad:
            np.testing.assert_allclose(
                a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of input {i}"
            )


def random_images(N=2, C=3, H=32, seed=0):
    """A float32 batch ``(N, C, H, H)`` of standard-normal pixels."""
    return mt.tensor(np.random.default_rng(seed).standard_normal((N, C, H, H)).astype(np.float32))


def param_count_cases(table):
    """Parametrize a test over ``(name, options, expected, source)`` rows of a reference table."""
    ids = [f"{n}-{'-'.join(map(str, o.values())) or 'default'}" for n, o, _, _ in table]
    return pytest.mark.parametrize("name, options, expected, source", table, ids=ids)


def check_param_count(name, options, expected, source):
    """Build ``name`` with ``options`` (no random draws) and compare its trainable parameters."""
    from minitorch_cnn import models

    with no_random_init():
        model = models.create(name, **options)
    assert count_params(model) == expected, f"{name} {options}: reference {expected:,} ({source})"


def count_params(model):
    """Trainable parameters: the number torchvision and the papers quote."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_model_grad(model, x, mode, eps=1e-8, directions=1):
    """Directional float64 gradient check of ``model`` wrt ``x`` and every parameter, in ``mode``
    ("train" or "eval"); see :func:`minitorch_cnn.gradcheck.gradcheck_model`."""
    assert gradcheck_model(model, x, mode=mode, eps=eps, directions=directions)


#: Run in a fresh interpreter where ``import torch`` fails: reads the weight files named in argv[2:]
#: with ``mt.load_weights`` and writes each state dict to the ``.npz`` files in argv[1] (a folder).
_LOAD_WITHOUT_TORCH = """
import os, sys
sys.modules["torch"] = None
import numpy as np
import minitorch_cnn as mt
for i, path in enumerate(sys.argv[2:]):
    np.savez(os.path.join(sys.argv[1], f"{i}.npz"), **mt.load_weights(path))
"""


def load_weights_without_torch(*paths):
    """``mt.load_weights`` of each path in a subprocess where torch cannot be imported, so a reader
    that quietly falls back on torch fails; returns the state dicts."""
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        subprocess.run([sys.executable, "-c", _LOAD_WITHOUT_TORCH, out, *map(str, paths)], check=True, env=env,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        states = []
        for i in range(len(paths)):
            with np.load(os.path.join(out, f"{i}.npz")) as archive:
                states.append({k: archive[k] for k in archive.files})
        return states


def write_image(path, pixels, mode=None):
    """Save a uint8 (or uint16) array ``(H, W)`` or ``(H, W, channels)`` with Pillow; the suffix sets the format."""
    from PIL import Image

    Image.fromarray(pixels, mode).save(path)
    return path


def rand_pixels(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
@functools.lru_cache(maxsize=None)
def _mpiexec_problem():
    """Why ``mpiexec -n 2`` cannot run an ``Allreduce`` here, or ``None`` if it can."""
    if launch.mpiexec_path() is None:
        return "mpiexec not found (pip install 'minitorch_cnn[distributed]')"
    try:
        result = run_mpiexec(2, "from mpi4py import MPI\nassert MPI.COMM_WORLD.allreduce(1) == 2\n", timeout=60)
    except subprocess.TimeoutExpired:
        return "mpiexec -n 2 did not finish a one-line Allreduce in 60 s"
    if result.returncode != 0:
        return f"mpiexec -n 2 failed (exit {result.returncode}): {result.stderr.strip()[-500:]}"
    return None


def require_mpiexec():
    """Skip the calling test, visibly, when ``mpiexec -n 2`` cannot run; under ``CI=true`` a
    missing MPI is a failure instead, so CI cannot pass with the MPI tests skipped."""
    problem = _mpiexec_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the MPI tests cannot run: {problem}")
        pytest.skip(problem)


def run_mpiexec(n, script_or_args, timeout=60):
    """Run ``n`` processes under ``mpiexec``: a Python source text (``str``), or the arguments of
    ``python`` (a list, e.g. ``["-m", "minitorch_cnn.cli", "train", ...]``). The processes import
    the ``minitorch_cnn`` under test. Returns the ``CompletedProcess`` (text stdout and stderr);
    raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(mt.__file__)))
    env = launch.mpiexec_env(PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory() as folder:
        if isinstance(script_or_args, str):
            path = os.path.join(folder, "script.py")
            with open(path, "w") as f:
                f.write(script_or_args)
            script_or_args = [path]
        command = [*launch.mpiexec_command(n), *script_or_args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=folder)


def torchvision_or_skip():
    """``torchvision.models``, or a visible skip when torch or torchvision is not installed."""
    torch = torch_or_skip()
    if "torchvision" not in sys.modules:
        with tolerant_fake_registrations(torch):
            pytest.importorskip("torchvision", reason="torchvision is not installed (pip install torchvision==0.28.*)")
    import torchvision.models

    return torchvision.models


def _torchvision_model(name, options, device):
    """torchvision's ``name`` built with ``options`` on ``device`` ("meta": no memory, no values)."""
    import warnings

    torch = torch_or_skip()
    tv = torchvision_or_skip()
    with torch.device(device), warnings.catch_warnings():
        # GoogLeNet and Inception-v3 warn that their default initialisation will change.
        warnings.simplefilter("ignore", FutureWarning)
        return getattr(tv, name)(**options)


def _batch_norm_settings(modules):
    return {name: (type(m).__name__, float(m.eps), float(m.momentum)) for name, m in modules
            if type(m).__name__.startswith("BatchNorm")}


def check_torchvision_names(name, tv_name=None, options=None, tv_options=None):
    """Zoo model ``name`` and torchvision's ``tv_name`` (default: the same name), both at full size
    with their ``options``, have the same state-dict keys in the same order, the same shapes, and
    batch norms with the same ``eps`` and ``momentum``. torchvision's model is built on the meta
    device and ours without random draws, so even VGG-19 or EfficientNet-B7 costs little."""
    from minitorch_cnn import models

    with no_random_init():
        ours = models.create(name, **(options or {}))
    theirs = _torchvision_model(tv_name or name, tv_options or {}, "meta")
    got = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
    expected = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    missing = [k for k, _ in expected if k not in dict(got)]
    unexpected = [k for k, _ in got if k not in dict(expected)]
    assert got == expected, (f"{name}: state-dict keys differ from torchvision's {tv_name or name}: "
                             f"missing {missing[:5]}, unexpected {unexpected[:5]} "
                             f"({len(got)} keys, torchvision {len(expected)})")
    assert _batch_norm_settings(ours.named_modules()) == _batch_norm_settings(theirs.named_modules()), (
        f"{name}: batch-norm eps/momentum differ from torchvision's")


def check_torchvision_logits(name, size, tv_name=None, options=None, tv_options=None, rtol=1e-4, seed=0, save=None):
    """Write torchvision's ``tv_name`` (random weights, every batch norm's running mean and
    variance drawn away from 0 and 1) with ``torch.save``, build zoo model ``name`` from that file
    with ``models.create(name, weights=path)`` and compare the eval-mode logits for a
    ``(2, 3, size, size)`` float32 batch, relative to their largest. (That ``mt.load_weights``
    reads such files without torch is shown in ``test_weights.py``.)

    ``save``, a function ``save(state_dict) -> path``, writes the file another way (the legacy
    format, old key names)."""
    from minitorch_cnn import models

    torch = torch_or_skip()
    torch.manual_seed(seed)
    theirs = _torchvision_model(tv_name or name, tv_options or {}, "cpu").eval()
    with torch.no_grad():
        for m in theirs.modules():
            if type(m).__name__.startswith("BatchNorm"):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    x = np.random.default_rng(seed).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    with tempfile.TemporaryDirectory() as folder, no_random_init():
        if save is None:
            path = os.path.join(folder, f"{tv_name or name}.pth")
            torch.save(theirs.state_dict(), path)
        else:
            path = save(theirs.state_dict())
        ours = models.create(name, weights=path, **(options or {}))
    ours.eval()
    with mt.no_grad():
        got = ours(mt.tensor(x)).detach().numpy()
    scale = float(np.abs(expected).max())
    assert got.shape == expected.shape, f"{name}: logits {got.shape}, torchvision {expected.shape}"
    assert np.abs(got - expected).max() <= rtol * scale, (
        f"{name}: logits differ from torchvision's by {np.abs(got - expected).max():.3g} (largest logit {scale:.3g})")
