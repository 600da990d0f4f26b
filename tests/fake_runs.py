"""Run folders as a finished run leaves them, written directly: the report's inputs, with the
numbers a test chooses."""

import json
from pathlib import Path

from study.paper import PARAMS


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
    norm_init: tuple[str, str] | None = None,
    signal_spread: tuple[float, float] | None = None,
) -> Path:
    """`norm_init`: the model's norm and init, recorded (runs from before they existed record
    none). `signal_spread`: a diagnostics.csv of one step whose layers' response std fall
    geometrically from 1 to 1 / the first number and gradient norms rise from 1 to the second."""
    run_dir = root / dataset / f"{arch}{depth}" / f"seed{seed}-{folder}"
    run_dir.mkdir(parents=True)
    config = {
        "seed": seed,
        "model": {"arch": arch, "depth": depth, "shortcut": shortcut, "unit": unit}
        | (dict(zip(("norm", "init"), norm_init)) if norm_init else {}),
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
    if signal_spread:
        response, gradient = (spread ** (1 / (n_layers - 1)) for spread in signal_spread)
        (run_dir / "diagnostics.csv").write_text(
            "step,layer,name,response_std,grad_norm\n"
            + "".join(f"0,{i + 1},l{i},{response**-i:.6g},{gradient**i:.6g}\n" for i in range(n_layers))
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
