"""Fashion-MNIST from its four IDX files (LeCun's MNIST format, gzipped or not)."""

import gzip
import time
from pathlib import Path

import numpy as np

from study.data.raw import DataError, RawData, check_split, files_fingerprint, finish
from study.fileio import UnsafeFile, open_regular

#: Fashion-MNIST's classes and image channels.
CLASSES, CHANNELS = 10, 1

FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


#: Fashion-MNIST's largest file, the training images, holds 47,040,016 bytes.
MAX_IDX_BYTES = 64_000_000


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format), gzipped or not."""
    try:
        with open_regular(path) as f:
            raw = gzip.GzipFile(fileobj=f).read(MAX_IDX_BYTES + 1) if path.suffix == ".gz" else f.read()
    except (OSError, EOFError, UnsafeFile) as err:
        raise DataError(f"{path} cannot be read ({err}); replace it") from None
    if len(raw) > MAX_IDX_BYTES:
        raise DataError(f"{path} inflates to more than {MAX_IDX_BYTES:,} bytes, which no Fashion-MNIST file does")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: header says {shape}, file holds {data.size} values")
    return data.reshape(shape)


def _find_fashion_files(root: Path) -> dict[str, Path] | None:
    for folder in (root, root / "FashionMNIST" / "raw"):
        found = {}
        for key, stem in FASHION_FILES.items():
            for candidate in (folder / stem, folder / f"{stem}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(FASHION_FILES):
            return found
    return None


def load_fashion_mnist(
    root: str, download: bool, verify_checksums: bool = True, expected_counts: tuple[int, int] | None = None
) -> RawData:
    files = _find_fashion_files(Path(root))
    if files is None and download:
        from torchvision.datasets import FashionMNIST

        try:
            FashionMNIST(root, train=True, download=True)
        except Exception as err:
            raise DataError(f"Fashion-MNIST could not be downloaded into {Path(root).resolve()}: {err}") from None
        files = _find_fashion_files(Path(root))
    if files is None:
        raise DataError(
            f"Fashion-MNIST not found in {Path(root).resolve()}: expected the four IDX files "
            f"({', '.join(FASHION_FILES.values())}, optionally .gz) there or in FashionMNIST/raw. "
            "Install them with 'apt-get install dataset-fashion-mnist' "
            "(data.root=/usr/share/datasets/fashion-mnist), or set data.download=true."
        )
    started = time.perf_counter()
    arrays = {key: read_idx(path) for key, path in files.items()}
    splits = {}
    for split, expected in zip(("train", "test"), expected_counts or (None, None)):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"].astype(np.int64)
        where = f"the Fashion-MNIST {split} files {files[f'{split}_images'].name} and {files[f'{split}_labels'].name}"
        check_split(images[..., None] if images.ndim == 3 else images, labels, where, (28, 28, 1), expected)
        splits[split] = (images[..., None], labels)
    folder = files["train_images"].parent
    source = {
        "dataset": "fashion_mnist",
        "layout": "idx",
        "folder": str(folder.resolve()),
        "files": files_fingerprint(list(files.values()), folder),
        "reencoded": False,
    }
    return finish(splits, source, started, CLASSES)
