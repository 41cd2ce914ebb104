"""The metrics CSV loader on SQLite and PostgreSQL: all rows or none, line-numbered errors, idempotent."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session, select

from data_access.db import session_scope
from data_access.metric_loader import MetricFileRefused, load_metric_csv, main
from data_access.models import AuditLog, ModelMetricDaily, PlanningModel
from domain.monitoring import METRICS
from tests.data_access.actors import admin
from tests.data_access.monitoring_estate import build_estate

TODAY = date(2026, 11, 2)
HEADER = "model_id,model_name,day," + ",".join(METRICS)


@pytest.fixture
def estate(engine):
    return build_estate(engine)


def good_rows(estate, days: int = 3) -> list[str]:
    rows = []
    for offset in range(days):
        day = TODAY - timedelta(days=days - offset)
        rows.append(f"{estate.model_a},Sales Forecast PROD,{day},20.5,45,30.25,120,400,60,900")
        rows.append(f"{estate.model_b},,{day},21,44.5,,118.75,380,55,870")
    return rows


def csv_text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def load(engine, text: str | bytes, **kwargs):
    with session_scope(engine) as session:
        return load_metric_csv(
            session=session,
            actor=admin(session),
            source=text,
            today=TODAY,
            file_name="m.csv",
            **kwargs,
        )


def stored(engine) -> pd.DataFrame:
    with Session(engine) as session:
        statement = select(ModelMetricDaily).order_by(
            ModelMetricDaily.model_id, ModelMetricDaily.day
        )
        return pd.read_sql(statement, session.connection())


def test_a_good_file_loads_every_row_with_blanks_as_missing(engine, estate):
    report = load(engine, csv_text(HEADER, *good_rows(estate)))
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (6, 6, 0, 0)
    assert report.models == 2
    assert (report.first_day, report.last_day) == (
        TODAY - timedelta(days=3),
        TODAY - timedelta(days=1),
    )
    frame = stored(engine)
    assert len(frame) == 6
    first = frame[frame["model_id"] == estate.model_a].iloc[0]
    assert first["open_time_s"] == 20.5 and first["export_s"] == 30.25 and first["users"] == 60
    assert frame[frame["model_id"] == estate.model_b]["export_s"].isna().all()
    with Session(engine) as session:
        audit = session.exec(select(AuditLog).where(AuditLog.action == "load_metrics")).one()
    assert audit.actor == "admin" and '"inserted": 6' in audit.detail and "m.csv" in audit.detail


def test_loading_the_same_file_again_changes_nothing_and_a_correction_replaces(engine, estate):
    text = csv_text(HEADER, *good_rows(estate))
    load(engine, text)
    before = stored(engine)
    again = load(engine, text)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 6)
    pd.testing.assert_frame_equal(stored(engine), before)
    corrected = text.replace(",118.75,", ",119.5,", 1)
    report = load(engine, corrected)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 5)
    after = stored(engine)
    assert (after["processing_s"] == 119.5).sum() == 1
    assert len(after) == 6


BAD_ROWS = [
    ("{other},,2026-10-01,1,1,1,1,1,1,1", "there is no model with id {other}"),
    (
        "{development},,2026-10-01,1,1,1,1,1,1,1",
        "model {development} (Sandbox DEV) is not a production model",
    ),
    ("abc,,2026-10-01,1,1,1,1,1,1,1", "model_id 'abc' is not a model id (a whole number)"),
    ("{a},,2026-13-01,1,1,1,1,1,1,1", "day '2026-13-01' is not a date written YYYY-MM-DD"),
    ("{a},,01/10/2026,1,1,1,1,1,1,1", "day '01/10/2026' is not a date written YYYY-MM-DD"),
    ("{a},,2026-11-03,1,1,1,1,1,1,1", "day 2026-11-03 is in the future"),
    ("{a},,2026-10-01,-1,1,1,1,1,1,1", "open_time_s -1 is negative"),
    ("{a},,2026-10-01,1,fast,1,1,1,1,1", "import_s 'fast' is not a number"),
    ("{a},,2026-10-01,1,1,nan,1,1,1,1", "export_s 'nan' is not a number"),
    ("{a},,2026-10-01,1,1,1,inf,1,1,1", "processing_s 'inf' is not a number"),
    ("{a},,2026-10-01,1,1,1,1,2.5,1,1", "times_accessed 2.5 is not a whole number"),
    ("{a},,2026-10-01,1,1,1,1,1,-3,1", "users -3 is negative"),
    ("{a},,2026-10-01,1,1,1,1,1,1", "expected 10 fields as in the header, found 9"),
    (
        "{a},Supply Plan PROD,2026-10-01,1,1,1,1,1,1,1",
        "model {a} is named 'Sales Forecast PROD', not 'Supply Plan PROD'",
    ),
    ("{a},,{first_day},1,1,1,1,1,1,1", "model {a} on {first_day} already appears on line 2"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS, ids=[r for _, r in BAD_ROWS])
def test_every_kind_of_bad_row_is_refused_with_its_line_and_nothing_is_written(
    engine, estate, row, reason
):
    fields = {
        "a": estate.model_a,
        "development": estate.development,
        "other": estate.inactive_model + 100,
        "first_day": TODAY - timedelta(days=3),
    }
    rows = good_rows(estate)
    lines = [HEADER, *rows[:3], row.format(**fields), *rows[3:]]
    with pytest.raises(MetricFileRefused) as refused:
        load(engine, csv_text(*lines))
    assert [str(e) for e in refused.value.errors] == [f"line 5: {reason.format(**fields)}"]
    assert "nothing was loaded" in str(refused.value) and "line 5" in str(refused.value)
    assert stored(engine).empty
    with Session(engine) as session:
        assert session.exec(select(AuditLog)).all() == []


def test_all_problems_are_reported_at_once_with_the_files_own_line_numbers(engine, estate):
    rows = good_rows(estate)
    text = csv_text(
        HEADER,
        rows[0],
        "",  # a blank line still counts as a line
        f"{estate.model_a},,2026-10-01,1,1,1,1,1.5,1,-1",
        rows[1],
        f'{estate.model_b},"Supply Plan PROD",2026-10-01,"1",1,1,1,1,1,1',
        "999999,,yesterday,1,1,1,1,1,1,1",
    )
    load(engine, csv_text(HEADER, rows[2]))  # something already stored stays as it was
    before = stored(engine)
    with pytest.raises(MetricFileRefused) as refused:
        load(engine, text)
    assert [str(e) for e in refused.value.errors] == [
        "line 4: times_accessed 1.5 is not a whole number",
        "line 4: changes -1 is negative",
        "line 7: there is no model with id 999999",
        "line 7: day 'yesterday' is not a date written YYYY-MM-DD",
    ]
    pd.testing.assert_frame_equal(stored(engine), before)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "line 1: the file is empty"),
        (HEADER + "\n", "line 2: the file has a header but no rows"),
        (
            "model_id,day," + ",".join(METRICS[:-1]) + "\n1,2026-10-01,1,1,1,1,1,1\n",
            "line 1: missing column changes",
        ),
        (HEADER + ",colour\n", "line 1: unknown column colour"),
        (
            "model_id,day,day," + ",".join(METRICS) + "\n",
            "line 1: column day appears more than once",
        ),
        (b"model_id,day\n\xff\xfe\n", "line 2: the file is not UTF-8 text"),
    ],
)
def test_a_bad_header_or_empty_file_is_refused(engine, estate, text, reason):
    with pytest.raises(MetricFileRefused) as refused:
        load(engine, text)
    assert str(refused.value.errors[0]).startswith(reason)
    assert stored(engine).empty


def test_a_spreadsheet_export_with_a_bom_and_crlf_loads(engine, estate):
    text = (
        "\ufeff"
        + "\r\n".join(
            [
                HEADER.replace("model_name,", ""),
                *[",".join(r.split(",")[:1] + r.split(",")[2:]) for r in good_rows(estate)],
            ]
        )
        + "\r\n"
    ).encode("utf-8")
    assert load(engine, text).inserted == 6


def test_a_big_file_loads_with_progress(engine, estate):
    with Session(engine) as session:
        workspace_model = session.get(PlanningModel, estate.model_a)
        extra = [
            PlanningModel(
                workspace_id=workspace_model.workspace_id,
                customer_id=estate.customer_a,
                name=f"Bulk {k}",
                is_production=True,
            )
            for k in range(50)
        ]
        session.add_all(extra)
        session.commit()
        ids = [m.id for m in extra]
    rng = np.random.default_rng(0)
    days = pd.date_range(end=TODAY - timedelta(days=1), periods=1_000).strftime("%Y-%m-%d")
    grid = pd.MultiIndex.from_product([ids, days], names=["model_id", "day"]).to_frame(index=False)
    for metric in METRICS:
        grid[metric] = rng.integers(0, 1_000, len(grid))
    text = grid.to_csv(index=False)
    seen: list[float] = []
    report = load(engine, text, progress=lambda fraction, _what: seen.append(fraction))
    assert report.inserted == 50_000
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 5
    with Session(engine) as session:
        count = session.exec(
            select(ModelMetricDaily.model_id).where(ModelMetricDaily.model_id.in_(ids))
        ).all()
    assert len(count) == 50_000


def test_the_command_line_loads_a_file_or_lists_its_errors(engine, estate, tmp_path, capsys):
    url = engine.url.render_as_string(hide_password=False)
    good = tmp_path / "good.csv"
    good.write_text(csv_text(HEADER, *good_rows(estate)))
    assert main([str(good), "--database-url", url]) == 0
    assert "6 new" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text(HEADER, f"{estate.model_a},,2026-10-01,1,1,1,1,1,1,-5"))
    assert main([str(bad), "--database-url", url]) == 1
    assert "line 2: changes -5 is negative" in capsys.readouterr().err
    assert len(stored(engine)) == 6
