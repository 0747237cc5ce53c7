"""One image file (JPEG, PNG, or anything else Pillow decodes) as a ``(C, H, W)`` float array.

A photo to classify or to visualise a network on comes from a file the user names; nothing here
downloads. Pixels are scaled to [0, 1] as the datasets' are, so the model's own ``Normalize``
(its training mean and std) applies after.
"""

from __future__ import annotations

import os

import numpy as np

#: Full scale of an 8-bit channel and of a 16-bit greyscale PNG.
PIXEL_MAX_VALUE = 255.0
PIXEL_MAX_VALUE_16 = 65535.0


def read_image(path, channels=None, size=None):
    """Read the image at ``path`` as a float32 array ``(C, H, W)`` with values in [0, 1].

    Args:
        path: an image file Pillow can decode (JPEG, PNG, BMP, GIF's first frame, ...).
        channels: 1 or 3; by default 1 for a greyscale file and 3 for any other. Colour becomes
            grey as ITU-R 601-2 luma, ``L = 0.299 R + 0.587 G + 0.114 B`` (Pillow's and
            torchvision's ``Grayscale``); grey becomes colour by repeating it. An alpha channel is
            dropped, as torchvision's ``convert("RGB")`` does.
        size: ``H`` for a square output, or ``(H, W)``; by default the file's own size. Resizing
            is Pillow's bilinear filter, which widens with the scale factor when shrinking, so a
            large photo brought down to a model's input size does not alias (as torchvision's
            ``Resize`` on a PIL image; :func:`~minitorch_cnn.data.transforms.resize` does not
            filter and is meant for enlarging).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for one Pillow cannot
    decode (another format, or truncated).
    """
    from PIL import Image, UnidentifiedImageError

    if channels not in (None, 1, 3):
        raise ValueError(f"read_image: channels must be 1 or 3, got {channels!r}")
    if size is not None:
        size = (size, size) if isinstance(size, int) else tuple(size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f"read_image: size must be a positive int H or a pair (H, W), got {size!r}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"read_image: no image file at {path}")
    try:
        with Image.open(path) as image:
            image.load()
            # A 16-bit greyscale PNG opens as "I;16" ("I" in older Pillow); convert("L") would clip it.
            wide = image.mode in ("I", "I;16", "I;16B", "I;16L")
            channels = channels or (1 if wide or image.mode in ("1", "L", "LA") else 3)
            image = image.convert("I" if wide else "L" if channels == 1 else "RGB")
            if size is not None:
                H, W = size
                image = image.resize((W, H), Image.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / (PIXEL_MAX_VALUE_16 if wide else PIXEL_MAX_VALUE)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"read_image: cannot decode {path} as an image (not an image file, or a truncated "
                         f"one): {exc}") from exc
    if pixels.ndim == 2:
        return np.repeat(pixels[None], channels, axis=0)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))
