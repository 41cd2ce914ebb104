"""Filters that live in the URL: widgets start from the query string and write back to it, so a
filtered page can be shared as a link or kept as a saved view (its query string)."""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import parse_qs, urlencode

import streamlit as st


def current_query(keys: Collection[str]) -> str:
    """The URL's values for `keys` as a query string (what a saved view keeps)."""
    return urlencode([(key, value) for key in keys for value in st.query_params.get_all(key)])


def same_query(first: str, second: str) -> bool:
    """Whether two query strings hold the same values for each key (in any order)."""
    return {key: sorted(values) for key, values in parse_qs(first).items()} == {
        key: sorted(values) for key, values in parse_qs(second).items()
    }


def set_query(query: str, keys: Collection[str]) -> None:
    """Make the URL hold exactly `query`'s values for `keys`."""
    for key in keys:
        st.query_params.pop(key, None)
    for key, values in parse_qs(query).items():
        if key in keys:
            st.query_params[key] = values if len(values) > 1 else values[0]


def apply_query(query: str, keys: Collection[str]) -> None:
    """Make the URL hold exactly `query`'s values for `keys`; widgets start from `query` (pass
    it as `start`) when they draw."""
    for key in keys:
        st.session_state.pop(f"filter_{key}", None)
    set_query(query, keys)


def start_values(key: str, start: str | None) -> list[str]:
    """A filter's first values: from `start` (a chosen view's query string) when given, else from
    the URL. A run's URL can be older than the view: its query string is the one the browser
    sent with the request that started the run (`st.rerun()` reuses it)."""
    if start is not None:
        return parse_qs(start).get(key, [])
    return st.query_params.get_all(key)


def url_to_state(key: str, options: list[str], start: str | None = None) -> bool:
    """A filter with no state (first run, or a view just applied) starts from `start_values`;
    True when it did so in this run."""
    if f"filter_{key}" in st.session_state:
        return False
    wanted = start_values(key, start)
    st.session_state[f"filter_{key}"] = [value for value in wanted if value in options]
    return True


def widget_default(key: str, fresh: bool, options: list[str] | None = None):
    """What a filter's widget should show if the browser forgets its value: the value it has.

    The browser can forget a widget's value: after the queue's `run_every` fragment called
    `st.rerun()`, it sent an empty Assignee filter back as a change in 1 of 4 runs, and that
    replaced the chosen view. With the current value as the default, a forgotten value comes
    back unchanged. In the run that set the value through session state (`fresh`), Streamlit
    sends that value along and warns about a default beside it, so there is none."""
    if fresh:
        return None
    value = st.session_state[f"filter_{key}"]
    return value if options is None else [item for item in value if item in options]


def state_to_url(key: str, view_key: str | None = None) -> None:
    """Widget callback: the URL follows the filter; a chosen saved view no longer applies."""
    value = st.session_state[f"filter_{key}"]
    if value:
        st.query_params[key] = value
    else:
        st.query_params.pop(key, None)
    if view_key is not None:
        st.session_state[view_key] = None


def filter_select(
    column,
    key: str,
    label: str,
    options: list[str],
    names: dict,
    view_key: str | None = None,
    start: str | None = None,
) -> list[str]:
    """A multiselect kept in the URL under `key` ("All" when nothing is chosen)."""
    fresh = url_to_state(key, options, start)
    return column.multiselect(
        label,
        options,
        default=widget_default(key, fresh, options),
        format_func=lambda value: names.get(value, value),
        key=f"filter_{key}",
        on_change=state_to_url,
        args=(key, view_key),
        placeholder="All",
    )
