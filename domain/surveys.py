"""Adoption-survey scoring: System Usability Scale, Net Promoter Score, CSAT, confidence intervals.

Pure rules only; every malformed input raises ValueError with one sentence naming the problem.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

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


# Odd (positive) items count answer − 1, even (negative) items 5 − answer: sign × answer + offset
# points, 0–40, and the score is 2.5 × points. Public so that a database can count the same points.
SUS_SIGNS: tuple[int, ...] = tuple(
    1 if number % 2 else -1 for number in range(1, len(SUS_ITEMS) + 1)
)
SUS_OFFSET: int = sum(-1 if number % 2 else 5 for number in range(1, len(SUS_ITEMS) + 1))
SUS_POINT_VALUE = 2.5
_SUS_SIGNS = np.array(SUS_SIGNS)


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
    totals = np.where(answered, values, 0).astype(np.int64) @ _SUS_SIGNS + SUS_OFFSET
    return np.where(complete, totals * SUS_POINT_VALUE, np.nan)


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


_GRADE_FLOORS_UP = np.array([floor for floor, _ in reversed(_SUS_GRADE_FLOORS)])
_GRADES_UP = np.array([grade for _, grade in reversed(_SUS_GRADE_FLOORS)], dtype=object)


def sus_grades(means: np.ndarray) -> np.ndarray:
    """`sus_grade` of many scores at once (an array of grades, dtype object).

    Tricky edge: `sus_grade` rounds to 6 decimals before comparing, which numpy's rounding does
    not always match in the last digit; a score within 1e-5 of a grade's floor is graded by
    `sus_grade` itself, so the grades are exactly its own (as is every refusal)."""
    scores = np.asarray(means, dtype=float).reshape(-1)
    grades = _GRADES_UP[
        np.clip(np.searchsorted(_GRADE_FLOORS_UP, scores, side="right") - 1, 0, None)
    ]
    near = np.abs(scores[:, None] - _GRADE_FLOORS_UP[None, :]).min(axis=1, initial=np.inf) < 1e-5
    for position in np.flatnonzero(near | ~((scores >= 0) & (scores <= 100))).tolist():
        grades[position] = sus_grade(float(scores[position]))
    return grades


def nps_split(scores: Iterable[int]) -> dict[str, int | float]:
    """Counts and percentages of promoters (9–10), passives (7–8) and detractors (0–6).

    Returns keys responses, promoters, passives, detractors and the same three with a `_percent`
    suffix. Tricky edge: 7s and 8s are passives, counted in the total but on neither side of NPS.
    """
    answers = np.array(_checked_answers(scores, "NPS", 0, 10), dtype=np.int64)
    split = _nps_splits(*(np.array([np.count_nonzero(chosen)]) for chosen in _nps_groups(answers)))
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
    return 100 * np.count_nonzero(answers >= 4) / len(answers)


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

    Uses the sample standard deviation (n − 1). The sums are exact (as fractions), and the mean
    and the variance of the mean are each rounded once from them, so the figures do not depend
    on the order of the values, and a group scored from its sums (`scores_from_sums`) gets the
    very same figures. Tricky edge: one value has a mean but no spread, so it gives
    (mean, nan, nan) rather than a zero-width interval.
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
    exact = [Fraction(value) for value in values]
    count = len(exact)
    total = sum(exact, Fraction(0))
    mean = float(total / count)
    if count == 1:
        return mean, math.nan, math.nan
    squares = sum((value * value for value in exact), Fraction(0))
    variance_of_mean = float((count * squares - total * total) / (count * count * (count - 1)))
    half_width = t_critical_95(count - 1) * math.sqrt(variance_of_mean)
    return mean, mean - half_width, mean + half_width


# --- Many groups of responses at once ------------------------------------------------------
# The functions above score one group of answers; those below score every group at once (each
# campaign, each year) from a few sums per group, which a database can count without sending
# the answers: `SUM_COLUMNS`. They give the very figures the functions above give each group.

SUM_COLUMNS: tuple[str, ...] = (
    "responses",
    "sus_points",  # the sum of the responses' SUS points (score / 2.5, 0–40)
    "sus_squares",  # the sum of their squares
    "promoters",
    "passives",
    "detractors",
    "satisfied",  # CSAT answers of 4 or 5
)
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

_POINT = Fraction(SUS_POINT_VALUE)
_NUMPY_EXACT_COUNT = 2**16
"""Up to this many responses in a group, the sums' quotients below are formed of whole numbers
under 2**53, so float64 division rounds them exactly as Python's int / int does."""


def _sus_means_ci95(
    counts: np.ndarray, points: np.ndarray, squares: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`mean_ci95` of each group's SUS scores from its count, sum of points and sum of squared
    points: mean = 2.5·S1/n and variance of the mean = 2.5²·(n·S2 − S1²)/(n²(n − 1)), each a
    ratio of whole numbers rounded once (NaN bounds for a group of one)."""
    p, q = _POINT.numerator, _POINT.denominator
    if counts.size == 0 or counts.max() <= _NUMPY_EXACT_COUNT:
        n, s1, s2 = (column.astype(np.int64) for column in (counts, points, squares))
        means = (p * s1).astype(float) / (q * n).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            variances = (p * p * (n * s2 - s1 * s1)).astype(float) / (
                q * q * n * n * (n - 1)
            ).astype(float)
    else:  # Python's whole numbers do not overflow, and int / int rounds once
        rows = list(zip(counts.tolist(), points.tolist(), squares.tolist(), strict=True))
        means = np.array([p * s1 / (q * n) for n, s1, _ in rows], dtype=float)
        variances = np.array(
            [
                p * p * (n * s2 - s1 * s1) / (q * q * n * n * (n - 1)) if n > 1 else math.nan
                for n, s1, s2 in rows
            ],
            dtype=float,
        )
    spread = counts > 1
    t = np.array([t_critical_95(n - 1) if n > 1 else math.nan for n in counts.tolist()])
    half_widths = t * np.sqrt(np.where(spread, variances, 0.0))
    return (
        means,
        np.where(spread, means - half_widths, math.nan),
        np.where(spread, means + half_widths, math.nan),
    )


def _nps_groups(answers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which NPS answers are promoters (9–10), passives (7–8) and detractors (0–6)."""
    return answers >= 9, (answers >= 7) & (answers <= 8), answers <= 6


def _nps_splits(promoters: np.ndarray, passives: np.ndarray, detractors: np.ndarray) -> dict:
    responses = promoters + passives + detractors
    counts = {"promoters": promoters, "passives": passives, "detractors": detractors}
    with np.errstate(invalid="ignore", divide="ignore"):
        percents = {f"{group}_percent": 100 * n / responses for group, n in counts.items()}
    return {"responses": responses, **counts, **percents}


def scores_from_sums(sums: pd.DataFrame) -> pd.DataFrame:
    """The figures of every group of submitted responses from its `SUM_COLUMNS` (one row per
    group, each with at least one response; the index names the groups): the SCORE_COLUMNS,
    each what `mean_ci95`, `sus_grade`, `nps_split`, `nps` and `csat_percent` give for that
    group's responses alone, with the same index.

    Tricky edge: sums that no set of answers could give (a split that does not add up to the
    responses, points past 40 a response) are refused with ValueError naming the group.
    """
    table = sums[list(SUM_COLUMNS)].to_numpy(dtype=np.int64)
    columns = {name: table[:, position] for position, name in enumerate(SUM_COLUMNS)}
    responses = columns["responses"]
    nps_counts = columns["promoters"] + columns["passives"] + columns["detractors"]
    impossible = (
        (responses < 1)
        | (nps_counts != responses)
        | (columns["satisfied"] < 0)
        | (columns["satisfied"] > responses)
        | (columns["sus_points"] < 0)
        | (columns["sus_points"] > 40 * responses)
    )
    if impossible.any():
        group = sums.index[int(np.flatnonzero(impossible)[0])]
        raise ValueError(f"The sums of group {group!r} are not those of any set of answers.")
    means, lows, highs = _sus_means_ci95(responses, columns["sus_points"], columns["sus_squares"])
    split = _nps_splits(columns["promoters"], columns["passives"], columns["detractors"])
    with np.errstate(invalid="ignore", divide="ignore"):
        figures = pd.DataFrame(
            {
                "responses": responses,
                "sus_mean": means,
                "sus_low": lows,
                "sus_high": highs,
                "sus_grade": sus_grades(means),
                "nps": 100 * (split["promoters"] - split["detractors"]) / responses,
                **{key: split[key] for key in NPS_SPLIT_COLUMNS},
                "csat_pct": 100 * columns["satisfied"] / responses,
            },
            index=sums.index,
        )
    return figures[list(SCORE_COLUMNS)]


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


def _checked_points(sus: np.ndarray) -> np.ndarray:
    """SUS scores as points (score / 2.5), or ValueError naming the first that is not a score."""
    if not np.isfinite(sus).all():
        position = int(np.flatnonzero(~np.isfinite(sus))[0]) + 1
        raise ValueError(f"SUS score {position} is {sus[position - 1]}; a mean needs numbers.")
    points = sus / SUS_POINT_VALUE
    bad = np.flatnonzero((points != np.round(points)) | (points < 0) | (points > 40))
    if len(bad):
        position = int(bad[0]) + 1
        raise ValueError(
            f"SUS score {position} is {sus[position - 1]}; scores are multiples of "
            f"{SUS_POINT_VALUE} from 0 to 100."
        )
    return points.astype(np.int64)


def group_totals(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct `groups` (sorted) and the column sums of the rows of `values` (whole
    numbers, one row per entry of `groups`) in each: numpy's, where a pandas groupby cost
    2–5 ms a call in fixed overhead."""
    keys, codes = np.unique(groups, return_inverse=True)
    totals = np.zeros((len(keys), values.shape[1]), dtype=np.int64)
    np.add.at(totals, codes.reshape(-1), values)
    return keys, totals


def sums_by_group(
    groups: np.ndarray, sus: np.ndarray, nps_answers: np.ndarray, csat_answers: np.ndarray
) -> pd.DataFrame:
    """The `SUM_COLUMNS` of every group of submitted responses: one row per distinct group
    (sorted, the index). One entry per response in each array: its group, SUS score, NPS and
    CSAT answers. Tricky edge: a malformed answer anywhere refuses the whole column (ValueError
    naming the first), as the one-group functions refuse their list."""
    points = _checked_points(np.asarray(sus, dtype=float))
    nps_answers = _checked_column(np.asarray(nps_answers), "NPS", 0, 10)
    csat_answers = _checked_column(np.asarray(csat_answers), "CSAT", 1, 5)
    promoters, passives, detractors = _nps_groups(nps_answers)
    per_response = np.column_stack(
        [
            np.ones(len(points), dtype=np.int64),
            points,
            points * points,
            promoters,
            passives,
            detractors,
            csat_answers >= 4,
        ]
    ).astype(np.int64)
    keys, totals = group_totals(per_response, np.asarray(groups))
    return pd.DataFrame(totals, columns=list(SUM_COLUMNS), index=pd.Index(keys, name="group"))


def scores_by_group(
    groups: np.ndarray, sus: np.ndarray, nps_answers: np.ndarray, csat_answers: np.ndarray
) -> pd.DataFrame:
    """`scores_from_sums` of `sums_by_group`: the SCORE_COLUMNS of every group at once, one row
    per distinct group (sorted, the index); a group of one response has NaN bounds."""
    return scores_from_sums(sums_by_group(groups, sus, nps_answers, csat_answers))


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
