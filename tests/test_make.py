"""Every value a user gives to make reaches the program byte for byte, whatever it holds: make
does not expand it and the shell does not run it."""

import subprocess

import pytest

from commands import REPO

HOSTILE = [
    "back`touch MARKER`ticks",
    "sub $(touch MARKER) shell",
    "make $(shell touch MARKER) function",
    "dollar $HOME x",
    "quotes ' and \" x",
    "new\nline",
    "semi; touch MARKER",
]


def make(cwd, *args: str) -> subprocess.CompletedProcess:
    """`make -s -C REPO args` run from `cwd`: a MARKER file appears in one or the other if a value ran."""
    return subprocess.run(["make", "-s", "-C", str(REPO), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_folder_name_reaches_the_report_as_it_is(tmp_path, name):
    result = make(tmp_path, "plots", f"RUNS={tmp_path / name}", f"RESULTS={tmp_path / 'out'}")
    assert result.returncode != 0  # no runs there
    assert f"no runs found under {tmp_path / name}" in result.stderr, result.stderr
    assert not (tmp_path / "MARKER").exists() and not (REPO / "MARKER").exists()


def test_a_data_folder_name_reaches_the_program_as_it_is(tmp_path):
    name = "data $(touch MARKER) `touch MARKER` $HOME"
    result = make(tmp_path, "bench-data", f"DATA_DIR={tmp_path / name}")
    assert result.returncode != 0 and str(tmp_path / name) in result.stderr, result.stderr
    assert not (tmp_path / "MARKER").exists() and not (REPO / "MARKER").exists()
