"""The conv geometries and inputs every conv test draws from: the lesson's (test_conv.py), the
engine room's (test_engine.py) and the compiled kernels' (test_conv_numba.py, test_kernels_*.py).

The reference every method is checked against is the lesson's ``"naive"`` seven loops
(``helpers.lesson_conv2d``), themselves checked by hand and against PyTorch in test_conv.py.
"""

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from helpers import assert_namespace, check_forward, check_grad, lesson_conv2d, on, torch_or_skip

# (x shape (N, C, H, W), weight shape (F, C/groups, kh, kw), stride, padding, dilation, groups)
CASES = {
    "3x3_pad_1": ((1, 2, 5, 5), (2, 2, 3, 3), 1, 1, 1, 1),
    "odd_non_square": ((1, 2, 5, 7), (3, 2, 3, 2), 1, 0, 1, 1),
    "stride_does_not_divide": ((1, 2, 7, 6), (2, 2, 3, 3), (2, 3), 0, 1, 1),
    "padding_ge_half_kernel": ((1, 2, 4, 5), (2, 2, 3, 3), (2, 1), (2, 1), 1, 1),
    "dilation": ((1, 2, 7, 6), (2, 2, 3, 2), 1, 1, (2, 3), 1),
    "depthwise": ((1, 3, 5, 4), (3, 1, 3, 3), 1, 1, 1, 3),
    "depthwise_multiplier_2_strided": ((1, 2, 5, 4), (4, 1, 3, 3), 2, 1, 1, 2),
    "groups_2": ((1, 4, 4, 5), (2, 2, 3, 3), 1, 1, 1, 2),
    "groups_4": ((1, 8, 3, 3), (4, 2, 2, 2), 1, 0, 1, 4),
    "1x1": ((2, 3, 4, 5), (5, 3, 1, 1), 1, 0, 1, 1),
    "1x1_groups_2": ((1, 4, 3, 3), (6, 2, 1, 1), 1, 0, 1, 2),
    "1x1_strided_padded": ((1, 3, 4, 5), (2, 3, 1, 1), 2, 1, 1, 1),
    "kernel_equals_input": ((2, 2, 3, 4), (3, 2, 3, 4), 1, 0, 1, 1),
    "everything_at_once": ((1, 4, 5, 6), (4, 2, 2, 3), (2, 3), (1, 2), (2, 1), 2),
    "stride_1_2_wide_padding": ((2, 2, 5, 7), (2, 2, 3, 2), (1, 2), (1, 3), 1, 1),
}

# The naive method's seven Python loops cost ~20 us per step on array_api_strict: keep them tiny.
TINY_CASES = {
    "tiny": ((1, 1, 3, 3), (2, 1, 2, 2), 1, 0, 1, 1),
    "tiny_grouped_strided_dilated_padded": ((1, 2, 3, 4), (2, 1, 2, 2), (1, 2), 1, (2, 1), 2),
}

# The xp fixture only names a backend, so sharing it across hypothesis examples is safe.
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def gradcheck_mode(xp):
    """Every element on NumPy; three random directions on array_api_strict, where each indexing
    call costs about a millisecond and a full check of this file would take minutes. Both backends
    run the same code: the strict run proves the backward stays inside the standard API, the NumPy
    run checks every value."""
    return "directional" if xp.__name__ == "array_api_strict" else "full"


def random_inputs(x_shape, w_shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])


def conv_fn(stride, padding, dilation, groups, method):
    return lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups, method=method)


@st.composite
def geometries(draw):
    """A small conv geometry: dense, 2 or 4 groups, or depthwise; any kernel up to 3x3, stride up
    to 3 (often not dividing the input), padding up to 2, dilation up to 2, and an input from
    exactly the kernel's span to 2 pixels more."""
    kind = draw(st.sampled_from(["dense", "groups_2", "groups_4", "depthwise"]))
    if kind == "depthwise":
        groups, Cg = draw(st.integers(1, 3)), 1
    else:
        groups, Cg = {"dense": 1, "groups_2": 2, "groups_4": 4}[kind], draw(st.integers(1, 2))
    Fg = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    sizes = []
    for k, p, d in ((kh, padding[0], dilation[0]), (kw, padding[1], dilation[1])):
        smallest = max(1, d * (k - 1) + 1 - 2 * p)
        sizes.append(draw(st.integers(smallest, smallest + 2)))
    x_shape = (draw(st.integers(1, 2)), groups * Cg, *sizes)
    return x_shape, (groups * Fg, Cg, kh, kw), stride, padding, dilation, groups


def torch_conv(stride, padding, dilation, groups):
    torch = torch_or_skip()
    return lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups)


def check_conv_forward(geometry, method, xp):
    """``F.conv2d(method=method)`` on backend ``xp`` against the seven loops, to float64 rounding."""
    x_shape, w_shape, stride, padding, dilation, groups = geometry
    x, w, b = random_inputs(x_shape, w_shape)
    y = F.conv2d(on(xp, x), on(xp, w), on(xp, b), stride, padding, dilation, groups, method=method)
    expected, _, _ = lesson_conv2d(x, w, None, stride, padding, dilation, groups, bias=b)
    check_forward(y, expected, rtol=1e-10, atol=1e-12)
    assert_namespace(y, xp)


def check_conv_backward(geometry, method, xp):
    """``dx`` and ``dw`` of ``F.conv2d(method=method)`` on backend ``xp`` against the seven loops'
    backward, for one random ``dL/dy``, to float64 rounding."""
    x_shape, w_shape, stride, padding, dilation, groups = geometry
    x, w, _ = random_inputs(x_shape, w_shape)
    y, _, _ = lesson_conv2d(x, w, None, stride, padding, dilation, groups)
    dy = np.random.default_rng(3).standard_normal(y.shape)
    _, dx_expected, dw_expected = lesson_conv2d(x, w, dy, stride, padding, dilation, groups)
    image, filters = on(xp, x, requires_grad=True), on(xp, w, requires_grad=True)
    F.conv2d(image, filters, None, stride, padding, dilation, groups, method=method).backward(on(xp, dy))
    check_forward(mt.Tensor(image.grad), dx_expected, rtol=1e-10, atol=1e-12)
    check_forward(mt.Tensor(filters.grad), dw_expected, rtol=1e-10, atol=1e-12)


def check_conv_grad(geometry, method, xp):
    """float64 gradient check of ``F.conv2d(method=method)`` with respect to x, w and b."""
    x_shape, w_shape, stride, padding, dilation, groups = geometry
    fn = conv_fn(stride, padding, dilation, groups, method)
    check_grad(fn, xp, *random_inputs(x_shape, w_shape), mode=gradcheck_mode(xp))
