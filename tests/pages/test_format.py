"""Small formatters pages use."""

from zoneinfo import available_timezones

from ui.format import plain_markdown, time_zone_names


def test_plain_markdown_shows_names_literally():
    assert plain_markdown("[x](http://e.vil) **b** <i>") == (
        r"\[x\]\(http\://e\.vil\) \*\*b\*\* \<i\>"
    )
    assert plain_markdown("Sam Ortiz") == "Sam Ortiz"


def test_missing_values_show_a_dash_and_dates_one_format():
    import pandas as pd

    from ui.format import date_text, datetime_text, value_text

    assert [value_text(v) for v in (None, float("nan"), pd.NaT, "  ", "Ada")] == [
        "—",
        "—",
        "—",
        "—",
        "Ada",
    ]
    assert date_text(pd.Timestamp("2026-11-28")) == "28 Nov 2026"
    assert datetime_text(pd.Timestamp("2026-11-28 14:05", tz="UTC"), "Asia/Tokyo") == (
        "28 Nov 2026 23:05"
    )
    assert datetime_text(None, "UTC") == "—"


def test_contacts_of_the_same_name_are_told_apart_by_email():
    import pandas as pd

    from ui.format import contact_labels

    contacts = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "name": ["Sam Ortiz", "Sam Ortiz", "Ada Lovelace"],
            "email": ["sam@a.example", "sam.o@b.example", "ada@a.example"],
        }
    )
    assert contact_labels(contacts) == {
        1: "Sam Ortiz (sam@a.example)",
        2: "Sam Ortiz (sam.o@b.example)",
        3: "Ada Lovelace",
    }


def test_time_zone_names_are_every_zone_sorted_and_read_once():
    names = time_zone_names()
    assert names == tuple(sorted(available_timezones()))
    assert "Europe/London" in names and "Asia/Kolkata" in names
    assert time_zone_names() is names  # the same tuple: not read from disk again
