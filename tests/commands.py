"""The project's real commands, run as a user runs them: in a process of their own (run_cli) or
through their main() in this process (run_main)."""

import logging
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
