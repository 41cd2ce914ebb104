"""A cached loader's key, worked out once per compiled function instead of on every run.

Each page file is run again on every rerun, so its `@st.cache_data` loaders are decorated again,
and Streamlit 1.67 keys each one by reading and tokenising its source (`inspect.getsource` in
`cache_utils._make_function_key`) on every run. Measured on warm reruns, interleaved in one
process: the monitoring page (6 loaders) 11.1 → 7.8 ms and 18.2 → 13.4 ms, the case queue (5)
−3.4 to −5.3 ms (bench/README.md, "Rerunning").

The key depends only on the function's module, qualified name and source. A running server
compiles a page once (its script cache) and runs the same code objects every time, so `install()`
remembers the key by (cache type, module, qualified name, code object). An edited source is
compiled again, which makes new code objects and so a new key, as Streamlit's does. Two code
objects compare equal only when their bytecode, constants, names and line numbers are equal, so
a remembered key is never shared by functions that behave differently.
tests/pages/test_cache_keys.py holds the keys to Streamlit's own.
"""

from __future__ import annotations

from collections.abc import Callable
from types import CodeType
from typing import Any

from streamlit.runtime.caching import cache_utils
from streamlit.runtime.caching.cache_type import CacheType

STREAMLIT_FUNCTION_KEY = cache_utils._make_function_key
"""Streamlit's own, kept for the tests (and used for a callable without a code object)."""

_KEYS: dict[tuple[CacheType, str, str, CodeType], str] = {}
_LIMIT = 4096  # distinct loaders: a few dozen; the limit only bounds a server that edits its code


def _function_key(cache_type: CacheType, func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    if not isinstance(code, CodeType):
        return STREAMLIT_FUNCTION_KEY(cache_type, func)
    which = (cache_type, func.__module__, func.__qualname__, code)
    key = _KEYS.get(which)
    if key is None:  # two threads may both work it out: the same key, harmlessly
        if len(_KEYS) >= _LIMIT:
            _KEYS.clear()
        key = _KEYS[which] = STREAMLIT_FUNCTION_KEY(cache_type, func)
    return key


def install() -> None:
    """Idempotent; importing `ui` runs it, before any page decorates a loader."""
    cache_utils._make_function_key = _function_key
