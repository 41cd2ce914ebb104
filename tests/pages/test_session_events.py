"""ui/session_events.py on real asyncio event loops: every callback runs, in order, on the loop,
with fewer wake-ups than callbacks; and a queued message wakes the sender the same way."""

import asyncio
import threading
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.runtime import Runtime

import ui  # noqa: F401  (installs the patches)
from ui import session_events


class CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts the wake-ups other threads ask of it."""

    def __init__(self):
        super().__init__()
        self.wakeups = 0

    def call_soon_threadsafe(self, *args, **kwargs):
        self.wakeups += 1
        return super().call_soon_threadsafe(*args, **kwargs)


def on_own_thread(function):
    """Run `function` in a new thread and return what it returns: a loop is run there, since
    this thread may already count as running one (Playwright's sync API leaves one marked as
    running in the test process's main thread)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as error:  # handed back to the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(10)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def settle(loop):
    """Let `loop` run what is scheduled on it now."""
    on_own_thread(lambda: loop.run_until_complete(asyncio.sleep(0)))


def fake_session(loop):
    """Only what the patched method reads: the session's event loop."""
    return SimpleNamespace(_event_loop=loop)


def test_install_patches_streamlits_session():
    assert AppSession._call_soon_on_event_loop is session_events._call_soon_on_event_loop
    assert AppSession._enqueue_forward_msg is session_events._enqueue_forward_msg


def test_callbacks_queued_before_the_loop_gets_to_them_share_one_wakeup_and_keep_their_order():
    loop = CountingLoop()
    session = fake_session(loop)
    ran = []
    for index in range(100):
        session_events._call_soon_on_event_loop(session, lambda index=index: ran.append(index))
    assert loop.wakeups == 1
    settle(loop)
    assert ran == list(range(100))
    session_events._call_soon_on_event_loop(session, lambda: ran.append("next"))
    assert loop.wakeups == 2
    settle(loop)
    assert ran[-1] == "next"
    loop.close()


def test_callbacks_from_several_threads_all_run_on_the_loop_each_thread_in_its_order():
    loop = CountingLoop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    session = fake_session(loop)
    ran: list[tuple[int, int, bool]] = []
    per_thread = 2000

    def produce(producer: int):
        for index in range(per_thread):
            session_events._call_soon_on_event_loop(
                session,
                lambda index=index: ran.append(
                    (producer, index, threading.current_thread() is thread)
                ),
            )

    producers = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    done = threading.Event()
    session_events._call_soon_on_event_loop(session, done.set)
    assert done.wait(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()

    assert len(ran) == 4 * per_thread
    assert all(on_loop for _, _, on_loop in ran)
    for producer in range(4):
        assert [index for who, index, _ in ran if who == producer] == list(range(per_thread))


def test_one_callback_that_raises_is_reported_and_the_rest_still_run():
    loop = CountingLoop()
    reported = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context["exception"]))
    session = fake_session(loop)
    ran = []

    def fail():
        raise ValueError("boom")

    for callback in (lambda: ran.append(1), fail, lambda: ran.append(2)):
        session_events._call_soon_on_event_loop(session, callback)
    settle(loop)
    loop.close()
    assert ran == [1, 2]
    assert [str(error) for error in reported] == ["boom"]


def test_a_closed_loop_drops_callbacks_without_raising_and_keeps_nothing():
    loop = CountingLoop()
    loop.close()
    session = fake_session(loop)
    session_events._call_soon_on_event_loop(session, lambda: None)
    session_events._call_soon_on_event_loop(session, lambda: None)
    pending = session_events._pending(session)
    assert pending.callbacks == [] and not pending.scheduled


def test_a_wakeup_that_fails_to_be_scheduled_is_asked_for_again_by_the_next_callback(
    monkeypatch,
):
    """Streamlit raises when the loop refuses a callback for another reason than being closed;
    the session must not be left waiting for a wake-up nobody scheduled."""
    loop = CountingLoop()
    session = fake_session(loop)
    ran = []
    refuse = {"once": True}
    schedule = session_events.STREAMLIT_CALL_SOON

    def flaky(self, callback):
        if refuse.pop("once", False):
            raise RuntimeError("refused")
        schedule(self, callback)

    monkeypatch.setattr(session_events, "STREAMLIT_CALL_SOON", flaky)
    with pytest.raises(RuntimeError, match="refused"):
        session_events._call_soon_on_event_loop(session, lambda: ran.append(1))
    session_events._call_soon_on_event_loop(session, lambda: ran.append(2))
    assert loop.wakeups == 1
    settle(loop)
    loop.close()
    assert ran == [1, 2]


class Recorder:
    def __init__(self):
        self.messages = []

    def enqueue(self, message):
        self.messages.append(message)


def fake_runtime(loop):
    runtime = Runtime.__new__(Runtime)
    objects = SimpleNamespace(eventloop=loop, need_send_data=asyncio.Event())
    runtime._get_async_objs = lambda: objects
    return runtime, objects


def test_a_message_queued_on_the_loop_sets_the_send_event_without_a_wakeup():
    loop = CountingLoop()
    runtime, objects = fake_runtime(loop)
    session = SimpleNamespace(
        _browser_queue=Recorder(), _message_enqueued_callback=runtime._enqueued_some_message
    )

    async def on_the_loop():
        session_events._enqueue_forward_msg(session, "delta")
        return objects.need_send_data.is_set()

    assert on_own_thread(lambda: loop.run_until_complete(on_the_loop())) is True
    assert loop.wakeups == 0
    assert session._browser_queue.messages == ["delta"]
    loop.close()


def test_a_message_queued_off_the_loop_schedules_the_send_event():
    loop = CountingLoop()
    runtime, objects = fake_runtime(loop)
    session = SimpleNamespace(
        _browser_queue=Recorder(), _message_enqueued_callback=runtime._enqueued_some_message
    )
    session_events._enqueue_forward_msg(session, "delta")
    assert loop.wakeups == 1 and not objects.need_send_data.is_set()
    settle(loop)
    assert objects.need_send_data.is_set()
    loop.close()


@pytest.mark.parametrize("callback", [None, "other"])
def test_any_other_enqueued_callback_is_called_as_streamlit_calls_it(callback):
    called = []
    session = SimpleNamespace(
        _browser_queue=Recorder(),
        _message_enqueued_callback=None if callback is None else lambda: called.append(1),
    )
    session_events._enqueue_forward_msg(session, "delta")
    assert session._browser_queue.messages == ["delta"]
    assert called == ([] if callback is None else [1])


def test_the_app_keeps_text_columns_in_python_objects():
    """`ui` sets it for the server process: the same `str` dtype, cheaper on small frames."""
    frame = pd.DataFrame({"name": ["Acme", None]})
    assert frame["name"].dtype == pd.StringDtype("python", na_value=np.nan)
    assert frame["name"].dtype == "str"
