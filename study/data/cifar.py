"""CIFAR-10 and CIFAR-100 from any of their layouts on disk (study.data.sources lists them):
torchvision's pickles, read by an unpickler that builds nothing but arrays; the official binary
version; image folders named by the classes. The binary version and image folders are decoded
once into a cache (study.data.cache)."""

import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.data.cache import read_cached_layout
from study.data.raw import DataError, RawData, check_split, files_fingerprint, finish
from study.fileio import open_regular

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
        with open_regular(path) as f:
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
                raise DataError(
                    f"{path} is missing from {folder} (or is not a plain file); replace the folder with a complete copy"
                )
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
                f"{path} is missing from {folder} (or is not a plain file); the binary version has "
                f"{', '.join(n for names in fmt.binary_files.values() for n in names)}"
            )
    return paths


def decode_binary(folder: Path, fmt: CifarFormat) -> dict:
    splits = {}
    for split, names in fmt.binary_files.items():
        images, labels = [], []
        for name in names:
            path = folder / name
            with open_regular(path) as f:
                raw = np.frombuffer(f.read(), dtype=np.uint8)
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
                with open_regular(path) as f, Image.open(f) as im:
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
            fmt.name,
            layout,
            binary_sources(folder, fmt),
            lambda: decode_binary(folder, fmt),
        )
        source["reencoded"] = False
    else:
        sources = image_sources(folder, fmt)
        files = [p for per_class in sources.values() for paths in per_class for p in paths]
        splits, source = read_cached_layout(folder, fmt.name, layout, files, lambda: decode_images(sources, fmt))
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
