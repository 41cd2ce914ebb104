"""Altair's channel conversion, without rebuilding its class index on every call.

A chart channel given as a string (`x2="end:T"`) or as `alt.value(20)` is turned into its channel
class by `SchemaBase.from_dict`. Altair 6.3 makes a new `_FromDict` for each such call, and its
constructor hashes the JSON of every schema class's schema (about 570 of them): 4–5 ms per channel,
on every chart built (the case timeline's build took 14 ms, 7 ms without it; issue 15). The index
depends only on Altair's classes, which are all defined once Altair is imported, so `install()`
builds it once per process and `from_dict` reuses it. Everything else,
validation included, is Altair's own code. Upstream: vega/altair#3547 does the same (not merged).

`install()` is idempotent; `reports` runs it on import, so every chart builder (the pages' through
`ui.charts`, the QBR document's) gets it. tests/reports/test_altair_speed.py holds the specs to
what unpatched Altair makes.
"""

from __future__ import annotations

import functools
from typing import Any

from altair.utils import schemapi

ALTAIR_FROM_DICT = schemapi.SchemaBase.from_dict
"""Altair's own `SchemaBase.from_dict` (a bound classmethod of SchemaBase), kept for the tests."""


def _index_owner(cls: type) -> type:
    """The class whose `_default_wrapper_classes` `cls` uses: the Vega-Lite classes index only
    their own family (an index of every class would read `alt.value("#1F6FEB")` as an
    expression)."""
    return next(c for c in cls.__mro__ if "_default_wrapper_classes" in vars(c))


@functools.cache
def class_index(owner: type) -> schemapi._FromDict:
    """Altair's schema-hash → class index for the classes `owner` names, built once."""
    return schemapi._FromDict(owner._default_wrapper_classes())


def _from_dict(cls, dct: dict[str, Any], validate: bool = True):
    """`SchemaBase.from_dict` as Altair 6.3 writes it, with the index built once."""
    if validate:
        cls.validate(dct)
    return class_index(_index_owner(cls)).from_dict(dct, cls)


def install() -> None:
    schemapi.SchemaBase.from_dict = classmethod(_from_dict)
