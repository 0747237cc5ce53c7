"""``digits``: the 1,797 handwritten 8x8 digits that scikit-learn ships, the embedded default.

They come from the UCI "Optical Recognition of Handwritten Digits" set (43 writers) and are part
of the scikit-learn package itself, so they load with no network and no files to fetch.
"""

from __future__ import annotations

import numpy as np

from .dataset import TensorDataset
from .transforms import resize

#: The 0..16 pixel range of the UCI digits (counts of set pixels in 4x4 blocks of a 32x32 bitmap).
DIGITS_MAX_VALUE = 16.0
TEST_FRACTION = 0.2
CLASSES = tuple(str(d) for d in range(10))


def _split(labels, seed):
    """Stratified split: within each class, a seeded permutation sends round(20%) to the test set."""
    rng = np.random.default_rng(seed)
    test = []
    for k in range(len(CLASSES)):
        members = np.flatnonzero(labels == k)
        test.append(rng.permutation(members)[: int(round(TEST_FRACTION * len(members)))])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def digits(split="train", size=32, seed=0):
    """The scikit-learn digits as a :class:`TensorDataset` of ``(N, 1, size, size)`` images.

    Pixel values 0..16 are scaled to [0, 1], then each image is resized bilinearly from 8x8 to
    ``size x size`` (32 is LeNet-5's input; ``size=8`` keeps the originals).

    The split is stratified and fixed: within each digit class a permutation seeded by ``seed``
    puts ``round(0.2 * class count)`` images in the test set and the rest in the train set: 1,438
    train and 359 test images whatever the seed, with each digit in the same proportion in both.
    Both sets keep scikit-learn's original order; the loader shuffles.

    Args:
        split: ``"train"`` or ``"test"``.
        size: output height and width in pixels (default 32).
        seed: seed of the split (default 0); the same seed gives the same split on every call.

    Returns:
        a :class:`TensorDataset` with ``images`` float32 ``(N, 1, size, size)``, ``labels`` int64
        ``(N,)`` and ``classes`` ``("0", ..., "9")``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"digits: expected split 'train' or 'test', got {split!r}")
    # Imported here: scikit-learn takes a second to import and only this loader needs it.
    from sklearn.datasets import load_digits

    raw = load_digits()
    labels = raw.target.astype(np.int64)
    train, test = _split(labels, seed)
    index = train if split == "train" else test
    images = (raw.images[index] / DIGITS_MAX_VALUE).astype(np.float32)[:, None]
    if size != images.shape[-1]:
        images = resize(images, size)
    return TensorDataset(images, labels[index], classes=CLASSES)
