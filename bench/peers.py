"""Peers: the conv suite's shapes and the ResNet-20 training step in tinygrad's CPU backend.

tinygrad is the from-scratch framework students compare us with. It is optional (the ``peers``
extra, ``pip install -e .[peers]``): :func:`load` returns it, or the reason it cannot run, which
the suites log as a skipped row. Its CPU backend compiles every kernel with clang (tinygrad
0.14: ``runtime/support/compiler_cpu.py``). :mod:`bench.__main__` sets ``NUM_CPU_THREADS`` to
``--threads``, as it does for BLAS, PyTorch and Numba, and tinygrad splits each kernel into that
many parts; but tinygrad 0.14 runs the parts one after another on one thread
(``runtime/ops_cpu.py``: a single ``COMPUTE:0`` queue; here, per-thread CPU times of a process
running 1024x1024 matmuls show one busy thread with ``NUM_CPU_THREADS=2``). Its figures are
single-core figures beside our two cores.

Each candidate is a ``TinyJit`` function: the first call schedules and compiles the kernels,
the second captures them, later calls replay them, which is how tinygrad runs a training loop.
The builders here make both calls before handing the candidate to :func:`bench.timing.measure`,
so no compile time is timed. tinygrad's CPU device queues its kernels and may return before
they finish: every timed call ends with ``synchronize()``.
"""

from __future__ import annotations

import os

import numpy as np

#: The peer's name in rows and on the command line.
NAME = "tinygrad"


def load(threads):
    """``(tinygrad, None)`` when it runs on the CPU here with ``threads`` threads, else ``(None, reason)``."""
    # Read once, when tinygrad is imported: choose the CPU device (not a GPU found first).
    os.environ["DEV"] = "CPU"
    try:
        import tinygrad
        from tinygrad.helpers import NUM_CPU_THREADS
    except ImportError:
        return None, "tinygrad is not installed (pip install -e .[peers])"
    if NUM_CPU_THREADS.value != threads:
        return None, (f"tinygrad was imported with NUM_CPU_THREADS={NUM_CPU_THREADS.value}, not {threads}: "
                      "run it through python -m bench")
    try:
        (tinygrad.Tensor([1.0]) + 1).realize()
    except FileNotFoundError as error:
        return None, f"tinygrad's CPU backend compiles with clang, not found here ({error.filename})"
    except Exception as error:  # any failure to run is a reason to skip, shown in the row
        return None, f"tinygrad cannot run on the CPU here: {type(error).__name__}: {error}"
    return tinygrad, None


def version(tinygrad):
    """The installed version (tinygrad has no ``__version__``)."""
    from importlib.metadata import version as installed

    return installed("tinygrad")


def _ready(tinygrad, step):
    """Compile and capture ``step`` (a TinyJit function), and return a candidate that waits for its kernels."""
    device = tinygrad.Device[tinygrad.Device.DEFAULT]

    def run():
        step()
        device.synchronize()
    run()
    run()
    return run


def conv(tinygrad, x, w, dy, mode, stride, padding, groups):
    """A candidate for one conv suite row: ``forward``, or ``forward+backward`` (dL/dx and dL/dw from ``dy``)."""
    Tensor = tinygrad.Tensor
    tx, tw, tdy = Tensor(x).realize(), Tensor(w).realize(), Tensor(dy).realize()

    if mode == "forward":
        @tinygrad.TinyJit
        def step():
            return tx.conv2d(tw, stride=stride, padding=padding, groups=groups).realize()
    else:
        @tinygrad.TinyJit
        def step():
            tx.grad = tw.grad = None
            tx.conv2d(tw, stride=stride, padding=padding, groups=groups).backward(tdy)
            return Tensor.realize(tx.grad, tw.grad)
    return _ready(tinygrad, step)


class _Block:
    """A ResNet-20 basic block with an option-A shortcut, as models/resnet.py and bench/torch_models.py."""

    def __init__(self, nn, cin, cout, stride):
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm(cout)
        self.stride, self.extra = stride, cout - cin

    def __call__(self, x):
        out = self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))
        # Option A: subsample, then append zero channels (no parameters).
        shortcut = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            shortcut = shortcut.pad((0, 0, 0, 0, 0, self.extra))
        return (out + shortcut).relu()


class ResNet20:
    """CIFAR ResNet-20 (He et al. 2015, section 4.2) in tinygrad: 3x3 conv 16, three stages of three
    blocks (16, 32, 64 channels; stride 2 into stages 2 and 3), global average pool, Linear(64, 10)."""

    def __init__(self, tinygrad):
        nn = tinygrad.nn
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm(16)
        self.blocks, cin = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(3):
                self.blocks.append(_Block(nn, cin, width, stride if b == 0 else 1))
                cin = width
        self.fc = nn.Linear(64, 10)

    def __call__(self, x):
        x = self.bn1(self.conv1(x)).relu()
        for block in self.blocks:
            x = block(x)
        return self.fc(x.mean(axis=(2, 3)))


def resnet20_step(tinygrad, images, labels):
    """A candidate for the ResNet-20 training row: forward, cross-entropy, backward, SGD (momentum 0.9)."""
    from tinygrad.helpers import Context

    Tensor = tinygrad.Tensor
    model = ResNet20(tinygrad)
    optimizer = tinygrad.nn.optim.SGD(tinygrad.nn.state.get_parameters(model), lr=0.01, momentum=0.9)
    x, y = Tensor(images).realize(), Tensor(labels.astype(np.int32)).realize()

    @tinygrad.TinyJit
    def step():
        # Training mode: batch statistics, running averages updated, the optimizer allowed to step.
        with Context(TRAINING=1):
            optimizer.zero_grad()
            loss = model(x).sparse_categorical_crossentropy(y).backward()
            optimizer.step()
        return loss.realize()
    return _ready(tinygrad, step)


def parameter_count(tinygrad, model):
    """Trainable parameters of a tinygrad model (running statistics are buffers, not parameters)."""
    return sum(p.numel() for p in tinygrad.nn.state.get_parameters(model) if p.is_param)
