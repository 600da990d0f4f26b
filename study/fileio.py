"""Files written so that a crash never leaves half of one (atomic writes, strict JSON, CSV
rewrites), and files from a folder given to us read within bounds: nothing but a plain file is
opened, no link is followed out of the folder, YAML and tensor files cost no more than their size.
Imports nothing from study: every layer above uses it.
"""

import contextlib
import csv
import io
import json
import math
import os
import stat
import tempfile
from pathlib import Path

__all__ = [
    "atomic_output",
    "atomic_write_text",
    "write_json",
    "finite",
    "trim_rows",
    "UnsafeFile",
    "inside",
    "is_plain",
    "open_regular",
    "load_tensors",
    "bounded_yaml_text",
]


@contextlib.contextmanager
def atomic_output(path: Path):
    """Yields a temporary path beside `path`; renames it onto `path` once the block succeeds, so a
    crash never leaves a half-written file that a later run trusts."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the run's files are as readable as any
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def finite(value):
    """`value` with every non-finite float replaced by None: strict JSON has no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_json(path: Path, value) -> None:
    """Strict JSON (no NaN), indented, written atomically."""
    atomic_write_text(path, json.dumps(finite(value), indent=2, allow_nan=False) + "\n")


def trim_rows(path: Path, keep) -> None:
    """Rewrite a CSV file with only the rows for which `keep(row)` is true (csv module format, as
    Lightning's CSV logger writes)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], [r for r in reader if keep(r)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, out.getvalue())


class UnsafeFile(ValueError):
    """A file in a folder given to us that leads out of it, or is not a plain file."""


def inside(folder: Path, name: str) -> Path | None:
    """`folder/name` if it is a plain file in `folder` (a link is followed only where it stays
    inside); None if there is none. UnsafeFile names what it is otherwise: a link out of the
    folder, a device, FIFO, socket or folder, which nothing here may read or rewrite."""
    path = Path(folder) / name
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        target = path.resolve()
        if not target.is_relative_to(Path(folder).resolve()):
            raise UnsafeFile(f"{name} is a link to {target}, outside the folder")
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            return None
    if not stat.S_ISREG(mode):
        raise UnsafeFile(f"{name} is not a plain file (a device, FIFO, socket or folder)")
    return path


def is_plain(path: Path, kind=stat.S_ISREG) -> bool:
    """`path` exists as this kind of entry (stat.S_ISREG or S_ISDIR), itself and not through a link."""
    try:
        return kind(os.lstat(path).st_mode)
    except OSError:
        return False


def open_regular(path: Path):
    """`path` opened for binary reading if it is a regular file (through links too); UnsafeFile if
    it is a FIFO, device, socket or folder. Opened without blocking, so that a FIFO is refused
    rather than waited on for ever; the check is on the opened file, so it cannot be swapped after."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(f"{path} is not a plain file (a device, FIFO, socket or folder)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def load_tensors(path: Path, max_bytes: int | None = None):
    """What torch.save wrote into `path`, read with weights_only=True (tensors and plain values
    only: nothing in it can run code) from a plain file. torch.save stores its zip entries
    uncompressed, so an entry that is compressed (a zip bomb: a few MB inflating to GB) or entries
    larger than the file are refused before anything is inflated, as is a file over `max_bytes`.
    UnsafeFile says which; torch's own errors pass through."""
    import zipfile

    import torch

    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if max_bytes is not None and size > max_bytes:
            raise UnsafeFile(f"{path} holds {size:,} bytes, more than the {max_bytes:,} its net can fill")
        if zipfile.is_zipfile(f):
            entries = zipfile.ZipFile(f).infolist()
            if any(e.compress_type != zipfile.ZIP_STORED for e in entries) or sum(e.file_size for e in entries) > size:
                raise UnsafeFile(
                    f"{path} holds compressed entries, which torch.save never writes (they could inflate far "
                    "beyond the file's size)"
                )
        f.seek(0)
        return torch.load(f, map_location="cpu", weights_only=True)


#: Bounds on a YAML file read from a folder given to us (a run's config.yaml is a few kB).
YAML_MAX_BYTES = 1_000_000
YAML_MAX_DEPTH = 32


def bounded_yaml_text(path: Path) -> str:
    """The text of a YAML file of plain values: without anchors or aliases (a few hundred bytes of
    them expand to millions of values), within YAML_MAX_BYTES and YAML_MAX_DEPTH, so that parsing
    it costs no more than its size. A ValueError says which bound it breaks."""
    import yaml

    with open(path, "rb") as f:
        data = f.read(YAML_MAX_BYTES + 1)
    if len(data) > YAML_MAX_BYTES:
        raise ValueError(f"{path.name} is larger than {YAML_MAX_BYTES:,} bytes")
    try:
        text = data.decode()
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise ValueError(f"{path.name} uses YAML anchors or aliases, which a config never has")
            depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
            if depth > YAML_MAX_DEPTH:
                raise ValueError(f"{path.name} is nested more than {YAML_MAX_DEPTH} deep")
        return text
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(f"{path.name} is not YAML ({err})") from None
