"""``ImageFolder``: a folder of photos, one subfolder per class, as a dataset (torchvision's layout).

::

    flowers/
        daisy/     100080576_f52e8ee070_n.jpg  ...
        roses/     ...
        tulips/    ...

The classes are the subfolders' names in sorted order, so ``daisy`` is label 0 wherever the folder
is copied. Only the file list is read up front; each image is decoded (with
:func:`~minitorch_cnn.data.read_image`) when the loader asks for it, so thousands of photos need not
fit in memory. Photos come in many sizes: give a ``transform`` that makes them one size, e.g.
``imagenet.preprocessing("resnet18")`` or ``Compose([ResizeShorter(64), CenterCrop(64)])``.
"""

from __future__ import annotations

import os

import numpy as np

from .dataset import Dataset
from .image_file import read_image

#: The file endings torchvision's ImageFolder accepts (compared in lower case).
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class ImageFolder(Dataset):
    """The images under ``root/<class>/`` (any depth below the class folder), labelled by class.

    Args:
        root: the folder holding one subfolder per class.
        transform: a function ``image (3, H, W) in [0, 1] -> array`` applied to each decoded image.
        channels: 3 (default, colour; grey files are repeated, alpha dropped, as torchvision's
            ``convert("RGB")``) or 1.

    Attributes (torchvision's names): ``classes`` (sorted subfolder names), ``class_to_idx``
    (name -> label), ``samples`` (``(path, label)`` pairs in sorted order), ``targets`` (the
    labels as a list); and ``labels``, the same as an int64 array as our other datasets have it.
    """

    def __init__(self, root, transform=None, channels=3):
        root = os.fspath(root)
        if not os.path.isdir(root):
            raise FileNotFoundError(f"ImageFolder: no folder at {root}")
        if transform is not None and not callable(transform):
            raise TypeError(f"ImageFolder: expected transform to be callable, got {type(transform).__name__}")
        self.root, self.transform, self.channels = root, transform, channels
        self.classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
        if not self.classes:
            raise FileNotFoundError(f"ImageFolder: {root} has no class subfolders (expected root/<class>/<image>)")
        self.class_to_idx = {name: k for k, name in enumerate(self.classes)}
        self.samples = []
        empty = []
        for name in self.classes:
            found = sorted(_image_files(os.path.join(root, name)))
            if not found:
                empty.append(name)
            self.samples += [(path, self.class_to_idx[name]) for path in found]
        if empty:
            raise FileNotFoundError(f"ImageFolder: no image files ({', '.join(IMG_EXTENSIONS)}) in the class "
                                    f"folder(s) {', '.join(empty)} of {root}")
        self.labels = np.array([label for _, label in self.samples], dtype=np.int64)

    @property
    def targets(self):
        return self.labels.tolist()

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        image = read_image(path, channels=self.channels)
        if self.transform is not None:
            image = np.asarray(self.transform(image))
        return image, self.labels[i]

    def __repr__(self):
        return (f"ImageFolder({self.root!r}, images={len(self)}, classes={len(self.classes)}, "
                f"transform={self.transform!r})")


def _image_files(folder):
    for parent, subfolders, files in os.walk(folder, followlinks=True):
        subfolders.sort()
        for name in files:
            if name.lower().endswith(IMG_EXTENSIONS):
                yield os.path.join(parent, name)
