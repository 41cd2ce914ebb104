"""Loaded by a test server started with this folder on PYTHONPATH (tests/browser/test_downloads.py):
every deferred download's file goes through two of Streamlit's orphan clean-ups before its
address leaves the server, as when two script runs (fragments, other users) end in that gap."""

from streamlit.runtime.media_file_manager import MediaFileManager

_execute_deferred = MediaFileManager.execute_deferred


def _execute_then_sweep_twice(self, file_id):
    url = _execute_deferred(self, file_id)
    self.remove_orphaned_files()
    self.remove_orphaned_files()
    return url


MediaFileManager.execute_deferred = _execute_then_sweep_twice
