"""Datasets read from disk, checked, as uint8 arrays: CIFAR-10 in any common layout, Fashion-MNIST.

CIFAR-10 (`data.root=DIR`; the layout is found from what DIR holds):

    DIR/cifar-10-batches-py/    torchvision's pickles; md5s checked unless data.verify_checksums=false
    DIR/cifar-10-batches-bin/   the official binary version: 1 label byte + 3,072 pixel bytes a record
    DIR/train/<class>/*.png|jpg|jpeg and DIR/test/<class>/...
                                image folders named by CIFAR-10's ten classes (any case)

A layout other than the pickles is decoded once into a cache, DIR/.study-cache/, or, where DIR
cannot be written, $STUDY_CACHE_DIR (default ~/.cache/study); the cache holds a fingerprint of
the source files (names, sizes, modification times) and is decoded again when they change.

Nothing on disk is trusted: pickles go through an unpickler that builds only numpy arrays, and
every split is checked (count, 32x32 RGB uint8, labels 0-9) before training, the message naming
the file or folder and the fix. Each load reports its `source`: layout, folder, fingerprints of the
files and of the decoded content (the "data copy" that the report keeps apart), and whether the
pixels were re-encoded (JPEG) or unchecked against the official checksums.
"""

import gzip
import hashlib
import json
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.fileio import atomic_output

#: CIFAR-10's classes in label order (as in the official batches.meta).
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PICKLES, BINARY, IMAGE_FOLDERS = "cifar-10-batches-py", "cifar-10-batches-bin", "image folders"
BINARY_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
RECORD = 1 + 3 * 32 * 32
CACHE_VERSION = 1


class DataError(Exception):
    """A dataset that cannot be used; the message says where we looked and what to do."""


@dataclass
class RawData:
    train_images: np.ndarray  # uint8 [N, H, W, C]
    train_labels: np.ndarray  # int64 [N]
    test_images: np.ndarray
    test_labels: np.ndarray
    source: dict  # what was read, from where: recorded in every run's summary.json


# ---------------------------------------------------------------------------------------------
# Checks shared by every layout


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
    """Names, sizes and modification times of the source files: cheap, and changes when they do."""
    h = hashlib.blake2b(digest_size=8)
    for path in sorted(files):
        st = path.stat()
        h.update(f"{path.relative_to(base)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# CIFAR-10: torchvision's pickles


class _ArrayUnpickler(pickle.Unpickler):
    """Builds dicts, lists, strings, numbers and numpy arrays, nothing else: a batch file from
    someone else cannot run code when it is read. (`_codecs.encode` is how Python 3 writes bytes
    into a protocol-2 pickle, as a re-pickled copy may be.)"""

    def find_class(self, module: str, name: str):
        import codecs

        core = getattr(np, "_core", None) or np.core
        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): codecs.encode,
            ("_reconstruct",): core.multiarray._reconstruct,
            ("scalar",): core.multiarray.scalar,
        }
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and (name,) in allowed:
            return allowed[(name,)]
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a CIFAR-10 batch never holds")


def read_batch_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            entry = _ArrayUnpickler(f, encoding="latin1").load()
    except Exception as err:
        raise DataError(
            f"file {path} cannot be read ({type(err).__name__}: {err}); replace it "
            "(or the whole cifar-10-batches-py folder)"
        ) from None
    if not isinstance(entry, dict):
        raise DataError(f"file {path} is not a CIFAR-10 batch (a {type(entry).__name__}, not a dict); replace it")
    entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
    data, labels = entry.get("data"), entry.get("labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels is None:
        raise DataError(
            f"file {path} has the wrong shape: images {getattr(data, 'shape', None)}, labels "
            f"{'missing' if labels is None else len(labels)}; expected N x 3072 uint8 images and N labels"
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"file {path}: its labels are not whole numbers; replace it") from None
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    check_split(images, labels, f"file {path}", (32, 32, 3), None)
    return images, labels


def read_pickles(folder: Path, verify_checksums: bool) -> tuple[dict, dict]:
    from torchvision.datasets import CIFAR10, cifar

    if verify_checksums:
        for name, md5 in CIFAR10.train_list + CIFAR10.test_list:
            path = folder / name
            if path.is_file() and not cifar.check_integrity(str(path), md5):
                raise DataError(
                    f"file {path} is corrupt or truncated (checksum mismatch). Replace it; or, for a "
                    "copy you re-pickled or re-encoded yourself, set data.verify_checksums=false"
                )
    splits = {}
    for split, entries in (("train", CIFAR10.train_list), ("test", CIFAR10.test_list)):
        paths = [folder / name for name, _ in entries]
        for path in paths:
            if not path.is_file():
                raise DataError(f"{path} is missing from {folder}; replace the folder with a complete copy")
        parts = [read_batch_pickle(p) for p in paths]
        splits[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return splits, {
        "checksums_verified": verify_checksums,
        "files": files_fingerprint([folder / n for n, _ in CIFAR10.train_list + CIFAR10.test_list], folder),
        "reencoded": False,
    }


# ---------------------------------------------------------------------------------------------
# CIFAR-10: the binary version and image folders, decoded once into a cache


def binary_sources(folder: Path) -> list[Path]:
    paths = [folder / name for names in BINARY_FILES.values() for name in names]
    for path in paths:
        if not path.is_file():
            raise DataError(
                f"{path} is missing from {folder}; the binary version has "
                f"{', '.join(n for names in BINARY_FILES.values() for n in names)}"
            )
    return paths


def decode_binary(folder: Path) -> dict:
    splits = {}
    for split, names in BINARY_FILES.items():
        images, labels = [], []
        for name in names:
            path = folder / name
            raw = np.fromfile(path, dtype=np.uint8)
            if raw.size == 0 or raw.size % RECORD:
                raise DataError(
                    f"file {path} holds {raw.size:,} bytes, not a whole number of {RECORD:,}-byte "
                    "records (1 label byte + 3,072 pixel bytes); it is truncated or not CIFAR-10, replace it"
                )
            records = raw.reshape(-1, RECORD)
            labels.append(records[:, 0].astype(np.int64))
            images.append(records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            check_split(images[-1], labels[-1], f"file {path}", (32, 32, 3), None)
        splits[split] = (np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels))
    return splits


def class_folders(split_dir: Path) -> list[Path]:
    """The ten class folders of one split, in label order; anything else there is refused."""
    if not split_dir.is_dir():
        raise DataError(f"there is no folder {split_dir}: image folders need train/<class>/ and test/<class>/")
    found: dict[int, Path] = {}
    for path in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name = path.name.lower()
        if name not in CIFAR10_CLASSES:
            raise DataError(
                f"{path}: '{path.name}' is not one of CIFAR-10's classes ({', '.join(CIFAR10_CLASSES)}, "
                f"any case); move it out of {split_dir}"
            )
        label = CIFAR10_CLASSES.index(name)
        if label in found:
            raise DataError(
                f"{split_dir} has two folders for the class '{name}': {found[label].name} and {path.name}; merge them"
            )
        found[label] = path
    missing = [c for i, c in enumerate(CIFAR10_CLASSES) if i not in found]
    if missing:
        raise DataError(f"{split_dir} has no folder for the class(es) {', '.join(missing)}: CIFAR-10 has ten classes")
    return [found[i] for i in range(len(CIFAR10_CLASSES))]


def image_sources(root: Path) -> dict[str, list[list[Path]]]:
    """Per split, per class (label order), the image files, sorted by name."""
    return {
        split: [
            sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            for folder in class_folders(root / split)
        ]
        for split in ("train", "test")
    }


def decode_images(sources: dict[str, list[list[Path]]]) -> dict:
    from PIL import Image

    splits = {}
    for split, per_class in sources.items():
        files = [p for paths in per_class for p in paths]
        images = np.empty((len(files), 32, 32, 3), np.uint8)
        for i, path in enumerate(files):
            try:
                with Image.open(path) as im:
                    if im.size != (32, 32) or im.mode != "RGB":
                        raise DataError(
                            f"image {path} is {im.size[0]}x{im.size[1]} {im.mode}, not 32x32 RGB; "
                            "replace it with the original CIFAR-10 image"
                        )
                    images[i] = np.asarray(im)
            except DataError:
                raise
            except Exception as err:
                raise DataError(f"image {path} cannot be read ({type(err).__name__}: {err}); replace it") from None
        labels = np.repeat(np.arange(len(per_class), dtype=np.int64), [len(paths) for paths in per_class])
        splits[split] = (images, labels)
    return splits


def default_cache_home() -> Path:
    return Path(os.environ.get("STUDY_CACHE_DIR") or Path.home() / ".cache" / "study")


def cache_candidates(folder: Path, layout: str) -> list[Path]:
    """Beside the data first; else a folder of the user's, named after the data's absolute path."""
    name = f"cifar10-{layout.replace(' ', '-')}.npz"
    elsewhere = hashlib.blake2b(str(folder.resolve()).encode(), digest_size=6).hexdigest()
    return [folder / ".study-cache" / name, default_cache_home() / elsewhere / name]


def read_cache(path: Path, fingerprint: str) -> dict | None:
    """The cached splits if the cache was made from the same source files, else None."""
    try:
        with np.load(path, allow_pickle=False) as cached:
            meta = json.loads(str(cached["meta"]))
            if meta.get("version") != CACHE_VERSION or meta.get("files") != fingerprint:
                return None
            return {split: (cached[f"{split}_images"], cached[f"{split}_labels"]) for split in ("train", "test")}
    except Exception:  # missing, unreadable or foreign: decode again
        return None


def write_cache(candidates: list[Path], splits: dict, fingerprint: str) -> Path | None:
    arrays = {
        f"{split}_{kind}": a
        for split, (images, labels) in splits.items()
        for kind, a in (("images", images), ("labels", labels))
    }
    meta = np.array(json.dumps({"version": CACHE_VERSION, "files": fingerprint}))
    for path in candidates:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(path) as tmp:
                np.savez(tmp, meta=meta, **arrays)
            return path
        except OSError:
            continue
    return None  # nowhere writable: the next run decodes again


def read_cached_layout(folder: Path, layout: str, sources: list[Path], decode) -> tuple[dict, dict]:
    fingerprint = files_fingerprint(sources, folder)
    candidates = cache_candidates(folder, layout)
    for path in candidates:
        splits = read_cache(path, fingerprint)
        if splits is not None:
            return splits, {"files": fingerprint, "cache": str(path), "cache_hit": True}
    splits = decode()
    written = write_cache(candidates, splits, fingerprint)
    return splits, {"files": fingerprint, "cache": str(written) if written else None, "cache_hit": False}


# ---------------------------------------------------------------------------------------------
# CIFAR-10: finding the layout


def find_cifar10_layout(root: Path) -> tuple[str, Path] | None:
    """(layout, folder) of the CIFAR-10 copy in root (or root itself being one), else None."""
    for layout in (PICKLES, BINARY):
        for folder in (root / layout, root):
            if folder.name == layout and folder.is_dir():
                return layout, folder
    if (root / "train").is_dir() and (root / "test").is_dir():
        return IMAGE_FOLDERS, root
    return None


def load_cifar10(
    root: str, download: bool, verify_checksums: bool = True, expected_counts: tuple[int, int] | None = None
) -> RawData:
    root_path = Path(root)
    found = find_cifar10_layout(root_path)
    if found is None and download:
        download_cifar10(root_path)
        found = find_cifar10_layout(root_path)
    if found is None:
        raise DataError(
            f"no CIFAR-10 in {root_path.resolve()}: expected one of {PICKLES}/ (torchvision's pickles), "
            f"{BINARY}/ (the binary version), or train/<class>/ and test/<class>/ image folders. Point data.root "
            "at the folder that holds one (e.g. data.root=/datasets/cifar10, or DATA_DIR=... with make), "
            "or set data.download=true to fetch it (170 MB)."
        )
    layout, folder = found
    started = time.perf_counter()
    if layout == PICKLES:
        splits, source = read_pickles(folder, verify_checksums)
    elif layout == BINARY:
        splits, source = read_cached_layout(folder, layout, binary_sources(folder), lambda: decode_binary(folder))
        source["reencoded"] = False
    else:
        sources = image_sources(folder)
        files = [p for per_class in sources.values() for paths in per_class for p in paths]
        splits, source = read_cached_layout(folder, layout, files, lambda: decode_images(sources))
        suffixes = sorted({p.suffix.lower().lstrip(".").replace("jpg", "jpeg") for p in files})
        source.update(image_format="+".join(suffixes), reencoded="jpeg" in suffixes)
    counts = expected_counts or (None, None)
    for (split, (images, labels)), expected in zip(splits.items(), counts):
        where = f"{folder / split}" if layout == IMAGE_FOLDERS else f"the {split} split of {folder}"
        check_split(images, labels, where, (32, 32, 3), expected)
    return finish(splits, {"dataset": "cifar10", "layout": layout, "folder": str(folder.resolve()), **source}, started)


def download_cifar10(root: Path) -> None:
    from torchvision.datasets import CIFAR10

    try:
        CIFAR10(str(root), train=True, download=True)
    except Exception as err:  # torchvision raises URLError, RuntimeError and OSError alike
        raise DataError(
            f"CIFAR-10 could not be downloaded into {root.resolve()} ({err}), and there is no usable "
            f"copy there. Point data.root at an existing copy (data.root=DIR, or DATA_DIR=... with "
            "make), or place one there."
        ) from None


def finish(splits: dict, source: dict, started: float) -> RawData:
    (train_x, train_y), (test_x, test_y) = splits["train"], splits["test"]
    source["content"] = content_digest(train_x, train_y, test_x, test_y)
    source["train_images"], source["test_images"] = len(train_x), len(test_x)
    source["load_s"] = round(time.perf_counter() - started, 2)
    return RawData(train_x, train_y, test_x, test_y, source)


def copy_notes(source: dict) -> list[str]:
    """What a reader must know about a copy: its image format, whether its pixels were re-encoded,
    whether its checksums went unchecked."""
    notes = []
    if source.get("image_format"):
        notes.append(str(source["image_format"]).upper())
    if source.get("reencoded"):
        notes.append(
            "re-encoded: its pixels differ slightly from the originals, so compare relative effects, "
            "not absolute errors, with the paper"
        )
    if source.get("checksums_verified") is False:
        notes.append("checksums not verified")
    return notes


def describe_source(source: dict) -> str:
    """One line saying which copy a run uses, as it is loaded."""
    what = {PICKLES: "torchvision's pickles", BINARY: "the binary version"}.get(source["layout"], source["layout"])
    notes = copy_notes(source)
    if "cache_hit" in source:
        notes.append(f"{'from the cache' if source['cache_hit'] else 'decoded into the cache'} {source['cache']}")
    detail = f" ({'; '.join(notes)})" if notes else ""
    return (
        f"data: {source['dataset']} from {source['folder']}, {what}{detail}: {source['train_images']:,} training "
        f"and {source['test_images']:,} test images, copy {source['content']}, read in {source['load_s']} s"
    )


def describe_copy(source: dict) -> str:
    """The copy a run recorded, for a report: its content fingerprint, layout and notes."""
    if not source.get("content"):
        return "data copy not recorded"
    return f"data copy {source['content']} ({', '.join([source.get('layout') or '?', *copy_notes(source)])})"


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST: the four IDX files


FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path} cannot be read ({err}); replace it") from None
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
    return finish(splits, source, started)


LOADERS = {"cifar10": load_cifar10, "fashion_mnist": load_fashion_mnist}
DATASETS = tuple(LOADERS)


def load_dataset(name: str, root: str, download: bool, verify_checksums: bool = True, expected_counts=None) -> RawData:
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    counts = tuple(expected_counts) if expected_counts is not None else None
    return LOADERS[name](root, download, verify_checksums, counts)
