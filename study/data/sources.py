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

A layout other than the pickles is decoded once into a cache (study.data.cache).

Nothing on disk is trusted: pickles go through an unpickler that builds only numpy arrays, and
every split is checked (count, 32x32 RGB uint8, labels 0 to classes - 1) before training, the message naming
the file or folder and the fix. Each load reports its `source`: layout, folder, fingerprints of the
files and of the decoded content (the "data copy" that the report keeps apart), and whether the
pixels were re-encoded (JPEG) or unchecked against the official checksums.

Here: the loaders by dataset name and how a copy is described. The loaders themselves are in
study.data.cifar and study.data.fashion_mnist; what they return and check, in study.data.raw.
"""

import functools

from study.data.cifar import CIFAR_FORMATS, load_cifar
from study.data.fashion_mnist import CHANNELS, CLASSES, load_fashion_mnist
from study.data.raw import DataError, RawData


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


LOADERS = {
    **{name: functools.partial(load_cifar, fmt) for name, fmt in CIFAR_FORMATS.items()},
    "fashion_mnist": load_fashion_mnist,
}
DATASETS = tuple(LOADERS)
#: (classes, image channels, image side in pixels) of each dataset, known before its files are read.
SHAPES = {
    **{name: (len(fmt.classes), 3, 32) for name, fmt in CIFAR_FORMATS.items()},
    "fashion_mnist": (CLASSES, CHANNELS, 28),
}


def load_dataset(name: str, root: str, download: bool, verify_checksums: bool = True, expected_counts=None) -> RawData:
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    counts = tuple(expected_counts) if expected_counts is not None else None
    return LOADERS[name](root, download, verify_checksums, counts)
