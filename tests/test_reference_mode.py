"""``mt.reference_mode()``: whole networks on the lesson alone, with the default paths' numbers.

* ResNet-18, MobileNetV2 and GoogLeNet, forward and backward, give the same outputs and
  parameter gradients under reference mode as by default (float32 in eval mode, float64 in
  training mode), and never reach a compiled kernel;
* a whole network under reference mode leaves Numba unimported (a fresh process);
* from ``F.conv2d`` to the line that multiplies there are at most four calls, all in
  ``functional/conv.py`` but ``Function.apply``;
* it is a context manager and a decorator, it only changes ``"auto"``, and it restores the
  previous mode.
"""

import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import autograd, methods, models
from minitorch_cnn.engine import compiled
from minitorch_cnn.functional import conv

#: (model, build options, input side): full widths; images large enough that the last stage's batch norm
#: sees more than one pixel per image (on 1x1 maps and two images it divides by a near-zero spread, and
#: float32 rounding differences of 1e-6 come out as 1e-2).
NETWORKS = {
    "resnet18": (dict(num_classes=10), 64),
    "mobilenet_v2": (dict(num_classes=10), 64),
    "googlenet": (dict(num_classes=10), 79),  # with its auxiliary heads, which need 79 pixels
}


def _forward_backward(model, images):
    """The outputs and every parameter's gradient of one training step's forward and backward."""
    mt.manual_seed(1)  # the same dropout masks on every run
    model.zero_grad()
    out = model(images)
    outputs = out if isinstance(out, tuple) else (out,)
    loss = sum((o * mt.tensor(np.linspace(-1, 1, o.numel(), dtype=np.float32).reshape(o.shape))).sum()
               for o in outputs)
    loss.backward()
    grads = {name: np.array(p.grad) for name, p in model.named_parameters() if p.grad is not None}
    return [o.detach().numpy() for o in outputs], grads


def _assert_close(ours, default, tolerance, what):
    scale = max(np.max(np.abs(a)) for a in default)
    worst = max(np.max(np.abs(a - b)) for a, b in zip(ours, default))
    assert worst <= tolerance * scale, (
        f"{what}: largest difference {worst:.3g} is over {tolerance:g} of the largest value {scale:.3g}")


#: (mode, dtype, tolerance relative to the largest value). In eval mode, float32 is held to 1e-4.
#: In training mode, batch norm over small batches divides by spreads that amplify float32's
#: rounding: MobileNetV2's float32 gradients (16 images of 64x64) differ from a float64 run by
#: 8e-3 of the largest gradient by default and 1.3e-2 in reference mode, and from each other by
#: 1.1e-2, so neither path is the better one. Training mode is therefore checked in float64,
#: where any difference in the arithmetic itself would show.
MODES = [("eval", "float32", 1e-4), ("train", "float64", 1e-10)]

#: Networks whose float32 gradients are compared in float64 only. GoogLeNet's stride-1 max pools
#: (each Inception's fourth branch) read ReLU outputs that are 30-40% exact zeros: where one path
#: rounds a neighbour to 1e-7 and the other to 0, the window's winner moves, and a whole gradient
#: entry with it (seen: 1% of one filter's gradient, with one BLAS thread). That is float32 at a
#: tie, not a different computation: in float64 both paths agree to 1e-15.
TIES_IN_FLOAT32 = {"googlenet"}


@pytest.mark.slow
@pytest.mark.parametrize("mode, dtype, tolerance", MODES, ids=[m[0] for m in MODES])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_whole_network_matches_the_default_paths_and_stays_out_of_compiled_code(name, mode, dtype, tolerance,
                                                                                 monkeypatch):
    options, side = NETWORKS[name]
    model = models.create(name, **options)
    model.to(dtype=dtype)
    getattr(model, mode)()
    images = mt.tensor(np.random.default_rng(0).standard_normal((4, 3, side, side)).astype(dtype))
    default_outputs, default_grads = _forward_backward(model, images)

    def refuse(x, op):
        raise AssertionError(f"{op} reached the compiled kernels under reference_mode()")

    monkeypatch.setattr(compiled, "kernels_for", refuse)
    with mt.reference_mode():
        outputs, grads = _forward_backward(model, images)
    _assert_close(outputs, default_outputs, tolerance, f"{name} outputs")
    if dtype == "float32" and name in TIES_IN_FLOAT32:
        return
    # One scale for all gradients: a gradient that is zero in exact arithmetic (the bias of a batch
    # norm that another batch norm follows) holds only rounding noise, large next to itself.
    assert grads.keys() == default_grads.keys()
    keys = list(default_grads)
    _assert_close([grads[k] for k in keys], [default_grads[k] for k in keys], tolerance, f"{name} gradients")


def test_importing_and_a_whole_network_in_reference_mode_leave_numba_unimported():
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import minitorch_cnn as mt
        assert "numba" not in sys.modules, "importing minitorch_cnn imported numba"
        # GoogLeNet's max pools and MobileNetV2's depthwise convs run compiled kernels by default.
        for name, side, options in (("googlenet", 31, {"aux_logits": False}), ("mobilenet_v2", 64, {})):
            model = mt.models.create(name, num_classes=10, width_mult=0.25, **options)
            x = mt.tensor(np.random.default_rng(0).standard_normal((2, 3, side, side)).astype(np.float32))
            with mt.reference_mode():
                model(x).sum().backward()
        loaded = sorted(m for m in sys.modules if m == "numba" or m.startswith(("numba.", "kernels")))
        print(" ".join(loaded) or "none")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"


def test_conv2d_reaches_its_multiply_in_four_calls():
    # Trace the calls from F.conv2d until the line holding the matmul runs, under reference mode.
    x = mt.tensor(np.ones((1, 2, 4, 4), dtype=np.float32))
    w = mt.tensor(np.ones((3, 2, 3, 3), dtype=np.float32), requires_grad=True)
    multiply = next(i for i, line in enumerate(inspect.getsourcelines(conv._im2col_forward)[0])
                    if "xp.matmul(" in line) + conv._im2col_forward.__code__.co_firstlineno
    stacks = []

    def tracer(frame, event, arg):
        if event == "line" and frame.f_code is conv._im2col_forward.__code__ and frame.f_lineno == multiply:
            chain = []
            while frame is not None and frame.f_code is not conv.conv2d.__code__:
                chain.append(frame)
                frame = frame.f_back
            stacks.append([frame, *reversed(chain)])
        return tracer

    with mt.reference_mode():
        sys.settrace(tracer)
        try:
            F.conv2d(x, w, padding=1)
        finally:
            sys.settrace(None)
    assert len(stacks) == 1, "the textbook im2col method's matmul did not run"
    calls = [f.f_code for f in stacks[0]]
    assert calls[0] is conv.conv2d.__code__
    assert len(calls) <= 4, [c.co_qualname for c in calls]
    for code in calls:
        assert code.co_filename in (conv.__file__, autograd.__file__), code.co_filename
    assert [c for c in calls if c.co_filename == autograd.__file__] == [autograd.Function.apply.__func__.__code__]


def test_only_auto_changes_and_the_previous_mode_comes_back():
    x = np.zeros((1, 4, 5, 5), dtype=np.float32)
    geometry = dict(kernel=(1, 1), stride=(1, 1), padding=(0, 0), groups=1)
    assert methods.choose("conv2d", "auto", x, **geometry) is methods.choose("conv2d", "direct")
    with mt.reference_mode():
        assert methods.choose("conv2d", "auto", x, **geometry) is methods.choose("conv2d", "im2col")
        assert methods.choose("conv2d", "gemm", x, **geometry) is methods.choose("conv2d", "gemm")
        assert methods.choose("max_pool2d", "auto", x) is F.pooling.MaxPool2d
        with mt.reference_mode(False):
            assert methods.choose("max_pool2d", "auto", x) is compiled.NumbaMaxPool2d
        assert methods.is_reference_mode()
    assert not methods.is_reference_mode()


def test_reference_mode_is_a_decorator_too():
    @mt.reference_mode()
    def which():
        return methods.is_reference_mode()

    assert which() and which() and not methods.is_reference_mode()


def test_an_error_inside_reference_mode_restores_the_default():
    with pytest.raises(ValueError):
        with mt.reference_mode():
            raise ValueError("a failing step")
    assert not methods.is_reference_mode()
