"""The decode cache: a layout that is slow to read (the binary version, image folders) is decoded
once into an .npz in the user's own cache folder ($STUDY_CACHE_DIR, else $XDG_CACHE_HOME/study,
else ~/.cache/study, as torchvision and Hugging Face keep theirs), named by a fingerprint of the
source files' content (study.data.raw.files_fingerprint). A source file changed in any way, its
dates kept or not, gives another name and is decoded again; a cache placed beside a shared dataset
by someone else is never read."""

import json
import os
from pathlib import Path

import numpy as np

from study.data.raw import files_fingerprint
from study.fileio import atomic_output, open_regular

CACHE_VERSION = 2


def default_cache_home() -> Path:
    if os.environ.get("STUDY_CACHE_DIR"):
        return Path(os.environ["STUDY_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "study"


def cache_path(name: str, layout: str, fingerprint: str) -> Path:
    return default_cache_home() / f"{name}-{layout.replace(' ', '-')}-{fingerprint}.npz"


def read_cache(path: Path, fingerprint: str) -> dict | None:
    """The cached splits if the cache was made from the same source files, else None."""
    try:
        with open_regular(path) as f, np.load(f, allow_pickle=False) as cached:
            meta = json.loads(str(cached["meta"]))
            if meta.get("version") != CACHE_VERSION or meta.get("files") != fingerprint:
                return None
            return {split: (cached[f"{split}_images"], cached[f"{split}_labels"]) for split in ("train", "test")}
    except Exception:  # missing, unreadable, not a plain file, or foreign: decode again
        return None


def write_cache(path: Path, splits: dict, fingerprint: str) -> Path | None:
    arrays = {
        f"{split}_{kind}": a
        for split, (images, labels) in splits.items()
        for kind, a in (("images", images), ("labels", labels))
    }
    meta = np.array(json.dumps({"version": CACHE_VERSION, "files": fingerprint}))
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with atomic_output(path) as tmp:
            np.savez(tmp, meta=meta, **arrays)
        return path
    except OSError:
        return None  # nowhere writable: the next run decodes again


def read_cached_layout(folder: Path, name: str, layout: str, sources: list[Path], decode) -> tuple[dict, dict]:
    fingerprint = files_fingerprint(sources, folder)
    path = cache_path(name, layout, fingerprint)
    splits = read_cache(path, fingerprint)
    if splits is not None:
        return splits, {"files": fingerprint, "cache": str(path), "cache_hit": True}
    splits = decode()
    written = write_cache(path, splits, fingerprint)
    return splits, {"files": fingerprint, "cache": str(written) if written else None, "cache_hit": False}
