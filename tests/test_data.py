"""minitorch_cnn.data: file parsers and read_image on tiny generated files, digits, synthetic sets, the
loader, transforms."""

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minitorch_cnn as mt
from minitorch_cnn import backend
from helpers import rand_pixels, write_image
from minitorch_cnn.data import (
    DataLoader, Dataset, TensorDataset, cifar10, digits, fashion_mnist, mnist, read_image, synthetic_gaussian,
    synthetic_shapes, transforms as T,
)

# ---------------------------------------------------------------- IDX files (MNIST, Fashion-MNIST)


def write_idx(path, array, magic, gz=False):
    """An IDX file: big-endian magic number, one 4-byte size per dimension, then the bytes."""
    array = np.asarray(array, dtype=np.uint8)
    body = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(body)
    else:
        path.write_bytes(body)


def write_mnist_split(root, prefix, images, labels, gz=False):
    write_idx(root / f"{prefix}-images-idx3-ubyte", images, 2051, gz)
    write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, 2049, gz)


def tiny_idx_data(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("loader", [mnist, fashion_mnist])
def test_idx_parser_returns_the_written_images_and_labels(tmp_path, loader, gz):
    train_images, train_labels = tiny_idx_data(5, seed=1)
    test_images, test_labels = tiny_idx_data(3, seed=2)
    write_mnist_split(tmp_path, "train", train_images, train_labels, gz)
    write_mnist_split(tmp_path, "t10k", test_images, test_labels, gz)
    for split, images, labels in [("train", train_images, train_labels), ("test", test_images, test_labels)]:
        ds = loader(str(tmp_path), split)
        assert ds.images.shape == (len(images), 1, 28, 28) and ds.images.dtype == np.float32
        np.testing.assert_allclose(ds.images[:, 0], images / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(ds.labels, labels)
        assert ds.labels.dtype == np.int64 and len(ds.classes) == 10
    assert fashion_mnist(str(tmp_path)).classes[9] == "Ankle boot"


def test_idx_bad_magic_number_is_reported(tmp_path):
    images, labels = tiny_idx_data(2, seed=0)
    write_idx(tmp_path / "train-images-idx3-ubyte", images, 2049)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels, 2049)
    with pytest.raises(ValueError, match=r"mnist: expected magic number 2051 .*train-images-idx3-ubyte, got 2049"):
        mnist(str(tmp_path))


def test_idx_wrong_size_is_reported(tmp_path):
    images, labels = tiny_idx_data(2, seed=0)
    write_mnist_split(tmp_path, "train", images, labels)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"wrong size: the header says 2 x 28 x 28 = 1568 bytes of data, got 1558"):
        mnist(str(tmp_path))


def test_idx_image_and_label_counts_must_agree(tmp_path):
    images, labels = tiny_idx_data(3, seed=0)
    write_mnist_split(tmp_path, "train", images, labels[:2])
    with pytest.raises(ValueError, match="expected as many labels as images, got 3 images"):
        mnist(str(tmp_path))


@pytest.mark.parametrize(
    "loader, source", [(mnist, "Yann LeCun's site"), (fashion_mnist, "Fashion-MNIST GitHub repository")]
)
def test_idx_missing_files_message_names_files_and_source(tmp_path, loader, source):
    with pytest.raises(FileNotFoundError) as info:
        loader(str(tmp_path), "test")
    message = str(info.value)
    for name in ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", source]:
        assert name in message
    assert str(tmp_path) in message


# ---------------------------------------------------------------- CIFAR-10 binary files


def write_cifar_batch(path, images, labels):
    """Records of 1 label byte + 3072 pixel bytes (R, G, B planes of 32x32)."""
    records = np.concatenate([labels[:, None], images.reshape(len(images), -1)], axis=1).astype(np.uint8)
    path.write_bytes(records.tobytes())


def tiny_cifar_data(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


@pytest.mark.parametrize("subfolder", [False, True], ids=["root", "cifar-10-batches-bin"])
def test_cifar_parser_returns_the_written_images_and_labels(tmp_path, subfolder):
    folder = tmp_path / "cifar-10-batches-bin" if subfolder else tmp_path
    folder.mkdir(exist_ok=True)
    batches = [tiny_cifar_data(2, seed=i) for i in range(1, 6)]
    for i, (images, labels) in enumerate(batches, start=1):
        write_cifar_batch(folder / f"data_batch_{i}.bin", images, labels)
    test_images, test_labels = tiny_cifar_data(3, seed=9)
    write_cifar_batch(folder / "test_batch.bin", test_images, test_labels)

    train = cifar10(str(tmp_path), "train")
    assert train.images.shape == (10, 3, 32, 32) and train.images.dtype == np.float32
    np.testing.assert_allclose(train.images, np.concatenate([b[0] for b in batches]) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(train.labels, np.concatenate([b[1] for b in batches]))
    test = cifar10(str(tmp_path), "test")
    np.testing.assert_allclose(test.images, test_images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(test.labels, test_labels)
    assert test.classes[0] == "airplane"


def test_cifar_channels_are_red_green_blue_planes(tmp_path):
    record = np.zeros(3073, dtype=np.uint8)
    record[0] = 7
    record[1:1025] = 255  # the first plane is red
    (tmp_path / "test_batch.bin").write_bytes(record.tobytes())
    ds = cifar10(str(tmp_path), "test")
    assert ds.labels.tolist() == [7] and ds.classes[7] == "horse"
    assert ds.images[0, 0].min() == 1.0 and ds.images[0, 1:].max() == 0.0


def test_cifar_class_names_come_from_batches_meta(tmp_path):
    write_cifar_batch(tmp_path / "test_batch.bin", *tiny_cifar_data(1, seed=0))
    names = [f"class{k}" for k in range(10)]
    (tmp_path / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    assert cifar10(str(tmp_path), "test").classes == tuple(names)


def test_cifar_partial_record_is_reported(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(bytes(3073 + 100))
    with pytest.raises(ValueError, match="whole 3073-byte records .* got 3173 bytes"):
        cifar10(str(tmp_path), "test")


def test_cifar_missing_files_message_names_files_and_source(tmp_path):
    write_cifar_batch(tmp_path / "data_batch_1.bin", *tiny_cifar_data(1, seed=0))
    with pytest.raises(FileNotFoundError) as info:
        cifar10(str(tmp_path), "train")
    message = str(info.value)
    assert "missing data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin" in message
    for name in ["test_batch.bin", "cifar-10-batches-bin", "CIFAR-10 binary version", "Krizhevsky"]:
        assert name in message


# ---------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits_sets():
    return digits("train"), digits("test")


def test_digits_shapes_range_and_split_sizes(digits_sets):
    train, test = digits_sets
    assert train.images.shape == (1438, 1, 32, 32) and test.images.shape == (359, 1, 32, 32)
    for ds in (train, test):
        assert ds.images.dtype == np.float32 and ds.labels.dtype == np.int64
        assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
        assert ds.classes == tuple("0123456789")


def test_digits_split_is_stratified_deterministic_and_disjoint(digits_sets):
    from sklearn.datasets import load_digits

    train, test = digits_sets
    counts = np.bincount(np.concatenate([train.labels, test.labels]))
    assert np.all(np.abs(np.bincount(test.labels) - 0.2 * counts) <= 0.5)
    again = digits("test")
    np.testing.assert_array_equal(again.images, test.images)
    np.testing.assert_array_equal(again.labels, test.labels)
    # At size 8 the two splits together must be the original 1,797 images, each exactly once.
    small = np.concatenate([digits("train", size=8).images, digits("test", size=8).images]).reshape(1797, 64)
    original = load_digits().data / 16.0
    np.testing.assert_allclose(np.unique(small, axis=0), np.unique(original, axis=0), rtol=1e-6)
    assert len(np.unique(original, axis=0)) == len(np.unique(small, axis=0))


def test_digits_rejects_unknown_split():
    with pytest.raises(ValueError, match="digits: expected split 'train' or 'test', got 'val'"):
        digits("val")


# ---------------------------------------------------------------- synthetic sets


def test_synthetic_shapes_are_deterministic_balanced_and_in_range():
    a = synthetic_shapes(40, size=16, seed=3)
    b = synthetic_shapes(40, size=16, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.images.shape == (40, 1, 16, 16) and a.images.dtype == np.float32
    assert np.bincount(a.labels).tolist() == [10, 10, 10, 10]
    assert 0.0 <= a.images.min() and a.images.max() <= 1.0
    assert not np.array_equal(a.images, synthetic_shapes(40, size=16, seed=4).images)


def test_synthetic_shapes_noise_free_pictures_are_the_named_shapes():
    ds = synthetic_shapes(40, size=16, classes=("circle", "square"), noise=0.0, seed=0)
    for image, label in zip(ds.images[:, 0], ds.labels):
        rows, cols = np.nonzero(image)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        if ds.classes[label] == "square":
            assert len(rows) == box
        else:
            assert len(rows) < 0.85 * box  # a disc covers about pi/4 of its bounding box


def test_synthetic_shapes_rejects_unknown_shape():
    with pytest.raises(ValueError, match="synthetic_shapes: expected classes from"):
        synthetic_shapes(4, classes=("hexagon",))


def test_synthetic_gaussian_class_means_separate_the_classes():
    ds = synthetic_gaussian(600, shape=(1, 4, 4), num_classes=3, seed=1)
    assert ds.images.shape == (600, 1, 4, 4) and ds.classes == ("0", "1", "2")
    flat = ds.images.reshape(600, -1)
    means = np.stack([flat[ds.labels == k].mean(0) for k in range(3)])
    nearest = np.argmin(((flat[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (nearest == ds.labels).mean() > 0.8
    np.testing.assert_array_equal(ds.images, synthetic_gaussian(600, shape=(1, 4, 4), num_classes=3, seed=1).images)


# ---------------------------------------------------------------- DataLoader


class ListDataset(Dataset):
    """A dataset without array storage, to exercise the item-by-item path."""

    def __init__(self, images, labels):
        self.items = list(zip(images, labels))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def numbered_dataset(n, cls=TensorDataset):
    """Image i is filled with the value i and has label i, so batches reveal their sample ids."""
    images = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, 1, 2, 2)).copy()
    return cls(images, np.arange(n))


def sample_ids(loader):
    return [labels.detach().numpy().tolist() for _, labels in loader]


def test_loader_batches_are_tensors_in_dataset_order():
    loader = DataLoader(numbered_dataset(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    images, labels = batches[0]
    assert isinstance(images, mt.Tensor) and images.shape == (4, 1, 2, 2)
    assert backend.dtype_name(images.dtype) == "float32" and backend.dtype_name(labels.dtype) == "int64"
    assert sample_ids(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(batches[2][0].detach().numpy()[:, 0, 0, 0], [8, 9])


def test_loader_drop_last():
    loader = DataLoader(numbered_dataset(10), batch_size=4, drop_last=True)
    assert len(loader) == 2 and sample_ids(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(numbered_dataset(8), batch_size=4, drop_last=True)) == 2


def test_loader_accepts_pytorchs_num_workers_and_pin_memory():
    # d2l's DataLoader(dataset, batch_size, shuffle=train, num_workers=4): the same batches as without.
    mt.manual_seed(3)
    expected = sample_ids(DataLoader(numbered_dataset(10), 4, shuffle=True))
    mt.manual_seed(3)
    assert sample_ids(DataLoader(numbered_dataset(10), 4, shuffle=True, num_workers=4, pin_memory=True)) == expected
    with pytest.raises(ValueError, match="DataLoader: expected num_workers to be a non-negative integer, got -1"):
        DataLoader(numbered_dataset(10), num_workers=-1)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(), shuffle=st.booleans())
def test_loader_covers_every_sample_once_per_epoch(n, batch_size, drop_last, shuffle):
    loader = DataLoader(numbered_dataset(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=0)
    batches = sample_ids(loader)
    assert len(batches) == len(loader)
    assert all(len(b) == batch_size for b in batches[:-1])
    seen = sorted(i for b in batches for i in b)
    if drop_last:
        assert len(seen) == n - n % batch_size and len(set(seen)) == len(seen)
    else:
        assert seen == list(range(n))


def test_loader_seed_makes_shuffle_reproducible_and_epochs_differ():
    first = DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, seed=7)
    second = DataLoader(numbered_dataset(50), batch_size=8, shuffle=True, seed=7)
    epoch1 = sample_ids(first)
    assert epoch1 == sample_ids(second)
    assert epoch1 != sample_ids(first)
    assert epoch1 != sample_ids(DataLoader(numbered_dataset(50), batch_size=8, shuffle=True))


def test_loader_without_seed_follows_manual_seed():
    loader = DataLoader(numbered_dataset(50), batch_size=8, shuffle=True)
    mt.manual_seed(3)
    a = sample_ids(loader)
    mt.manual_seed(3)
    assert sample_ids(loader) == a
    assert a != [list(range(i, min(i + 8, 50))) for i in range(0, 50, 8)]


@pytest.mark.parametrize("seed", [None, 5])
def test_loader_state_dict_continues_the_epoch_with_the_next_batch(seed):
    loader = DataLoader(numbered_dataset(20), batch_size=3, shuffle=True, seed=seed)
    sample_ids(loader)
    epoch = iter(loader)
    done = [next(epoch)[1].numpy().tolist() for _ in range(2)]
    state, rng = loader.state_dict(), mt.get_rng_state()
    rest = [labels.numpy().tolist() for _, labels in epoch]
    following = sample_ids(loader)
    assert state["batches"] == 2 and sorted(i for batch in done + rest for i in batch) == list(range(20))
    mt.manual_seed(99)
    resumed = DataLoader(numbered_dataset(20), batch_size=3, shuffle=True, seed=seed)
    resumed.load_state_dict(state)
    mt.set_rng_state(rng)
    assert sample_ids(resumed) == rest
    assert sample_ids(resumed) == following


def test_loader_state_after_a_finished_epoch_starts_a_new_one():
    loader = DataLoader(numbered_dataset(10), batch_size=4)
    sample_ids(loader)
    other = DataLoader(numbered_dataset(10), batch_size=4)
    other.load_state_dict(loader.state_dict())
    assert sample_ids(other) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_loader_state_of_another_dataset_size_is_refused():
    loader = DataLoader(numbered_dataset(10), batch_size=4, shuffle=True)
    next(iter(loader))
    with pytest.raises(ValueError, match="saved order has 10 samples, this loader draws 12 per epoch"):
        DataLoader(numbered_dataset(12), batch_size=4, shuffle=True).load_state_dict(loader.state_dict())


def test_loader_item_path_matches_array_path():
    fast = DataLoader(numbered_dataset(11), batch_size=3, shuffle=True, seed=1)
    slow = DataLoader(numbered_dataset(11, ListDataset), batch_size=3, shuffle=True, seed=1)
    for (xa, ya), (xb, yb) in zip(fast, slow):
        np.testing.assert_array_equal(xa.detach().numpy(), xb.detach().numpy())
        np.testing.assert_array_equal(ya.detach().numpy(), yb.detach().numpy())


def test_loader_slices_array_datasets_a_batch_at_a_time():
    class NoItems(TensorDataset):
        def __getitem__(self, i):
            raise AssertionError("the loader indexed one item at a time")

    ds = numbered_dataset(7, NoItems)
    assert sample_ids(DataLoader(ds, batch_size=3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(sum(sample_ids(DataLoader(ds, batch_size=3, shuffle=True)), [])) == 7


def test_loader_applies_transform_without_touching_the_dataset():
    ds = numbered_dataset(6)

    def negate_in_place(images):
        images *= -1
        return images

    (images, _), *_ = DataLoader(ds, batch_size=6, transform=negate_in_place)
    np.testing.assert_array_equal(images.detach().numpy()[:, 0, 0, 0], -np.arange(6))
    np.testing.assert_array_equal(ds.images[:, 0, 0, 0], np.arange(6))


def test_loader_device_argument():
    images, labels = next(iter(DataLoader(numbered_dataset(4), batch_size=2, device="cpu")))
    assert images.device == "cpu" and labels.device == "cpu"
    loader = DataLoader(numbered_dataset(4), batch_size=2, device="cuda")
    if backend.cuda_is_available():
        assert next(iter(loader))[0].device == "cuda"
    else:
        with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
            next(iter(loader))


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_loader_rejects_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="DataLoader: expected batch_size to be a positive integer"):
        DataLoader(numbered_dataset(4), batch_size=batch_size)


def test_tensor_dataset_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="TensorDataset: expected as many labels as images, got 3 images and 2"):
        TensorDataset(np.zeros((3, 1, 2, 2)), np.zeros(2, dtype=np.int64))


# ---------------------------------------------------------------- one image file (read_image)


def test_read_image_png_colour_and_grey_are_the_bytes_over_255(tmp_path):
    rgb = rand_pixels((5, 7, 3))
    x = read_image(write_image(tmp_path / "rgb.png", rgb))
    assert x.dtype == np.float32 and x.shape == (3, 5, 7)
    np.testing.assert_array_equal(x, rgb.transpose(2, 0, 1) / np.float32(255))
    grey = rand_pixels((5, 7), seed=1)
    x = read_image(write_image(tmp_path / "grey.png", grey))
    assert x.shape == (1, 5, 7)
    np.testing.assert_array_equal(x[0], grey / np.float32(255))


def test_read_image_channel_conversions(tmp_path):
    rgba = rand_pixels((4, 6, 4))
    x = read_image(write_image(tmp_path / "rgba.png", rgba))
    np.testing.assert_array_equal(x, rgba[..., :3].transpose(2, 0, 1) / np.float32(255))  # alpha dropped
    luma = read_image(tmp_path / "rgba.png", channels=1)[0] * 255
    expected = rgba[..., :3].astype(np.float64) @ [0.299, 0.587, 0.114]
    assert luma.shape == (4, 6) and np.abs(luma - expected).max() <= 0.5 + 1e-3
    grey = rand_pixels((4, 6), seed=2)
    x = read_image(write_image(tmp_path / "grey.png", grey), channels=3)
    assert x.shape == (3, 4, 6) and all(np.array_equal(x[c], x[0]) for c in range(3))


def test_read_image_keeps_16_bit_greyscale_precision(tmp_path):
    deep = (np.arange(12, dtype=np.uint16) * 5000 + 7).reshape(3, 4)
    x = read_image(write_image(tmp_path / "deep.png", deep))
    np.testing.assert_allclose(x[0], deep / 65535.0, rtol=1e-6)
    assert read_image(tmp_path / "deep.png", channels=3).shape == (3, 3, 4)


def test_read_image_jpeg_of_a_flat_colour(tmp_path):
    x = read_image(write_image(tmp_path / "flat.jpg", np.full((16, 16, 3), (200, 40, 90), dtype=np.uint8)))
    assert x.shape == (3, 16, 16)
    np.testing.assert_allclose(x.mean(axis=(1, 2)), np.array([200, 40, 90]) / 255, atol=3 / 255)


def test_read_image_resizes_to_a_model_input_size(tmp_path):
    path = write_image(tmp_path / "flat.png", np.full((40, 30), 64, dtype=np.uint8))
    assert read_image(path, size=8).shape == (1, 8, 8)
    x = read_image(path, channels=3, size=(5, 9))
    assert x.shape == (3, 5, 9)
    np.testing.assert_allclose(x, 64 / 255, rtol=1e-6)


def test_read_image_shrinking_filters_instead_of_aliasing(tmp_path):
    # A one-pixel checkerboard shrunk to 7x7: a filtered resize gives its mean, grey; sampling two
    # neighbours (transforms.resize) gives values up to 0.37 away from it.
    board = (np.indices((40, 40)).sum(axis=0) % 2 * 255).astype(np.uint8)
    x = read_image(write_image(tmp_path / "board.png", board), size=7)
    np.testing.assert_allclose(x, 0.5, atol=0.01)


def test_read_image_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="read_image: no image file at .*missing.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="read_image: cannot decode .*notes.png"):
        read_image(tmp_path / "notes.png")
    whole = write_image(tmp_path / "whole.png", rand_pixels((32, 32, 3))).read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="read_image: cannot decode .*cut.png"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(ValueError, match="channels must be 1 or 3, got 4"):
        read_image(tmp_path / "whole.png", channels=4)
    with pytest.raises(ValueError, match=r"size must be a positive int H or a pair \(H, W\), got \(0, 0\)"):
        read_image(tmp_path / "whole.png", size=0)


# ---------------------------------------------------------------- transforms


def rand_batch(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_resize_matches_torch_bilinear():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    x = rand_batch((2, 3, 8, 6))
    for size in [(32, 32), (5, 13), (8, 6)]:
        ref = torch.nn.functional.interpolate(torch.tensor(x), size=size, mode="bilinear", align_corners=False)
        np.testing.assert_allclose(T.resize(x, size), ref.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_resize_keeps_a_constant_image_constant():
    out = T.Resize(32)(np.full((1, 1, 8, 8), 0.25, dtype=np.float32))
    assert out.shape == (1, 1, 32, 32)
    np.testing.assert_allclose(out, 0.25, rtol=1e-6)


def test_horizontal_flip_twice_is_identity_and_flips_are_mirrors():
    x = rand_batch((16, 2, 4, 5))
    flip = T.RandomHorizontalFlip(p=1.0)
    np.testing.assert_array_equal(flip(x)[..., ::-1], x)
    np.testing.assert_array_equal(flip(flip(x)), x)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    half = T.RandomHorizontalFlip()(x)
    mirrored = [np.array_equal(h, xi[..., ::-1]) for h, xi in zip(half, x)]
    unchanged = [np.array_equal(h, xi) for h, xi in zip(half, x)]
    assert all(m or u for m, u in zip(mirrored, unchanged)) and any(mirrored) and any(unchanged)


def test_random_crop_shape_and_windows_of_the_padded_image():
    x = rand_batch((6, 3, 8, 8)) + 1.0  # all pixels >= 1, so zeros can only come from padding
    out = T.RandomCrop(8, padding=2)(x)
    assert out.shape == (6, 3, 8, 8)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for o, p in zip(out, padded):
        assert any(np.array_equal(o, p[:, i:i + 8, j:j + 8]) for i in range(5) for j in range(5))
    assert T.RandomCrop((5, 3))(x).shape == (6, 3, 5, 3)
    with pytest.raises(ValueError, match="RandomCrop: expected a crop no larger than the padded image"):
        T.RandomCrop(13, padding=2)(x)


def test_random_shift_moves_content_and_fills_zeros():
    x = rand_batch((32, 1, 6, 6)) + 1.0
    out = T.RandomShift(2)(x)
    assert out.shape == x.shape
    assert (out == 0).any()
    np.testing.assert_array_equal(T.RandomShift(0)(x), x)


def test_normalize_gives_zero_mean_unit_std_per_channel():
    x = rand_batch((64, 3, 5, 5)) * np.array([1.0, 4.0, 0.5], dtype=np.float32)[:, None, None]
    out = T.Normalize(x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3)))(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1.0, rtol=1e-4)
    with pytest.raises(ValueError, match=r"Normalize: expected images with 3 channels"):
        T.Normalize([0, 0, 0], [1, 1, 1])(rand_batch((2, 1, 4, 4)))


def test_pca_lighting_basis_matches_the_rgb_covariance():
    x = rand_batch((10, 3, 6, 6))
    x[:, 1] = 0.5 * x[:, 0] + 0.1 * x[:, 1]
    eigval, eigvec = T.pca_lighting_basis(x)
    pixels = x.transpose(0, 2, 3, 1).reshape(-1, 3).astype(np.float64)
    covariance = np.cov(pixels, rowvar=False, bias=True)
    np.testing.assert_allclose(eigval, np.sort(np.linalg.eigvalsh(covariance))[::-1], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(covariance @ eigvec, eigvec * eigval, atol=1e-7)


def test_pca_lighting_shifts_colour_per_image_and_is_seeded():
    x = rand_batch((4, 3, 5, 5))
    eigval, eigvec = T.pca_lighting_basis(x)
    lighting = T.PCALighting(eigval, eigvec)
    mt.manual_seed(11)
    out = lighting(x)
    shift = out - x
    assert np.abs(shift).max() > 0
    # AlexNet: one RGB offset per image, sum_i alpha_i * lambda_i * p_i, the same at every pixel.
    mt.manual_seed(11)
    alpha = backend.generator().normal(0.0, 0.1, size=(4, 3))
    offset = (eigvec @ (alpha * eigval).T).T
    np.testing.assert_allclose(shift, offset[:, :, None, None] * np.ones_like(x), atol=1e-6)
    mt.manual_seed(11)
    np.testing.assert_array_equal(lighting(x), out)
    assert not np.array_equal(lighting(x), out)
    with pytest.raises(ValueError, match=r"PCALighting: expected RGB images \(N, 3, H, W\)"):
        lighting(rand_batch((2, 1, 4, 4)))


def test_compose_applies_in_order_through_the_loader():
    x = rand_batch((8, 3, 6, 6))
    ds = TensorDataset(x, np.zeros(8, dtype=np.int64))
    pipeline = T.Compose([T.RandomCrop(4), T.Normalize(0.5, 0.25), T.RandomHorizontalFlip()])
    mt.manual_seed(2)
    (images, _), = DataLoader(ds, batch_size=8, transform=pipeline)
    mt.manual_seed(2)
    np.testing.assert_array_equal(images.detach().numpy(), pipeline(x))
    assert images.shape == (8, 3, 4, 4)


def test_transforms_reject_a_single_image():
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: expected a batch of images \(N, C, H, W\)"):
        T.RandomHorizontalFlip()(np.zeros((3, 4, 4)))


def test_tensor_dataset_accepts_tensors_under_pytorchs_path():
    from minitorch_cnn.utils.data import DataLoader as TorchPathLoader, TensorDataset as TorchPathDataset

    assert TorchPathDataset is TensorDataset and TorchPathLoader is DataLoader
    X = mt.tensor(np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2))
    ds = TorchPathDataset(X, mt.tensor([1, 0]))
    images, labels = next(iter(TorchPathLoader(ds, batch_size=2)))
    np.testing.assert_array_equal(images.detach().numpy(), X.detach().numpy())
    np.testing.assert_array_equal(labels.detach().numpy(), [1, 0])
