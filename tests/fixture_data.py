"""Tiny CIFAR-10 copies in each on-disk layout the loader accepts (torchvision's pickles, the binary
version, PNG and JPEG image folders), written from the same arrays by study.data.layouts. The
fixtures' md5s cannot match the real files', so runs on them set data.verify_checksums=false, as a
user with a re-pickled copy would."""

from pathlib import Path

import numpy as np

from study.data.layouts import write_image_folders as write_image_folders_as_named
from study.data.layouts import write_pickles


def class_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """32x32 RGB images (N, H, W, C) whose class shows as a colour and a stripe, plus noise:
    learnable in a few steps."""
    n = len(labels)
    images = rng.integers(0, 200, size=(n, 3, 32, 32), dtype=np.int64)
    for i, label in enumerate(labels):
        images[i, label % 3] += 30
        images[i, :, 3 * label : 3 * label + 3, :] += 25
    return np.clip(images, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def fixture_arrays(n_train: int = 500, n_test: int = 200, seed: int = 0, classes: int = 10) -> dict:
    """{split: (images NHWC uint8, labels int64)}; every class appears in both splits."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.concatenate([np.arange(classes), rng.integers(0, classes, size=n - classes)]).astype(np.int64)
        arrays[split] = (class_images(labels, rng), labels)
    return arrays


def write_image_folders(root: Path, arrays: dict, suffix: str = ".png") -> Path:
    """Image folders with class folders in mixed case, as exporters vary."""
    return write_image_folders_as_named(
        root, arrays, suffix, lambda name, label: name.capitalize() if label % 2 else name
    )


def in_folder_order(arrays: dict) -> dict:
    """The arrays as image folders list them: by class, then by original index."""
    out = {}
    for split, (images, labels) in arrays.items():
        order = np.argsort(labels, kind="stable")
        out[split] = (images[order], labels[order])
    return out


def make_fake_cifar10(root: Path, n_train: int = 500, n_test: int = 200, seed: int = 0) -> Path:
    return write_pickles(root, fixture_arrays(n_train, n_test, seed))
