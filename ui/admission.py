"""At most a few full script runs at once in this server process; the others wait their turn.

Streamlit runs every session's script in its own thread, and Python runs one thread at a time.
With fifty sessions clicking, fifty runs share the interpreter lock in 5 ms slices: each run
takes fifty times as long, and a run that holds SQLite's write lock waits so long for its next
slice that other writers pass their 10 s busy timeout ("database is locked"). Letting only
`HYPERCARE_MAX_CONCURRENT_RUNS` runs (default 4) execute at once keeps the processor as busy
(database reads and bcrypt release the lock) while each run finishes as fast as it can. 0 turns
the limit off. Fragment reruns (the queue's ticking countdowns) do not run app.py and are not
counted.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LIMIT_ENV = "HYPERCARE_MAX_CONCURRENT_RUNS"
DEFAULT_LIMIT = 4


def run_limit() -> int:
    """The configured limit: a whole number, 0 for none; anything else means the default."""
    value = os.environ.get(LIMIT_ENV, "").strip()
    return int(value) if value.isdigit() else DEFAULT_LIMIT


_slots: threading.BoundedSemaphore | None = None
_slots_limit = 0
_slots_guard = threading.Lock()


def _semaphore(limit: int) -> threading.BoundedSemaphore:
    global _slots, _slots_limit
    with _slots_guard:
        if _slots is None or _slots_limit != limit:
            _slots, _slots_limit = threading.BoundedSemaphore(limit), limit
        return _slots


@contextmanager
def run_slot() -> Iterator[None]:
    """Hold one of the process's run slots for the block (released on st.rerun/st.stop too)."""
    limit = run_limit()
    if limit <= 0:
        yield
        return
    slots = _semaphore(limit)
    slots.acquire()
    try:
        yield
    finally:
        slots.release()
