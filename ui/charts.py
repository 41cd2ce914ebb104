"""The one way a page draws an Altair chart: built and converted once per distinct input.

`st.altair_chart(build(...))` builds the Altair chart and converts it to Vega-Lite (`to_dict()`
with schema validation, the data written as Arrow) on every run of the page, even when its data
has not changed: a quarter of the QBR page's time and a twelfth of the server's under load
(issue 15). `show_chart(build, ...)` keeps that spec in `st.cache_data`, keyed by the builder and
a digest of its arguments, and draws it with `st.vega_lite_chart`. The spec is made by the
conversion `st.altair_chart` itself uses, so what reaches the browser is the same
(tests/pages/test_charts.py holds both to that); the builders stay plain Altair, which the QBR's
PDF also renders.

The conversion checks a builder's spec against the Vega-Lite schema until one of that builder's
charts passes in this process, not on every conversion: the check walks the whole spec (about
5 ms for the case timeline), and a builder's structure is its code, which that first check and
the tests cover. Every other step is `st.altair_chart`'s.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from typing import Any

import altair as alt
import streamlit as st
from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

from reports import altair_speed

altair_speed.install()  # every chart a page builds converts its channels without re-indexing


def show_chart(
    build: Callable[..., alt.TopLevelMixin],
    *args: Any,
    width: int | str = "stretch",
    height: int | str = "content",
) -> None:
    """Draw `build(*args)` as `st.altair_chart(build(*args), width=, height=)` would.

    `build` is a named function whose chart depends only on its arguments (data frames,
    strings, numbers, dates, dataclasses of those): it runs again only when one of them
    changes. Its arguments are positional, so that `width` and `height` are always the
    element's, as in `st.altair_chart`."""
    spec = vega_lite_spec(chart_key(build, args), build, args)
    st.vega_lite_chart(spec=spec, width=width, height=height)


def chart_key(build: Callable[..., Any], args: tuple) -> str:
    """The builder's file and name (a page's functions all live in module '__main__') and a
    digest of its pickled arguments.

    Not `st.cache_data`'s own hashing of the arguments: it hashes a data frame column by column
    (3–10 ms for a chart's frame on the demo data), the pickle digest takes 0.1–0.6 ms. Equal
    digests mean equal arguments, so a chart is never stale; equal frames that pickle
    differently only cost a rebuild."""
    digest = hashlib.blake2b(pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()
    return f"{build.__code__.co_filename}:{build.__qualname__}:{digest}"


@st.cache_data(ttl=3600, max_entries=500, show_spinner=False)
def vega_lite_spec(
    key: str, _build: Callable[..., alt.TopLevelMixin], _args: tuple
) -> dict[str, Any]:
    """The Vega-Lite spec of `_build(*_args)`, its data as named Arrow datasets, made as
    `st.altair_chart` makes it; cached under `key` (`chart_key`) alone."""
    chart = _build(*_args)
    builder = (_build.__code__.co_filename, _build.__qualname__)
    if builder in VALIDATED_BUILDERS:
        return _convert_altair_to_vega_lite_spec(_Unvalidated(chart))
    spec = _convert_altair_to_vega_lite_spec(chart)  # raises if the spec breaks the schema
    VALIDATED_BUILDERS.add(builder)
    return spec


VALIDATED_BUILDERS: set[tuple[str, str]] = set()
"""The builders (file, name) whose chart this process has checked against the schema."""


class _Unvalidated:
    """A chart whose `to_dict()`, the only call the conversion makes, skips the schema check."""

    def __init__(self, chart: alt.TopLevelMixin) -> None:
        self.chart = chart

    def to_dict(self) -> dict[str, Any]:
        return self.chart.to_dict(validate=False)
