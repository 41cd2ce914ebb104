"""Survey tally: each campaign's counts of drafts, submitted responses and what the survey
figures are counted from, kept by triggers on `survey_response` (issue 15).

The survey results page summed every submitted answer in scope on every run (59 sums over 14,000
responses of 2,000 customers), and the survey form and the results counted each campaign's
drafts and submissions over every response; both grew with the history of responses, not with
what the pages show. `survey_tally` holds those sums per campaign:

- `drafts`, `responses` (submitted);
- of the submitted: `sus_points` (the SUS score / 2.5: 20 plus the odd items' answers minus 1,
  plus 5 minus the even items' answers) and `sus_squares`, `promoters` (NPS 9–10), `passives`
  (7–8), `detractors` (0–6), `satisfied` (CSAT 4–5), `csat_answers` (CSAT 1–5), `comments`
  (not blank), and `sus_<item>_<answer>`, how many answered `answer` to SUS `item`.

Triggers add a row's contribution when it is inserted, take the old one back and add the new
when it changes, and take it back when it is deleted: commands, the seed's bulk inserts and
anything else writing responses keep the tally in the same transaction. The upgrade fills it
from the responses already stored. A submitted response with an answer missing counts in no
bucket of that item (and no SUS points), as the sums it replaces did, so the results page can
still refuse such data.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the rule was on this date (domain.surveys): a later change of rule is a new
# migration, not an edit of this one.
SUS_ITEMS = range(1, 11)
ANSWERS = range(1, 6)
SUS_OFFSET = 20  # five odd items at -1 each, five even items at +5 each


def _sus_points(row: str) -> str:
    terms = " ".join(f"{'+' if item % 2 else '-'} {row}.sus_{item}" for item in SUS_ITEMS)
    return f"({SUS_OFFSET} {terms})"


def _contributions(row: str) -> dict[str, str]:
    """Each count's contribution of one response row (`NEW` or `OLD` in a trigger, or the table
    itself in the fill), 0 or more; NULL answers count in nothing."""
    submitted = f"{row}.status = 'submitted'"

    def when(condition: str, value: str = "1") -> str:
        return f"CASE WHEN {condition} THEN {value} ELSE 0 END"

    points = _sus_points(row)
    return {
        "drafts": when(f"{row}.status = 'draft'"),
        "responses": when(submitted),
        "sus_points": when(f"{submitted} AND {points} IS NOT NULL", points),
        "sus_squares": when(f"{submitted} AND {points} IS NOT NULL", f"{points} * {points}"),
        "promoters": when(f"{submitted} AND {row}.nps >= 9"),
        "passives": when(f"{submitted} AND {row}.nps BETWEEN 7 AND 8"),
        "detractors": when(f"{submitted} AND {row}.nps BETWEEN 0 AND 6"),
        "satisfied": when(f"{submitted} AND {row}.csat >= 4"),
        "csat_answers": when(f"{submitted} AND {row}.csat BETWEEN 1 AND 5"),
        "comments": when(f"{submitted} AND trim(coalesce({row}.comments, '')) <> ''"),
        **{
            f"sus_{item}_{answer}": when(f"{submitted} AND {row}.sus_{item} = {answer}")
            for item in SUS_ITEMS
            for answer in ANSWERS
        },
    }


COUNTS = tuple(_contributions("r"))


def _update(row: str, sign: str) -> str:
    changes = ", ".join(
        f"{name} = {name} {sign} {value}" for name, value in _contributions(row).items()
    )
    return f"UPDATE survey_tally SET {changes} WHERE campaign_id = {row}.campaign_id"


def upgrade() -> None:
    op.create_table(
        "survey_tally",
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        *(sa.Column(name, sa.BigInteger(), server_default="0", nullable=False) for name in COUNTS),
        sa.ForeignKeyConstraint(["campaign_id"], ["survey_campaign.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id"),
    )
    sums = ", ".join(f"coalesce(sum({value}), 0)" for value in _contributions("r").values())
    op.execute(
        f"INSERT INTO survey_tally (campaign_id, {', '.join(COUNTS)}) "
        f"SELECT c.id, {sums} FROM survey_campaign c "
        "LEFT JOIN survey_response r ON r.campaign_id = c.id GROUP BY c.id"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION keep_survey_tally() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') THEN
                    {_update("OLD", "-")};
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN
                    INSERT INTO survey_tally (campaign_id) VALUES (NEW.campaign_id)
                        ON CONFLICT (campaign_id) DO NOTHING;
                    {_update("NEW", "+")};
                END IF;
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER survey_response_tally AFTER INSERT OR UPDATE OR DELETE "
            "ON survey_response FOR EACH ROW EXECUTE FUNCTION keep_survey_tally()"
        )
    else:
        add_new = (
            "INSERT OR IGNORE INTO survey_tally (campaign_id) VALUES (NEW.campaign_id); "
            f"{_update('NEW', '+')};"
        )
        op.execute(
            "CREATE TRIGGER survey_response_tally_insert AFTER INSERT ON survey_response "
            f"BEGIN {add_new} END"
        )
        op.execute(
            "CREATE TRIGGER survey_response_tally_update AFTER UPDATE ON survey_response "
            f"BEGIN {_update('OLD', '-')}; {add_new} END"
        )
        op.execute(
            "CREATE TRIGGER survey_response_tally_delete AFTER DELETE ON survey_response "
            f"BEGIN {_update('OLD', '-')}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS survey_response_tally ON survey_response")
        op.execute("DROP FUNCTION IF EXISTS keep_survey_tally()")
    else:
        for verb in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS survey_response_tally_{verb}")
    op.drop_table("survey_tally")
