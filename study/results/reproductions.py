"""A study's final test errors beside the published runs of the paper's recipe on CIFAR-10
(study.paper): the paper's Table 6, a reproduction of the recipe over five seeds, akamaster's
pretrained ResNets. A study is held against them only where it trains the paper's nets with that
recipe on the original pixels; any other study is told what it changes, and nothing is compared.

One run of ours is compared with the five-seed mean by the interval a sixth seed of the
reproduction would fall in (stats.prediction_interval); two runs or more by Welch's interval.
"""

import pandas as pd

from study import paper
from study.results.stats import Stats, config_stats, interval, prediction_interval
from study.results.tables import NetFamily, fmt, fmt_spread, markdown_table, md
from study.runs.identity import flat_items

#: Where a run's config holds each fact of the paper's recipe (paper.RECIPE).
RECIPE_KEYS = {
    "batch_size": "data.batch_size",
    "lr": "optim.lr",
    "momentum": "optim.momentum",
    "weight_decay": "optim.weight_decay",
    "milestones": "optim.milestones",
    "lr_gamma": "optim.gamma",
    "max_steps": "trainer.max_steps",
    "warmup_lr": "optim.warmup_lr",
    "warmup_until_train_error": "optim.warmup_until_train_error",
    "pad": "data.pad",
}

#: The published runs train on all 50,000 training images: no subset, no validation split.
FULL_TRAINING_SET = {"data.train_subset": None, "data.val_split": 0}

WITHIN, DIFFERS = "within seed noise", "differs"


def same(ours, theirs) -> bool:
    if isinstance(theirs, tuple):
        return isinstance(ours, list | tuple) and list(ours) == list(theirs)
    return not isinstance(ours, bool) and ours == theirs


def shown(value) -> str:
    """A recipe value as a config prints it ([32000, 48000], not a tuple)."""
    return str(list(value)) if isinstance(value, tuple) else str(value)


def recipe_departures(shared: dict) -> list[str]:
    """What a study (collect's shared dict: dataset, config, data) changes of the published runs'
    setting, one phrase each; none for the paper's recipe on the original CIFAR-10 pixels."""
    config = flat_items(shared.get("config") or {})
    changes = [
        f"{key}={config.get(key)} (the paper's {shown(paper.RECIPE[fact])})"
        for fact, key in RECIPE_KEYS.items()
        if not same(config.get(key), paper.RECIPE[fact])
    ]
    changes += [
        f"{key}={config[key]} (the published runs train on all 50,000 images)"
        for key, value in FULL_TRAINING_SET.items()
        if config.get(key, value) != value
    ]
    if config.get("model.shortcut", paper.PAPER_CHOICES["shortcut"]) != paper.PAPER_CHOICES["shortcut"]:
        changes.append(f"model.shortcut={config['model.shortcut']} (the paper's {paper.PAPER_CHOICES['shortcut']})")
    if shared.get("dataset") != "cifar10":
        changes.append(f"the dataset {shared.get('dataset')} (theirs CIFAR-10)")
    if (shared.get("data") or {}).get("reencoded"):
        changes.append("a re-encoded copy of the images (theirs the original pixels)")
    return changes


def against(ours: Stats | None, reproduction: Stats | None) -> tuple[float | None, float | None, float | None, str]:
    """(ours − reproduction, its 95% interval, the word) for one net; Nones and a reason where
    either side is missing."""
    if reproduction is None:
        return None, None, None, "no reproduction published"
    if ours is None:
        return None, None, None, "no finished run"
    d, low, high = (
        prediction_interval(ours.mean, reproduction) if ours.n == 1 else interval([(1, ours), (-1, reproduction)])
    )
    return d, low, high, WITHIN if low <= 0 <= high else DIFFERS


def reproduction_table(table: pd.DataFrame, family: NetFamily) -> pd.DataFrame:
    """Per net of the study with a published figure: our final test error, mean ± std (n), beside
    the five-seed reproduction (ours − theirs, its interval and word), Table 6 and akamaster."""
    ours = config_stats(table, "final_test_error")
    rows = []
    for arch in ("plain", "resnet"):
        for depth in sorted(set(table[table.arch == arch].depth)):
            published = paper.REPRODUCTION_TEST_ERROR.get((arch, depth))
            reproduction = Stats(*published, paper.REPRODUCTION_SEEDS) if published else None
            table6 = family.published(arch, depth)
            akamaster = paper.AKAMASTER_TEST_ERROR.get(depth) if arch == "resnet" else None
            if reproduction is None and table6 is None and akamaster is None:
                continue
            mine = ours.get((arch, int(depth)))
            d, low, high, word = against(mine, reproduction)
            rows.append(
                {
                    "net": paper.net_name(arch, depth),
                    "ours_mean": round(mine.mean, 2) if mine else None,
                    "ours_std": round(mine.std, 2) if mine and mine.n > 1 else None,
                    "ours_n": mine.n if mine else 0,
                    "reproduction_mean": published[0] if published else None,
                    "reproduction_std": published[1] if published else None,
                    "ours_minus_reproduction": None if d is None else round(d, 2),
                    "interval_low": None if low is None else round(low, 2),
                    "interval_high": None if high is None else round(high, 2),
                    "verdict": word,
                    "table6": table6,
                    "akamaster_best_epoch": akamaster,
                }
            )
    return pd.DataFrame(rows)


def reproduction_markdown(t: pd.DataFrame) -> str:
    columns = [
        ("net", "<"),
        ("ours, mean ± std (n)", ">"),
        ("reproduction, 5 seeds", ">"),
        ("ours − reproduction, 95% interval", "<"),
        ("Table 6", ">"),
        ("akamaster, best epoch", ">"),
    ]
    rows = []
    for r in t.itertuples():
        ours = fmt_spread(r.ours_mean, r.ours_std, r.ours_n) if r.ours_n else "no finished run"
        theirs = "—" if pd.isna(r.reproduction_mean) else f"{r.reproduction_mean:.2f} ± {r.reproduction_std:.2f}"
        difference = (
            r.verdict
            if pd.isna(r.ours_minus_reproduction)
            else f"{r.ours_minus_reproduction:+.2f} [{r.interval_low:+.2f}, {r.interval_high:+.2f}]: {r.verdict}"
        )
        rows.append(
            [r.net, ours, theirs, difference, "—" if pd.isna(r.table6) else r.table6, fmt(r.akamaster_best_epoch)]
        )
    return markdown_table(columns, rows)


def reproduction_section(table: pd.DataFrame, shared: dict, family: NetFamily) -> tuple[pd.DataFrame | None, list[str]]:
    """(the table, or None; report.md's lines) for a study of the paper's nets; no lines for any other."""
    if not family.is_papers:
        return None, []
    heading = ["## Against published runs of the recipe (CIFAR-10 test error, %, at the last step)", ""]
    changes = recipe_departures(shared)
    if changes:
        return None, heading + [
            "Not compared: the published runs (the paper's Table 6, a five-seed reproduction of its recipe, "
            "akamaster's nets) train the paper's recipe on the original pixels; this study changes "
            f"{md('; '.join(changes))}.",
            "",
        ]
    t = reproduction_table(table, family)
    if t.empty:
        return None, []
    return t, heading + [
        reproduction_markdown(t),
        "One run of ours is set against the interval a sixth seed of the five-seed reproduction would fall in; "
        "two runs or more against it by Welch's interval. Sources: Table 6 is the paper's (arXiv:1512.03385; "
        "ResNet-110: best of 5); the reproduction is the public repository nabla0001/resnet (mean ± std of five "
        "seeds, as its README reports them); akamaster's nets are akamaster/pytorch_resnet_cifar10's, the best of "
        "200 epochs, chosen on the test set, so optimistic.",
        "",
    ]
