"""The manual (README.md and docs/): its links lead somewhere, its numbers are the committed
results', and it cites what a user can reach."""

import csv
import re
import subprocess

import pytest

from commands import REPO
from study import docs
from study.docs import DocsError, regenerate

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {slug(m[1]) for m in re.finditer(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def test_every_relative_link_of_the_manual_leads_to_a_file_and_heading_that_exist():
    broken = []
    for doc in docs.documents():
        text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.DOTALL)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            name, _, anchor = target.partition("#")
            path = (doc.parent / name).resolve() if name else doc
            if not path.exists() or not path.is_relative_to(REPO):
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert not broken, broken


def test_the_manual_is_a_front_page_and_docs_pages():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    first_screen = "\n".join(readme.splitlines()[:40])
    assert re.search(r"!\[[^\]]*\]\(results/[^)]+\.png\)", first_screen), "a committed figure on the first screen"
    assert "| ours" in first_screen or "ours," in first_screen, "the results table on the first screen"


def test_the_manual_quotes_the_committed_results_as_they_are():
    """Every marked number and table equals what `python -m study.docs` makes of the committed files."""
    for doc in docs.documents():
        text = doc.read_text()
        assert regenerate(text, REPO, doc.name) == text, f"{doc.name} is out of date: run python -m study.docs"


def test_the_full_length_results_are_quoted_through_markers_only():
    """The numbers of the full-length runs appear in the manual only where a marker fills them."""
    with open(REPO / "results/cifar10-recipe-full/runs.csv", newline="") as f:
        numbers = {row["final_test_error"] for row in csv.DictReader(f) if row["final_test_error"]}
    assert numbers
    for doc in docs.documents():
        bare = docs.MARKER.sub("", doc.read_text())
        for number in numbers:
            assert not re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", bare), (
                f"{number} typed by hand in {doc.name}"
            )


def test_no_file_of_the_project_cites_a_file_its_users_do_not_have():
    name = "PAPER" + ".md"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    citing = [f for f in files if (REPO / f).is_file() and name in (REPO / f).read_text(errors="ignore")]
    assert not citing


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_value_marker_is_filled_from_its_row_and_formatted(tmp_path):
    write(tmp_path, "r/runs.csv", "arch,depth,err,wall\nplain,20,9.31,30981.01\nresnet,20,8.54,32626.81\n")
    text = (
        "ResNet <!-- value from r/runs.csv arch=resnet depth=20: err -->?<!-- end -->%, "
        "<!-- value from r/runs.csv depth=20: sum(wall) | hours -->?<!-- end --> h, "
        "<!-- value from r/runs.csv arch=plain: wall | thousands -->?<!-- end --> s"
    )
    assert regenerate(text, tmp_path) == (
        "ResNet <!-- value from r/runs.csv arch=resnet depth=20: err -->8.54<!-- end -->%, "
        "<!-- value from r/runs.csv depth=20: sum(wall) | hours -->17.7<!-- end --> h, "
        "<!-- value from r/runs.csv arch=plain: wall | thousands -->30,981<!-- end --> s"
    )


def test_a_table_marker_copies_the_first_table_under_its_heading(tmp_path):
    write(tmp_path, "r/report.md", "# R\n\n## Final errors (%)\n\ntext\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nmore\n")
    text = 'x <!-- table from r/report.md "## Final errors" -->old<!-- end --> y'
    assert regenerate(text, tmp_path) == (
        'x <!-- table from r/report.md "## Final errors" -->\n| a | b |\n|---|---|\n| 1 | 2 |\n<!-- end --> y'
    )


@pytest.mark.parametrize(
    "marker, message",
    [
        ("<!-- value from r/runs.csv depth=20: err -->?<!-- end -->", "pick 2 rows"),
        ("<!-- value from r/runs.csv arch=vgg: err -->?<!-- end -->", "pick 0 rows"),
        ("<!-- value from r/runs.csv arch=plain: speed -->?<!-- end -->", "no column 'speed'"),
        ("<!-- value from r/runs.csv arch=plain: err | days -->?<!-- end -->", "unknown format 'days'"),
        ("<!-- value from r/none.csv arch=plain: err -->?<!-- end -->", "no such file"),
        ("<!-- value from ../outside.csv arch=plain: err -->?<!-- end -->", "outside the checkout"),
        ("<!-- value from r/link.csv arch=plain: err -->?<!-- end -->", "outside the folder"),
        ('<!-- table from r/runs.csv "## Final" -->?<!-- end -->', "no heading"),
        ("<!-- table from r/runs.csv Final -->?<!-- end -->", "double quotes"),
    ],
)
def test_a_marker_that_cannot_be_filled_says_why_and_where(tmp_path, marker, message):
    repo = tmp_path / "repo"
    write(repo, "r/runs.csv", "arch,depth,err\nplain,20,9.31\nresnet,20,8.54\n")
    write(tmp_path, "outside.csv", "arch,err\nplain,1\n")
    (repo / "r/link.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(DocsError, match=message) as err:
        regenerate(f"text {marker}", repo, "README.md")
    assert str(err.value).startswith("README.md: ")
