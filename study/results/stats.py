"""Seed-aware statistics and the verdict words every claim uses.

Per configuration: mean ± std (n) over seeds. Per comparison: a difference of means (or of
differences) with a 95% interval across seeds, Welch's t interval (unequal variances,
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

from study.runs.summary import USABLE

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


def stats_of(values: pd.Series) -> Stats:
    """mean ± std (n) of a series of per-seed values (std 0 for one seed)."""
    return Stats(float(values.mean()), float(values.std()) if len(values) > 1 else 0.0, len(values))


def config_stats(table: pd.DataFrame, column: str) -> dict[tuple[str, int], Stats]:
    """(arch, depth) -> mean ± std (n) of `column` over the usable runs' seeds."""
    done = table[table.status.isin(USABLE) & table[column].notna()]
    return {(arch, int(depth)): stats_of(values) for (arch, depth), values in done.groupby(["arch", "depth"])[column]}


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


def prediction_interval(value: float, sample: Stats) -> tuple[float, float, float]:
    """(d, low, high): one run's value minus a sample's mean, and the 95% interval that difference
    falls in when the run is one more draw from the sample's distribution (Student's t with n - 1
    degrees of freedom, std x sqrt(1 + 1/n))."""
    d = value - sample.mean
    half = t975(sample.n - 1) * sample.std * math.sqrt(1 + 1 / sample.n)
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
