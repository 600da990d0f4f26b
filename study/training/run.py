"""One run of the paper's CIFAR recipe, end to end: `train(cfg, run_dir)`.

A run lives in a folder that is a pure function of its config (study.runs.identity). Training the
same config again skips a completed or diverged run, resumes an interrupted or failed one from its
newest valid checkpoint, and keeps metrics.csv's history. Messages go through `logging`: to the
terminal and to the run folder's train.log.
"""

import contextlib
import errno
import logging
import math
import sys
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from study.data.sources import describe_source
from study.data.stream import ImageDataModule
from study.fileio import atomic_write_text
from study.nets import NetConfig, build_net, count_parameters, response_layers
from study.runs import checkpoints, provenance, summary
from study.runs.folder import RunFolderError, check_same_run, check_writable
from study.runs.identity import run_id, run_label, study_of
from study.runs.lock import RunLock, describe_holder
from study.training import diagnostics, loggers, pool
from study.training.callbacks import (
    CodeVersions,
    FinalMeasurements,
    KeepLock,
    ProgressLines,
    RunCheckpoints,
    RunClock,
    StopOnSignal,
    quiet_library_chatter,
)
from study.training.config import FIXED_TRAINER_ARGS, ConfigError, validate
from study.training.recipe import ImageClassifier
from study.training.schema import TrainConfig

__all__ = ["train", "RunError"]

log = logging.getLogger("study")


class RunError(Exception):
    """A run that stopped for a reason outside it (a full disk); the message says what to do."""


def uses_gpu(cfg: DictConfig) -> bool:
    return torch.cuda.is_available() and cfg.trainer.accelerator in ("auto", "gpu", "cuda")


def default_precision(cfg: DictConfig) -> str:
    if cfg.trainer.precision is not None:
        return str(cfg.trainer.precision)
    return "bf16-mixed" if uses_gpu(cfg) else "32-true"


def default_benchmark(cfg: DictConfig) -> bool:
    """cuDNN autotuning: on with a GPU, except where the user asked for determinism (Lightning
    would otherwise ignore `deterministic`)."""
    if cfg.trainer.get("benchmark") is not None:
        return bool(cfg.trainer.benchmark)
    return uses_gpu(cfg) and not cfg.trainer.deterministic


def load_data(settings: TrainConfig) -> ImageDataModule:
    datamodule = ImageDataModule(settings.data, seed=settings.seed)
    datamodule.setup()  # loads the data now, so a missing dataset stops the run before training
    return datamodule


def build_module(settings: TrainConfig) -> ImageClassifier:
    # A builder of the user's already built a net in `validate`, before the seed was set: this one,
    # built after it, is the run's, so its first weights follow from the seed alone.
    net = build_net(settings.model)
    if settings.run.compile:
        net.compile()
    return ImageClassifier(
        net,
        settings.optim,
        warmup=settings.optim.warmup_on(settings.model.depth),
        log_every=settings.log_every,
        eval_every=settings.eval_every,
        channels_last=settings.run.channels_last,
    )


def resume_point(
    run_dir: Path,
    first_process: bool,
    net_config: NetConfig,
    module: ImageClassifier,
    previous: dict | None,
    setting: dict,
) -> tuple[Path, int] | None:
    """The newest usable checkpoint; without one, an earlier history is set aside, never lost. A
    checkpoint of another net than the config's, or one made on another data copy, kind of device
    or precision (`setting`), is refused before anything in the folder changes."""
    found, refused = checkpoints.newest_checkpoint(run_dir, checkpoints.size_limit(count_parameters(module.net)))
    if found:
        mismatch = checkpoints.net_mismatch(found.checkpoint, net_config) or checkpoints.weights_mismatch(
            found.checkpoint, module.state_dict()
        )
        if mismatch:
            raise ConfigError(
                f"{found.path} is not this run's checkpoint: {mismatch}. Nothing was changed; move the checkpoint "
                "out of the folder, or train this config elsewhere (hydra.run.dir=...)"
            )
        changes = checkpoints.setting_changes(checkpoints.setting_of(found.checkpoint, previous), setting)
        if changes:
            raise ConfigError(
                f"{run_dir} cannot resume here: {'; '.join(changes)}. The steps of one run share one data copy, "
                "kind of device and precision; nothing was changed. Resume it as it was trained (data.root=..., "
                "trainer.accelerator=..., trainer.precision=...), or train this setting elsewhere (runs_root=...)"
            )
    if first_process and found:
        log.info(
            f"resume: {run_dir} from {found.path.name} at step {found.step}"
            + (f" (refused: {'; '.join(refused)})" if refused else "")
        )
        try:
            checkpoints.trim_metrics(run_dir, found.step)
        except ValueError as err:
            raise RunFolderError(
                f"{run_dir}: {err}; metrics.csv is left as it was. Mend or remove that row and run again"
            ) from None
        diagnostics.trim(run_dir, found.step)
    elif first_process and refused:
        aside = checkpoints.set_aside(run_dir, "no-usable-checkpoint")
        log.info(
            f"restart: {run_dir} has no usable checkpoint ({'; '.join(refused)}); training restarts from step 0, "
            f"the old metrics.csv and checkpoints are kept in {aside.name}/"
        )
    return (found.path, found.step) if found else None  # Lightning loads it again itself, by its path


def previous_summary(run_dir: Path) -> dict | None:
    """The run's summary from its last process, if there is one that can be read."""
    try:
        return summary.read(run_dir)
    except ValueError:
        return None


def previous_code(previous: dict | None) -> dict | None:
    """The code version the run's previous summary names (a run resumed from a checkpoint that
    predates CodeVersions); None where there is none."""
    code = ((previous or {}).get("provenance") or {}).get("code")
    return code if isinstance(code, dict) else None


def build_trainer(cfg: DictConfig, run_dir: Path, callbacks: list) -> L.Trainer:
    bar = cfg.trainer.enable_progress_bar and sys.stdout.isatty()  # a file gets one line an interval instead
    return instantiate(
        cfg.trainer,
        precision=default_precision(cfg),
        benchmark=default_benchmark(cfg),
        enable_progress_bar=bar,
        callbacks=callbacks + ([] if bar else [ProgressLines(cfg.log_every, run_label(cfg))]),
        default_root_dir=str(run_dir),
        **FIXED_TRAINER_ARGS,
        _convert_="all",
    )


def rounded(error: float | None) -> float | None:
    return None if error is None or not math.isfinite(error) else round(error, 4)


def write_responses(path: Path, responses: list[dict]) -> None:
    """Figure 7's layer responses as layer_responses.csv holds them (study.evaluate writes the same)."""
    lines = ["layer,name,std"] + [f"{r['layer']},{r['name']},{r['std']:.6g}" for r in responses]
    atomic_write_text(path, "\n".join(lines) + "\n")


def record_failure(run_dir: Path, record: dict, err: Exception, steps: int, wall_time_s: float, resolved: dict) -> None:
    record.update(status="failed", steps=steps, wall_time_s=wall_time_s, config=resolved)
    record["error"] = f"{type(err).__name__}: {err}"
    with contextlib.suppress(OSError):  # the disk that failed the run may not take its summary either
        summary.write(run_dir, record)


def final_status(
    module: ImageClassifier, stop: StopOnSignal, trainer: L.Trainer, cfg: DictConfig, final: FinalMeasurements
) -> tuple[str, str | None]:
    """(status, why it failed or None)."""
    if module.divergence:
        return "diverged", None
    if stop.signum is not None or trainer.global_step < cfg.trainer.max_steps:
        return "interrupted", None
    nonfinite = [split for split, error in final.errors.items() if not math.isfinite(error)]
    if nonfinite:  # a result no table can use; never written as NaN
        return "failed", f"the final {', '.join(nonfinite)} is not a finite number"
    return "completed", None


def train(cfg: DictConfig, run_dir: Path) -> str:
    """Train (or skip, or resume) the run of `cfg` in `run_dir`; returns its status."""
    quiet_library_chatter()
    pooled = pool.pool_size() > 1
    if pooled and pool.held_signal() is not None:
        log.info(f"not started: this sweep was asked to stop; the same command trains {run_dir}")
        return "not started"
    settings = validate(cfg)
    check_same_run(run_dir, cfg)
    if already_done(run_dir):
        return "skipped"
    check_writable(run_dir)
    first_process = rank_zero_only.rank == 0  # DDP's other processes rerun this command into the same folder
    lock = RunLock(run_dir) if first_process else None
    holder = lock.acquire() if lock else None
    if holder:
        log.info(f"running elsewhere: {describe_holder(holder)}; {run_dir} is left to it")
        return "running"
    stop = StopOnSignal(pooled)
    stop.install()
    try:
        if already_done(run_dir):  # finished by another process while this one waited for the lock
            return "skipped"
        return _train(cfg, settings, run_dir, stop, lock, first_process)
    except pool.StoppedEarly as early:
        log.info(f"{early}: {run_dir} has no new step; the same command starts it again")
        if pooled:
            return "interrupted"
        stop.pass_on()
        raise SystemExit(128 + early.signum) from None  # as if killed by the signal: a sweep stops too
    finally:
        stop.restore_handlers()
        if lock:
            lock.release()


def already_done(run_dir: Path) -> bool:
    previous = summary.read(run_dir) if (run_dir / summary.SUMMARY).is_file() else None
    if previous and previous["status"] in summary.USABLE:
        log.info(f"skip: {run_dir} is already {previous['status']} (test error {previous.get('final_test_error')}%)")
        return True
    return False


def _train(
    cfg: DictConfig,
    settings: TrainConfig,
    run_dir: Path,
    stop: StopOnSignal,
    lock: RunLock | None,
    first_process: bool,
) -> str:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    pool.share_cpu_cores()
    L.seed_everything(settings.seed, workers=False, verbose=False)
    datamodule = load_data(settings)
    if first_process:
        log.info(describe_source(datamodule.splits.source))
    net_config = settings.model
    module = build_module(settings)
    exposes_responses = bool(response_layers(module.net))
    if not exposes_responses:
        log.info(f"{net_config.describe()} exposes no 3x3 layer responses: no Figure 7 or diagnostics for this run")
    previous = previous_summary(run_dir)
    clock, final, code = (
        RunClock(),
        FinalMeasurements(),
        CodeVersions(provenance.code_version(), previous_code(previous)),
    )
    callbacks = [stop, RunCheckpoints(run_dir / checkpoints.CHECKPOINTS, settings.checkpoint_every), clock, code, final]
    if settings.diag_every and exposes_responses:
        callbacks.append(diagnostics.Diagnostics(run_dir, settings.diag_every, settings.data.batch_size))
    source = datamodule.splits.source
    record = summary.blank(
        arch=net_config.arch,
        depth=net_config.depth,
        shortcut=net_config.shortcut,
        dataset=settings.data.name,
        data=source,
        seed=settings.seed,
        params=count_parameters(module.net),
    )
    try:
        trainer = build_trainer(cfg, run_dir, callbacks + ([KeepLock(lock)] if lock else []))
    except Exception as err:  # no trainer here (a GPU asked for on a CPU): the run's summary says why
        if first_process:
            steps = (previous or {}).get("steps")
            steps = steps if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0 else 0
            atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(resolved))
            record_failure(run_dir, record, err, steps, clock.elapsed_s(), resolved)
        raise
    setting = checkpoints.made_record(source, trainer.strategy.root_device.type, trainer.precision)
    resume = resume_point(run_dir, first_process, net_config, module, previous, setting)
    if first_process:  # from here on the folder holds a run, which the report lists
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(resolved))
    run_loggers = []
    try:
        record["provenance"] = provenance.provenance(trainer.strategy.root_device, str(trainer.precision), code.current)
        study_id, _ = study_of({**record, "config": resolved}, record["data"])
        run_loggers = loggers.build_loggers(cfg, run_dir, run_id(cfg), f"study-{study_id}", resolved)
        trainer.loggers = run_loggers
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume[0]) if resume else None, weights_only=True)
    except SIGTERMException:
        pass  # Lightning's own SIGTERM exit; the run was checkpointed at this step
    except pool.StoppedEarly:
        raise  # before its first new step: the folder holds what it held
    except Exception as err:
        steps = max(trainer.global_step, resume[1] if resume else 0)
        if first_process:
            record_failure(run_dir, record, err, steps, clock.elapsed_s(), resolved)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            newest = checkpoints.newest_checkpoint(run_dir)[0]
            raise RunError(
                f"{run_dir} is out of space ({err.strerror}) at step {steps}: make room there (or move the folder "
                f"to a bigger disk) and run the same command again; the run resumes from its last checkpoint"
                f"{f' (step {newest.step})' if newest else ''}"
            ) from None
        raise
    if not trainer.is_global_zero:
        return "worker"
    status, error = final_status(module, stop, trainer, cfg, final)
    if status == "completed" and exposes_responses:
        write_responses(run_dir / "layer_responses.csv", final.responses)
    errors = {f"final_{split}_error": rounded(final.errors.get(f"{split}_error")) for split in ("train", "val", "test")}
    record.update(status=status, steps=trainer.global_step, **errors, wall_time_s=clock.elapsed_s(), config=resolved)
    if error:
        record["error"] = error
    record.update(module.divergence or {})
    record["provenance"]["code_history"] = code.record(trainer.global_step)
    summary.write(run_dir, record)
    loggers.finish(run_loggers, status, errors)
    log.info(
        f"{status}: {run_dir} after {trainer.global_step} steps, "
        + (f"test error {record['final_test_error']}%" if record["final_test_error"] is not None else "no test error")
    )
    if status == "interrupted":
        log.info(f"rerun the same command to resume from step {trainer.global_step}")
        if stop.signum is not None and not stop.pooled:  # a worker's sweep process stops the sweep
            stop.pass_on()
            raise SystemExit(128 + stop.signum)  # as if killed by the signal: a sweep stops too
    return status
