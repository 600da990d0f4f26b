"""`python -m study.bench_data DIR` (`make bench-data DATA_DIR=DIR`): how long each CIFAR-10 layout
takes to load, first (decoding) and from its cache.

Reads the CIFAR-10 copy in DIR (any layout), writes the same images into each layout the loader
accepts in a temporary folder (torchvision's pickles, the binary version, PNG folders; JPEG folders
are DIR's own when DIR holds them, copied), and times `study.datasets.load_dataset` on each, twice.
The files are fresh in the page cache, so "first" measures decoding, not a cold disk.
"""

import argparse
import hashlib
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from study.data.cifar import CIFAR10, IMAGE_FOLDERS, CifarFormat, find_cifar_layout
from study.data.raw import DataError
from study.data.sources import load_dataset


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


def timed_loads(root: Path, verify_checksums: bool) -> tuple[float, float, str]:
    times, source = [], {}
    for _ in range(2):
        started = time.perf_counter()
        source = load_dataset("cifar10", str(root), False, verify_checksums, (50_000, 10_000)).source
        times.append(time.perf_counter() - started)
    return times[0], times[1], source["content"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="a complete CIFAR-10 copy, any layout")
    args = parser.parse_args(argv)
    try:
        raw = load_dataset("cifar10", str(args.data_dir), False, False, (50_000, 10_000))
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    splits = {"train": (raw.train_images, raw.train_labels), "test": (raw.test_images, raw.test_labels)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="study-layouts-") as tmp:
        for name, write in (("pickles", write_pickles), ("binary", write_binary), ("png folders", write_image_folders)):
            root = Path(tmp) / name.replace(" ", "-")
            started = time.perf_counter()
            write(root, splits)
            print(f"wrote {name} in {time.perf_counter() - started:.1f} s", flush=True)
            rows.append((name, *timed_loads(root, verify_checksums=False)))
        layout, folder = find_cifar_layout(args.data_dir)
        if layout == IMAGE_FOLDERS:
            root = Path(tmp) / "given-folders"
            for split in ("train", "test"):
                shutil.copytree(folder / split, root / split)
            fmt = raw.source.get("image_format", "image")
            rows.append((f"{fmt} folders", *timed_loads(root, verify_checksums=False)))
        pickles = sorted((Path(tmp) / "pickles" / "cifar-10-batches-py").iterdir())
        started = time.perf_counter()
        for path in pickles:
            hashlib.md5(path.read_bytes()).hexdigest()
        md5_s = time.perf_counter() - started
    print(f"\nCIFAR-10, 60,000 images, from {args.data_dir} (copy {raw.source['content']})\n")
    print("| layout | first load (s) | cached load (s) | data copy |")
    print("|---|---:|---:|---|")
    for name, first, cached, content in rows:
        print(f"| {name} | {first:.2f} | {cached:.2f} | {content} |")
    print(f"\nmd5 of the six pickles (data.verify_checksums=true adds this): {md5_s:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
