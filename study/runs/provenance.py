"""What made a run, beside its config and data: the code version, libraries, hardware, threads and
precision; and how a report writes them.
"""

import functools
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["code_version", "provenance", "describe_code", "describe_code_history"]


@functools.cache
def code_version() -> dict:
    """The git commit of this checkout and whether its tracked files had changes; outside git, the
    installed package's version. Read once a process: a sweep's worker trains run after run with
    the code it loaded, whatever the checkout holds by then."""
    from importlib.metadata import PackageNotFoundError, version

    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=repo,
                capture_output=True,
                text=True,
                timeout=10,
            )
            return {"commit": commit.stdout.strip(), "changed": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return {"package": version("study")}
    except PackageNotFoundError:
        return {"package": None}


def provenance(device: "torch.device", precision: str, code: dict | None = None) -> dict:
    """What made a run, beside its config and data: code, libraries, hardware, precision."""
    import platform

    import lightning
    import torch
    import torchvision

    if device.type == "cuda":
        hardware = f"{torch.cuda.get_device_name(device)} (GPU)"
    else:
        model = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), None)
        # The kernels torch picks by instruction set round differently: the same run on an AVX2 and an
        # AVX-512 machine ends at other numbers (docs/PERFORMANCE.md), so the set is part of the device.
        isa = torch.backends.cpu.get_cpu_capability()
        hardware = f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores, {isa} (CPU)"
    return {
        "code": code or code_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        "device": hardware,
        "device_type": device.type,
        "threads": torch.get_num_threads(),
        "precision": precision,
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def describe_code(code) -> str | None:
    if not isinstance(code, dict):
        return None
    if code.get("commit"):
        return f"{str(code['commit'])[:10]}{' with changes' if code.get('changed') else ''}"
    return f"package {code.get('package')}"


def describe_code_history(made_by: dict) -> str | None:
    """The code a run was trained under: one version, or each with the step where it took over
    (a run resumed under newer code; study.callbacks.CodeVersions)."""
    history = made_by.get("code_history")
    if (
        isinstance(history, list)
        and len(history) > 1
        and all(
            isinstance(e, dict) and isinstance(e.get("from_step"), int) and not isinstance(e.get("from_step"), bool)
            for e in history
        )
    ):
        return ", then ".join(
            f"{describe_code(e.get('code')) or 'unknown code'} from step {e['from_step']:,}" for e in history
        )
    return describe_code(made_by.get("code"))
