"""Small synthetic datasets for quick experiments: drawn on the fly, deterministic for a seed.

* :func:`synthetic_shapes` - noisy pictures of squares, circles, crosses and striped patches at
  random positions and scales: a task a small CNN learns in seconds and a linear model finds hard.
* :func:`synthetic_gaussian` - one Gaussian blob per class in pixel space: linearly separable,
  for checking that a training loop works at all.
"""

from __future__ import annotations

import numpy as np

from .dataset import TensorDataset

SHAPES = ("square", "circle", "cross", "stripes")
#: Standard deviation of the Gaussian pixel noise added to the shapes.
SHAPE_NOISE_STD = 0.1
#: Shapes are drawn with a random brightness in this range on a black background.
SHAPE_BRIGHTNESS = (0.6, 1.0)
#: Stripes are 2 pixels on, 2 pixels off.
STRIPE_WIDTH = 2


def _shape_mask(shape, dy, dx, r):
    """Where ``shape`` covers the pixel at offset ``(dy, dx)`` from the centre, for half-size ``r``."""
    inside_box = np.maximum(np.abs(dy), np.abs(dx)) <= r
    if shape == "square":
        return inside_box
    if shape == "circle":
        return dy**2 + dx**2 <= r**2
    if shape == "cross":
        arm = r // 3
        return ((np.abs(dy) <= arm) & (np.abs(dx) <= r)) | ((np.abs(dx) <= arm) & (np.abs(dy) <= r))
    return inside_box & ((dy + r) // STRIPE_WIDTH % 2 == 0)


def _balanced_labels(n, num_classes, rng):
    return rng.permutation(np.arange(n) % num_classes).astype(np.int64)


def synthetic_shapes(n, size=32, classes=SHAPES, noise=SHAPE_NOISE_STD, seed=0):
    """``n`` grayscale pictures of simple shapes, one shape per picture; the label is the shape.

    Each picture is black with one filled shape of half-size ``r`` (a random whole number between
    ``size // 8`` and ``size // 4``) centred at a random position where it fits, drawn with a random
    brightness in [0.6, 1.0]; Gaussian noise of std ``noise`` is added and values clipped to [0, 1].
    Classes are balanced (``n // len(classes)`` or one more each) and in random order.

    Args:
        n: number of pictures.
        size: height and width in pixels (>= 8; default 32).
        classes: which shapes, in label order; any of ``"square"``, ``"circle"``, ``"cross"``
            (a plus sign) and ``"stripes"`` (a square patch of horizontal stripes).
        noise: std of the pixel noise (default 0.1).
        seed: the same seed gives the same pictures.

    Returns:
        a :class:`TensorDataset` with ``images`` float32 ``(n, 1, size, size)``, ``labels`` int64 and
        ``classes`` the shape names.
    """
    classes = tuple(classes)
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes:
        raise ValueError(f"synthetic_shapes: expected classes from {SHAPES}, got {classes}")
    if size < 8:
        raise ValueError(f"synthetic_shapes: expected size >= 8, got {size}")
    rng = np.random.default_rng(seed)
    labels = _balanced_labels(n, len(classes), rng)
    r = rng.integers(max(1, size // 8), size // 4 + 1, size=n)
    cy = rng.integers(r, size - r)
    cx = rng.integers(r, size - r)
    brightness = rng.uniform(*SHAPE_BRIGHTNESS, size=n)
    rows = np.arange(size)[None, :, None]
    cols = np.arange(size)[None, None, :]
    images = rng.normal(0.0, noise, size=(n, size, size))
    for k, shape in enumerate(classes):
        members = np.flatnonzero(labels == k)
        at = (slice(None), None, None)
        mask = _shape_mask(shape, rows - cy[members][at], cols - cx[members][at], r[members][at])
        images[members] += brightness[members][at] * mask
    images = np.clip(images, 0.0, 1.0).astype(np.float32)[:, None]
    return TensorDataset(images, labels, classes=classes)


def synthetic_gaussian(n, shape=(1, 8, 8), num_classes=10, separation=1.0, seed=0):
    """``n`` samples from ``num_classes`` Gaussians in pixel space: ``x = mu_y + e``.

    Each class mean ``mu_k`` has independent ``N(0, separation^2)`` pixels; the noise ``e`` has
    independent ``N(0, 1)`` pixels. Two class means lie about ``separation * sqrt(2 D)`` apart for
    ``D = C * H * W`` pixels, against a noise of 1 along that direction, so the default (D = 64)
    is easy for a linear classifier and a small ``separation`` makes it hard.

    Args:
        n: number of samples; classes are balanced and in random order.
        shape: ``(C, H, W)`` of one sample (default ``(1, 8, 8)``).
        num_classes: number of classes (default 10).
        separation: std of the class means (default 1.0).
        seed: the same seed gives the same means and samples.

    Returns:
        a :class:`TensorDataset` with ``images`` float32 ``(n, C, H, W)``, ``labels`` int64 and
        ``classes`` ``("0", "1", ...)``.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise ValueError(f"synthetic_gaussian: expected shape (C, H, W), got {shape}")
    if num_classes < 1:
        raise ValueError(f"synthetic_gaussian: expected num_classes >= 1, got {num_classes}")
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, separation, size=(num_classes, *shape))
    labels = _balanced_labels(n, num_classes, rng)
    images = (means[labels] + rng.normal(0.0, 1.0, size=(n, *shape))).astype(np.float32)
    return TensorDataset(images, labels, classes=tuple(str(k) for k in range(num_classes)))
