"""Datasets read from disk, checked, as uint8 arrays: CIFAR-10 and CIFAR-100 in any common
layout, Fashion-MNIST.

CIFAR-10 and CIFAR-100 (`data.root=DIR`; the layout is found from what DIR holds):

    DIR/cifar-10-batches-py/    torchvision's pickles; md5s checked unless data.verify_checksums=false
    DIR/cifar-100-python/       (CIFAR-100: the fine labels, 0-99)
    DIR/cifar-10-batches-bin/   the official binary version: 1 label byte + 3,072 pixel bytes a record
    DIR/cifar-100-binary/       (CIFAR-100: a coarse and a fine label byte, then the pixels)
    DIR/train/<class>/*.png|jpg|jpeg and DIR/test/<class>/...
                                image folders named by the classes (any case): CIFAR-10's ten, or
                                CIFAR-100's hundred fine ones as its meta file spells them

A layout other than the pickles is decoded once into a cache, DIR/.study-cache/, or, where DIR
cannot be written, $STUDY_CACHE_DIR (default ~/.cache/study); the cache holds a fingerprint of
the source files (names, sizes, modification times) and is decoded again when they change.

Nothing on disk is trusted: pickles go through an unpickler that builds only numpy arrays, and
every split is checked (count, 32x32 RGB uint8, labels 0 to classes - 1) before training, the message naming
the file or folder and the fix. Each load reports its `source`: layout, folder, fingerprints of the
files and of the decoded content (the "data copy" that the report keeps apart), and whether the
pixels were re-encoded (JPEG) or unchecked against the official checksums.
"""

import functools
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
#: CIFAR-100's fine classes in label order (as in the official meta: alphabetical).
CIFAR100_CLASSES = tuple(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can
    castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin
    elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster
    man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck
    pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk
    skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger
    tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_FOLDERS = "image folders"
PIXELS = 3 * 32 * 32
CACHE_VERSION = 1


@dataclass(frozen=True)
class CifarFormat:
    """How one CIFAR dataset is laid out on disk, in each of its three layouts."""

    name: str  # data.name
    title: str
    classes: tuple[str, ...]  # label order; image folders are named by these
    pickles: str  # torchvision's folder of pickled batches
    label_key: str  # the batches' label entry
    binary: str  # the official binary version's folder
    binary_files: dict  # split -> file names
    label_bytes: int  # bytes before a binary record's pixels; the label is the last of them
    torchvision_class: str  # torchvision.datasets' class: its file list with md5s, and the download
    download_mb: int

    @property
    def record(self) -> int:
        return self.label_bytes + PIXELS

    def pickle_files(self) -> dict[str, list[tuple[str, str]]]:
        """Per split, (file name, md5) of each pickled batch, as torchvision lists them."""
        import torchvision.datasets

        dataset = getattr(torchvision.datasets, self.torchvision_class)
        return {"train": dataset.train_list, "test": dataset.test_list}


CIFAR10 = CifarFormat(
    "cifar10",
    "CIFAR-10",
    CIFAR10_CLASSES,
    "cifar-10-batches-py",
    "labels",
    "cifar-10-batches-bin",
    {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]},
    1,
    "CIFAR10",
    170,
)
#: The fine labels (100 classes) are the ones trained on; a binary record holds the coarse label
#: byte, then the fine one.
CIFAR100 = CifarFormat(
    "cifar100",
    "CIFAR-100",
    CIFAR100_CLASSES,
    "cifar-100-python",
    "fine_labels",
    "cifar-100-binary",
    {"train": ["train.bin"], "test": ["test.bin"]},
    2,
    "CIFAR100",
    161,
)
CIFAR_FORMATS = {fmt.name: fmt for fmt in (CIFAR10, CIFAR100)}


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
# CIFAR: torchvision's pickles


class _ArrayUnpickler(pickle.Unpickler):
    """Builds dicts, lists, strings, numbers and numpy arrays, nothing else: a batch file from
    someone else cannot run code when it is read. (`_codecs.encode` is how Python 3 writes bytes
    into a protocol-2 pickle, as a re-pickled copy may be.)"""

    title = "CIFAR"  # named in the refusal

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
        raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a {self.title} batch never holds")


def read_batch_pickle(path: Path, fmt: CifarFormat = CIFAR10) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            unpickler = _ArrayUnpickler(f, encoding="latin1")
            unpickler.title = fmt.title
            entry = unpickler.load()
    except Exception as err:
        raise DataError(
            f"file {path} cannot be read ({type(err).__name__}: {err}); replace it (or the whole {fmt.pickles} folder)"
        ) from None
    if not isinstance(entry, dict):
        raise DataError(f"file {path} is not a {fmt.title} batch (a {type(entry).__name__}, not a dict); replace it")
    entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
    data, labels = entry.get("data"), entry.get(fmt.label_key)
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != PIXELS or labels is None:
        raise DataError(
            f"file {path} has the wrong shape: images {getattr(data, 'shape', None)}, labels "
            f"({fmt.label_key}) {'missing' if labels is None else len(labels)}; expected N x 3072 uint8 images "
            "and N labels"
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"file {path}: its labels are not whole numbers; replace it") from None
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    check_split(images, labels, f"file {path}", (32, 32, 3), None, len(fmt.classes))
    return images, labels


def read_pickles(folder: Path, verify_checksums: bool, fmt: CifarFormat) -> tuple[dict, dict]:
    from torchvision.datasets import cifar

    files = fmt.pickle_files()
    if verify_checksums:
        for name, md5 in files["train"] + files["test"]:
            path = folder / name
            if path.is_file() and not cifar.check_integrity(str(path), md5):
                raise DataError(
                    f"file {path} is corrupt or truncated (checksum mismatch). Replace it; or, for a "
                    "copy you re-pickled or re-encoded yourself, set data.verify_checksums=false"
                )
    splits = {}
    for split, entries in files.items():
        paths = [folder / name for name, _ in entries]
        for path in paths:
            if not path.is_file():
                raise DataError(f"{path} is missing from {folder}; replace the folder with a complete copy")
        parts = [read_batch_pickle(p, fmt) for p in paths]
        splits[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return splits, {
        "checksums_verified": verify_checksums,
        "files": files_fingerprint([folder / n for n, _ in files["train"] + files["test"]], folder),
        "reencoded": False,
    }


# ---------------------------------------------------------------------------------------------
# CIFAR: the binary version and image folders, decoded once into a cache


def binary_sources(folder: Path, fmt: CifarFormat) -> list[Path]:
    paths = [folder / name for names in fmt.binary_files.values() for name in names]
    for path in paths:
        if not path.is_file():
            raise DataError(
                f"{path} is missing from {folder}; the binary version has "
                f"{', '.join(n for names in fmt.binary_files.values() for n in names)}"
            )
    return paths


def decode_binary(folder: Path, fmt: CifarFormat) -> dict:
    splits = {}
    for split, names in fmt.binary_files.items():
        images, labels = [], []
        for name in names:
            path = folder / name
            raw = np.fromfile(path, dtype=np.uint8)
            if raw.size == 0 or raw.size % fmt.record:
                raise DataError(
                    f"file {path} holds {raw.size:,} bytes, not a whole number of {fmt.record:,}-byte "
                    f"records ({fmt.label_bytes} label byte{'s' if fmt.label_bytes > 1 else ''} + 3,072 pixel "
                    f"bytes); it is truncated or not {fmt.title}, replace it"
                )
            records = raw.reshape(-1, fmt.record)
            labels.append(records[:, fmt.label_bytes - 1].astype(np.int64))
            images.append(records[:, fmt.label_bytes :].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            check_split(images[-1], labels[-1], f"file {path}", (32, 32, 3), None, len(fmt.classes))
        splits[split] = (np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels))
    return splits


def class_folders(split_dir: Path, fmt: CifarFormat) -> list[Path]:
    """The class folders of one split, in label order; anything else there is refused."""
    if not split_dir.is_dir():
        raise DataError(f"there is no folder {split_dir}: image folders need train/<class>/ and test/<class>/")
    found: dict[int, Path] = {}
    for path in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name = path.name.lower()
        if name not in fmt.classes:
            listed = ", ".join(fmt.classes) if len(fmt.classes) <= 10 else f"{', '.join(fmt.classes[:5])}, ..."
            raise DataError(
                f"{path}: '{path.name}' is not one of {fmt.title}'s classes ({listed}, any case); "
                f"move it out of {split_dir}"
            )
        label = fmt.classes.index(name)
        if label in found:
            raise DataError(
                f"{split_dir} has two folders for the class '{name}': {found[label].name} and {path.name}; merge them"
            )
        found[label] = path
    missing = [c for i, c in enumerate(fmt.classes) if i not in found]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise DataError(
            f"{split_dir} has no folder for the class(es) {shown}: {fmt.title} has {len(fmt.classes)} classes"
        )
    return [found[i] for i in range(len(fmt.classes))]


def image_sources(root: Path, fmt: CifarFormat) -> dict[str, list[list[Path]]]:
    """Per split, per class (label order), the image files, sorted by name."""
    return {
        split: [
            sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            for folder in class_folders(root / split, fmt)
        ]
        for split in ("train", "test")
    }


def decode_images(sources: dict[str, list[list[Path]]], fmt: CifarFormat) -> dict:
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
                            f"replace it with the original {fmt.title} image"
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


def cache_candidates(folder: Path, name: str, layout: str) -> list[Path]:
    """Beside the data first; else a folder of the user's, named after the data's absolute path."""
    file = f"{name}-{layout.replace(' ', '-')}.npz"
    elsewhere = hashlib.blake2b(str(folder.resolve()).encode(), digest_size=6).hexdigest()
    return [folder / ".study-cache" / file, default_cache_home() / elsewhere / file]


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


def read_cached_layout(folder: Path, candidates: list[Path], sources: list[Path], decode) -> tuple[dict, dict]:
    fingerprint = files_fingerprint(sources, folder)
    for path in candidates:
        splits = read_cache(path, fingerprint)
        if splits is not None:
            return splits, {"files": fingerprint, "cache": str(path), "cache_hit": True}
    splits = decode()
    written = write_cache(candidates, splits, fingerprint)
    return splits, {"files": fingerprint, "cache": str(written) if written else None, "cache_hit": False}


# ---------------------------------------------------------------------------------------------
# CIFAR: finding the layout


def find_cifar_layout(root: Path, fmt: CifarFormat = CIFAR10) -> tuple[str, Path] | None:
    """(layout, folder) of the copy of `fmt` in root (or root itself being one), else None."""
    for layout in (fmt.pickles, fmt.binary):
        for folder in (root / layout, root):
            if folder.name == layout and folder.is_dir():
                return layout, folder
    if (root / "train").is_dir() and (root / "test").is_dir():
        return IMAGE_FOLDERS, root
    return None


def load_cifar(
    fmt: CifarFormat,
    root: str,
    download: bool,
    verify_checksums: bool = True,
    expected_counts: tuple[int, int] | None = None,
) -> RawData:
    root_path = Path(root)
    found = find_cifar_layout(root_path, fmt)
    if found is None and download:
        download_cifar(root_path, fmt)
        found = find_cifar_layout(root_path, fmt)
    if found is None:
        raise DataError(
            f"no {fmt.title} in {root_path.resolve()}: expected one of {fmt.pickles}/ (torchvision's pickles), "
            f"{fmt.binary}/ (the binary version), or train/<class>/ and test/<class>/ image folders. Point data.root "
            f"at the folder that holds one (e.g. data.root=/datasets/{fmt.name}, or DATA_DIR=... with make), "
            f"or set data.download=true to fetch it ({fmt.download_mb} MB)."
        )
    layout, folder = found
    started = time.perf_counter()
    if layout == fmt.pickles:
        splits, source = read_pickles(folder, verify_checksums, fmt)
    elif layout == fmt.binary:
        splits, source = read_cached_layout(
            folder,
            cache_candidates(folder, fmt.name, layout),
            binary_sources(folder, fmt),
            lambda: decode_binary(folder, fmt),
        )
        source["reencoded"] = False
    else:
        sources = image_sources(folder, fmt)
        files = [p for per_class in sources.values() for paths in per_class for p in paths]
        splits, source = read_cached_layout(
            folder, cache_candidates(folder, fmt.name, layout), files, lambda: decode_images(sources, fmt)
        )
        suffixes = sorted({p.suffix.lower().lstrip(".").replace("jpg", "jpeg") for p in files})
        source.update(image_format="+".join(suffixes), reencoded="jpeg" in suffixes)
    counts = expected_counts or (None, None)
    for (split, (images, labels)), expected in zip(splits.items(), counts):
        where = f"{folder / split}" if layout == IMAGE_FOLDERS else f"the {split} split of {folder}"
        check_split(images, labels, where, (32, 32, 3), expected, len(fmt.classes))
    source = {"dataset": fmt.name, "layout": layout, "folder": str(folder.resolve()), **source}
    return finish(splits, source, started, len(fmt.classes))


def download_cifar(root: Path, fmt: CifarFormat) -> None:
    import torchvision.datasets

    try:
        getattr(torchvision.datasets, fmt.torchvision_class)(str(root), train=True, download=True)
    except Exception as err:  # torchvision raises URLError, RuntimeError and OSError alike
        raise DataError(
            f"{fmt.title} could not be downloaded into {root.resolve()} ({err}), and there is no usable "
            f"copy there. Point data.root at an existing copy (data.root=DIR, or DATA_DIR=... with "
            "make), or place one there."
        ) from None


def finish(splits: dict, source: dict, started: float, num_classes: int) -> RawData:
    (train_x, train_y), (test_x, test_y) = splits["train"], splits["test"]
    source["content"] = content_digest(train_x, train_y, test_x, test_y)
    source["train_images"], source["test_images"] = len(train_x), len(test_x)
    source["load_s"] = round(time.perf_counter() - started, 2)
    return RawData(train_x, train_y, test_x, test_y, source, num_classes)


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
    kinds = {
        layout: kind
        for fmt in CIFAR_FORMATS.values()
        for layout, kind in ((fmt.pickles, "torchvision's pickles"), (fmt.binary, "the binary version"))
    }
    what = kinds.get(source["layout"], source["layout"])
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
    return finish(splits, source, started, SHAPES["fashion_mnist"][0])


LOADERS = {
    **{name: functools.partial(load_cifar, fmt) for name, fmt in CIFAR_FORMATS.items()},
    "fashion_mnist": load_fashion_mnist,
}
DATASETS = tuple(LOADERS)
#: (classes, image channels) of each dataset, known before its files are read.
SHAPES = {**{name: (len(fmt.classes), 3) for name, fmt in CIFAR_FORMATS.items()}, "fashion_mnist": (10, 1)}


def load_dataset(name: str, root: str, download: bool, verify_checksums: bool = True, expected_counts=None) -> RawData:
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    counts = tuple(expected_counts) if expected_counts is not None else None
    return LOADERS[name](root, download, verify_checksums, counts)
