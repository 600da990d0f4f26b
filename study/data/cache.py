"""The decode cache: a layout that is slow to read (the binary version, image folders) is decoded
once into an .npz beside the data, DIR/.study-cache/, or, where DIR cannot be written, under
$STUDY_CACHE_DIR (default ~/.cache/study). The cache holds a fingerprint of the source files
(names, sizes, modification times) and is decoded again when they change."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from study.data.raw import files_fingerprint
from study.fileio import atomic_output

CACHE_VERSION = 1


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
