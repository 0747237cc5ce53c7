"""Padding: ``F.pad`` with PyTorch's per-side widths (last axis first) and negative widths that
crop, in the modes constant, reflect, replicate and circular, against NumPy, float64 gradient
checks, PyTorch, and bad input."""

import re

import numpy as np
import pytest

import minitorch_cnn.functional as F
from helpers import assert_namespace, check_forward, check_grad, check_torch, on, torch_or_skip


def numpy_pad(x, pad, value):
    """The reference: ``np.pad`` for the positive widths, then slicing for the negative ones."""
    pairs = [(pad[2 * k], pad[2 * k + 1]) for k in range(len(pad) // 2)][::-1]
    widths = [(0, 0)] * (x.ndim - len(pairs)) + pairs
    padded = np.pad(x, [(max(0, b), max(0, a)) for b, a in widths], constant_values=value)
    crop = tuple(slice(max(0, -b), padded.shape[d] - max(0, -a)) for d, (b, a) in enumerate(widths))
    return padded[crop]


# (shape, pad): widths are (left, right) of the last axis first, then (top, bottom), ...
CASES = {
    "width_only": ((2, 3, 4, 5), (1, 2)),
    "width_and_height": ((2, 3, 4, 5), (0, 1, 2, 0)),
    "channels_too": ((1, 2, 3, 4), (1, 0, 0, 2, 3, 1)),
    "crop_width": ((2, 1, 4, 5), (-1, -2)),
    "crop_one_side_pad_the_other": ((1, 2, 5, 4), (2, -1, -3, 1)),
    "crop_to_nothing": ((1, 1, 3, 4), (-4, 0)),
    "vector": ((6,), (3, -2)),
}


@pytest.mark.parametrize("shape, pad", CASES.values(), ids=CASES.keys())
def test_pad_matches_numpy(xp, shape, pad):
    host = np.random.default_rng(0).standard_normal(shape)
    out = F.pad(on(xp, host), pad, value=1.5)
    check_forward(out, numpy_pad(host, pad, 1.5))
    assert_namespace(out, xp)


@pytest.mark.parametrize("shape, pad", CASES.values(), ids=CASES.keys())
def test_pad_gradcheck(xp, shape, pad):
    host = np.random.default_rng(1).standard_normal(shape)
    check_grad(lambda x: F.pad(x, pad), xp, host)


@pytest.mark.parametrize("shape, pad", CASES.values(), ids=CASES.keys())
def test_pad_matches_torch(shape, pad):
    torch = torch_or_skip()
    host = np.random.default_rng(2).standard_normal(shape)
    check_torch(lambda x: F.pad(x, pad, value=-2.0), lambda x: torch.nn.functional.pad(x, pad, value=-2.0), host)


def test_cropped_entries_get_no_gradient():
    x = on(np, np.arange(5.0).reshape(1, 5), requires_grad=True)
    F.pad(x, (-1, 2)).sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [[0.0, 1.0, 1.0, 1.0, 1.0]])


BAD_INPUTS = {
    "crop_more_than_the_axis": (
        (1, 1, 3, 4), dict(pad=(-3, -2)), ValueError,
        "pad: expected negative padding to crop at most the 4 entries of axis 3 (shape (1, 1, 3, 4)), got (-3, -2)",
    ),
    "odd_number_of_widths": (
        (1, 1, 3, 4), dict(pad=(1, 1, 1)), ValueError,
        "pad: expected an even number of pad widths, at most 2 per axis (8 for shape (1, 1, 3, 4)), got 3: (1, 1, 1)",
    ),
    "more_widths_than_axes": (
        (3, 4), dict(pad=(1, 1, 1, 1, 1, 1)), ValueError,
        "pad: expected an even number of pad widths, at most 2 per axis (4 for shape (3, 4)), got 6",
    ),
    "int_instead_of_tuple": (
        (1, 1, 3, 4), dict(pad=1), TypeError,
        "pad: expected pad to be a tuple of ints (left, right, top, bottom, ...), got 1",
    ),
    "other_mode": (
        (1, 1, 3, 4), dict(pad=(1, 1), mode="symmetric"), ValueError,
        "pad: expected mode 'constant', 'reflect', 'replicate' or 'circular', got 'symmetric'",
    ),
    "reflect_as_wide_as_the_axis": (
        (1, 1, 3, 4), dict(pad=(4, 0), mode="reflect"), ValueError,
        "pad: reflect padding of axis 3 (size 4) must be at most 3, got (4, 0)",
    ),
    "circular_wraps_more_than_once": (
        (1, 1, 3, 4), dict(pad=(0, 0, 4, 0), mode="circular"), ValueError,
        "pad: circular padding of axis 2 (size 3) must be at most 3, got (4, 0)",
    ),
}


@pytest.mark.parametrize("shape, kwargs, error, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_names_op_expected_and_got(shape, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        F.pad(on(np, np.zeros(shape)), **kwargs)


# Negative widths crop from the original edges (reflect, replicate) or before wrapping (circular),
# as PyTorch does; tinygrad's test_pad_*_mode checks these same kinds of widths.
MODE_PADS = [(0, 2, 3, 2), (1, 1, 1, 1), (-1, 2, 2, -1), (1, -2, 2, -1), (0, 0, 2, 0), (4, 4, 0, 3)]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", MODE_PADS)
def test_pad_modes_match_torch(mode, pad):
    check_torch(lambda x: F.pad(x, pad, mode=mode), lambda x: torch_or_skip().nn.functional.pad(x, pad, mode=mode),
                np.random.default_rng(2).standard_normal((2, 1, 4, 5)))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_gradcheck(mode, xp):
    check_grad(lambda x: F.pad(x, (2, 1, -1, 2), mode=mode), xp, np.random.default_rng(3).standard_normal((1, 2, 3, 4)))


def test_reflect_mirrors_without_repeating_the_edge():
    check_forward(F.pad(on(np, np.array([[1.0, 2.0, 3.0]])), (2, 1), mode="reflect"), [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]])
