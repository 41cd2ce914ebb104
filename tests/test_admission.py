"""ui.admission: at most the configured number of script runs hold a slot at once."""

from __future__ import annotations

import threading
import time

import pytest

from ui import admission


def most_at_once(threads: int) -> int:
    inside, most, guard = [0], [0], threading.Lock()

    def run() -> None:
        with admission.run_slot():
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with guard:
                inside[0] -= 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return most[0]


def test_runs_beyond_the_limit_wait(monkeypatch):
    monkeypatch.setenv(admission.LIMIT_ENV, "2")
    assert 1 <= most_at_once(8) <= 2


def test_zero_means_no_limit(monkeypatch):
    monkeypatch.setenv(admission.LIMIT_ENV, "0")
    together = threading.Barrier(6, timeout=20)  # broken unless all six are inside at once
    broken = []

    def run() -> None:
        with admission.run_slot():
            try:
                together.wait()
            except threading.BrokenBarrierError:
                broken.append(True)

    workers = [threading.Thread(target=run) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not broken


@pytest.mark.parametrize("value", ["", "many", "-3"])
def test_anything_else_means_the_default(monkeypatch, value):
    monkeypatch.setenv(admission.LIMIT_ENV, value)
    assert admission.run_limit() == admission.DEFAULT_LIMIT


def test_a_slot_is_given_back_when_the_run_stops(monkeypatch):
    monkeypatch.setenv(admission.LIMIT_ENV, "1")
    with pytest.raises(RuntimeError), admission.run_slot():
        raise RuntimeError("st.stop() or st.rerun() raise through the block")
    assert most_at_once(2) == 1  # would block forever if the slot had leaked
