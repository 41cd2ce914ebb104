"""Adoption-survey scoring: System Usability Scale, Net Promoter Score, CSAT, confidence intervals.

Pure rules only; every malformed input raises ValueError with one sentence naming the problem.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

SUS_ITEMS: tuple[str, ...] = (
    "I think that I would like to use this system frequently.",
    "I found the system unnecessarily complex.",
    "I thought the system was easy to use.",
    "I think that I would need the support of a technical person to be able to use this system.",
    "I found the various functions in this system were well integrated.",
    "I thought there was too much inconsistency in this system.",
    "I would imagine that most people would learn to use this system very quickly.",
    "I found the system very cumbersome to use.",
    "I felt very confident using the system.",
    "I needed to learn a lot of things before I could get going with this system.",
)

LIKERT_LABELS: dict[int, str] = {
    1: "Strongly disagree",
    2: "Disagree",
    3: "Neither agree nor disagree",
    4: "Agree",
    5: "Strongly agree",
}

# Sauro & Lewis (2016) curved grading scale: the lowest score of each grade, best grade first.
_SUS_GRADE_FLOORS: tuple[tuple[float, str], ...] = (
    (84.1, "A+"),
    (80.8, "A"),
    (78.9, "A-"),
    (77.2, "B+"),
    (74.1, "B"),
    (72.6, "B-"),
    (71.1, "C+"),
    (65.0, "C"),
    (62.7, "C-"),
    (51.7, "D"),
    (0.0, "F"),
)

# Two-sided 95 % critical values of Student's t for 1..30 degrees of freedom.
_T95: tuple[float, ...] = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959963984540054

MISSING_LABELS: dict[str, str] = {
    **{f"sus_{number}": f"SUS item {number}" for number in range(1, len(SUS_ITEMS) + 1)},
    "nps": "NPS",
    "csat": "Satisfaction with HyperCare",
    "interview_date": "Interview date",
}


def _checked_answer(value: object, what: str, low: int, high: int) -> int:
    """`value` as an int in [low, high], or ValueError naming `what`; bools are not answers."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} is {value!r}; answers are whole numbers from {low} to {high}.")
    if not low <= value <= high:
        raise ValueError(f"{what} is {value}; answers run from {low} to {high}.")
    return int(value)


def _checked_answers(values: Iterable[int], name: str, low: int, high: int) -> list[int]:
    answers = [
        _checked_answer(value, f"{name} answer {number}", low, high)
        for number, value in enumerate(values, start=1)
    ]
    if not answers:
        raise ValueError(f"{name} needs at least one answer.")
    return answers


def sus_score(answers: Sequence[int]) -> float:
    """The SUS score 0–100: odd items give answer − 1, even items 5 − answer, the sum times 2.5.

    Tricky edge: the items alternate in tone, so the same answer counts up on odd (positive) items
    and down on even (negative) items; item numbers in messages are 1-based like the questionnaire.
    """
    if isinstance(answers, str | bytes) or len(answers) != len(SUS_ITEMS):
        count = "a string" if isinstance(answers, str | bytes) else len(answers)
        raise ValueError(f"SUS needs {len(SUS_ITEMS)} answers, got {count}.")
    checked = [
        _checked_answer(value, f"SUS item {number}", 1, 5)
        for number, value in enumerate(answers, start=1)
    ]
    return float(sus_scores(np.array([checked]))[0])


# Odd (positive) items count answer − 1, even (negative) items 5 − answer: sign × answer + offset.
_SUS_SIGNS = np.array([1 if number % 2 else -1 for number in range(1, len(SUS_ITEMS) + 1)])
_SUS_OFFSET = sum(-1 if number % 2 else 5 for number in range(1, len(SUS_ITEMS) + 1))


def sus_scores(answers: np.ndarray) -> np.ndarray:
    """`sus_score` of many responses at once: one row of ten answers per response, NaN where a
    row is not fully answered (a draft).

    Tricky edge: an answer outside 1–5, or not a whole number, raises ValueError rather than
    scoring; the per-item message is `sus_score`'s, this names the first bad row.
    """
    values = np.asarray(answers, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(SUS_ITEMS):
        raise ValueError(f"SUS needs {len(SUS_ITEMS)} answers per response, got {values.shape}.")
    answered = ~np.isnan(values)
    valid = ~answered | ((values >= 1) & (values <= 5) & (values == np.floor(values)))
    if not valid.all():
        row = int(np.flatnonzero(~valid.all(axis=1))[0]) + 1
        raise ValueError(f"Response {row} has a SUS answer outside the whole numbers 1 to 5.")
    complete = answered.all(axis=1)
    totals = np.where(answered, values, 0).astype(np.int64) @ _SUS_SIGNS + _SUS_OFFSET
    return np.where(complete, totals * 2.5, np.nan)


def sus_grade(score: float) -> str:
    """The Sauro–Lewis curved grade for a SUS score ("A+" … "F"); 68, the average, is a "C".

    Each grade starts at its published lower bound (A+ from 84.1, C from 65.0, D from 51.7), so a
    mean between two published bands takes the lower grade. Tricky edge: a mean such as
    84.09999999999999 from floating-point arithmetic is rounded to 6 decimals first so it is an A+.
    """
    if isinstance(score, bool) or not isinstance(score, numbers.Real) or math.isnan(score):
        raise ValueError(f"A SUS score must be a number from 0 to 100, got {score!r}.")
    if not 0 <= score <= 100:
        raise ValueError(f"A SUS score runs from 0 to 100, got {score}.")
    rounded = round(float(score), 6)
    return next(grade for floor, grade in _SUS_GRADE_FLOORS if rounded >= floor)


def nps_split(scores: Iterable[int]) -> dict[str, int | float]:
    """Counts and percentages of promoters (9–10), passives (7–8) and detractors (0–6).

    Returns keys responses, promoters, passives, detractors and the same three with a `_percent`
    suffix. Tricky edge: 7s and 8s are passives, counted in the total but on neither side of NPS.
    """
    answers = np.array(_checked_answers(scores, "NPS", 0, 10), dtype=np.int64)
    split = _nps_splits(answers, np.zeros(len(answers), dtype=np.int64), 1)
    return {key: value[0].item() for key, value in split.items()}


def nps(scores: Iterable[int]) -> float:
    """Net Promoter Score: % promoters (9–10) minus % detractors (0–6), from −100 to 100.

    Tricky edge: computed from counts in one division, so [10, 9, 8, 7, 0] gives exactly 20.0.
    """
    split = nps_split(scores)
    return 100 * (split["promoters"] - split["detractors"]) / split["responses"]


def csat_percent(scores: Iterable[int]) -> float:
    """CSAT: the percentage of 1–5 satisfaction answers that are 4 or 5.

    Tricky edge: a 3 is neutral, so it counts in the total but not as satisfied.
    """
    answers = np.array(_checked_answers(scores, "CSAT", 1, 5), dtype=np.int64)
    return _csat_percents(answers, np.zeros(len(answers), dtype=np.int64), 1)[0].item()


def t_critical_95(df: int) -> float:
    """The two-sided 95 % critical value of Student's t with `df` degrees of freedom.

    A table for df 1–30; beyond it the Cornish–Fisher expansion around z = 1.96, which agrees with
    the exact quantile to 4 decimals there (df 40 → 2.0211, df 120 → 1.9799). Tricky edge: plain
    1.96 beyond df 30 would understate the interval by up to 4 %.
    """
    if df < 1:
        raise ValueError(f"Student's t needs at least 1 degree of freedom, got {df}.")
    if df <= len(_T95):
        return _T95[df - 1]
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * df**4)
    )


def mean_ci95(values: Sequence[float]) -> tuple[float, float, float]:
    """The mean and its 95 % confidence interval (mean, low, high) from the t distribution.

    Uses the sample standard deviation (n − 1). Tricky edge: one value has a mean but no spread, so
    it gives (mean, nan, nan) rather than a zero-width interval.
    """
    if not values:
        raise ValueError("A confidence interval needs at least one value.")
    for position, value in enumerate(values, start=1):
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
        ):
            raise ValueError(f"Value {position} is {value!r}; a confidence interval needs numbers.")
    mean, low, high = _means_ci95(
        np.array(values, dtype=float), np.zeros(len(values), dtype=np.int64), 1
    )
    if len(values) == 1:
        return mean[0].item(), math.nan, math.nan
    return mean[0].item(), low[0].item(), high[0].item()


# --- Many groups of responses at once ------------------------------------------------------
# The functions above score one group of answers; those below score every group of a column of
# answers in one pass (each campaign, each year), by the same arithmetic: the functions above
# call them with a single group. `codes` numbers each answer's group 0 … groups − 1.


def _nps_splits(answers: np.ndarray, codes: np.ndarray, groups: int) -> dict[str, np.ndarray]:
    def count(chosen: np.ndarray) -> np.ndarray:
        return np.bincount(codes[chosen], minlength=groups)

    responses = np.bincount(codes, minlength=groups)
    counts = {
        "promoters": count(answers >= 9),
        "passives": count((answers >= 7) & (answers <= 8)),
        "detractors": count(answers <= 6),
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        percents = {f"{group}_percent": 100 * n / responses for group, n in counts.items()}
    return {"responses": responses, **counts, **percents}


def _csat_percents(answers: np.ndarray, codes: np.ndarray, groups: int) -> np.ndarray:
    satisfied = np.bincount(codes[answers >= 4], minlength=groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100 * satisfied / np.bincount(codes, minlength=groups)


def _group_sums(ordered: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`math.fsum` of each group's run of `ordered` (values sorted by group): exactly rounded,
    so a group's mean does not depend on the order its answers were read in."""
    listed = ordered.tolist()
    ends = np.cumsum(counts)
    return np.array(
        [
            math.fsum(listed[a:b])
            for a, b in zip((ends - counts).tolist(), ends.tolist(), strict=True)
        ],
        dtype=float,
    )


def _means_ci95(
    values: np.ndarray, codes: np.ndarray, groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`mean_ci95` of each group (every group has at least one value): NaN bounds for a group of
    one value."""
    counts = np.bincount(codes, minlength=groups)
    ordered = values[np.argsort(codes, kind="stable")]
    means = _group_sums(ordered, counts) / counts
    deviations = ordered - np.repeat(means, counts)
    squares = _group_sums(deviations * deviations, counts)
    spread = counts > 1
    t = np.array([t_critical_95(n - 1) if n > 1 else math.nan for n in counts.tolist()])
    with np.errstate(invalid="ignore", divide="ignore"):
        half_widths = t * np.sqrt(squares / (counts - 1) / counts)
    return (
        means,
        np.where(spread, means - half_widths, math.nan),
        np.where(spread, means + half_widths, math.nan),
    )


def _checked_column(values: np.ndarray, name: str, low: int, high: int) -> np.ndarray:
    """`values` as whole-number answers in [low, high], or ValueError naming the first bad one."""
    if values.dtype.kind not in "iu":
        raise ValueError(
            f"{name} answers are whole numbers from {low} to {high}; got {values.dtype}."
        )
    outside = np.flatnonzero((values < low) | (values > high))
    if len(outside):
        position = int(outside[0])
        raise ValueError(
            f"{name} answer {position + 1} is {values[position]}; answers run from {low} to {high}."
        )
    return values.astype(np.int64)


NPS_SPLIT_COLUMNS: tuple[str, ...] = (
    "promoters",
    "passives",
    "detractors",
    "promoters_percent",
    "passives_percent",
    "detractors_percent",
)
SCORE_COLUMNS: tuple[str, ...] = (
    "responses",
    "sus_mean",
    "sus_low",
    "sus_high",
    "sus_grade",
    "nps",
    *NPS_SPLIT_COLUMNS,
    "csat_pct",
)


def scores_by_group(
    groups: np.ndarray, sus: np.ndarray, nps_answers: np.ndarray, csat_answers: np.ndarray
) -> pd.DataFrame:
    """The figures of every group of submitted responses at once: one row per distinct group
    (sorted, the index), with the SCORE_COLUMNS, each what `mean_ci95`, `sus_grade`,
    `nps_split`, `nps` and `csat_percent` give for that group's responses alone.

    One entry per response in each array: its group, SUS score, NPS and CSAT answers. Tricky
    edge: a malformed answer anywhere refuses the whole column (ValueError naming the first),
    as the one-group functions refuse their list; a group of one response has NaN bounds.
    """
    sus = np.asarray(sus, dtype=float)
    if not np.isfinite(sus).all():
        position = int(np.flatnonzero(~np.isfinite(sus))[0]) + 1
        raise ValueError(f"SUS score {position} is {sus[position - 1]}; a mean needs numbers.")
    nps_answers = _checked_column(np.asarray(nps_answers), "NPS", 0, 10)
    csat_answers = _checked_column(np.asarray(csat_answers), "CSAT", 1, 5)
    keys, codes = np.unique(np.asarray(groups), return_inverse=True)
    codes = codes.reshape(-1)
    means, lows, highs = _means_ci95(sus, codes, len(keys))
    split = _nps_splits(nps_answers, codes, len(keys))
    distinct, where = np.unique(means, return_inverse=True)
    grades = np.array([sus_grade(mean) for mean in distinct.tolist()], dtype=object)
    figures = pd.DataFrame(
        {
            "responses": split["responses"],
            "sus_mean": means,
            "sus_low": lows,
            "sus_high": highs,
            "sus_grade": grades[where.reshape(-1)] if len(keys) else grades,
            "nps": 100 * (split["promoters"] - split["detractors"]) / split["responses"],
            **{key: split[key] for key in SCORE_COLUMNS[6:12]},
            "csat_pct": _csat_percents(csat_answers, codes, len(keys)),
        },
        index=pd.Index(keys, name="group"),
    )
    return figures[list(SCORE_COLUMNS)]


def missing_items(draft: Mapping[str, object]) -> list[str]:
    """Human labels of the required survey answers a draft still lacks, in form order.

    A key that is absent, None, blank text or NaN is missing; comments are optional. Tricky edge:
    0 is a real NPS answer, so falsy values other than those are not missing.
    """
    return [label for key, label in MISSING_LABELS.items() if _is_blank(draft.get(key))]


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)
