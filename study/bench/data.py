"""`python -m study.bench.data DIR` (`make bench-data DATA_DIR=DIR`): how long each CIFAR-10 layout
takes to load, first (decoding) and from its cache.

Reads the CIFAR-10 copy in DIR (any layout), writes the same images into each layout the loader
accepts in a temporary folder (torchvision's pickles, the binary version, PNG folders; JPEG folders
are DIR's own when DIR holds them, copied), and times `study.data.sources.load_dataset` on each, twice.
The files are fresh in the page cache, so "first" measures decoding, not a cold disk. The decode
cache goes into the temporary folder too: every first load decodes, and the user's cache is
left as it was.
"""

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from study.data.cifar import IMAGE_FOLDERS, find_cifar_layout
from study.data.layouts import write_binary, write_image_folders, write_pickles
from study.data.raw import DataError
from study.data.sources import load_dataset


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
    with tempfile.TemporaryDirectory(prefix="study-layouts-") as tmp:
        # a cache of its own: every first load decodes, and the user's cache is left as it was
        os.environ["STUDY_CACHE_DIR"] = str(Path(tmp) / "cache")
        try:
            raw = load_dataset("cifar10", str(args.data_dir), False, False, (50_000, 10_000))
        except DataError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        shutil.rmtree(Path(tmp) / "cache", ignore_errors=True)
        return measure(args.data_dir, raw, Path(tmp))


def measure(data_dir: Path, raw, tmp: Path) -> int:
    splits = {"train": (raw.train_images, raw.train_labels), "test": (raw.test_images, raw.test_labels)}
    rows = []
    for name, write in (("pickles", write_pickles), ("binary", write_binary), ("png folders", write_image_folders)):
        root = tmp / name.replace(" ", "-")
        started = time.perf_counter()
        write(root, splits)
        print(f"wrote {name} in {time.perf_counter() - started:.1f} s", flush=True)
        rows.append((name, *timed_loads(root, verify_checksums=False)))
    layout, folder = find_cifar_layout(data_dir)
    if layout == IMAGE_FOLDERS:
        root = tmp / "given-folders"
        for split in ("train", "test"):
            shutil.copytree(folder / split, root / split)
        fmt = raw.source.get("image_format", "image")
        rows.append((f"{fmt} folders", *timed_loads(root, verify_checksums=False)))
    pickles = sorted((tmp / "pickles" / "cifar-10-batches-py").iterdir())
    started = time.perf_counter()
    for path in pickles:
        hashlib.md5(path.read_bytes()).hexdigest()
    md5_s = time.perf_counter() - started
    print(f"\nCIFAR-10, 60,000 images, from {data_dir} (copy {raw.source['content']})\n")
    print("| layout | first load (s) | cached load (s) | data copy |")
    print("|---|---:|---:|---|")
    for name, first, cached, content in rows:
        print(f"| {name} | {first:.2f} | {cached:.2f} | {content} |")
    print(f"\nmd5 of the six pickles (data.verify_checksums=true adds this): {md5_s:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
