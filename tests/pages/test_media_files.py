"""A deferred download's file survives script runs until the browser has had time to fetch it
(ui/media_files.py), on Streamlit's own media file manager."""

from __future__ import annotations

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager, MediaFileMetadata
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

import ui.downloads  # noqa: F401  (installs the keep-alive, as every page with a download does)
from ui import media_files


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    now = [1_000.0]
    monkeypatch.setattr(media_files, "_now", lambda: now[0])
    return now


def clicked_file(manager: MediaFileManager) -> str:
    """What a click on a deferred download makes: a file no session shows. Its id."""
    placeholder = manager.add_deferred(
        lambda: b"case_id\n1\n", "text/csv", "1.5", file_name="q.csv"
    )
    url = manager.execute_deferred(placeholder)
    return url.rsplit("/", 1)[1].split(".")[0]


def new_manager() -> MediaFileManager:
    return MediaFileManager(MemoryMediaFileStorage("/media"))


def test_importing_the_downloads_installs_the_keep_alive():
    assert MediaFileMetadata.is_marked_for_delete is not media_files.STREAMLIT_IS_MARKED_FOR_DELETE
    assert MediaFileMetadata.mark_for_delete is media_files._mark_for_delete


def test_without_it_two_script_runs_delete_a_clicked_file_before_it_is_fetched(monkeypatch):
    monkeypatch.setattr(MediaFileMetadata, "mark_for_delete", media_files.STREAMLIT_MARK_FOR_DELETE)
    monkeypatch.setattr(
        MediaFileMetadata, "is_marked_for_delete", media_files.STREAMLIT_IS_MARKED_FOR_DELETE
    )
    manager = new_manager()
    file_id = clicked_file(manager)
    manager.remove_orphaned_files()
    manager.remove_orphaned_files()
    assert manager.read_file(file_id) is None  # the failure the keep-alive is for


def test_a_clicked_file_outlives_any_number_of_runs_within_the_keep_time(clock):
    manager = new_manager()
    file_id = clicked_file(manager)
    for _ in range(20):
        manager.remove_orphaned_files()
        clock[0] += (media_files.KEEP_SECONDS - 1) / 20
    assert manager.read_file(file_id).content == b"case_id\n1\n"


def test_the_first_run_after_the_keep_time_deletes_it(clock):
    manager = new_manager()
    file_id = clicked_file(manager)
    manager.remove_orphaned_files()  # first found orphaned
    clock[0] += media_files.KEEP_SECONDS
    manager.remove_orphaned_files()
    assert manager.read_file(file_id) is None


def test_a_file_a_page_shows_is_never_deleted_and_media_go_at_once(clock):
    manager = new_manager()
    shown = manager.add(b"a,b\n", "text/csv", "1.1", is_for_static_download=True)
    image = manager.add(b"\x89PNG", "image/png", "1.2")
    clock[0] += 10 * media_files.KEEP_SECONDS
    manager.remove_orphaned_files()
    manager.remove_orphaned_files()
    assert manager.read_file(shown.rsplit("/", 1)[1].split(".")[0]) is not None
    manager.clear_session_refs("dontcare")  # the next full run shows neither
    manager.remove_orphaned_files()
    assert manager.read_file(image.rsplit("/", 1)[1].split(".")[0]) is None


def test_install_is_idempotent():
    media_files.install()
    media_files.install()
    assert MediaFileMetadata.mark_for_delete is media_files._mark_for_delete
