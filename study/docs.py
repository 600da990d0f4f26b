"""`python -m study.docs [--check]`: the numbers of README.md and docs/ from the committed results.

Every number the manual quotes from a committed result sits between two markers that say where it
comes from, and this command rewrites what lies between them from that file, so a regenerated
report cannot leave the manual behind (`--check`, run by the tests, fails when it has):

    <!-- table from results/cifar10-mini/report.md "## Final errors" -->   the first Markdown table
    ...                                                                     under the heading that
    <!-- end -->                                                            begins with that text

    <!-- verdicts from results/cifar10-mini/report.md -->   each claim of a report with its verdict,
    ...                                                       one bullet a claim
    <!-- end -->

    <!-- value from results/cifar10-recipe-full/runs.csv arch=resnet depth=20: final_test_error -->8.54<!-- end -->

A value names a CSV file, the `column=value` filters that pick its row, and the column; `sum(col)`
adds the column over every row the filters pick, and `| hours`, `| minutes`, `| thousands` or
`| 2dp` formats the number (seconds to hours with one decimal, to whole minutes; 30981 as 30,981;
`| 2dp`: 69.8 as 69.80).
Sources must be regular files inside the checkout.
"""

import argparse
import csv
import re
import shlex
import sys
from pathlib import Path

from study.fileio import UnsafeFile, atomic_write_text, inside

__all__ = ["DocsError", "regenerate", "documents", "main"]

REPO = Path(__file__).resolve().parents[1]

MARKER = re.compile(r"<!-- (table|verdicts|value) from (.+?) -->(.*?)<!-- end -->", re.DOTALL)
VALUE_SPEC = re.compile(r"^(?P<path>\S+)(?P<filters>(?: \S+=\S+)*): (?P<column>\S+?)(?: \| (?P<fmt>\w+))?$")
FORMATS = {
    "hours": lambda x: f"{x / 3600:.1f}",
    "minutes": lambda x: f"{x / 60:.0f}",
    "thousands": lambda x: f"{x:,.0f}",
    "2dp": lambda x: f"{x:.2f}",
}


class DocsError(ValueError):
    """A marker that cannot be filled; the message names the document, the marker and why."""


def documents(repo: Path = REPO) -> list[Path]:
    """README.md and every page of docs/: the manual."""
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def _source(repo: Path, name: str) -> Path:
    """`repo/name`, a regular file whose real path stays inside the checkout."""
    try:
        path = inside(repo, name)
        if path is not None and not path.resolve().is_relative_to(Path(repo).resolve()):
            raise UnsafeFile(f"{name} leads outside the checkout")
    except UnsafeFile as err:
        raise DocsError(f"{name}: {err}") from None
    if path is None:
        raise DocsError(f"{name}: no such file in the checkout")
    return path


def _table(repo: Path, spec: str) -> str:
    path, _, heading = spec.partition(" ")
    heading = heading.strip()
    if not (heading.startswith('"') and heading.endswith('"') and len(heading) > 2):
        raise DocsError(f'table from {spec}: name the heading in double quotes, e.g. "## Final errors"')
    heading = heading[1:-1]
    lines = _source(repo, path).read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if start is None:
        raise DocsError(f"table from {spec}: {path} has no heading that begins with {heading!r}")
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    if not table:
        raise DocsError(f"table from {spec}: no table under {heading!r} in {path}")
    return "\n" + "\n".join(table) + "\n"


def _verdicts(repo: Path, path: str) -> str:
    lines = _source(repo, path).read_text().splitlines()
    # "### 1. Plain nets: ..." as "claim 1: Plain nets: ...", so the bullet is not read as a numbered list
    claims = [
        re.sub(r"^(\d+)\. ", r"claim \1: ", line[4:]) for line in lines if line.startswith("### ") and "**" in line
    ]
    if not claims:
        raise DocsError(f"verdicts from {path}: {path} holds no verdicts (### headings with a **verdict**)")
    return "\n" + "".join(f"- {claim}\n" for claim in claims)


def _number(text: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DocsError(f"value from {spec}: {text!r} is not a number") from None


def _value(repo: Path, spec: str) -> str:
    match = VALUE_SPEC.match(spec)
    if not match:
        raise DocsError(f"value from {spec}: write it as PATH key=value ...: COLUMN [| {'|'.join(FORMATS)}]")
    path, column, fmt = match["path"], match["column"], match["fmt"]
    filters = dict(item.split("=", 1) for item in shlex.split(match["filters"]))
    summed = re.fullmatch(r"sum\((\S+)\)", column)
    column = summed[1] if summed else column
    with open(_source(repo, path), newline="") as f:
        rows = list(csv.DictReader(f))
    for key in [*filters, column]:
        if rows and key not in rows[0]:
            raise DocsError(f"value from {spec}: {path} has no column {key!r}")
    picked = [row for row in rows if all(row[k] == v for k, v in filters.items())]
    if not picked or (len(picked) > 1 and not summed):
        raise DocsError(f"value from {spec}: the filters pick {len(picked)} rows of {path}; a value needs one")
    if fmt is not None and fmt not in FORMATS:
        raise DocsError(f"value from {spec}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if summed:
        total = sum(_number(row[column], spec) for row in picked)
        return FORMATS[fmt](total) if fmt else f"{total:g}"
    text = picked[0][column]
    return FORMATS[fmt](_number(text, spec)) if fmt else text


def regenerate(text: str, repo: Path = REPO, where: str = "") -> str:
    """`text` with every marked table and value filled from its source."""

    def fill(match: re.Match) -> str:
        kind, spec = match[1], match[2]
        try:
            body = {"table": _table, "verdicts": _verdicts, "value": _value}[kind](repo, spec)
        except OSError as err:
            raise DocsError(f"{where}: {kind} from {spec}: {err.strerror or err}") from None
        except DocsError as err:
            raise DocsError(f"{where}: {err}") from None
        return f"<!-- {kind} from {spec} -->{body}<!-- end -->"

    return MARKER.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fill the manual's marked numbers from the committed results.")
    parser.add_argument("--check", action="store_true", help="change nothing; fail if a document is out of date")
    args = parser.parse_args(argv)
    stale = []
    try:
        for doc in documents():
            text = doc.read_text()
            new = regenerate(text, REPO, doc.relative_to(REPO).as_posix())
            if new != text:
                stale.append(doc.relative_to(REPO).as_posix())
                if not args.check:
                    atomic_write_text(doc, new)
    except DocsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if stale and args.check:
        print(f"out of date: {', '.join(stale)}; run `python -m study.docs`", file=sys.stderr)
        return 1
    print(f"{'rewrote' if stale else 'up to date:'} {', '.join(stale) or 'README.md and docs/'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
