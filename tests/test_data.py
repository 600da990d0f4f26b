import gzip
import pickle

import numpy as np
import pytest
import torch

from study.data import DataError, StepBatches, augment, load_splits, normalize, read_idx
from study.data import ImageDataModule


def test_augmentation_keeps_shapes_and_crops_within_the_padding():
    images = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    dy, dx, flip = torch.tensor([0, 8]), torch.tensor([8, 3]), torch.tensor([False, True])
    out = augment(images, dy, dx, flip, pad=4)
    assert out.shape == images.shape
    assert torch.equal(out[0], padded[0, :, 0:32, 8:40])  # corner crop: 4 zero rows on top
    assert torch.count_nonzero(out[0, :, :4, :]) == 0
    assert torch.equal(out[1], padded[1, :, 8:40, 3:35].flip(-1))


def test_zero_offset_centre_crop_without_flip_is_the_original():
    images = torch.rand(5, 3, 32, 32)
    out = augment(images, torch.full((5,), 4), torch.full((5,), 4), torch.zeros(5, dtype=torch.bool), pad=4)
    assert torch.equal(out, images)


def test_each_image_gets_its_own_crop_and_flip():
    stream = StepBatches(1000, 128, seed=0, pad=4, start_step=lambda: 0)
    batch = stream.batch_at(0, {})
    assert len(set(batch["dy"].tolist())) > 1 and len(set(batch["dx"].tolist())) > 1
    assert 0 < batch["flip"].sum() < 128
    assert batch["dy"].min() >= 0 and batch["dy"].max() <= 8


def test_training_stream_is_a_function_of_seed_and_step():
    a = StepBatches(300, 128, seed=3, pad=4, start_step=lambda: 0)
    b = StepBatches(300, 128, seed=3, pad=4, start_step=lambda: 5)
    first = [next(iter_) for iter_ in [iter(a)] for _ in range(8)][5]
    assert all(torch.equal(first[k], next(iter(b))[k]) for k in first)
    other_seed = StepBatches(300, 128, seed=4, pad=4, start_step=lambda: 5)
    assert not torch.equal(first["index"], next(iter(other_seed))["index"])


def test_training_stream_visits_every_image_once_per_epoch():
    stream = StepBatches(256, 128, seed=0, pad=4, start_step=lambda: 0)
    it = iter(stream)
    seen = torch.cat([next(it)["index"] for _ in range(2)])
    assert sorted(seen.tolist()) == list(range(256))


def test_ranks_split_the_global_batch():
    whole = StepBatches(500, 128, 0, 4, lambda: 0).batch_at(7, {})
    parts = [StepBatches(500, 128, 0, 4, lambda: 0, rank=r, world=2).batch_at(7, {}) for r in (0, 1)]
    for key in whole:
        assert torch.equal(torch.cat([p[key] for p in parts]), whole[key])


def test_fixture_loads_through_torchvision_and_mean_is_subtracted(cifar_root, no_md5):
    dm = ImageDataModule("cifar10", str(cifar_root), download=False)
    dm.setup()
    assert dm.splits.train_images.shape == (500, 3, 32, 32) and dm.splits.train_images.dtype == torch.uint8
    assert dm.splits.test_images.shape == (200, 3, 32, 32)
    centred = normalize(dm.splits.train_images, dm.mean)
    assert centred.mean(0).abs().max() < 1e-5  # per-pixel mean of the training images is zero


def test_validation_split_and_training_subset(cifar_root, no_md5):
    splits = load_splits("cifar10", str(cifar_root), False, val_split=100, train_subset=None)
    assert len(splits.val_images) == 100 and len(splits.train_images) == 400
    subset = load_splits("cifar10", str(cifar_root), False, val_split=100, train_subset=50)
    assert len(subset.train_images) == 50 and torch.equal(subset.val_images, splits.val_images)
    again = load_splits("cifar10", str(cifar_root), False, val_split=100, train_subset=50)
    assert torch.equal(again.train_images, subset.train_images)  # a fixed sample


def test_training_batches_are_augmented_on_the_indices_device(cifar_root, no_md5):
    dm = ImageDataModule("cifar10", str(cifar_root), download=False, batch_size=16)
    dm.setup()
    x, y = dm.training_batch(dm.train_stream(lambda: 0).batch_at(0, {}))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (16,)


def data_error(*load_args) -> str:
    """The message of the DataError that load_splits(*load_args) raises."""
    with pytest.raises(DataError) as err:
        load_splits(*load_args)
    return str(err.value)


def test_missing_cifar_names_the_folder_and_the_fix(tmp_path):
    message = data_error("cifar10", str(tmp_path / "nowhere"), False, 0, None)
    assert "nowhere" in message and "cifar-10-batches-py" in message
    assert "data.root=" in message and "data.download=true" in message


def test_failed_download_says_so_and_what_to_do(tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets.cifar as cifar

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    message = data_error("cifar10", str(tmp_path / "fresh"), True, 0, None)
    assert "could not be downloaded" in message and "no route to host" in message
    assert "data.root=" in message and "there is no folder" in message


def test_file_failing_its_checksum_is_named(cifar_root, monkeypatch):
    import torchvision.datasets.cifar as cifar

    # The fixture's md5s are its own: only data_batch_3 is made to fail torchvision's check.
    monkeypatch.setattr(cifar, "check_integrity", lambda path, md5=None: not str(path).endswith("data_batch_3"))
    with pytest.raises(DataError, match="data_batch_3 is corrupt or truncated"):
        load_splits("cifar10", str(cifar_root), False, 0, None)


def test_truncated_pickle_is_named_even_when_checksums_are_not_checked(cifar_root, tmp_path, no_md5):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cifar_root, copy)
    target = copy / "cifar-10-batches-py" / "test_batch"
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(DataError, match="test_batch cannot be read"):
        load_splits("cifar10", str(copy), False, 0, None)


def test_wrong_shapes_are_named(cifar_root, tmp_path, no_md5):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cifar_root, copy)
    with open(copy / "cifar-10-batches-py" / "data_batch_2", "wb") as f:
        pickle.dump({"data": np.zeros((10, 1000), np.uint8), "labels": [0] * 10}, f)
    with pytest.raises(DataError, match="data_batch_2 has the wrong shape"):
        load_splits("cifar10", str(copy), False, 0, None)


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_a_folder_of_idx_gz_files(tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (30, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 30))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (10, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 10))
    splits = load_splits("fashion_mnist", str(tmp_path), False, 0, None)
    assert splits.train_images.shape == (30, 1, 28, 28) and splits.test_labels.shape == (10,)
    assert torch.equal(splits.train_images[0, 0], torch.from_numpy(read_idx(tmp_path / "train-images-idx3-ubyte.gz")[0]))


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_splits("fashion_mnist", str(tmp_path), False, 0, None)


def test_truncated_idx_file_is_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    _write_idx(path, np.zeros((30, 28, 28)))
    with gzip.open(path, "rb") as f:
        raw = f.read()
    with gzip.open(path, "wb") as f:
        f.write(raw[:500])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


@pytest.mark.skipif(not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_loads():
    splits = load_splits("fashion_mnist", "/usr/share/datasets/fashion-mnist", False, 0, None)
    assert splits.train_images.shape == (60000, 1, 28, 28) and splits.test_images.shape == (10000, 1, 28, 28)
