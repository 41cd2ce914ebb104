import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import surveys
from domain.surveys import (
    LIKERT_LABELS,
    SUS_ITEMS,
    csat_percent,
    mean_ci95,
    missing_items,
    nps,
    nps_split,
    scores_by_group,
    scores_from_sums,
    sums_by_group,
    sus_grade,
    sus_grades,
    sus_score,
    sus_scores,
    t_critical_95,
)

BEST = [5, 1] * 5
WORST = [1, 5] * 5


# --- SUS ---


def test_all_neutral_answers_score_50():
    assert sus_score([3] * 10) == 50.0


def test_best_answers_score_100_and_worst_0():
    assert sus_score(BEST) == 100.0
    assert sus_score(WORST) == 0.0


def test_odd_items_count_up_and_even_items_count_down():
    assert sus_score([4, 2, 4, 2, 4, 2, 4, 2, 4, 2]) == 75.0
    assert sus_score([5, 3, 3, 3, 3, 3, 3, 3, 3, 3]) == 55.0
    assert sus_score([3, 5, 3, 3, 3, 3, 3, 3, 3, 3]) == 45.0


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=10, max_size=10))
def test_sus_scores_are_multiples_of_2_5_between_0_and_100(answers):
    score = sus_score(answers)
    assert 0 <= score <= 100
    assert score % 2.5 == 0


@given(st.lists(st.lists(st.integers(min_value=1, max_value=5), min_size=10, max_size=10)))
def test_many_responses_score_as_each_one_does(responses):
    scores = sus_scores(np.array(responses, dtype=float).reshape(-1, 10))
    assert scores.tolist() == [sus_score(answers) for answers in responses]


def test_an_unfinished_response_has_no_score_and_a_bad_answer_is_refused():
    scores = sus_scores(np.array([[3] * 10, [math.nan] + [3] * 9]))
    assert scores[0] == 50.0 and math.isnan(scores[1])
    with pytest.raises(ValueError, match="Response 2 has a SUS answer outside"):
        sus_scores(np.array([[3] * 10, [3] * 9 + [6]]))
    with pytest.raises(ValueError, match="Response 1 has a SUS answer outside"):
        sus_scores(np.array([[2.5] + [3] * 9]))


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([3] * 9, "SUS needs 10 answers, got 9."),
        ([3] * 11, "SUS needs 10 answers, got 11."),
        ([3, 3, 3, 6, 3, 3, 3, 3, 3, 3], "SUS item 4 is 6; answers run from 1 to 5."),
        ([0] + [3] * 9, "SUS item 1 is 0; answers run from 1 to 5."),
        ([3, 3.5] + [3] * 8, "SUS item 2 is 3.5; answers are whole numbers from 1 to 5."),
        ([3, 3, True] + [3] * 7, "SUS item 3 is True; answers are whole numbers from 1 to 5."),
        ([3] * 9 + ["4"], "SUS item 10 is '4'; answers are whole numbers from 1 to 5."),
        ("3333333333", "SUS needs 10 answers, got a string."),
    ],
)
def test_malformed_sus_answers_are_named(answers, message):
    with pytest.raises(ValueError) as refused:
        sus_score(answers)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (100, "A+"),
        (84.1, "A+"),
        (84.0, "A"),
        (80.8, "A"),
        (80.7, "A-"),
        (78.9, "A-"),
        (78.8, "B+"),
        (77.2, "B+"),
        (77.1, "B"),
        (74.1, "B"),
        (74.0, "B-"),
        (72.6, "B-"),
        (72.5, "C+"),
        (71.1, "C+"),
        (71.0, "C"),
        (68, "C"),
        (65.0, "C"),
        (64.9, "C-"),
        (62.7, "C-"),
        (62.6, "D"),
        (51.7, "D"),
        (51.6, "F"),
        (0, "F"),
        (84.05, "A"),
        (84.09999999999999, "A+"),
    ],
)
def test_sauro_lewis_grades(score, grade):
    assert sus_grade(score) == grade


@pytest.mark.parametrize("score", [-0.1, 100.1, math.nan, "68", None, True])
def test_grade_refuses_scores_outside_0_to_100(score):
    with pytest.raises(ValueError, match="SUS score"):
        sus_grade(score)


def test_the_questionnaire_text():
    assert len(SUS_ITEMS) == 10
    assert SUS_ITEMS[0] == "I think that I would like to use this system frequently."
    assert SUS_ITEMS[1] == "I found the system unnecessarily complex."
    assert SUS_ITEMS[-1] == (
        "I needed to learn a lot of things before I could get going with this system."
    )
    assert list(LIKERT_LABELS) == [1, 2, 3, 4, 5]
    assert (LIKERT_LABELS[1], LIKERT_LABELS[5]) == ("Strongly disagree", "Strongly agree")


# --- NPS and CSAT ---


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([10, 9, 8, 7, 0], 20.0),
        ([10] * 4, 100.0),
        ([0, 6], -100.0),
        ([7, 8], 0.0),
        ([9, 6, 8], 0.0),
        ([10, 10, 10, 6], 50.0),
    ],
)
def test_nps_worked_examples(scores, expected):
    assert nps(scores) == pytest.approx(expected)


def test_nps_accepts_any_iterable():
    assert nps(iter([10, 9, 8, 7, 0])) == 20.0


def test_nps_split_counts_and_percents():
    assert nps_split([10, 9, 8, 7, 0]) == {
        "responses": 5,
        "promoters": 2,
        "passives": 2,
        "detractors": 1,
        "promoters_percent": 40.0,
        "passives_percent": 40.0,
        "detractors_percent": 20.0,
    }


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([], "NPS needs at least one answer."),
        ([10, 11], "NPS answer 2 is 11; answers run from 0 to 10."),
        ([-1], "NPS answer 1 is -1; answers run from 0 to 10."),
        ([9.5], "NPS answer 1 is 9.5; answers are whole numbers from 0 to 10."),
        ([False], "NPS answer 1 is False; answers are whole numbers from 0 to 10."),
    ],
)
def test_malformed_nps_answers_are_named(scores, message):
    with pytest.raises(ValueError) as refused:
        nps(scores)
    assert str(refused.value) == message


def test_csat_is_the_share_of_fours_and_fives():
    assert csat_percent([5, 4, 3, 2]) == 50.0
    assert csat_percent([5]) == 100.0
    assert csat_percent([1, 2, 3]) == 0.0


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([], "CSAT needs at least one answer."),
        ([4, 6], "CSAT answer 2 is 6; answers run from 1 to 5."),
        ([0], "CSAT answer 1 is 0; answers run from 1 to 5."),
    ],
)
def test_malformed_csat_answers_are_named(scores, message):
    with pytest.raises(ValueError) as refused:
        csat_percent(scores)
    assert str(refused.value) == message


# --- confidence interval ---


def test_mean_ci95_on_a_known_example():
    # mean 3, s = sqrt(2.5), se = sqrt(0.5), t(4) = 2.7764 → half-width 1.9632
    mean, low, high = mean_ci95([1, 2, 3, 4, 5])
    assert mean == 3.0
    assert low == pytest.approx(1.0368, abs=1e-4)
    assert high == pytest.approx(4.9632, abs=1e-4)


def test_identical_values_give_a_zero_width_interval():
    assert mean_ci95([70.0, 70.0, 70.0]) == (70.0, 70.0, 70.0)


def test_one_value_has_no_interval():
    mean, low, high = mean_ci95([72.5])
    assert mean == 72.5
    assert math.isnan(low) and math.isnan(high)


@pytest.mark.parametrize(("values", "match"), [([], "at least one"), ([1.0, math.nan], "Value 2")])
def test_mean_ci95_refuses_bad_input(values, match):
    with pytest.raises(ValueError, match=match):
        mean_ci95(values)


def test_mean_ci95_is_the_textbook_interval():
    values = [72.5, 85.0, 40.0, 100.0, 0.0, 67.5]
    mean = math.fsum(values) / len(values)
    spread = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half_width = t_critical_95(len(values) - 1) * spread / math.sqrt(len(values))
    assert mean_ci95(values) == pytest.approx((mean, mean - half_width, mean + half_width))


# --- many groups at once ---

ANSWERS = st.lists(st.integers(min_value=1, max_value=5), min_size=10, max_size=10)
RESPONSE = st.tuples(
    st.integers(min_value=2024, max_value=2028),  # its group (a campaign year, say)
    ANSWERS,
    st.integers(min_value=0, max_value=10),
    st.integers(min_value=1, max_value=5),
)
EDGE_RESPONSES = [
    (1, BEST, 10, 5),  # a group of one: no interval
    (2, WORST, 0, 1),
    (2, WORST, 0, 1),  # identical answers: a zero-width interval
    (3, BEST, 9, 4),
    (3, WORST, 6, 3),
    (3, [3] * 10, 7, 3),
    (3, [3] * 10, 8, 2),
    # a group of 40: its t value is past the table of 30 degrees of freedom
    *((4, [number % 5 + 1] * 10, number % 11, number % 5 + 1) for number in range(40)),
]


def assert_scored_as_each_group_alone(responses):
    groups = np.array([group for group, *_ in responses])
    sus = np.array([sus_score(answers) for _, answers, _, _ in responses])
    nps_answers = np.array([answer for *_, answer, _ in responses], dtype=np.int64)
    csat = np.array([answer for *_, answer in responses], dtype=np.int64)
    figures = scores_by_group(groups, sus, nps_answers, csat)
    assert list(figures.index) == sorted(set(groups.tolist()))
    for group, row in figures.iterrows():
        mine = groups == group
        mean, low, high = mean_ci95(sus[mine].tolist())
        split = nps_split(nps_answers[mine].tolist())
        expected = {
            "responses": split["responses"],
            "sus_mean": mean,
            "sus_low": low,
            "sus_high": high,
            "sus_grade": sus_grade(mean),
            "nps": nps(nps_answers[mine].tolist()),
            **{key: value for key, value in split.items() if key != "responses"},
            "csat_pct": csat_percent(csat[mine].tolist()),
        }
        found = row.to_dict()
        assert found.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(found[key]), (group, key)
            else:
                assert found[key] == value, (group, key)


@given(st.lists(RESPONSE, max_size=60))
def test_scoring_groups_at_once_equals_scoring_each_group_alone(responses):
    assert_scored_as_each_group_alone(responses)


def test_groups_of_one_identical_answers_and_extreme_answers_score_as_alone():
    assert_scored_as_each_group_alone(EDGE_RESPONSES)
    figures = scores_by_group(
        np.array([group for group, *_ in EDGE_RESPONSES]),
        np.array([sus_score(answers) for _, answers, _, _ in EDGE_RESPONSES]),
        np.array([answer for *_, answer, _ in EDGE_RESPONSES]),
        np.array([answer for *_, answer in EDGE_RESPONSES]),
    )
    assert math.isnan(figures.loc[1, "sus_low"]) and figures.loc[1, "sus_grade"] == "A+"
    assert figures.loc[2, ["sus_mean", "sus_low", "sus_high", "nps"]].tolist() == [0, 0, 0, -100]


def test_groups_scored_without_numpy_score_as_alone(monkeypatch):
    """Past 2**16 responses in a group the sums' quotients are formed of Python's whole numbers
    (float64 could not hold them exactly); that path gives the same figures."""
    monkeypatch.setattr(surveys, "_NUMPY_EXACT_COUNT", 0)
    assert_scored_as_each_group_alone(EDGE_RESPONSES)


def test_a_group_too_large_for_numpys_exact_quotients_scores_as_alone():
    count = 2**16 + 3
    sus = np.array([2.5 * (number * 7 % 41) for number in range(count)])
    nps_answers = np.arange(count, dtype=np.int64) % 11
    csat = np.arange(count, dtype=np.int64) % 5 + 1
    figures = scores_by_group(np.zeros(count, dtype=np.int64), sus, nps_answers, csat).iloc[0]
    mean, low, high = mean_ci95(sus.tolist())
    assert (figures["sus_mean"], figures["sus_low"], figures["sus_high"]) == (mean, low, high)
    assert figures["nps"] == nps(nps_answers.tolist())
    assert figures["csat_pct"] == csat_percent(csat.tolist())


def test_sums_are_counted_per_group():
    sums = sums_by_group(
        np.array([7, 3, 7]), np.array([100.0, 50.0, 0.0]), np.array([10, 7, 3]), np.array([5, 4, 1])
    )
    assert sums.to_dict("index") == {
        3: dict(responses=1, sus_points=20, sus_squares=400, promoters=0, passives=1,
                detractors=0, satisfied=1),
        7: dict(responses=2, sus_points=40, sus_squares=1600, promoters=1, passives=0,
                detractors=1, satisfied=1),
    }  # fmt: skip


@pytest.mark.parametrize(
    "changes",
    [
        {"responses": 0, "promoters": 0},  # a group without responses
        {"promoters": 2},  # the split does not add up to the responses
        {"satisfied": 3},  # more satisfied than responses
        {"sus_points": 81},  # past 40 points a response
    ],
)
def test_sums_no_answers_could_give_are_refused(changes):
    sums = pd.DataFrame(
        [dict(responses=2, sus_points=40, sus_squares=1600, promoters=1, passives=0,
              detractors=1, satisfied=1) | changes],
        index=pd.Index(["Acme 2026"]),
    )  # fmt: skip
    with pytest.raises(ValueError, match="The sums of group 'Acme 2026' are not those of any"):
        scores_from_sums(sums)


FLOORS = [84.1, 80.8, 78.9, 77.2, 74.1, 72.6, 71.1, 65.0, 62.7, 51.7, 0.0]


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=50))
def test_many_grades_are_each_scores_own(scores):
    edges = [
        value
        for floor in FLOORS
        for value in (floor, np.nextafter(floor, 0), np.nextafter(floor, 101), floor - 5e-7)
        if 0 <= value <= 100
    ]
    values = [*scores, *edges, 84.09999999999999, 100.0]
    assert sus_grades(np.array(values)).tolist() == [sus_grade(value) for value in values]


def test_many_grades_refuse_what_one_grade_refuses():
    with pytest.raises(ValueError, match="A SUS score runs from 0 to 100, got 100.5"):
        sus_grades(np.array([50.0, 100.5]))
    assert sus_grades(np.array([])).tolist() == []


def test_no_responses_give_no_groups():
    empty = np.array([], dtype=np.int64)
    figures = scores_by_group(empty, np.array([], dtype=float), empty, empty)
    assert figures.empty and list(figures.columns)[0] == "responses"


@pytest.mark.parametrize(
    ("sus", "nps_answers", "csat", "message"),
    [
        ([50.0, math.nan], [9, 9], [4, 4], "SUS score 2 is nan"),  # a draft's missing answers
        ([50.0, 50.0], [9, 11], [4, 4], "NPS answer 2 is 11; answers run from 0 to 10."),
        ([50.0, 50.0], [9, 9], [0, 4], "CSAT answer 1 is 0; answers run from 1 to 5."),
        ([50.0, 50.0], [9.0, 9.5], [4, 4], "NPS answers are whole numbers from 0 to 10"),
        ([50.0, 51.0], [9, 9], [4, 4], "SUS score 2 is 51.0; scores are multiples of 2.5 from 0"),
        ([102.5, 50.0], [9, 9], [4, 4], "SUS score 1 is 102.5; scores are multiples of 2.5"),
    ],
)
def test_scoring_groups_refuses_missing_and_malformed_answers(sus, nps_answers, csat, message):
    with pytest.raises(ValueError, match=message):
        scores_by_group(np.array([1, 2]), np.array(sus), np.array(nps_answers), np.array(csat))


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (4, 2.7764), (30, 2.0423), (31, 2.0395), (40, 2.0211), (120, 1.9799)],
)
def test_t_critical_values(df, expected):
    assert t_critical_95(df) == pytest.approx(expected, abs=1e-4)


def test_t_critical_values_shrink_towards_1_96():
    values = [t_critical_95(df) for df in range(1, 500)]
    assert values == sorted(values, reverse=True)
    assert values[-1] > 1.959963984540054


# --- draft completeness ---


def test_missing_items_in_form_order():
    draft = {f"sus_{n}": 3 for n in range(1, 11) if n != 3}
    draft["nps"] = 0
    draft["interview_date"] = "  "
    assert missing_items(draft) == ["SUS item 3", "Satisfaction with HyperCare", "Interview date"]


def test_a_complete_draft_misses_nothing_and_comments_are_optional():
    draft = {f"sus_{n}": 3 for n in range(1, 11)}
    draft.update(nps=9, csat=4, interview_date="2026-05-04")
    assert missing_items(draft) == []


def test_an_empty_draft_misses_everything():
    assert missing_items({}) == [f"SUS item {n}" for n in range(1, 11)] + [
        "NPS",
        "Satisfaction with HyperCare",
        "Interview date",
    ]
    assert missing_items({"nps": math.nan, "csat": None})[-3:-1] == [
        "NPS",
        "Satisfaction with HyperCare",
    ]
