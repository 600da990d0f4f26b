"""The paper's claims, each with a seed-aware verdict (study.results.stats) from the runs' numbers:

- section 4.2 (Figures 1, 6 and 7, Table 6): `paper_claims`;
- section 4.1, that plain nets do not degrade because signals vanish, from diagnostics.csv:
  `signal_claims` (forward: every layer's response keeps a non-zero std; backward: the layers'
  gradient norms stay within a bounded range of each other);
- the shortcut options' ordering of Table 3 (found on ImageNet): `shortcut_claim`;
- He et al. 2016's finding that pre-activation units lower a ResNet's test error: `unit_claim`;
- what later work asks of section 4.1, with nets without BN or with branches that start at zero:
  `fix_claims` (without BN and without a shortcut depth hurts far more, and the diagnostics show
  the signals that BN keeps in range spreading; with a shortcut, Fixup and SkipInit nets need no BN
  to avoid degradation).

Each returns (claim, verdict, detail lines).
"""

import math

import pandas as pd

from study import paper
from study.paper import fix_name, net_name
from study.results.stats import (
    CONTRADICTED,
    INDICATIVE,
    MISSING,
    REPRODUCED,
    compare,
    config_stats,
    interval,
    stats_of,
    weakest,
)
from study.runs.summary import USABLE

#: Forward criterion: every 3x3 layer's response std stays above this (BN makes it 1 at the start).
RESPONSE_FLOOR = 0.01
#: Backward criterion: the largest layer gradient norm over the smallest stays below this.
GRADIENT_RANGE = 100.0
#: Where Table 3 found its ordering of the shortcut options.
SHORTCUT_FINDING = "on ImageNet (Table 3): B slightly better than A, C marginally better than B"
#: How the unit claim names each unit.
UNIT_NAMES = {"original": "original", "preact": "pre-activation"}
#: The (norm, init) of the paper's nets, and of the norm-free nets the fix claims set beside them.
WITH_BN, WITHOUT_BN = ("batch", "he"), ("none", "he")
#: The residual nets without BN that the second fix claim judges.
NORM_FREE_FIXES = (("none", "fixup"), ("none", "skipinit"))


def depth_pairs(stats: dict, arch: str, depths) -> list[tuple[int, int]]:
    present = [d for d in depths if (arch, d) in stats]
    return list(zip(present, present[1:]))


def ordered_claim(
    stats: dict, arch: str, depths, paper_sign: int, what: str, unit: str = " points"
) -> tuple[str, list[str]]:
    """Each deeper net of `arch` has a higher (+1) or lower (-1) `what` than the next shallower one."""
    pairs = depth_pairs(stats, arch, depths)
    if not pairs:
        found = [d for d in depths if (arch, d) in stats]
        return MISSING, [
            f"{arch}: finished runs at {len(found)} of the depths {', '.join(map(str, depths))}; two are needed"
        ]
    words, lines = [], []
    for a, b in pairs:
        word, numbers = compare([(1, stats[(arch, b)]), (-1, stats[(arch, a)])], paper_sign, unit)
        words.append(word)
        shallow, deep = stats[(arch, a)], stats[(arch, b)]
        lines.append(f"{net_name(arch, a)} -> {net_name(arch, b)} {what}: {shallow} -> {deep}; {numbers}: {word}")
    return weakest(words), lines


def paper_claims(
    table: pd.DataFrame, responses: pd.DataFrame | None = None, depths: tuple | None = None
) -> list[tuple[str, str, list[str]]]:
    """(claim with its figure, verdict, detail lines) for each claim of section 4.2. `depths`: the
    depths a study of other nets than the paper's compares (claims 1-3 and 5); None, the paper's
    grid and its claims about ResNet-110 and 1202 as well."""
    train, test = config_stats(table, "final_train_error"), config_stats(table, "final_test_error")
    plain_depths = resnet_depths = paper.DEPTHS_TO_110 if depths is None else tuple(depths)
    upto = "up to 110 layers" if depths is None else "of this study"
    out = [
        (
            "1. Plain nets: each deeper net ends with a higher training error (Fig. 1, Fig. 6 left)",
            *ordered_claim(train, "plain", plain_depths, +1, "training error"),
        )
    ]

    word_train, lines_train = ordered_claim(train, "resnet", resnet_depths, -1, "training error")
    word_test, lines_test = ordered_claim(test, "resnet", resnet_depths, -1, "test error")
    out.append(
        (
            f"2. ResNets {upto}: depth lowers the training and the test error (Fig. 6 middle, Table 6)",
            weakest([word_train, word_test]),
            list(dict.fromkeys(lines_train + lines_test)),
        )
    )

    twins = [d for d in plain_depths if ("plain", d) in test and ("resnet", d) in test]
    words, lines = [], []
    for d in twins:
        word, numbers = compare([(1, test[("resnet", d)]), (-1, test[("plain", d)])], -1)
        words.append(word)
        lines.append(
            f"{d} layers, ResNet minus plain test error: {test[('resnet', d)]} vs {test[('plain', d)]}; "
            f"{numbers}: {word}"
        )
    for a, b in zip(twins, twins[1:]):  # the margin plain - resnet grows with depth
        terms = [(1, test[("plain", b)]), (-1, test[("resnet", b)]), (-1, test[("plain", a)]), (1, test[("resnet", a)])]
        word, numbers = compare(terms, +1)
        words.append(word)
        lines.append(f"margin (plain minus ResNet) from {a} to {b} layers: {numbers}: {word}")
    if not twins:
        lines.append("no depth has finished runs of both a plain net and its ResNet twin")
    out.append(
        (
            "3. At each depth the ResNet beats its plain twin on test error, and the margin grows with depth",
            weakest(words),
            lines,
        )
    )

    if depths is not None:
        return out + [(RESPONSES_CLAIM, *response_claim(table, responses, depths))]
    r110, r1202 = ("resnet", 110), ("resnet", 1202)
    word, numbers = compare([(1, test.get(r1202)), (-1, test.get(r110))], +1)
    lines = [
        f"test error: ResNet-110 {test.get(r110) or 'no runs'}, ResNet-1202 {test.get(r1202) or 'no runs'}; "
        f"{numbers}: {word}"
    ]
    if r110 in train and r1202 in train:
        lines.append(
            f"training error (the paper: alike): ResNet-110 {train[r110]}, ResNet-1202 {train[r1202]}; "
            f"{compare([(1, train[r1202]), (-1, train[r110])], +1)[1]}"
        )
    out.append(("4. ResNet-1202 trains like ResNet-110 but tests worse: overfitting (Fig. 6 right)", word, lines))

    out.append((RESPONSES_CLAIM, *response_claim(table, responses)))
    out.append(
        ("6. ResNet-110 over 5 seeds: 6.61 ± 0.16% test error, best 6.43% (Table 6)", *resnet110_claim(test, table))
    )
    return out


RESPONSES_CLAIM = (
    "5. Layer responses: a ResNet's are smaller than its plain twin's, and a deeper ResNet's smaller (Fig. 7)"
)


def response_claim(
    table: pd.DataFrame, responses: pd.DataFrame | None, resnet_depths: tuple | None = None
) -> tuple[str, list[str]]:
    """On each run's mean layer-response std (Figure 7's curves averaged over the layers), ResNets
    compared across Figure 7's depths or `resnet_depths`."""
    if responses is None or responses.empty:
        return MISSING, ["no run has layer_responses.csv"]
    stats = config_stats(table.merge(responses, on="run_dir"), "response_std")
    words, lines = [], []
    for d in sorted(d for arch, d in stats if arch == "plain" and ("resnet", d) in stats):
        word, numbers = compare([(1, stats[("resnet", d)]), (-1, stats[("plain", d)])], -1, unit="")
        words.append(word)
        lines.append(
            f"{d} layers, mean response std: ResNet {stats[('resnet', d)]} vs plain {stats[('plain', d)]}; "
            f"{numbers}: {word}"
        )
    figure7_resnets = resnet_depths or [d for arch, d in paper.FIGURE7_NETS if arch == "resnet"]
    if len([d for arch, d in stats if arch == "resnet" and d in figure7_resnets]) >= 2:
        word, more = ordered_claim(stats, "resnet", figure7_resnets, -1, "mean response std", unit="")
        words.append(word)
        lines += more
    return (weakest(words) if words else MISSING), lines or [
        "no depth has layer responses of both a plain net and its ResNet twin"
    ]


def resnet110_claim(test: dict, table: pd.DataFrame) -> tuple[str, list[str]]:
    """Our ResNet-110 mean against the paper's: "reproduced" when the interval of the difference
    holds zero, "contradicted" when it does not."""
    mean_paper, std_paper = paper.TABLE6_RESNET110_MEAN_STD
    ours = test.get(("resnet", 110))
    if ours is None:
        return MISSING, ["no finished ResNet-110 run"]
    best = table[(table.arch == "resnet") & (table.depth == 110) & table.status.isin(USABLE)].final_test_error.min()
    if ours.n < 2:
        word, numbers = INDICATIVE, "one seed: no interval"
    else:
        d, low, high = interval([(1, ours)])
        d, low, high = d - mean_paper, low - mean_paper, high - mean_paper
        word = REPRODUCED if low <= 0 <= high else CONTRADICTED
        numbers = f"ours minus the paper's mean {d:+.2f} points, 95% interval [{low:+.2f}, {high:+.2f}]"
    lines = [
        f"ours {ours} against the paper's {mean_paper:.2f} ± {std_paper:.2f} (5); {numbers}: {word}",
        f"best of ours {best:.2f}% against the paper's {paper.TABLE6_TEST_ERROR[110]:.2f}%",
    ]
    if ours.n < 5:
        lines.append(f"{ours.n} of the paper's 5 seeds (SEEDS=0,1,2,3,4 runs them)")
    return word, lines


def per_run(table: pd.DataFrame, diagnostics: dict) -> pd.DataFrame:
    """One row a run with diagnostics: its smallest response std, and the largest spread of its
    layers' gradient norms and of their response std (largest over smallest) over all measured
    steps (worst_spread); and how many steps were left out for an infinite or NaN signal
    (collect.read_diagnostics)."""
    rows = []
    for r in table.itertuples():
        d = diagnostics.get(r.run_dir)
        if d is None:
            continue
        rows.append(
            {
                "run_dir": r.run_dir,
                "arch": r.arch,
                "depth": int(r.depth),
                "seed": r.seed,
                "min_response_std": float(d.response_std.min()),
                "gradient_range": worst_spread(d, "grad_norm"),
                "response_spread": worst_spread(d, "response_std"),
                "steps_left_out": int(d.steps_left_out.iloc[0]) if "steps_left_out" in d else 0,
            }
        )
    return pd.DataFrame(rows, columns=["run_dir", "arch", "depth", "seed", *PER_RUN_SIGNALS, "steps_left_out"])


#: What per_run measures on each run's diagnostics.
PER_RUN_SIGNALS = ("min_response_std", "gradient_range", "response_spread")


def left_out_lines(runs: pd.DataFrame) -> list[str]:
    """A line for each run (per_run) whose signals overflowed or turned NaN at some measured steps:
    those steps are in none of its numbers, and an explosion there is not judged."""
    return [
        f"{r.run_dir}: {r.steps_left_out} measured step(s) with an infinite or NaN signal are not in these "
        "numbers (listed under 'Left out')"
        for r in runs[runs.steps_left_out > 0].itertuples()
    ]


def worst_spread(diagnostics: pd.DataFrame, column: str) -> float:
    """The largest, over the measured steps, of the largest layer's `column` over the smallest's
    among the layers where it is above zero; infinite where it is nowhere above zero."""
    positive = diagnostics[diagnostics[column] > 0]
    if positive.empty:
        return math.inf
    values = positive.groupby("step")[column]
    return float((values.max() / values.min()).max())


def value_range(values: pd.Series) -> str:
    """ "low to high" in the fewest significant digits, 3 at least, that tell the two apart (BN keeps
    a response's std near 1, so three digits often print "1 to 1"); one number when all are equal."""
    low, high = values.min(), values.max()
    for digits in range(3, 7):
        a, b = f"{low:.{digits}g}", f"{high:.{digits}g}"
        if a != b:
            return f"{a} to {b}"
    return a


def signal_claims(table: pd.DataFrame, diagnostics: dict) -> list[tuple[str, str, list[str]]]:
    """(claim, verdict, details) for the forward and the backward signal claims, from finished runs
    as every verdict is (an unfinished run's figure shows what it measured so far)."""
    runs = per_run(table[table.status.isin(USABLE)], diagnostics)
    plain = runs[runs.arch == "plain"]
    out = []
    for claim, column, score, criterion in (
        (
            "Forward signals do not vanish in plain nets (section 4.1)",
            "min_response_std",
            lambda v: math.log10(max(v, 1e-30) / RESPONSE_FLOOR),
            f"every 3x3 layer's response std, at every measured step, stays above {RESPONSE_FLOOR}; the difference "
            f"is log10(smallest std / {RESPONSE_FLOOR}) in decades, above zero as the paper says",
        ),
        (
            "Backward signals do not vanish in plain nets (section 4.1)",
            "gradient_range",
            lambda v: math.log10(GRADIENT_RANGE / v),
            f"at every measured step the largest layer gradient norm is less than {GRADIENT_RANGE:g} times the "
            "smallest; "
            f"the difference is log10({GRADIENT_RANGE:g} / that ratio) in decades, above zero as the paper says",
        ),
    ):
        words, lines = [], [f"criterion: {criterion}"]
        for depth, group in plain.groupby("depth"):
            word, numbers = compare([(1.0, stats_of(group[column].map(score)))], +1, unit=" decades")
            words.append(word)
            twin = runs[(runs.arch == "resnet") & (runs.depth == depth)][column]
            beside = f"; {net_name('resnet', depth)}: {value_range(twin)}" if len(twin) else ""
            lines.append(
                f"{net_name('plain', depth)}: {column.replace('_', ' ')} {value_range(group[column])} "
                f"over {len(group)} seed(s){beside}; {numbers}: {word}"
            )
        if not words:
            lines.append(
                "no finished plain run has diagnostics.csv (none finished, diag_every=0, or runs before diagnostics)"
            )
        lines += left_out_lines(runs)
        out.append((claim, weakest(words) if words else MISSING, lines))
    return out


def variant_steps(stats: dict, steps, name=str, who: str = "the paper") -> tuple[list[str], list[str]]:
    """Words and lines for each (depth, worse, better) of `steps`: ResNet-depth's test error with
    the variant `worse` minus with `better` (`stats` keyed (variant, depth)), positive as `who`
    found. A step where only one of the two has finished runs is named, not judged: the other was
    not run at that depth (a study of fewer depths set beside one of more) or has not finished yet
    (the report's unfinished runs say which), and what the runs do not hold weakens no verdict."""
    words, lines = [], []
    for depth, worse, better in steps:
        a, b = stats.get((worse, depth)), stats.get((better, depth))
        if a is None and b is None:
            continue
        step = f"{net_name('resnet', depth)}: {name(worse)} − {name(better)}"
        if a is None or b is None:
            lines.append(f"{step}: only {name(better if a is None else worse)} has finished runs; not compared")
            continue
        word, numbers = compare([(1.0, a), (-1.0, b)], +1)
        words.append(word)
        lines.append(f"{step}: {numbers} ({who}: positive): {word}")
    if not words:
        lines.append("no depth has finished runs of both")
    return words, lines


def shortcut_claim(runs_of_family: pd.DataFrame) -> tuple[str, str, list[str]]:
    """The paper's ordering (error A > B > C) per depth, each step a Welch comparison across seeds."""
    # config_stats groups by (arch, depth); here the option takes the arch's place
    stats = config_stats(runs_of_family.assign(arch=runs_of_family.shortcut), "final_test_error")
    depths = sorted(runs_of_family.depth.unique())
    words, lines = variant_steps(
        stats, [(d, worse, better) for d in depths for worse, better in (("A", "B"), ("B", "C"))]
    )
    lines.insert(0, f"as found {SHORTCUT_FINDING}; here on CIFAR-10, test error per depth")
    return "Shortcut options: B better than A, C better than B", weakest(words), lines


def unit_claim(runs_of_family: pd.DataFrame) -> tuple[str, str, list[str]]:
    """Per depth, a ResNet's test error with the original unit minus with the pre-activation unit
    (positive as He et al. 2016 found), a Welch comparison across seeds."""
    resnets = runs_of_family[runs_of_family.arch == "resnet"]
    stats = config_stats(resnets.assign(arch=resnets.unit), "final_test_error")
    published = sorted({d for _, d, unit in paper.FOLLOWUP_TEST_ERROR if unit == "preact"})
    pairs = ", ".join(
        f"ResNet-{d} {paper.FOLLOWUP_TEST_ERROR[('cifar10', d, 'original')]} -> "
        f"{paper.FOLLOWUP_TEST_ERROR[('cifar10', d, 'preact')]}"
        for d in published
    )
    steps = [(d, "original", "preact") for d in sorted(resnets.depth.unique())]
    words, lines = variant_steps(stats, steps, UNIT_NAMES.get, "He et al. 2016")
    lines.insert(
        0,
        f"He et al. 2016 (CIFAR-10 test error, original -> pre-activation): {pairs}; measured there at these "
        "depths only, with the full schedule",
    )
    return (
        "Pre-activation units lower a ResNet's test error (He et al. 2016)",
        weakest(words),
        lines + twin_lines(runs_of_family[runs_of_family.arch == "plain"]),
    )


def twin_lines(plain: pd.DataFrame) -> list[str]:
    """Per depth, how many seeds trained in both orders end with the same final errors: a plain net
    has no addition for the BN-ReLU to move around, so in pre-activation order it is the original
    plain net (study.nets), and the same seed on the same machine trains the same weights."""
    lines = []
    for depth, group in plain.groupby("depth"):
        finals = group.pivot_table(
            index="seed", columns="unit", values=["final_train_error", "final_test_error"], aggfunc="first"
        )
        if not {"original", "preact"} <= set(finals.columns.get_level_values("unit")):
            continue  # plain runs in one order only: nothing to set side by side
        finals = finals.dropna()  # the seeds run in both orders
        if finals.empty:
            continue
        original, preact = (finals.xs(unit, axis=1, level="unit") for unit in ("original", "preact"))
        same = int((original == preact).all(axis=1).sum())
        lines.append(
            f"{net_name('plain', depth)}: the same net in both orders (no addition, so moving each BN-ReLU before "
            f"its conv changes nothing); identical final errors at {same} of {len(finals)} seeds run in both"
        )
    return lines


def of_variant(runs: pd.DataFrame, arch: str, variant: tuple[str, str]) -> pd.DataFrame:
    """The runs of `arch` with the (norm, init) `variant` (a fix family's columns)."""
    return runs[(runs.arch == arch) & (runs.norm == variant[0]) & (runs.init == variant[1])]


def norm_claim(runs: pd.DataFrame, diagnostics: dict) -> tuple[str, str, list[str]]:
    """Without BN a plain net's training error rises with depth by more than with BN (the rise
    without minus the rise with, a Welch interval across seeds); and per depth, the spread of its
    layers' response std (largest over smallest, its worst measured step) is larger without BN, in
    decades: the vanishing or exploding signal that section 4.1 says BN rules out."""
    with_bn, without = of_variant(runs, "plain", WITH_BN), of_variant(runs, "plain", WITHOUT_BN)
    train_with, train_without = (config_stats(r, "final_train_error") for r in (with_bn, without))
    words, lines = [], []
    for a, b in depth_pairs(train_without, "plain", sorted(d for _, d in train_with)):
        terms = [(1, train_without[("plain", b)]), (-1, train_without[("plain", a)])]
        terms += [(-1, train_with[("plain", b)]), (1, train_with[("plain", a)])]
        word, numbers = compare(terms, +1)
        words.append(word)
        lines.append(
            f"{net_name('plain', a)} -> {net_name('plain', b)} training error: without BN "
            f"{train_without[('plain', a)]} -> {train_without[('plain', b)]}, with BN {train_with[('plain', a)]} -> "
            f"{train_with[('plain', b)]}; the rise without BN minus the rise with it: {numbers}: {word}"
        )
    if not words:  # the claim is about depth: the signals alone cannot judge it
        words.append(MISSING)
        lines.append("no two depths have finished plain runs both with and without BN")
    spreads = per_run(runs[runs.arch == "plain"], diagnostics).merge(runs[["run_dir", "norm", "init"]], on="run_dir")
    for depth, group in spreads.groupby("depth"):
        free, bn = of_variant(group, "plain", WITHOUT_BN), of_variant(group, "plain", WITH_BN)
        if free.empty or bn.empty:
            continue
        word, numbers = compare(
            [(1, stats_of(free.response_spread.map(math.log10))), (-1, stats_of(bn.response_spread.map(math.log10)))],
            +1,
            unit=" decades",
        )
        words.append(word)
        lines.append(
            f"{net_name('plain', depth)}, largest over smallest layer response std: without BN (conv outputs) "
            f"{value_range(free.response_spread)}, with BN (BN outputs) {value_range(bn.response_spread)}; "
            f"log10 of it, without minus with: {numbers}: {word}. Largest over smallest layer gradient norm "
            f"(not judged): without BN {value_range(free.gradient_range)}, with BN {value_range(bn.gradient_range)}"
        )
    lines += left_out_lines(spreads)
    return "Without BN and without a shortcut, depth hurts far more than with BN", weakest(words), lines


def shortcut_without_norm_claim(runs: pd.DataFrame) -> tuple[str, str, list[str]]:
    """A Fixup or SkipInit ResNet (no BN) does not train worse when deeper: per pair of depths, its
    deeper net's training error minus the shallower's, which the claim says is not above zero. An
    interval that holds zero is as far as seeds can go towards "not worse"; it stays inconclusive.
    The ResNets with BN, zero γ and no norm with He init are shown beside it, not judged."""
    train = {
        variant: config_stats(of_variant(runs, "resnet", variant), "final_train_error")
        for variant in dict.fromkeys([*NORM_FREE_FIXES, *paper.FIX_NAMES])
    }
    words = []
    lines = [
        "criterion: the deeper net's final training error minus the shallower's, not above zero as claimed; "
        "an interval that holds zero (inconclusive) is as near as seeds come to showing 'no worse'"
    ]
    for variant, stats in train.items():
        judged = variant in NORM_FREE_FIXES
        depths = sorted(d for _, d in stats)
        for a, b in zip(depths, depths[1:]):
            word, numbers = compare([(1, stats[("resnet", b)]), (-1, stats[("resnet", a)])], -1)
            if judged:
                words.append(word)
            lines.append(
                f"{fix_name(*variant)}: {net_name('resnet', a)} -> {net_name('resnet', b)} training error "
                f"{stats[('resnet', a)]} -> {stats[('resnet', b)]}; {numbers}: "
                + (word if judged else f"{word}, for comparison (not judged)")
            )
        if judged and len(depths) < 2:
            words.append(MISSING)
            lines.append(f"{fix_name(*variant)}: finished ResNet runs at {len(depths)} depth(s); two are needed")
    return (
        "With a shortcut, BN is not needed to avoid degradation: Fixup and SkipInit ResNets train no worse when deeper",
        weakest(words),
        lines,
    )


def fix_claims(runs_of_family: pd.DataFrame, diagnostics: dict) -> list[tuple[str, str, list[str]]]:
    """The two claims of a family of runs that differ in normalisation and init (fix_families)."""
    return [norm_claim(runs_of_family, diagnostics), shortcut_without_norm_claim(runs_of_family)]
