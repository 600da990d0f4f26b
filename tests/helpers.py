"""Test helpers: tiny CIFAR-10 copies in each on-disk layout the loader accepts (torchvision's
pickles, the binary version, PNG and JPEG image folders), written from the same arrays, and a way
to run the real CLI on them. The fixtures' md5s cannot match the real files', so runs on them set
data.verify_checksums=false, as a user with a re-pickled copy would."""

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from study.bench_data import write_binary, write_pickles  # noqa: F401 (the tests' layout writers)
from study.bench_data import write_image_folders as write_image_folders_as_named
from study.paper import PARAMS

REPO = Path(__file__).resolve().parents[1]


def class_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """32x32 RGB images (N, H, W, C) whose class shows as a colour and a stripe, plus noise:
    learnable in a few steps."""
    n = len(labels)
    images = rng.integers(0, 200, size=(n, 3, 32, 32), dtype=np.int64)
    for i, label in enumerate(labels):
        images[i, label % 3] += 30
        images[i, :, 3 * label : 3 * label + 3, :] += 25
    return np.clip(images, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def fixture_arrays(n_train: int = 500, n_test: int = 200, seed: int = 0, classes: int = 10) -> dict:
    """{split: (images NHWC uint8, labels int64)}; every class appears in both splits."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.concatenate([np.arange(classes), rng.integers(0, classes, size=n - classes)]).astype(np.int64)
        arrays[split] = (class_images(labels, rng), labels)
    return arrays


def write_image_folders(root: Path, arrays: dict, suffix: str = ".png") -> Path:
    """Image folders with class folders in mixed case, as exporters vary."""
    return write_image_folders_as_named(
        root, arrays, suffix, lambda name, label: name.capitalize() if label % 2 else name
    )


def in_folder_order(arrays: dict) -> dict:
    """The arrays as image folders list them: by class, then by original index."""
    out = {}
    for split, (images, labels) in arrays.items():
        order = np.argsort(labels, kind="stable")
        out[split] = (images[order], labels[order])
    return out


def make_fake_cifar10(root: Path, n_train: int = 500, n_test: int = 200, seed: int = 0) -> Path:
    return write_pickles(root, fixture_arrays(n_train, n_test, seed))


def cli_env(extra: dict | None = None) -> dict:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    # One thread a process: the tiny nets gain nothing from more, and parallel test runs stay fast.
    return {
        **os.environ,
        "PYTHONPATH": path,
        "PYTHONUNBUFFERED": "1",
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "OMP_NUM_THREADS": "1",
        **(extra or {}),
    }


def run_cli(
    module: str, *args: str, cwd: Path | None = None, timeout: int = 600, check: bool = False, env: dict | None = None
) -> subprocess.CompletedProcess:
    """`python -m module args` in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or REPO,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{module} {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def run_main(module: str, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    """`python -m module args` run in this process, through the module's `main(argv)`: the same
    code as run_cli without a new interpreter's start-up (seconds here). For the commands whose
    start-up, environment or signals are not what a test is about."""
    import contextlib
    import importlib
    import io

    import torch

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv  # argparse and Hydra alike read the command line from here
    threads = torch.get_num_threads()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # Hydra sets its own; the next test gets these back
    torch.set_num_threads(1)  # as run_cli's processes: the same numbers, whichever way a run is trained
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            # Hydra finds conf/ beside the entry script only when it runs as __main__
            hydra_conf = ["--config-path", str(REPO / "conf")] if module == "study.train" else []
            sys.argv = [module, *hydra_conf, *args]
            code = importlib.import_module(module).main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) or exit_.code is None else 1
        finally:
            sys.argv = argv
            torch.set_num_threads(threads)
            for handler in [h for h in root.handlers if h not in handlers]:
                handler.close()
            root.handlers[:] = handlers
            root.setLevel(level)
    code = code if isinstance(code, int) else 0  # Hydra's main returns the run's status
    result = subprocess.CompletedProcess([module, *args], code or 0, out.getvalue(), err.getvalue())
    if check and result.returncode != 0:
        raise AssertionError(f"{module} {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV a run wrote (metrics.csv, diagnostics.csv, layer_responses.csv)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def tiny_run_args(cifar_root: Path, runs_root: Path, *extra: str) -> list[str]:
    """A run of a few steps on the fixture, small enough for the CPU in seconds."""
    return [
        f"data.root={cifar_root}",
        "data.download=false",
        "data.verify_checksums=false",
        "data.expected_counts=null",
        f"runs_root={runs_root}",
        "data.batch_size=32",
        "trainer.max_steps=6",
        "log_every=2",
        "eval_every=3",
        "checkpoint_every=3",
        "optim.milestones=[4,5]",
        "trainer.enable_progress_bar=false",
        *extra,
    ]


def wandb_records(path: Path) -> list:
    """The records of a wandb run file (`run-*.wandb`, offline mode): wandb's protobuf messages in
    a leveldb-style log (7-byte file header, 32 KiB blocks, each record: crc, length, type)."""
    from wandb.proto import wandb_internal_pb2 as pb

    raw, header, block = Path(path).read_bytes(), 7, 32768
    assert raw[:4] == b":W&B", f"{path} is not a wandb run file"
    records, pos, parts = [], header, b""
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # too little room left in the block for a record header: padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(raw[pos + 4 : pos + 6], "little"), raw[pos + 6]
        if kind == 0:
            break
        parts += raw[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last part of one
            record = pb.Record()
            record.ParseFromString(parts)
            records.append(record)
            parts = b""
    return records


def compose_config(*overrides: str):
    """The app's config for these overrides, composed as `python -m study.train` would."""
    from hydra import compose, initialize_config_dir

    from study.training.config import register_resolvers

    register_resolvers()
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return compose("train", list(overrides))


def stopped_at_step(step: int):
    """A StopOnSignal that acts as if SIGTERM came at `step` (monkeypatch it into study.training.run)."""
    import signal

    from study.training.callbacks import StopOnSignal

    class StopAtStep(StopOnSignal):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == step:
                self.signum = signal.SIGTERM
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    return StopAtStep


def train_in_process(cifar_root: Path, runs_root: Path, *extra: str) -> tuple[str, Path]:
    """(status, run folder) of a tiny run trained in this process by `study.train.train`."""
    from study.runs.identity import run_id
    from study.training.run import train

    cfg = compose_config(*tiny_run_args(cifar_root, runs_root, *extra))
    run_dir = Path(runs_root) / run_id(cfg)
    return train(cfg, run_dir), run_dir


def fake_run(
    root: Path,
    arch: str,
    depth: int,
    seed: int = 0,
    train: float = 5.0,
    test: float = 8.0,
    status: str = "completed",
    steps: int = 600,
    dataset: str = "cifar10",
    shortcut: str = "A",
    copy: str = "c0ffee",
    folder: str = "fake",
    max_steps: int = 600,
    unit: str = "original",
) -> Path:
    run_dir = root / dataset / f"{arch}{depth}" / f"seed{seed}-{folder}"
    run_dir.mkdir(parents=True)
    config = {
        "seed": seed,
        "model": {"arch": arch, "depth": depth, "shortcut": shortcut, "unit": unit},
        "data": {"name": dataset, "root": f"/somewhere/{folder}"},
        "trainer": {"max_steps": max_steps},
    }
    data = {"layout": "image folders", "image_format": "jpeg", "content": copy, "reencoded": True}
    provenance = {
        "code": {"commit": "0123456789abcdef" * 2 + "01234567", "changed": False},
        "device": "AMD EPYC, 2 cores (CPU)",
        "precision": "32-true",
        "threads": 2,
    }
    summary = {
        "status": status,
        "arch": arch,
        "depth": depth,
        "shortcut": shortcut,
        "dataset": dataset,
        "seed": seed,
        "params": PARAMS.get(depth, 1),
        "steps": steps,
        "final_train_error": train,
        "final_val_error": None,
        "final_test_error": test,
        "wall_time_s": 12.5,
        "config": config,
        "data": data,
        "provenance": provenance,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    lines = ["lr,step,test_error,train_error"]
    for step in range(100, steps + 1, 100):
        lines.append(f"0.1,{step},,{train + 30 * (1 - step / steps):.2f}")
        lines.append(f",{step},{test + 30 * (1 - step / steps):.2f},")
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    n_layers = depth - 1
    (run_dir / "layer_responses.csv").write_text(
        "layer,name,std\n"
        + "".join(f"{i + 1},l{i},{(2.0 if arch == 'plain' else 1.0) / (1 + i % 3)}\n" for i in range(n_layers))
    )
    return run_dir


def study_runs(
    root: Path, plain_train=(3.0, 5.0, 7.0, 9.0), resnet_test=(8.5, 7.4, 7.0, 6.8), seeds=(0,), spread: float = 0.2
) -> None:
    """Plain and ResNet 20-56; each seed's errors differ from the given ones by up to `spread`."""
    for depth, p_train, r_test in zip((20, 32, 44, 56), plain_train, resnet_test):
        for seed in seeds:
            jitter = spread * ((seed % 3) - 1)
            fake_run(root, "plain", depth, seed=seed, train=p_train + jitter, test=p_train + 6 + jitter)
            fake_run(root, "resnet", depth, seed=seed, train=r_test - 5 + jitter, test=r_test + jitter)
