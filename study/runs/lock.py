"""One process per run: `run.lock` in the run folder names the host, pid and SLURM job that trains
it, is created atomically (O_EXCL), touched every LOCK_REFRESH_S while training, removed on exit,
and taken over when its holder is gone: a dead pid on this host, the same SLURM job requeued, or,
from another host (shared storage), a lock untouched for LOCK_STALE_AFTER_S.
"""

import contextlib
import json
import os
import time
from pathlib import Path

from study.fileio import UnsafeFile, inside, open_regular

__all__ = ["RunLock", "lock_holder", "describe_holder"]


LOCK = "run.lock"


LOCK_REFRESH_S = 60  # how often the training process touches its lock


LOCK_STALE_AFTER_S = 900  # a lock untouched this long, held on another host, is taken over


def _this_process() -> dict:
    import socket

    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "job": os.environ.get("SLURM_JOB_ID"),
        "since": round(time.time(), 3),
    }


#: Larger than any pid Linux gives (pid_max is at most 2**22).
MAX_PID = 2**22


def _read_lock(path: Path) -> dict | None:
    """The lock's record; {} where it cannot be read as one (it is judged by its age alone). Read
    only as a plain file of the run folder: never a FIFO or device, never through a link out."""
    try:
        plain = inside(path.parent, path.name)
        if plain is None:
            return None
        with open_regular(plain) as f:
            holder = json.loads(f.read(4096))  # a lock is a few dozen bytes
        return holder if isinstance(holder, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, UnsafeFile, ValueError, UnicodeDecodeError, RecursionError):
        return {}


def _started_at(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), where /proc tells; else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def lock_is_live(path: Path, holder: dict) -> bool:
    """Whether the process named in a lock may still be training: on this host, its pid is alive
    and that process had started when the lock was taken (`since`); elsewhere (shared storage spans
    hosts), or where that cannot be told, the lock was touched within LOCK_STALE_AFTER_S. A
    requeued SLURM job takes over the lock of its own earlier incarnation."""
    me = _this_process()
    if me["job"] and holder.get("job") == me["job"] and holder.get("pid") != me["pid"]:
        return False
    pid, since = holder.get("pid"), holder.get("since")
    if holder.get("host") == me["host"] and isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < MAX_PID:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        started = _started_at(pid)
        if started is not None and isinstance(since, (int, float)) and not isinstance(since, bool):
            return started <= since + 2  # a pid taken by a process started later is not the holder
        # which process wrote the lock cannot be told: judged by its age, as a live holder touches it
    try:
        return time.time() - path.stat().st_mtime < LOCK_STALE_AFTER_S
    except FileNotFoundError:
        return False


def describe_holder(holder: dict) -> str:
    job = f" (job {holder['job']})" if holder.get("job") else ""
    return f"{holder.get('host', '?')} pid {holder.get('pid', '?')}{job}"


def lock_holder(run_dir: Path) -> dict | None:
    """The live holder of a run's lock (someone is training it now), or None."""
    path = Path(run_dir) / LOCK
    holder = _read_lock(path)
    return holder if holder is not None and lock_is_live(path, holder) else None


class RunLock:
    """An exclusive claim on a run folder while a process trains it: `run.lock`, created
    atomically (O_EXCL) with this host, pid and SLURM job id, touched every LOCK_REFRESH_S, removed
    on release, and taken over when its holder is gone (see lock_is_live)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.mine = _this_process()
        self.touched = 0.0

    def acquire(self) -> dict | None:
        """None when the lock is now ours; else the live holder's record."""
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_lock(self.path)
                if holder is None:
                    continue  # released meanwhile
                if lock_is_live(self.path, holder):
                    return holder
                self._take_over(holder)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(self.mine, f)
            self.touched = time.time()
            return None
        holder = _read_lock(self.path)
        return holder or {"host": "?", "pid": "?"}

    def _take_over(self, stale: dict) -> None:
        # Move the stale lock aside under a name of our own: of two processes taking over at once
        # only one rename succeeds. If what we moved is not the lock we judged (another process
        # took over first and wrote its own), it goes back.
        aside = self.path.with_name(f"{LOCK}.stale-{self.mine['host']}-{self.mine['pid']}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if _read_lock(aside) != stale and not self.path.exists():
            os.rename(aside, self.path)
        else:
            aside.unlink(missing_ok=True)

    def refresh(self) -> None:
        """Touch the lock (at most every LOCK_REFRESH_S), so other hosts see its holder alive."""
        if time.time() - self.touched >= LOCK_REFRESH_S:
            self.touched = time.time()
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        if _read_lock(self.path) == self.mine:
            self.path.unlink(missing_ok=True)
