"""What every dataset loader returns and checks: the decoded splits as uint8 arrays with the record
of where they came from (RawData), the refusal of a split that is not what it should be, and the
fingerprints of the source files and of the decoded content (the "data copy")."""

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.fileio import UnsafeFile, open_regular


class DataError(Exception):
    """A dataset that cannot be used; the message says where we looked and what to do."""


@dataclass
class RawData:
    train_images: np.ndarray  # uint8 [N, H, W, C]
    train_labels: np.ndarray  # int64 [N]
    test_images: np.ndarray
    test_labels: np.ndarray
    source: dict  # what was read, from where: recorded in every run's summary.json
    num_classes: int  # labels are 0 .. num_classes - 1


def check_split(
    images: np.ndarray, labels: np.ndarray, where: str, shape: tuple, expected: int | None, num_classes: int = 10
) -> None:
    """Refuse a split that is not `expected` (or any, if None) images of `shape` uint8 pixels with
    one label in 0..num_classes-1 each; `where` names the file or folder."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise DataError(
            f"{where}: pixels are {getattr(images, 'dtype', type(images).__name__)}, expected uint8 "
            "(0-255): this is not a copy of the dataset the loader knows; replace it"
        )
    if images.ndim != 4 or images.shape[1:] != shape:
        raise DataError(
            f"{where}: images have the shape {images.shape[1:]}, expected {shape} "
            "(height, width, channels); replace this copy"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{where}: {len(images)} images but {len(labels)} labels; the copy is damaged, replace it")
    if len(images) == 0:
        raise DataError(f"{where}: holds no images; replace this copy")
    if expected is not None and len(images) != expected:
        raise DataError(
            f"{where}: {len(images):,} images found, expected {expected:,}; the copy is incomplete. "
            "Replace it, or set data.expected_counts=null to train on it as it is"
        )
    out_of_range = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(out_of_range):
        i = int(out_of_range[0])
        raise DataError(
            f"{where}: label {int(labels[i])} of image {i} is outside 0-{num_classes - 1} "
            f"({len(out_of_range)} such labels); the copy is damaged, replace it"
        )


def content_digest(*arrays: np.ndarray) -> str:
    """A fingerprint of the decoded data itself: two copies with the same pixels and labels in the
    same order get the same one, wherever they lie and whatever their files' dates."""
    h = hashlib.blake2b(digest_size=8)
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def files_fingerprint(files: list[Path], base: Path) -> str:
    """A fingerprint of the source files' names and content: any change to a file changes it, its
    dates kept or not. Each file is opened only if it is a plain file (a FIFO would block for ever)."""
    h = hashlib.blake2b(digest_size=8)
    for path in sorted(files):
        try:
            with open_regular(path) as f:
                content = f.read()
        except (OSError, UnsafeFile) as err:
            raise DataError(f"{path} cannot be read ({err}); replace it") from None
        h.update(f"{path.relative_to(base)}\t{len(content)}\n".encode())
        h.update(content)
    return h.hexdigest()


def finish(splits: dict, source: dict, started: float, num_classes: int) -> RawData:
    """The loaded splits as RawData, their `source` completed with the data copy's fingerprint, the
    image counts and the seconds since `started`."""
    (train_x, train_y), (test_x, test_y) = splits["train"], splits["test"]
    source["content"] = content_digest(train_x, train_y, test_x, test_y)
    source["train_images"], source["test_images"] = len(train_x), len(test_x)
    source["load_s"] = round(time.perf_counter() - started, 2)
    return RawData(train_x, train_y, test_x, test_y, source, num_classes)
