"""The Lightning callbacks of a run, one job each:

    StopOnSignal        SIGTERM, SIGINT or SLURM's SIGUSR2 stop the run after the current step
    RunCheckpoints      a checkpoint every N steps and at the end, written atomically
    RunClock            the run's wall time across resumes (kept in its checkpoints)
    CodeVersions        every code version a run was trained under, with the step each took over
    KeepLock            keeps the run's lock fresh while it trains (study.runs.RunLock)
    FinalMeasurements   errors on every split and Figure 7's responses at the end
    ProgressLines       one progress line an interval when output is not a terminal

and `quiet_library_chatter`, which silences the library messages that say nothing about the run.
"""

import logging
import math
import signal
import time
import warnings
from pathlib import Path

import lightning as L

from study.training import pool

log = logging.getLogger("study")


class StopOnSignal(L.Callback):
    """Catches SIGTERM, SIGINT and SIGUSR2 (SLURM's warning before a time limit) and stops the run
    at the next step boundary, where RunCheckpoints saves it; afterwards the signal goes on to
    whoever handled it before (submitit requeues the job on SIGUSR2). While the run checkpoints a
    second Ctrl-C acts as usual (stops at once); other repeats are ignored, since a launcher may
    pass on a signal that its process group was sent too. Before training begins there is no
    step to save, and a signal ends the run at once (pool.StoppedEarly), even while its data load
    waits. In a worker of a parallel sweep (`pooled`) the worker's signals are held instead
    (study.training.pool)."""

    def __init__(self, pooled: bool = False):
        self.pooled = pooled
        self.training = False
        self.signum: int | None = None
        self._handlers: dict = {}  # the signals that are ours now, with the handler before ours
        self._previous_handlers: dict = {}

    def install(self) -> None:
        """Catch the signals from now on (data loading included)."""
        if self.pooled:
            pool.hold_signals(training=False)
            return
        try:
            self._previous_handlers = {s: signal.signal(s, self._request_stop) for s in pool.SIGNALS}
        except ValueError:  # not the main thread: leave signals to the host
            self._previous_handlers = {}
        self._handlers = dict(self._previous_handlers)

    def on_train_start(self, trainer, pl_module) -> None:
        # Lightning wrapped our SIGTERM handler in one that raises out of fit() before the last
        # checkpoint can be taken; during training ours alone decides.
        self.training = True
        if self.pooled:
            pool.hold_signals()
        for s in self._handlers:
            signal.signal(s, self._request_stop)

    def _request_stop(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
            if not self.training:
                raise pool.StoppedEarly(signum)
            if signal.SIGINT in self._handlers:
                signal.signal(signal.SIGINT, self._handlers.pop(signal.SIGINT))

    def restore_handlers(self) -> None:
        for s, handler in self._handlers.items():
            signal.signal(s, handler)
        self._handlers = {}

    def pass_on(self) -> None:
        handler = self._previous_handlers.get(self.signum)
        if callable(handler):
            handler(self.signum, None)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.pooled:
            self.signum = self.signum or pool.held_signal()
        stop = self.signum is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            self.signum = self.signum or signal.SIGTERM
            trainer.should_stop = True  # on_train_end checkpoints this step
            log.info(f"stop requested: checkpointing at step {trainer.global_step}")


class RunCheckpoints(L.Callback):
    """`last.ckpt` every `every` steps and at the end of training (not of a diverged run: its
    weights are not finite); the one before is kept as `previous.ckpt`."""

    def __init__(self, ckpt_dir: Path, every: int):
        self.ckpt_dir, self.every = ckpt_dir, every
        self._saved_step = -1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # Saving here rather than at the end of the previous step catches the state after all of
        # that step's hooks (the module's logging ones run after the callbacks').
        if trainer.global_step and trainer.global_step % self.every == 0:
            self.save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if pl_module.divergence is None:
            self.save(trainer)

    def save(self, trainer) -> None:
        if self._saved_step == trainer.global_step:
            return
        self._saved_step = trainer.global_step
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        last, tmp = self.ckpt_dir / "last.ckpt", self.ckpt_dir / "last.ckpt.tmp"
        trainer.save_checkpoint(tmp, weights_only=False)
        if trainer.is_global_zero:
            if last.exists():
                last.replace(self.ckpt_dir / "previous.ckpt")
            tmp.replace(last)


class RunClock(L.Callback):
    """The run's wall time: this process's, plus what its checkpoint says went before."""

    def __init__(self):
        self.started, self.elapsed_before = time.time(), 0.0

    @property
    def state_key(self) -> str:
        return "RunGuard"  # the name checkpoints written before this callback was split off use

    def elapsed_s(self) -> float:
        return round(self.elapsed_before + time.time() - self.started, 2)

    def state_dict(self) -> dict:
        return {"elapsed_s": self.elapsed_s()}

    def load_state_dict(self, state_dict: dict) -> None:
        elapsed = state_dict.get("elapsed_s")
        if isinstance(elapsed, (int, float)) and math.isfinite(elapsed) and elapsed >= 0:
            self.elapsed_before = float(elapsed)


class CodeVersions(L.Callback):
    """The code versions a run was trained under: `[{"code": ..., "from_step": N}, ...]`, one entry
    each time a resume runs other code than the steps before it, kept in the run's checkpoints.
    A checkpoint written before this callback existed carries no history; the code of the steps
    before it is then taken from the run's previous summary.json (`before`), or recorded as
    unknown (None)."""

    def __init__(self, current: dict, before: dict | None = None):
        self.current, self.before = current, before
        self.history: list[dict] = []

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        history = state_dict.get("history")
        if isinstance(history, list) and all(
            isinstance(e, dict)
            and isinstance(e.get("from_step"), int)
            and (e.get("code") is None or isinstance(e["code"], dict))
            for e in history
        ):
            self.history = [{"code": e["code"], "from_step": e["from_step"]} for e in history]

    def on_train_start(self, trainer, pl_module) -> None:
        self.record(trainer.global_step)

    def record(self, step: int) -> list[dict]:
        """The history with this process's code from `step` on; again at the end, since a run
        resumed at its last step (only its final measurements left) never starts training."""
        self.history = [e for e in self.history if e["from_step"] <= step]
        if not self.history and step > 0:
            self.history = [{"code": self.before, "from_step": 0}]
        if not self.history or self.history[-1]["code"] != self.current:
            self.history.append({"code": self.current, "from_step": step})
        return self.history


class KeepLock(L.Callback):
    """Touches the run's lock as training goes, so other hosts see that its holder is alive."""

    def __init__(self, lock):
        self.lock = lock

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.lock.refresh()


class FinalMeasurements(L.Callback):
    """At the end of a run that reached max_steps (or diverged): the errors on every split without
    augmentation, and Figure 7's layer responses on the test set. on_fit_end also runs when a run
    is resumed from its final checkpoint."""

    def __init__(self):
        self.errors: dict[str, float] = {}
        self.responses: list[dict] = []

    def on_fit_end(self, trainer, pl_module) -> None:
        if pl_module.divergence is None and trainer.global_step < trainer.max_steps:
            return
        self.errors = pl_module.evaluate(("train", "val", "test"))
        if trainer.is_global_zero and pl_module.divergence is None:
            self.responses = pl_module.layer_responses()


class ProgressLines(L.Callback):
    """`resnet-20 seed 0: step 400/1200: lr 0.02, training error 47.50%, 512 images/s, 4 min left`
    every `every` steps, named by the run (`name`): runs trained at once write into one output.
    The time left includes the final measurement on every image, which a line announces when it
    starts, so a run is never silent for minutes after "0 s left"."""

    #: A forward pass costs about a third of a training step's work on the same image.
    FORWARD_SHARE = 1 / 3

    def __init__(self, every: int, name: str):
        self.every, self.name = every, name

    def on_train_start(self, trainer, pl_module) -> None:
        self.started, self.first_step = time.time(), trainer.global_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # At the start of the next step the module has logged the interval's training error.
        if trainer.global_step > self.first_step and trainer.global_step % self.every == 0:
            self.report(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.global_step > self.first_step and trainer.global_step % self.every == 0:
            self.report(trainer)
        if trainer.global_step >= trainer.max_steps and trainer.global_step > self.first_step:
            images, seconds = self.final_measurement(trainer)
            log.info(
                f"{self.name}: step {trainer.global_step}/{trainer.max_steps}: training done; measuring the final "
                f"errors on {images:,} images and the layer responses (about {duration(seconds)})"
            )

    def per_step(self, trainer) -> float:
        return (time.time() - self.started) / (trainer.global_step - self.first_step)

    def final_measurement(self, trainer) -> tuple[int, float]:
        """(images the final measurement reads, its estimated seconds at this run's speed)."""
        dm = trainer.datamodule
        if dm is None or not dm.config.batch_size:
            return 0, 0.0
        sizes = [
            len(getattr(dm.splits, f"{split}_images")) for split in ("train", "val", "test") if dm.has_split(split)
        ]
        images = sum(min(n, dm.config.eval_subset or n) for n in sizes)
        return images, images * self.per_step(trainer) / dm.config.batch_size * self.FORWARD_SHARE

    def report(self, trainer) -> None:
        step, total = trainer.global_step, trainer.max_steps
        per_step = self.per_step(trainer)
        batch = trainer.datamodule.config.batch_size if trainer.datamodule is not None else 0
        error = trainer.callback_metrics.get("train_error")
        parts = [f"lr {trainer.optimizers[0].param_groups[0]['lr']:g}"]
        if error is not None:
            parts.append(f"training error {float(error):.2f}%")
        if batch:
            parts.append(f"{batch / per_step:.0f} images/s")
        parts.append(f"{duration(per_step * (total - step) + self.final_measurement(trainer)[1])} left")
        log.info(f"{self.name}: step {step}/{total}: {', '.join(parts)}")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def quiet_library_chatter() -> None:
    """Lightning's advertisement for its cloud logger, the deprecation warning its own pytree helper
    triggers in torch >= 2.10 (nothing this project can act on), and its hint to prefix `srun` on
    any machine where Slurm is installed (cluster runs go through submitit, which does). Called in
    each run's process: a joblib worker runs the job without importing study.train as a module."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system but is not used")
