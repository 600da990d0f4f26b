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


def _read_lock(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError):
        return {}  # unreadable: judged by its age alone


def lock_is_live(path: Path, holder: dict) -> bool:
    """Whether the process named in a lock may still be training: on this host, its pid is alive;
    elsewhere (shared storage spans hosts), the lock was touched within LOCK_STALE_AFTER_S. A
    requeued SLURM job takes over the lock of its own earlier incarnation."""
    me = _this_process()
    if me["job"] and holder.get("job") == me["job"] and holder.get("pid") != me["pid"]:
        return False
    if holder.get("host") == me["host"] and isinstance(holder.get("pid"), int):
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
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
