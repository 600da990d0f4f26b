import gzip
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from fixture_data import fixture_arrays, in_folder_order, write_image_folders
from study.data.cifar import CIFAR100
from study.data.fashion_mnist import read_idx
from study.data.layouts import write_binary, write_pickles
from study.data.layouts import write_image_folders as write_image_folders_as_named
from study.data.raw import DataError
from study.data.sources import load_dataset
from study.data.stream import DataConfig, ImageDataModule, StepBatches, augment, load_splits, normalize
from study.results.publish import write_report
from study.runs.checkpoints import net_of, newest_checkpoint
from tiny_runs import compose_config, train_in_process


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


def test_fixture_loads_and_mean_is_subtracted(cifar_root):
    dm = ImageDataModule(DataConfig(root=str(cifar_root), download=False, verify_checksums=False))
    dm.setup()
    assert dm.splits.train_images.shape == (500, 3, 32, 32) and dm.splits.train_images.dtype == torch.uint8
    assert dm.splits.test_images.shape == (200, 3, 32, 32)
    centred = normalize(dm.splits.train_images, dm.mean)
    assert centred.mean(0).abs().max() < 1e-5  # per-pixel mean of the training images is zero


def test_validation_split_and_training_subset(cifar_root):
    load = lambda **kw: load_splits("cifar10", str(cifar_root), False, verify_checksums=False, **kw)  # noqa: E731
    splits = load(val_split=100, train_subset=None)
    assert len(splits.val_images) == 100 and len(splits.train_images) == 400
    subset = load(val_split=100, train_subset=50)
    assert len(subset.train_images) == 50 and torch.equal(subset.val_images, splits.val_images)
    again = load(val_split=100, train_subset=50)
    assert torch.equal(again.train_images, subset.train_images)  # a fixed sample


def test_training_batches_are_augmented_on_the_indices_device(cifar_root):
    dm = ImageDataModule(DataConfig(root=str(cifar_root), download=False, batch_size=16, verify_checksums=False))
    dm.setup()
    x, y = dm.training_batch(dm.train_stream(lambda: 0).batch_at(0, {}))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (16,)


def test_a_batch_larger_than_the_training_set_is_refused(cifar_root):
    dm = ImageDataModule(DataConfig(root=str(cifar_root), download=False, batch_size=1000, verify_checksums=False))
    with pytest.raises(DataError, match="data.batch_size=1000 is larger than the 500 training images"):
        dm.setup()


def data_error(name: str, root, **kwargs) -> str:
    """The message of the DataError that loading `name` from `root` raises."""
    with pytest.raises(DataError) as err:
        load_dataset(name, str(root), False, **kwargs)
    return str(err.value)


def test_missing_cifar_names_the_folder_the_layouts_and_the_fix(tmp_path):
    message = data_error("cifar10", tmp_path / "nowhere")
    assert "nowhere" in message and "cifar-10-batches-py" in message and "cifar-10-batches-bin" in message
    assert "train/<class>/" in message and "data.root=" in message and "data.download=true" in message


def test_failed_download_says_so_and_what_to_do(tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets.cifar as cifar

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", str(tmp_path / "fresh"), True)
    assert "could not be downloaded" in str(err.value) and "no route to host" in str(err.value)
    assert "data.root=" in str(err.value)


def test_file_failing_its_checksum_is_named_with_the_way_out(cifar_root, monkeypatch):
    import torchvision.datasets.cifar as cifar

    # The fixture's md5s are its own: only data_batch_3 is made to fail torchvision's check.
    monkeypatch.setattr(cifar, "check_integrity", lambda path, md5=None: not str(path).endswith("data_batch_3"))
    message = data_error("cifar10", cifar_root)
    assert "data_batch_3 is corrupt or truncated" in message and "data.verify_checksums=false" in message
    raw = load_dataset("cifar10", str(cifar_root), False, verify_checksums=False)
    assert raw.source["checksums_verified"] is False  # the run records that it did


def copy_of(root: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(root, tmp_path / "copy"))


def test_truncated_pickle_is_named_even_when_checksums_are_not_checked(cifar_root, tmp_path):
    target = copy_of(cifar_root, tmp_path) / "cifar-10-batches-py" / "test_batch"
    target.write_bytes(target.read_bytes()[:1000])
    assert "test_batch cannot be read" in data_error("cifar10", tmp_path / "copy", verify_checksums=False)


@pytest.mark.parametrize(
    "entry,expected",
    [
        ({"data": np.zeros((10, 1000), np.uint8), "labels": [0] * 10}, "data_batch_2 has the wrong shape"),
        ({"data": np.zeros((10, 3072), np.uint8), "labels": [0] * 11}, "10 images but 11 labels"),
        ({"data": np.zeros((10, 3072), np.uint8), "labels": [0] * 9}, "10 images but 9 labels"),
        ({"data": np.zeros((10, 3072), np.float64), "labels": [0] * 10}, "pixels are float64"),
        ({"data": np.zeros((10, 3072), np.uint8), "labels": [0] * 9 + [10]}, "label 10 of image 9 is outside 0-9"),
        ({"data": np.zeros((10, 3072), np.uint8), "labels": [-1] + [0] * 9}, "label -1 of image 0 is outside 0-9"),
    ],
)
def test_a_damaged_batch_file_is_named(cifar_root, tmp_path, entry, expected):
    with open(copy_of(cifar_root, tmp_path) / "cifar-10-batches-py" / "data_batch_2", "wb") as f:
        pickle.dump(entry, f)
    message = data_error("cifar10", tmp_path / "copy", verify_checksums=False)
    assert expected in message and "data_batch_2" in message


def test_a_pickle_that_would_run_code_is_refused_and_never_run(cifar_root, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with open(copy_of(cifar_root, tmp_path) / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": Payload(), "labels": []}, f)
    message = data_error("cifar10", tmp_path / "copy", verify_checksums=False)
    assert "test_batch cannot be read" in message and "which a CIFAR-10 batch never holds" in message
    assert not marker.exists()


def test_an_empty_test_split_is_refused(cifar_root, tmp_path):
    with open(copy_of(cifar_root, tmp_path) / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((0, 3072), np.uint8), "labels": []}, f)
    assert "holds no images" in data_error("cifar10", tmp_path / "copy", verify_checksums=False)


def test_an_incomplete_copy_is_refused_with_the_count_found(cifar_root):
    message = data_error("cifar10", cifar_root, verify_checksums=False, expected_counts=(50000, 10000))
    assert "500 images found, expected 50,000" in message and "data.expected_counts=null" in message


# ---------------------------------------------------------------------------------------------
# Every layout, from the same arrays


@pytest.fixture(scope="module")
def arrays():
    return fixture_arrays(n_train=60, n_test=30, seed=3)


def layout_copy(kind: str, arrays, root: Path) -> Path:
    writers = {
        "pickles": write_pickles,
        "binary": write_binary,
        "png": lambda r, a: write_image_folders(r, a, ".png"),
        "jpeg": lambda r, a: write_image_folders(r, a, ".jpg"),
    }
    return writers[kind](root, arrays)


@pytest.mark.parametrize(
    "kind,layout", [("pickles", "cifar-10-batches-py"), ("binary", "cifar-10-batches-bin"), ("png", "image folders")]
)
def test_each_lossless_layout_loads_to_the_same_arrays(kind, layout, arrays, tmp_path):
    raw = load_dataset("cifar10", str(layout_copy(kind, arrays, tmp_path)), False, verify_checksums=False)
    expected = in_folder_order(arrays) if kind == "png" else arrays
    for split, (images, labels) in expected.items():
        assert np.array_equal(getattr(raw, f"{split}_images"), images)
        assert np.array_equal(getattr(raw, f"{split}_labels"), labels)
    assert raw.source["layout"] == layout and raw.source["reencoded"] is False
    pickled = load_dataset(
        "cifar10", str(layout_copy("pickles", arrays, tmp_path / "p")), False, verify_checksums=False
    )
    if kind != "png":  # same pixels in the same order: the same data copy, whatever the layout
        assert raw.source["content"] == pickled.source["content"]


def test_a_jpeg_copy_is_close_and_said_to_be_reencoded(arrays, tmp_path):
    raw = load_dataset("cifar10", str(layout_copy("jpeg", arrays, tmp_path)), False)
    images, labels = in_folder_order(arrays)["train"]
    assert np.array_equal(raw.train_labels, labels)
    assert not np.array_equal(raw.train_images, images)  # lossy: never equal ...
    colour_shift = np.abs(raw.train_images.mean(axis=(1, 2)) - images.mean(axis=(1, 2))).mean()
    assert colour_shift < 5  # ... but the same pictures (the fixture's noise is JPEG's worst case)
    assert raw.source["reencoded"] is True and raw.source["image_format"] == "jpeg"
    png = load_dataset("cifar10", str(layout_copy("png", arrays, tmp_path / "png")), False)
    assert png.source["content"] != raw.source["content"]  # another copy, never pooled with it


@pytest.mark.parametrize("kind", ["binary", "png"])
def test_a_decoded_layout_is_cached_by_content_and_a_file_changed_with_its_dates_kept_is_decoded_again(
    kind, arrays, tmp_path
):
    root = layout_copy(kind, arrays, tmp_path)
    first = load_dataset("cifar10", str(root), False)
    assert first.source["cache_hit"] is False and Path(first.source["cache"]).parent == tmp_path / "cache-home"
    assert not (first_folder(root) / ".study-cache").exists()  # nothing written beside the data
    second = load_dataset("cifar10", str(root), False)
    assert second.source["cache_hit"] is True and second.source["content"] == first.source["content"]
    changed = sorted(first_folder(root).rglob("*.bin" if kind == "binary" else "*.png"))[0]
    st = changed.stat()
    new = layout_bytes_with_first_pixel_changed(changed, kind)
    changed.write_bytes(new)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns))  # as cp -p, rsync -a and tar x keep them
    third = load_dataset("cifar10", str(root), False)
    assert third.source["cache_hit"] is False and third.source["content"] != first.source["content"]


def test_a_cache_beside_a_shared_dataset_is_never_read(arrays, tmp_path):
    """Someone who can write beside the data forges a cache, every cat relabelled a dog, with the
    name and fingerprint an earlier version would have trusted: it is not where the loader looks."""
    root = layout_copy("png", arrays, tmp_path / "shared")
    honest = load_dataset("cifar10", str(root), False)
    cache = Path(honest.source["cache"])
    with np.load(cache) as cached:
        forged = {key: cached[key] for key in cached.files}
    forged["train_labels"] = np.where(forged["train_labels"] == 3, 5, forged["train_labels"])
    for name in (".study-cache/cifar10-image-folders.npz", f".study-cache/{cache.name}", cache.name):
        (root / name).parent.mkdir(exist_ok=True)
        np.savez(root / name, **forged)
    cache.unlink()  # the user's own cache gone too: the next load decodes the files themselves
    again = load_dataset("cifar10", str(root), False)
    assert again.source["cache_hit"] is False and np.array_equal(again.train_labels, honest.train_labels)


def test_without_a_writable_cache_home_every_load_decodes(arrays, tmp_path, monkeypatch):
    root = layout_copy("png", arrays, tmp_path / "data")
    (tmp_path / "not-a-folder").write_text("a file where the cache home would go")
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "not-a-folder"))
    raw = load_dataset("cifar10", str(root), False)
    assert raw.source["cache"] is None and raw.source["cache_hit"] is False
    assert load_dataset("cifar10", str(root), False).source["content"] == raw.source["content"]


def test_the_cache_home_follows_xdg_when_study_cache_dir_is_unset(monkeypatch, tmp_path):
    from study.data.cache import default_cache_home

    monkeypatch.delenv("STUDY_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_home() == tmp_path / "xdg" / "study"


def first_folder(root: Path) -> Path:
    binary = root / "cifar-10-batches-bin"
    return binary if binary.is_dir() else root


def layout_bytes_with_first_pixel_changed(path: Path, kind: str) -> bytes:
    if kind == "binary":
        raw = bytearray(path.read_bytes())
        raw[1] ^= 0xFF
        return bytes(raw)
    from PIL import Image

    image = np.asarray(Image.open(path)).copy()
    image[0, 0] ^= 0xFF
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def test_a_forged_cache_is_not_trusted(arrays, tmp_path):
    root = layout_copy("png", arrays, tmp_path)
    first = load_dataset("cifar10", str(root), False)
    cache = Path(first.source["cache"])
    cache.write_bytes(b"not an npz")
    again = load_dataset("cifar10", str(root), False)
    assert again.source["cache_hit"] is False and again.source["content"] == first.source["content"]


def test_image_folders_are_checked_and_each_problem_named(arrays, tmp_path):
    root = layout_copy("png", arrays, tmp_path)
    from PIL import Image

    extra = root / "train" / "unicorn"
    extra.mkdir()
    assert "'unicorn' is not one of CIFAR-10's classes" in data_error("cifar10", root)
    extra.rmdir()

    big = root / "test" / "airplane" / "big.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(big)
    assert f"image {big} is 40x40 RGB, not 32x32 RGB" in data_error("cifar10", root)
    big.unlink()

    corrupt = root / "test" / "Automobile" / "broken.png"
    corrupt.write_bytes(b"\x89PNG not really")
    assert f"image {corrupt} cannot be read" in data_error("cifar10", root)
    corrupt.unlink()

    missing = root / "train" / "Truck"
    for f in missing.iterdir():
        f.unlink()
    missing.rmdir()
    assert "no folder for the class(es) truck" in data_error("cifar10", root)


def test_a_truncated_binary_file_is_named(arrays, tmp_path):
    root = layout_copy("binary", arrays, tmp_path)
    target = root / "cifar-10-batches-bin" / "data_batch_4.bin"
    target.write_bytes(target.read_bytes()[:-5])
    assert "data_batch_4.bin holds" in data_error("cifar10", root) and "not a whole number" in data_error(
        "cifar10", root
    )


def test_an_out_of_range_label_in_a_binary_file_is_named(arrays, tmp_path):
    root = layout_copy("binary", arrays, tmp_path)
    target = root / "cifar-10-batches-bin" / "test_batch.bin"
    raw = bytearray(target.read_bytes())
    raw[0] = 11
    target.write_bytes(bytes(raw))
    message = data_error("cifar10", root)
    assert "test_batch.bin" in message and "label 11 of image 0 is outside 0-9" in message


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
    assert torch.equal(
        splits.train_images[0, 0], torch.from_numpy(read_idx(tmp_path / "train-images-idx3-ubyte.gz")[0])
    )


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


@pytest.mark.skipif(
    not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_debian_fashion_mnist_loads():
    splits = load_splits("fashion_mnist", "/usr/share/datasets/fashion-mnist", False, 0, None)
    assert splits.train_images.shape == (60000, 1, 28, 28) and splits.test_images.shape == (10000, 1, 28, 28)


def test_small_evaluations_and_the_probe_batch_cover_every_class_of_a_copy_stored_class_by_class():
    import torch

    from study.data.stream import DataConfig, ImageDataModule, ImageSplits, spread_indices

    labels = torch.arange(10).repeat_interleave(100)  # image folders: class by class
    images = torch.zeros(1000, 3, 32, 32, dtype=torch.uint8)
    splits = ImageSplits(images, labels, None, None, images, labels, {"dataset": "cifar10"}, 10)
    dm = ImageDataModule(DataConfig(download=False, eval_subset=200), splits=splits)
    dm.setup()
    ((_, evaluated),) = list(dm.eval_batches("test", torch.device("cpu")))
    assert len(evaluated) == 200 and evaluated.bincount().tolist() == [20] * 10
    _, probe = dm.fixed_training_batch(128, torch.device("cpu"))
    assert len(probe) == 128 and set(probe.tolist()) == set(range(10))
    assert spread_indices(5, 200).tolist() == [0, 1, 2, 3, 4]  # all of a split smaller than asked


# CIFAR-100: the same layouts, 100 fine classes


@pytest.fixture(scope="module")
def arrays100():
    return fixture_arrays(n_train=220, n_test=120, seed=5, classes=100)


@pytest.mark.parametrize(
    "kind,layout", [("pickles", "cifar-100-python"), ("binary", "cifar-100-binary"), ("png", "image folders")]
)
def test_each_cifar100_layout_loads_the_fine_labels(kind, layout, arrays100, tmp_path):
    writers = {
        "pickles": write_pickles,
        "binary": write_binary,
        "png": lambda root, a, fmt: write_image_folders_as_named(root, a, ".png", lambda name, label: name, fmt),
    }
    root = writers[kind](tmp_path, arrays100, fmt=CIFAR100)
    raw = load_dataset("cifar100", str(root), False, verify_checksums=False)
    expected = in_folder_order(arrays100) if kind == "png" else arrays100
    for split, (images, labels) in expected.items():
        assert np.array_equal(getattr(raw, f"{split}_images"), images)
        assert np.array_equal(getattr(raw, f"{split}_labels"), labels)
    assert raw.num_classes == 100 and set(raw.train_labels.tolist()) == set(range(100))
    assert raw.source["dataset"] == "cifar100" and raw.source["layout"] == layout
    if kind == "binary":  # the fine byte is the label, not the coarse one before it
        pickled = load_dataset("cifar100", str(write_pickles(tmp_path / "p", arrays100, fmt=CIFAR100)), False, False)
        assert raw.source["content"] == pickled.source["content"]


def test_a_cifar100_run_trains_a_net_with_100_outputs_and_records_it(arrays100, tmp_path):
    root = write_pickles(tmp_path / "data", arrays100, fmt=CIFAR100)
    status, run_dir = train_in_process(root, tmp_path / "runs", "data=cifar100")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert status == "completed" and run_dir.relative_to(tmp_path / "runs").parts[0] == "cifar100"
    assert summary["data"]["dataset"] == "cifar100" and summary["data"]["layout"] == "cifar-100-python"
    assert net_of(newest_checkpoint(run_dir)[0].checkpoint).num_classes == 100
    assert write_report([tmp_path / "runs"], tmp_path / "out") == 0
    table = (tmp_path / "out" / "table6.md").read_text()
    assert "| ResNet-20 |" in table and "| 8.75 |" not in table  # the paper's numbers are CIFAR-10's


def test_missing_cifar100_names_its_own_layouts(tmp_path):
    write_pickles(tmp_path, fixture_arrays(20, 10))  # a CIFAR-10 copy is not a CIFAR-100 one
    message = data_error("cifar100", tmp_path)
    assert "no CIFAR-100 in" in message and "cifar-100-python" in message and "cifar-100-binary" in message


def test_a_cifar100_label_past_99_is_named(arrays100, tmp_path):
    root = write_binary(tmp_path, arrays100, fmt=CIFAR100)
    target = root / "cifar-100-binary" / "test.bin"
    raw = bytearray(target.read_bytes())
    raw[1] = 100  # the fine label byte of the first record
    target.write_bytes(bytes(raw))
    message = data_error("cifar100", root)
    assert "test.bin" in message and "label 100 of image 0 is outside 0-99" in message


def test_cifar100_image_folders_are_named_by_its_fine_classes(arrays100, tmp_path):
    write_image_folders_as_named(tmp_path, arrays100, ".png", lambda name, label: name, CIFAR100)
    (tmp_path / "train" / "aquarium_fish").rename(tmp_path / "train" / "airplane")
    message = data_error("cifar100", tmp_path)
    assert "'airplane' is not one of CIFAR-100's classes" in message


def test_cifar100_is_a_config_choice():
    cfg = compose_config("data=cifar100")
    assert cfg.data.name == "cifar100" and cfg.data.expected_counts == [50000, 10000]


@pytest.mark.timeout(120)  # a FIFO opened for reading would block until then
@pytest.mark.parametrize("kind", ["png", "binary", "pickles"])
def test_a_fifo_among_the_data_files_is_refused_not_waited_on(kind, arrays, tmp_path):
    root = layout_copy(kind, arrays, tmp_path)
    if kind == "png":
        victim = sorted(root.rglob("*.png"))[0]
    else:
        victim = sorted((first_folder(root) if kind == "binary" else root / "cifar-10-batches-py").iterdir())[0]
    victim.unlink()
    os.mkfifo(victim)
    with pytest.raises(DataError, match="not a plain file"):
        load_dataset("cifar10", str(root), False, verify_checksums=False)


@pytest.mark.timeout(120)
def test_a_fifo_in_place_of_the_cache_is_decoded_around(arrays, tmp_path):
    root = layout_copy("png", arrays, tmp_path)
    cache = Path(load_dataset("cifar10", str(root), False).source["cache"])
    cache.unlink()
    os.mkfifo(cache)
    again = load_dataset("cifar10", str(root), False)
    assert again.source["cache_hit"] is False
