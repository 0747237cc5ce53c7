"""Transforms on whole NumPy batches ``(N, C, H, W)``: resizing, normalising and augmentation.

The data side is host-side by design: images are decoded, resized and augmented as NumPy arrays
on the CPU, and only the finished batch becomes a Tensor (on the GPU if asked). That is why this
module, unlike the ops in ``functional/``, calls NumPy directly.

Every random transform draws from the framework generator (``minitorch_cnn.backend.generator()``),
so ``mt.manual_seed(s)`` makes augmentation reproducible. Each returns a new array and leaves its
input untouched. Pass them to ``DataLoader(transform=...)``, chained with :class:`Compose`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import backend

#: AlexNet (Krizhevsky et al. 2012, section 4.1): alpha_i ~ N(0, 0.1).
PCA_ALPHA_STD = 0.1


def _check_batch(name, images):
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{name}: expected a batch of images (N, C, H, W), got shape {images.shape}")
    return images


def _pair(name, value):
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(int(v) < 1 for v in pair):
        raise ValueError(f"{name}: expected a positive size or (height, width) pair, got {value!r}")
    return int(pair[0]), int(pair[1])


# ---------------------------------------------------------------- resizing


def _interpolate_axis(images, axis, size):
    """Linear interpolation along one axis, sampling pixel centres (``align_corners=False``)."""
    n_in = images.shape[axis]
    position = (np.arange(size) + 0.5) * (n_in / size) - 0.5
    position = np.clip(position, 0, n_in - 1)
    i0 = np.floor(position).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    shape = [1] * images.ndim
    shape[axis] = size
    t = (position - i0).astype(images.dtype).reshape(shape)
    return np.take(images, i0, axis=axis) * (1 - t) + np.take(images, i1, axis=axis) * t


def resize(images, size):
    """Bilinear resize of a batch ``(N, C, H, W)`` to ``(N, C, Ho, Wo)``.

    Output pixel centres are mapped back onto the input grid, ``src = (dst + 0.5) * H / Ho - 0.5``
    (clamped to the border), and the four nearest input pixels are blended: the convention of
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``. It does not
    low-pass filter first, so shrinking by a large factor aliases; enlarging (8x8 digits to 32x32)
    is what it is for.

    Args:
        images: array ``(N, C, H, W)`` of floats.
        size: ``Ho`` for a square output, or ``(Ho, Wo)``.
    """
    images = _check_batch("resize", images)
    Ho, Wo = _pair("resize", size)
    if images.dtype.kind != "f":
        images = images.astype(np.float32)
    return _interpolate_axis(_interpolate_axis(images, 2, Ho), 3, Wo)


class Resize:
    """Transform form of :func:`resize` (e.g. MNIST's 28x28 up to LeNet-5's 32x32)."""

    def __init__(self, size):
        self.size = _pair("Resize", size)

    def __call__(self, images):
        return resize(images, self.size)

    def __repr__(self):
        return f"Resize(size={self.size})"


# ---------------------------------------------------------------- normalising


class Normalize:
    """Per-channel standardisation ``x[:, c] = (x[:, c] - mean[c]) / std[c]``.

    Args:
        mean: one value per channel (or a single value for all channels).
        std: one positive value per channel (or a single value).

    Use the training set's statistics: :meth:`from_images` computes them.
    """

    @classmethod
    def from_images(cls, images):
        """Per-channel mean and std of a training batch ``(N, C, H, W)`` (std kept above zero)."""
        return cls(images.mean(axis=(0, 2, 3)), images.std(axis=(0, 2, 3)) + 1e-8)

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.ndim != 1 or self.std.shape != self.mean.shape:
            raise ValueError(f"Normalize: expected mean and std with one value per channel, got "
                             f"{self.mean.shape} and {self.std.shape}")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: expected positive std, got {self.std.tolist()}")

    def __call__(self, images):
        images = _check_batch("Normalize", images)
        C = images.shape[1]
        if len(self.mean) not in (1, C):
            raise ValueError(f"Normalize: expected images with {len(self.mean)} channels (mean has "
                             f"{len(self.mean)} values), got {images.shape}")
        mean = self.mean.reshape(1, -1, 1, 1)
        std = self.std.reshape(1, -1, 1, 1)
        return ((images - mean) / std).astype(np.float32)

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


# ---------------------------------------------------------------- geometric augmentation


def _random_windows(padded, Ho, Wo, rng):
    """One random ``Ho x Wo`` window per image of ``padded``, all cut in one indexing step."""
    N, C, Hp, Wp = padded.shape
    top = rng.integers(0, Hp - Ho + 1, size=N)
    left = rng.integers(0, Wp - Wo + 1, size=N)
    # windows[n, c, i, j] is the Ho x Wo view whose corner is (i, j): no copy until we index it.
    windows = sliding_window_view(padded, (Ho, Wo), axis=(2, 3))
    return windows[np.arange(N), :, top, left]


def _zero_pad(images, padding):
    p = padding
    return np.pad(images, ((0, 0), (0, 0), (p, p), (p, p))) if p else images


class RandomCrop:
    """Zero-pad each side by ``padding``, then cut a random ``size`` window from each image.

    The CIFAR recipe of the ResNet paper (He et al. 2016, section 4.2) is
    ``RandomCrop(32, padding=4)`` with :class:`RandomHorizontalFlip`.

    Args:
        size: ``Ho`` for a square crop, or ``(Ho, Wo)``; must fit in the padded image.
        padding: zeros added on every side first (default 0).
    """

    def __init__(self, size, padding=0):
        self.size = _pair("RandomCrop", size)
        if padding < 0:
            raise ValueError(f"RandomCrop: expected padding >= 0, got {padding}")
        self.padding = int(padding)

    def __call__(self, images):
        images = _check_batch("RandomCrop", images)
        Ho, Wo = self.size
        H, W = images.shape[2:]
        p = self.padding
        if Ho > H + 2 * p or Wo > W + 2 * p:
            raise ValueError(f"RandomCrop: expected a crop no larger than the padded image "
                             f"({H + 2 * p}, {W + 2 * p}), got size {self.size}")
        return _random_windows(_zero_pad(images, p), Ho, Wo, backend.generator())

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomShift:
    """Translate each image by a random whole number of pixels in ``[-max_shift, max_shift]``
    along each axis; pixels shifted in are zeros, the output keeps the input size.

    Args:
        max_shift: the largest shift, in pixels (>= 0).
    """

    def __init__(self, max_shift):
        if max_shift < 0:
            raise ValueError(f"RandomShift: expected max_shift >= 0, got {max_shift}")
        self.max_shift = int(max_shift)

    def __call__(self, images):
        images = _check_batch("RandomShift", images)
        H, W = images.shape[2:]
        # A shift by (dy, dx) is the window at offset (max_shift - dy, max_shift - dx) of the image
        # zero-padded by max_shift, so shifting is cropping back to the original size.
        return _random_windows(_zero_pad(images, self.max_shift), H, W, backend.generator())

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p`` (default 0.5), independently."""

    def __init__(self, p=0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: expected 0 <= p <= 1, got {p}")
        self.p = float(p)

    def __call__(self, images):
        images = _check_batch("RandomHorizontalFlip", images)
        flip = backend.generator().random(len(images)) < self.p
        return np.where(flip[:, None, None, None], images[..., ::-1], images)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


# ---------------------------------------------------------------- colour augmentation


def pca_lighting_basis(images):
    """Eigenvalues and eigenvectors of the 3x3 covariance of RGB pixel values, for :class:`PCALighting`.

    Every pixel of every image is one sample ``[R, G, B]``.

    Args:
        images: array ``(N, 3, H, W)``, on the scale the transform will see (e.g. [0, 1]).

    Returns:
        ``(eigval, eigvec)``: ``eigval`` shape ``(3,)``, largest first; ``eigvec`` shape ``(3, 3)``
        whose column ``i`` is the eigenvector ``p_i`` of ``eigval[i]``.
    """
    images = _check_batch("pca_lighting_basis", images)
    if images.shape[1] != 3:
        raise ValueError(f"pca_lighting_basis: expected RGB images (N, 3, H, W), got {images.shape}")
    M = images.shape[0] * images.shape[2] * images.shape[3]
    # Accumulating in float64 without materialising an (N*H*W, 3) copy keeps CIFAR-sized inputs cheap.
    mean = images.mean(axis=(0, 2, 3), dtype=np.float64)
    second = np.einsum("nchw,ndhw->cd", images, images, dtype=np.float64) / M
    covariance = second - np.outer(mean, mean)
    eigval, eigvec = np.linalg.eigh(covariance)
    order = np.argsort(eigval)[::-1]
    return np.clip(eigval[order], 0.0, None), eigvec[:, order]


class PCALighting:
    """AlexNet's colour augmentation (Krizhevsky et al. 2012, section 4.1).

    To every pixel ``[R, G, B]`` of an image add ``sum_i alpha_i * lambda_i * p_i``, where
    ``p_i, lambda_i`` are the eigenvectors and eigenvalues of the training set's RGB covariance and
    ``alpha_i ~ N(0, alphastd)`` is drawn once per image (the same shift for all its pixels). It
    changes the intensity and colour of the lighting, to which object identity is invariant.

    Args:
        eigval: ``(3,)`` eigenvalues ``lambda_i``.
        eigvec: ``(3, 3)`` matrix whose column ``i`` is ``p_i``. Get both from
            :func:`pca_lighting_basis` on the training images.
        alphastd: standard deviation of ``alpha_i`` (default 0.1, as in the paper).
    """

    def __init__(self, eigval, eigvec, alphastd=PCA_ALPHA_STD):
        self.eigval = np.asarray(eigval, dtype=np.float64)
        self.eigvec = np.asarray(eigvec, dtype=np.float64)
        if self.eigval.shape != (3,) or self.eigvec.shape != (3, 3):
            raise ValueError(f"PCALighting: expected eigval (3,) and eigvec (3, 3), got {self.eigval.shape} "
                             f"and {self.eigvec.shape}")
        if alphastd < 0:
            raise ValueError(f"PCALighting: expected alphastd >= 0, got {alphastd}")
        self.alphastd = float(alphastd)

    def __call__(self, images):
        images = _check_batch("PCALighting", images)
        if images.shape[1] != 3:
            raise ValueError(f"PCALighting: expected RGB images (N, 3, H, W), got {images.shape}")
        alpha = backend.generator().normal(0.0, self.alphastd, size=(len(images), 3))
        rgb_shift = (alpha * self.eigval) @ self.eigvec.T
        return (images + rgb_shift[:, :, None, None]).astype(images.dtype)

    def __repr__(self):
        return f"PCALighting(eigval={self.eigval.tolist()}, alphastd={self.alphastd})"


class Compose:
    """Apply ``transforms`` one after another: ``Compose([RandomCrop(32, 4), RandomHorizontalFlip()])``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: expected callables, got {type(t).__name__}")

    def __call__(self, images):
        for t in self.transforms:
            images = t(images)
        return images

    def __repr__(self):
        body = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{body}\n])"
