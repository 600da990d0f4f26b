"""The claims of section 4.2 (Figures 1, 6 and 7, Table 6) and a verdict on each, from all seeds.

Per configuration (arch, depth): mean ± std (n) over seeds. Per comparison: a difference of means
(or of differences) with a 95% interval across seeds, Welch's t interval (unequal variances,
Welch-Satterthwaite degrees of freedom). Words:

    reproduced                        the interval lies on the paper's side of zero
    contradicted                      it lies on the other side
    inconclusive (within seed noise)  it holds zero
    indicative (one seed)             a configuration has one seed: no interval; its direction is said
    not enough runs                   a configuration has no finished run

A claim made of several comparisons takes the weakest word among them, in that order from the
bottom: not enough runs, contradicted, inconclusive, indicative, reproduced.
"""

import math
from dataclasses import dataclass

import pandas as pd

from study import paper

USABLE = ("completed", "diverged")  # runs with final numbers
REPRODUCED, CONTRADICTED = "reproduced", "contradicted"
INCONCLUSIVE, INDICATIVE, MISSING = "inconclusive (within seed noise)", "indicative (one seed)", "not enough runs"
WEAKEST_FIRST = (MISSING, CONTRADICTED, INCONCLUSIVE, INDICATIVE, REPRODUCED)
METHOD = (
    "95% intervals are Welch's t intervals across seeds for a difference of means (unequal variances, "
    "Welch-Satterthwaite degrees of freedom), computed from each seed's final error."
)

# Student's t, 97.5th percentile, by degrees of freedom (interpolated in 1/df between entries).
T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    20: 2.086,
    25: 2.060,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
    math.inf: 1.960,
}


def t975(df: float) -> float:
    keys = sorted(T975)
    if df <= keys[0]:
        return T975[keys[0]]
    for lo, hi in zip(keys, keys[1:]):
        if df <= hi:
            w = (1 / lo - 1 / df) / (1 / lo - (0 if hi == math.inf else 1 / hi))
            return T975[lo] + w * (T975[hi] - T975[lo])
    return T975[math.inf]


@dataclass
class Stats:
    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.std:.2f} ({self.n})" if self.n > 1 else f"{self.mean:.2f} (1 seed)"


def config_stats(table: pd.DataFrame, column: str) -> dict[tuple[str, int], Stats]:
    """(arch, depth) -> mean ± std (n) of `column` over the usable runs' seeds."""
    done = table[table.status.isin(USABLE) & table[column].notna()]
    out = {}
    for (arch, depth), values in done.groupby(["arch", "depth"])[column]:
        out[(arch, int(depth))] = Stats(
            float(values.mean()), float(values.std()) if len(values) > 1 else 0.0, len(values)
        )
    return out


def interval(terms: list[tuple[float, Stats]]) -> tuple[float, float, float]:
    """(d, low, high): the linear combination d = sum(c * mean) of configurations and its 95%
    Welch interval; every configuration needs two seeds or more."""
    d = sum(c * s.mean for c, s in terms)
    parts = [(c * c * s.std**2 / s.n, s.n) for c, s in terms]
    var = sum(v for v, _ in parts)
    if var == 0:  # seeds that agree exactly: the interval is a point
        return d, d, d
    df = var**2 / sum(v**2 / (n - 1) for v, n in parts if v > 0)
    half = t975(df) * math.sqrt(var)
    return d, d - half, d + half


def compare(terms: list[tuple[float, Stats | None]], paper_sign: int, unit: str = " points") -> tuple[str, str]:
    """(word, numbers) for the linear combination sum(c * mean) of configurations, whose sign the
    paper says is `paper_sign` (+1 or -1)."""
    if any(s is None for _, s in terms):
        return MISSING, "no finished run"
    if any(s.n < 2 for _, s in terms):
        d = sum(c * s.mean for c, s in terms)
        return (
            INDICATIVE,
            f"difference {d:+.2f}{unit} ({'as the paper' if d * paper_sign > 0 else 'against the paper'})",
        )
    d, low, high = interval(terms)
    numbers = f"difference {d:+.2f}{unit}, 95% interval [{low:+.2f}, {high:+.2f}]"
    if low * paper_sign > 0 and high * paper_sign > 0:
        return REPRODUCED, numbers
    if low * paper_sign < 0 and high * paper_sign < 0:
        return CONTRADICTED, numbers
    return INCONCLUSIVE, numbers


def weakest(words: list[str]) -> str:
    return min(words, key=WEAKEST_FIRST.index) if words else MISSING


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
        lines.append(f"{arch}-{a} -> {arch}-{b} {what}: {stats[(arch, a)]} -> {stats[(arch, b)]}; {numbers}: {word}")
    return weakest(words), lines


def claims(table: pd.DataFrame, responses: pd.DataFrame | None = None) -> list[tuple[str, str, list[str]]]:
    """(claim with its figure, verdict, detail lines) for each claim of section 4.2."""
    train, test = config_stats(table, "final_train_error"), config_stats(table, "final_test_error")
    plain_depths, resnet_depths = (20, 32, 44, 56, 110), (20, 32, 44, 56, 110)
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
            "2. ResNets up to 110 layers: depth lowers the training and the test error (Fig. 6 middle, Table 6)",
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

    out.append(
        (
            "5. Layer responses: a ResNet's are smaller than its plain twin's, and a deeper ResNet's smaller (Fig. 7)",
            *response_claim(table, responses),
        )
    )
    out.append(
        ("6. ResNet-110 over 5 seeds: 6.61 ± 0.16% test error, best 6.43% (Table 6)", *resnet110_claim(test, table))
    )
    return out


def response_claim(table: pd.DataFrame, responses: pd.DataFrame | None) -> tuple[str, list[str]]:
    """On each run's mean layer-response std (Figure 7's curves averaged over the layers)."""
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
    if len([d for arch, d in stats if arch == "resnet" and d in (20, 56, 110)]) >= 2:
        word, more = ordered_claim(stats, "resnet", (20, 56, 110), -1, "mean response std", unit="")
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
