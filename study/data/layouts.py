"""CIFAR copies written in each layout the loader reads (torchvision's pickles, the official binary
version, image folders), from {split: (images NHWC uint8, labels)}: the tests' fixtures and
`make bench-data`'s copies are written by the same code the loader is checked against."""

import pickle
from pathlib import Path

import numpy as np

from study.data.cifar import CIFAR10, CifarFormat

__all__ = ["write_pickles", "write_binary", "write_image_folders"]


def per_file(splits: dict, names: dict[str, list[str]]):
    """(file name, images, labels) of each file, a split's images shared out over its `names`."""
    for split, (images, labels) in splits.items():
        for name, part in zip(names[split], np.array_split(np.arange(len(images)), len(names[split]))):
            yield name, images[part], labels[part]


def write_pickles(root: Path, splits: dict, fmt: CifarFormat = CIFAR10) -> Path:
    """{split: (images NHWC uint8, labels)} as torchvision's pickles (cifar-10-batches-py/ or
    cifar-100-python/) under root; CIFAR-100's coarse labels are written as the fine ones' tenth."""
    folder = Path(root) / fmt.pickles
    folder.mkdir(parents=True, exist_ok=True)
    names = {split: [name for name, _ in files] for split, files in fmt.pickle_files().items()}
    for name, images, labels in per_file(splits, names):
        entry = {"data": images.transpose(0, 3, 1, 2).reshape(len(images), -1), fmt.label_key: labels.tolist()}
        if fmt.label_bytes == 2:
            entry["coarse_labels"] = (labels // 5).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    return Path(root)


def write_binary(root: Path, splits: dict, fmt: CifarFormat = CIFAR10) -> Path:
    """The same as the official binary version (cifar-10-batches-bin/ or cifar-100-binary/) under root."""
    folder = Path(root) / fmt.binary
    folder.mkdir(parents=True, exist_ok=True)
    for name, images, labels in per_file(splits, fmt.binary_files):
        pixels = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
        label_bytes = [labels // 5, labels][-fmt.label_bytes :]  # CIFAR-100: coarse, then fine
        columns = [np.asarray(b, dtype=np.uint8)[:, None] for b in label_bytes]
        (folder / name).write_bytes(np.concatenate([*columns, pixels], 1).tobytes())
    return Path(root)


def write_image_folders(
    root: Path, splits: dict, suffix: str = ".png", class_folder=lambda name, label: name, fmt: CifarFormat = CIFAR10
) -> Path:
    """train/<class>/<index><suffix> and test/<class>/... under root; `class_folder` names the folders."""
    from PIL import Image

    for split, (images, labels) in splits.items():
        for i, (image, label) in enumerate(zip(images, labels)):
            folder = Path(root) / split / class_folder(fmt.classes[label], label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:05d}{suffix}", quality=95)
    return Path(root)
