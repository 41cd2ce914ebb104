"""A download's file lives long enough for the browser to fetch it.

Streamlit 1.67 deletes a downloadable file the second time a script run, in any session, ends
with no session showing that file. A deferred download's file (`ui.downloads`) is shown by no
session from the moment it is made: the server runs the click's callable, stores the file, sends
its address to the browser, and only then does the browser fetch it. Two script runs ending in
that gap (the case queue's two 5-second fragments, or other users' reruns: under load one ends
every 60 ms) deleted the file first, and the browser cancelled the download. A fresh-clone CI
run caught it in tests/browser/test_queue_live.py.

`install()` keeps such a file until the first clean-up at least `KEEP_SECONDS` after a run
first found it orphaned. Everything else about Streamlit's clean-up stays as it is: a file a
page shows is never deleted, and images and other media go as soon as no page shows them.
tests/pages/test_media_files.py runs Streamlit's own file manager with and without it.
"""

from __future__ import annotations

import math
import time

from streamlit.runtime.media_file_manager import MediaFileMetadata

STREAMLIT_MARK_FOR_DELETE = MediaFileMetadata.mark_for_delete
STREAMLIT_IS_MARKED_FOR_DELETE = MediaFileMetadata.is_marked_for_delete
"""Streamlit's own, kept for the tests."""

KEEP_SECONDS = 60.0
"""How long an orphaned download's file stays fetchable: far beyond a click's round trip, and
short enough that the server holds at most the files of the last minute's clicks."""


def _now() -> float:
    return time.monotonic()


def _mark_for_delete(self: MediaFileMetadata) -> None:
    """Streamlit's first orphaned finding: remember when, once."""
    if not self._is_marked_for_delete:
        self._is_marked_for_delete = True
        self._marked_at = _now()


def _is_marked_for_delete(self: MediaFileMetadata) -> bool:
    """Deletable only once `KEEP_SECONDS` have passed since it was first found orphaned."""
    marked_at = getattr(self, "_marked_at", -math.inf)
    return self._is_marked_for_delete and _now() - marked_at >= KEEP_SECONDS


def install() -> None:
    """Idempotent; `ui.downloads` runs it on import, so every page with a download has it."""
    MediaFileMetadata.mark_for_delete = _mark_for_delete
    MediaFileMetadata.is_marked_for_delete = property(_is_marked_for_delete)
