"""Charts of the survey results, pure Altair so they can be checked without Streamlit."""

from __future__ import annotations

import altair as alt
import pandas as pd

from domain.surveys import LIKERT_LABELS

LIKERT_COLOURS = ["#C62828", "#EF9A9A", "#BDBDBD", "#90CAF9", "#1565C0"]
NPS_GROUPS = {"detractors": "#C62828", "passives": "#BDBDBD", "promoters": "#2E7D32"}


def short_statement(text: str, limit: int = 60) -> str:
    """A SUS statement short enough for an axis label (the tooltip has it in full)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def item_distribution_chart(distribution: pd.DataFrame) -> alt.Chart:
    """Each SUS statement as one bar split into the shares of its five answers."""
    statements = zip(distribution["item"], distribution["statement"], strict=True)
    frame = distribution.assign(
        label=[f"{item}. {short_statement(text)}" for item, text in statements],
        answer_label=[f"{answer} · {LIKERT_LABELS[answer]}" for answer in distribution["answer"]],
    )
    order = [f"{answer} · {label}" for answer, label in LIKERT_LABELS.items()]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "count:Q", stack="normalize", title="Share of answers", axis=alt.Axis(format="%")
            ),
            y=alt.Y("label:N", sort=None, title=None, axis=alt.Axis(labelLimit=360)),
            color=alt.Color(
                "answer_label:N",
                title="Answer",
                scale=alt.Scale(domain=order, range=LIKERT_COLOURS),
                sort=order,
            ),
            order=alt.Order("answer:Q"),
            tooltip=[
                alt.Tooltip("statement:N", title="Statement"),
                alt.Tooltip("answer_label:N", title="Answer"),
                alt.Tooltip("count:Q", title="Responses"),
            ],
        )
        .properties(height=340)
    )


def nps_split_chart(split: dict) -> alt.Chart:
    """Detractors, passives and promoters as shares of the responses."""
    frame = pd.DataFrame(
        {
            "group": list(NPS_GROUPS),
            "count": [split[group] for group in NPS_GROUPS],
            "percent": [split[f"{group}_percent"] for group in NPS_GROUPS],
        }
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("percent:Q", title="% of responses", scale=alt.Scale(domain=[0, 100])),
            y=alt.Y("group:N", title=None, sort=list(NPS_GROUPS)),
            color=alt.Color(
                "group:N",
                legend=None,
                scale=alt.Scale(domain=list(NPS_GROUPS), range=list(NPS_GROUPS.values())),
            ),
            tooltip=[
                alt.Tooltip("group:N", title="Group"),
                alt.Tooltip("count:Q", title="Responses"),
                alt.Tooltip("percent:Q", title="%", format=".1f"),
            ],
        )
        .properties(height=150)
    )


def trend_chart(trend: pd.DataFrame) -> alt.LayerChart:
    """SUS mean, NPS and CSAT % per campaign year, with the SUS confidence interval as a rule."""
    lines = trend.melt(
        id_vars="year",
        value_vars=["sus_mean", "nps", "csat_pct"],
        var_name="measure",
        value_name="value",
    ).dropna(subset=["value"])
    lines["measure"] = lines["measure"].map(
        {"sus_mean": "SUS mean", "nps": "NPS", "csat_pct": "CSAT %"}
    )
    base = alt.Chart(lines).encode(
        x=alt.X("year:O", title="Campaign year", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(domain=[-100, 100])),
        color=alt.Color(
            "measure:N",
            title=None,
            scale=alt.Scale(
                domain=["SUS mean", "NPS", "CSAT %"], range=["#C62828", "#2E7D32", "#1565C0"]
            ),
        ),
        tooltip=["year:O", "measure:N", alt.Tooltip("value:Q", format=".1f")],
    )
    interval = (
        alt.Chart(trend.dropna(subset=["sus_low", "sus_high"]))
        .mark_rule(strokeWidth=3, opacity=0.5, color="#C62828")
        .encode(
            x="year:O",
            y="sus_low:Q",
            y2="sus_high:Q",
            tooltip=[
                "year:O",
                alt.Tooltip("sus_low:Q", title="SUS 95 % low", format=".1f"),
                alt.Tooltip("sus_high:Q", title="SUS 95 % high", format=".1f"),
            ],
        )
    )
    return (base.mark_line(point=True) + interval).properties(height=260)
