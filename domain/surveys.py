"""Adoption-survey scoring: System Usability Scale, Net Promoter Score, CSAT, confidence intervals.

Pure rules only; every malformed input raises ValueError with one sentence naming the problem.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence

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
    total = 0
    for number, value in enumerate(answers, start=1):
        answer = _checked_answer(value, f"SUS item {number}", 1, 5)
        total += answer - 1 if number % 2 else 5 - answer
    return total * 2.5


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
    answers = _checked_answers(scores, "NPS", 0, 10)
    counts = {
        "promoters": sum(answer >= 9 for answer in answers),
        "passives": sum(7 <= answer <= 8 for answer in answers),
        "detractors": sum(answer <= 6 for answer in answers),
    }
    percents = {f"{group}_percent": 100 * count / len(answers) for group, count in counts.items()}
    return {"responses": len(answers), **counts, **percents}


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
    answers = _checked_answers(scores, "CSAT", 1, 5)
    return 100 * sum(answer >= 4 for answer in answers) / len(answers)


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
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return mean, math.nan, math.nan
    variance = math.fsum((value - mean) ** 2 for value in values) / (n - 1)
    half_width = t_critical_95(n - 1) * math.sqrt(variance / n)
    return mean, mean - half_width, mean + half_width


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
