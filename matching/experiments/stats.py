"""The statistics of an experiment: conversion rates with Wilson intervals, lift against the control,
chi-square tests, and the sample-ratio-mismatch check. Pure numbers in, numbers out (scipy underneath).

The unit is the person: n is how many people were exposed to a variant, and a conversion is a person with
at least one outcome after their first exposure, so the 2×2 tables hold independent observations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
#: Sample ratio mismatch is flagged below this p-value: the split is broken, not the treatment effective.
SRM_ALPHA = 0.001


@dataclass(frozen=True)
class VariantCounts:
    key: str
    weight: float
    exposed: int
    converted: int
    impressions: int = 0


@dataclass(frozen=True)
class VariantResult:
    key: str
    weight: float
    n: int
    conversions: int
    impressions: int
    #: conversions / n; None with no one exposed.
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    #: rate − the control's rate (None for the control, or without data).
    absolute_lift: float | None
    #: (rate − control rate) / control rate (None also when the control's rate is 0).
    relative_lift: float | None
    #: Pearson's chi-square test of this variant against the control (2×2, no continuity correction).
    p_value: float | None
    is_control: bool


@dataclass(frozen=True)
class SrmCheck:
    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float | None
    p_value: float | None
    flagged: bool


@dataclass(frozen=True)
class Analysis:
    variants: list[VariantResult]
    srm: SrmCheck
    #: Chi-square test of independence across every variant at once (None when it is undefined).
    overall_p_value: float | None


def wilson_interval(
    *, successes: int, trials: int, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion, or None with no trials."""
    if trials == 0:
        return None
    interval = stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def chi_square_p_value(table: Sequence[Sequence[int]]) -> float | None:
    """Pearson's chi-square test of independence (no Yates correction) on a variants × (converted, not)
    table; None when it is undefined (a row or a column of zeros)."""
    observed = np.asarray(table, dtype=np.float64)
    if observed.shape[0] < 2 or (observed.sum(axis=0) == 0).any() or (observed.sum(axis=1) == 0).any():
        return None
    return float(stats.chi2_contingency(observed, correction=False).pvalue)


def srm_check(*, observed: dict[str, int], weights: dict[str, float], alpha: float = SRM_ALPHA) -> SrmCheck:
    """Chi-square goodness of fit of the exposed counts against the variants' weights."""
    keys = list(weights)
    counts = np.array([observed.get(key, 0) for key in keys], dtype=np.float64)
    shares = np.array([weights[key] for key in keys], dtype=np.float64)
    shares = shares / shares.sum()
    total = counts.sum()
    expected = shares * total
    if total == 0:
        return SrmCheck({k: 0 for k in keys}, {k: 0.0 for k in keys}, None, None, False)
    result = stats.chisquare(counts, f_exp=expected)
    p_value = float(result.pvalue)
    return SrmCheck(
        observed={k: int(c) for k, c in zip(keys, counts, strict=True)},
        expected={k: float(e) for k, e in zip(keys, expected, strict=True)},
        chi2=float(result.statistic),
        p_value=p_value,
        flagged=p_value < alpha,
    )


def experiment_analyse(*, variants: Sequence[VariantCounts]) -> Analysis:
    """Per variant: n, rate, Wilson 95 % interval, lift and p-value against the control (the first)."""
    if not variants:
        raise ValueError("an experiment has at least one variant")
    control = variants[0]
    control_rate = control.converted / control.exposed if control.exposed else None
    results = []
    for index, variant in enumerate(variants):
        rate = variant.converted / variant.exposed if variant.exposed else None
        interval = wilson_interval(successes=variant.converted, trials=variant.exposed)
        is_control = index == 0
        absolute = relative = p_value = None
        if not is_control and rate is not None and control_rate is not None:
            absolute = rate - control_rate
            relative = absolute / control_rate if control_rate > 0 else None
            p_value = chi_square_p_value(
                [
                    [control.converted, control.exposed - control.converted],
                    [variant.converted, variant.exposed - variant.converted],
                ]
            )
        results.append(
            VariantResult(
                key=variant.key,
                weight=variant.weight,
                n=variant.exposed,
                conversions=variant.converted,
                impressions=variant.impressions,
                rate=rate,
                ci_low=interval[0] if interval else None,
                ci_high=interval[1] if interval else None,
                absolute_lift=absolute,
                relative_lift=relative,
                p_value=p_value,
                is_control=is_control,
            )
        )
    srm = srm_check(
        observed={v.key: v.exposed for v in variants}, weights={v.key: v.weight for v in variants}
    )
    overall = chi_square_p_value([[v.converted, v.exposed - v.converted] for v in variants])
    return Analysis(variants=results, srm=srm, overall_p_value=overall)
