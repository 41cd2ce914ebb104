"""A cached loader's key is worked out once per compiled function (ui/cache_keys.py) and is
always the key Streamlit itself would give."""

from __future__ import annotations

import functools
import inspect
import textwrap
import types

import pytest
from streamlit.runtime.caching import cache_utils
from streamlit.runtime.caching.cache_type import CacheType

from ui import cache_keys

PAGE = textwrap.dedent(
    """
    def load_queue(scope):
        return [scope, 1]


    def load_views(user_id):
        return user_id
    """
)


def run_page(source: str, code: types.CodeType | None = None) -> dict:
    """One run of a page: its functions made afresh from its compiled code, as every rerun does."""
    namespace: dict = {"__name__": "__main__"}
    exec(code or compile(source, "/tmp/hypercare_page_under_test.py", "exec"), namespace)
    return namespace


@pytest.fixture
def page_file(monkeypatch):
    """Source lookups read the page's text, as they read a page file on the server."""
    import linecache

    def lines(source: str) -> None:
        linecache.cache["/tmp/hypercare_page_under_test.py"] = (
            len(source),
            None,
            source.splitlines(keepends=True),
            "/tmp/hypercare_page_under_test.py",
        )

    yield lines
    linecache.cache.pop("/tmp/hypercare_page_under_test.py", None)


def test_importing_ui_installs_it():
    assert cache_utils._make_function_key is cache_keys._function_key


def test_the_key_is_streamlits_own(page_file):
    page_file(PAGE)
    functions = run_page(PAGE)
    for name in ("load_queue", "load_views"):
        for cache_type in (CacheType.DATA, CacheType.RESOURCE):
            assert cache_keys._function_key(
                cache_type, functions[name]
            ) == cache_keys.STREAMLIT_FUNCTION_KEY(cache_type, functions[name])


def test_reruns_of_the_same_compiled_page_read_no_source(page_file, monkeypatch):
    page_file(PAGE)
    code = compile(PAGE, "/tmp/hypercare_page_under_test.py", "exec")
    first = cache_keys._function_key(CacheType.DATA, run_page(PAGE, code)["load_queue"])
    reads = []
    real = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda f: reads.append(f) or real(f))
    keys = {
        cache_keys._function_key(CacheType.DATA, run_page(PAGE, code)["load_queue"])
        for _ in range(5)
    }
    assert keys == {first} and reads == []


def test_an_edited_loader_gets_a_new_key(page_file):
    page_file(PAGE)
    before = cache_keys._function_key(CacheType.DATA, run_page(PAGE)["load_queue"])
    edited = PAGE.replace("return [scope, 1]", "return [scope, 2]")
    page_file(edited)
    after = cache_keys._function_key(CacheType.DATA, run_page(edited)["load_queue"])
    assert before != after
    assert after == cache_keys.STREAMLIT_FUNCTION_KEY(
        CacheType.DATA, run_page(edited)["load_queue"]
    )


def test_a_callable_without_code_is_left_to_streamlit(monkeypatch):
    given = []
    monkeypatch.setattr(
        cache_keys, "STREAMLIT_FUNCTION_KEY", lambda cache_type, f: given.append(f) or "theirs"
    )
    partial = functools.partial(print, "x")
    assert cache_keys._function_key(CacheType.DATA, partial) == "theirs"
    assert given == [partial]
