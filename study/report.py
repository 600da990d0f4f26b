"""`python -m study.report [RUN_ROOT ...] --out DIR`: the paper's figures and tables from run logs.

    runs.csv, curves.csv          one row a run; one row a (run, step, split) error
    fig1, fig6, fig7 (.png, .pdf) Figures 1, 6 and 7 of the paper (fig_signals: section 4.1)
    table6.md / .csv / .tex       test errors beside the paper's
    final_errors.csv              training and test error per depth, plain beside ResNet
    reproductions.csv             test errors beside published runs of the recipe (its full length only)
    shortcuts, units, fixes       shortcut options, units, or normalisation and init side by side,
      (.md / .csv)                where the runs compare them
    report.md                     all of it, with a seed-aware verdict on each claim of section 4.2

What is read and how: study.results.collect; what is written: study.results.publish.
"""

import argparse
import sys
from pathlib import Path

from study.results.publish import PublishError, write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Figures and tables of the degradation study from run logs.")
    parser.add_argument(
        "roots", nargs="*", type=Path, default=[Path("runs")], help="run folders to read (default runs/)"
    )
    parser.add_argument("--out", type=Path, default=Path("results"), help="where to write (default results/)")
    parser.add_argument(
        "--ymax",
        type=float,
        help="upper limit of the error axes, percent (default: the paper's 20, or what fits the curves when "
        "they lie higher)",
    )
    parser.add_argument(
        "--published",
        action="append",
        default=[],
        metavar="LABEL=CSV",
        help="draw a published net's layer responses in Figure 7 beside the runs' (CSV: written by "
        "python -m study.evaluate --import NAME FILE --responses CSV); repeatable",
    )
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also upload each study's figures and Table 6 to wandb, into the group of its runs",
    )
    parser.add_argument("--wandb-project", default="resnet-degradation")
    parser.add_argument("--wandb-entity")
    parser.add_argument(
        "--wandb-mode",
        choices=["online", "offline"],
        default="offline",
        help="offline (default) writes wandb's files under --out for `wandb sync`",
    )
    args = parser.parse_args(argv)
    if args.ymax is not None and not 0 < args.ymax <= 100:  # NaN fails it too
        parser.error(f"--ymax {args.ymax}: give a percentage above 0 and at most 100 (the error axes' top)")
    published = {}
    for item in args.published:
        label, _, csv = item.partition("=")
        if not label.strip() or not csv:
            parser.error(f"--published {item!r}: write it as LABEL=CSV, e.g. 'ResNet-56 (akamaster)=responses.csv'")
        published[label.strip()] = Path(csv)
    upload = (
        {"project": args.wandb_project, "entity": args.wandb_entity, "mode": args.wandb_mode} if args.wandb else None
    )
    try:
        return write_report(args.roots, args.out, args.ymax, upload, published)
    except PublishError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a name too long, a full disk, a folder we may not write
        print(
            f"error: cannot write the report to {args.out} ({err.strerror or err}); the files of an earlier report "
            "there are as they were. Choose another --out, or make room",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
