"""Output that reads well wherever it goes: one progress line per interval when standard output is
not a terminal (SLURM logs, `make ... > log`), in place of a progress bar's redraws; and none of
the library chatter (tips, deprecation warnings) that says nothing about the run."""

import logging
import sys
import time
import warnings

import lightning as L


class ProgressLines(L.Callback):
    """`step 400/1200: lr 0.02, training error 47.50%, 512 images/s, 4 min left` every `every` steps."""

    def __init__(self, every: int, stream=None):
        self.every, self.stream = every, stream or sys.stdout

    def on_train_start(self, trainer, pl_module) -> None:
        self.started, self.first_step = time.time(), trainer.global_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # At the start of the next step the module has logged the interval's training error.
        if trainer.global_step > self.first_step and trainer.global_step % self.every == 0:
            self.report(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.global_step > self.first_step and trainer.global_step % self.every == 0:
            self.report(trainer)

    def report(self, trainer) -> None:
        step, total = trainer.global_step, trainer.max_steps
        elapsed = time.time() - self.started
        per_step = elapsed / (step - self.first_step)
        batch = trainer.datamodule.batch_size if trainer.datamodule is not None else 0
        error = trainer.callback_metrics.get("train_error")
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        parts = [f"lr {lr:g}"]
        if error is not None:
            parts.append(f"training error {float(error):.2f}%")
        if batch:
            parts.append(f"{batch / per_step:.0f} images/s")
        parts.append(f"{duration(per_step * (total - step))} left")
        print(f"step {step}/{total}: {', '.join(parts)}", file=self.stream, flush=True)


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
    """Lightning's advertisement for its cloud logger, and the deprecation warning its own pytree
    helper triggers in torch >= 2.10 (nothing this project can act on)."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
