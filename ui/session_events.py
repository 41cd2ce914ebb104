"""Fewer wake-ups of the server's event loop while a script runs.

Streamlit 1.67 hands every message a script run produces (each element drawn, each run start
and end) from the script's thread to the event loop with its own `call_soon_threadsafe`, and the
event loop then asks for a send with another one. Each is a write to the loop's wake-up socket, so
a page of 60 elements costs 120 system calls and as many wake-ups; with 50 sessions running at
once the writes contend for the interpreter lock with every script thread.

`install()` changes two things and nothing else:
- `AppSession._call_soon_on_event_loop` queues callbacks per session and wakes the loop once for
  all the callbacks queued before it gets to them. They still run on the event loop, in the
  order they were queued; a callback that raises is reported to the loop's exception handler, as
  asyncio does, and the rest still run. The event loop of a stopped session is closed: queued
  callbacks are dropped then, as Streamlit drops them.
- After a message is queued for the browser, the runtime's "messages to send" event is set
  directly when that happens on the event loop itself (where the message handling above runs),
  instead of being scheduled through the wake-up socket; from any other thread it is scheduled,
  as Streamlit does. (`AppSession._enqueue_forward_msg` does this: the runtime handed each
  session its bound `Runtime._enqueued_some_message` before any page imported `ui`.)

Measured with `bench/load_bench.py` (bench/README.md, "Load"). tests/pages/test_session_events.py
runs both on real event loops.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.runtime import Runtime

STREAMLIT_CALL_SOON = AppSession._call_soon_on_event_loop
STREAMLIT_ENQUEUE_FORWARD_MSG = AppSession._enqueue_forward_msg
STREAMLIT_ENQUEUED_SOME_MESSAGE = Runtime._enqueued_some_message


@dataclass
class _Pending:
    lock: threading.Lock = field(default_factory=threading.Lock)
    callbacks: list[Callable[[], None]] = field(default_factory=list)
    scheduled: bool = False


def _pending(session: AppSession) -> _Pending:
    pending = session.__dict__.get("_hypercare_pending")
    if pending is None:  # dict.setdefault is atomic: two threads get the same one
        pending = session.__dict__.setdefault("_hypercare_pending", _Pending())
    return pending


def _run_pending(pending: _Pending) -> None:
    with pending.lock:
        callbacks, pending.callbacks = pending.callbacks, []
        pending.scheduled = False
    for callback in callbacks:
        try:
            callback()
        except Exception as error:  # as asyncio reports a failing callback, and goes on
            asyncio.get_running_loop().call_exception_handler(
                {"message": "Exception in a session's event-loop callback", "exception": error}
            )


def _call_soon_on_event_loop(self: AppSession, callback: Callable[[], None]) -> None:
    pending = _pending(self)
    with pending.lock:
        pending.callbacks.append(callback)
        if pending.scheduled:
            return
        pending.scheduled = True
    try:
        STREAMLIT_CALL_SOON(self, lambda: _run_pending(pending))
    except BaseException:  # no wake-up was scheduled: the next callback must try again
        with pending.lock:
            pending.scheduled = False
        raise
    if self._event_loop.is_closed():  # Streamlit dropped the wake-up: drop what waits for it
        with pending.lock:
            pending.callbacks.clear()
            pending.scheduled = False


def _enqueue_forward_msg(self: AppSession, msg: ForwardMsg) -> None:
    self._browser_queue.enqueue(msg)
    notify = self._message_enqueued_callback
    runtime = getattr(notify, "__self__", None)
    if isinstance(runtime, Runtime) and notify.__func__ is STREAMLIT_ENQUEUED_SOME_MESSAGE:
        _wake_sender(runtime)
    elif notify is not None:
        notify()


def _wake_sender(runtime: Runtime) -> None:
    objects = runtime._get_async_objs()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is objects.eventloop:
        objects.need_send_data.set()
    else:
        objects.eventloop.call_soon_threadsafe(objects.need_send_data.set)


def install() -> None:
    """Idempotent; importing `ui` runs it, before the server starts a session."""
    AppSession._call_soon_on_event_loop = _call_soon_on_event_loop
    AppSession._enqueue_forward_msg = _enqueue_forward_msg
