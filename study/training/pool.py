"""Runs at once in worker processes of one sweep (Hydra's joblib launcher): how many, the cores each
gets, and how a stop reaches them without losing a step.

joblib ends every worker with SIGKILL as soon as one job raises or its own process is
interrupted, so a run in a worker that stopped on a signal must neither exit nor raise: it
checkpoints and returns, and its worker starts no other run (`hold_signals`). The sweep's own
process waits for them (`PoolStop`): the first SIGTERM or Ctrl-C is passed on to the workers as
SIGTERM, and a second Ctrl-C stops everything at once (each run keeps its last periodic
checkpoint).
"""

import contextlib
import os
import signal
import sys

import joblib
import psutil
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR2") if hasattr(signal, name))

_held: list[int] = []  # the signals this worker was sent


class StoppedEarly(Exception):
    """A stop signal before training began: there is no step to checkpoint, so the run ends at
    once, wherever it was (a data load waiting on a file included)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name} before training began")
        self.signum = signum


def pool_size(hydra_config=None) -> int:
    """How many runs the current sweep trains at once in worker processes (1: none, the runs are
    trained one after the other in the sweep's own process)."""
    if hydra_config is None:
        hydra_config = HydraConfig.get() if HydraConfig.initialized() else None
    n_jobs = OmegaConf.select(hydra_config, "launcher.n_jobs") if hydra_config is not None else None
    return joblib.effective_n_jobs(n_jobs) if isinstance(n_jobs, int) and n_jobs != 1 else 1


def share_cpu_cores() -> None:
    """With N runs at once on this machine, give each 1/N of the cores: torch would otherwise start
    a thread per core in every run, and oversubscribed CPUs crawl."""
    size = pool_size()
    if size > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // size))


def hold_signals(training: bool = True) -> None:
    """In a worker: from now on a signal records that this worker is to stop (its run then
    checkpoints at the next step, and no other run starts here); the sweep's process decides when
    to stop at once. Before training begins (`training` false) the run has nothing to save, and
    the signal also ends it at once (StoppedEarly)."""

    def held(signum, frame):
        _held.append(signum)
        if not training:
            raise StoppedEarly(signum)

    for s in SIGNALS:
        signal.signal(s, held)


def held_signal() -> int | None:
    """The first signal this worker was sent, if any."""
    return _held[0] if _held else None


class PoolStop:
    """The sweep's own process while its workers train (installed for the sweep's length)."""

    def __init__(self, experiment: str):
        self.experiment = experiment
        self.signum: int | None = None

    def install(self) -> None:
        for s in SIGNALS:
            signal.signal(s, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
            print(
                f"[sweep {self.experiment}] {signal.Signals(signum).name}: each running run checkpoints its "
                "current step and no other run starts; the same command goes on from there "
                "(Ctrl-C again stops at once, losing each run's steps since its last checkpoint)",
                file=sys.stderr,
                flush=True,
            )
            for child in psutil.Process().children():  # joblib's resource trackers ignore SIGTERM
                with contextlib.suppress(psutil.NoSuchProcess):  # a worker that has just ended
                    child.send_signal(signal.SIGTERM)
        elif signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt

    def exit_if_stopped(self) -> None:
        """After the sweep: end as a process killed by the signal would, so that a caller stops too."""
        if self.signum is not None:
            raise SystemExit(128 + self.signum)
