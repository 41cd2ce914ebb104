"""A minimal Streamlit session over the websocket, as a browser tab drives it: it signs in,
opens pages, sets widgets (text, radios, select boxes, dates) and clicks buttons, and reports what
each run showed (success and error messages, exceptions). Used by tests that need many real
sessions on one server at once, where a browser per session would be too heavy.

It speaks the same protocol as `../shared/tools/loadtest.py`, reduced to what the tests need:
- it sends the states of the widgets it set, as the browser does, and the server keeps the rest;
- it reports no cached message hashes, so every element arrives whole;
- the cookie component never answers: a session lives as long as its websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

WIDGET_KINDS = {
    "button",
    "checkbox",
    "date_input",
    "multiselect",
    "radio",
    "selectbox",
    "text_area",
    "text_input",
}
FINAL = {
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
}


class SessionBroken(Exception):
    """The websocket closed or a run did not finish in time."""


@dataclass
class Widget:
    kind: str
    id: str
    label: str
    options: list[str]


@dataclass
class Run:
    """What one script run (and the reruns it asked for) showed."""

    successes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)


def _widget(element) -> Widget | None:
    kind = element.WhichOneof("type")
    if kind not in WIDGET_KINDS:
        return None
    inner = getattr(element, kind)
    if not inner.id:
        return None
    return Widget(kind, inner.id, inner.label, [str(o) for o in getattr(inner, "options", [])])


def state(widget: Widget, value) -> WidgetState:
    """The state the browser sends for `widget` showing `value`."""
    result = WidgetState(id=widget.id)
    if widget.kind == "button":
        result.trigger_value = True
    elif widget.kind == "checkbox":
        result.bool_value = bool(value)
    elif widget.kind in ("multiselect",):
        result.string_array_value.data.extend(value)
    elif widget.kind == "date_input":
        result.string_array_value.data.extend([value.isoformat()])
    else:  # text_input, text_area, radio and selectbox send the (formatted) text
        result.string_value = value
    return result


class Client:
    def __init__(self, base_url: str, *, timeout_s: float = 120) -> None:
        host = base_url.split("://", 1)[1].rstrip("/")
        self.ws_url = f"ws://{host}/_stcore/stream"
        self.page_url = f"http://{host}/"
        self.timeout_s = timeout_s
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.pending: asyncio.Future | None = None
        self.run: Run | None = None
        self.pages: dict[str, str] = {}  # url path -> page script hash
        self.page_hash = ""
        self.query_string = ""
        self.widgets: dict[str, Widget] = {}  # shown by the last run, by id
        self.owned: dict[str, WidgetState] = {}  # states this client set, by widget id

    async def connect(self) -> None:
        self.ws = await websockets.connect(
            self.ws_url,
            subprotocols=["streamlit"],
            max_size=None,
            ping_interval=None,
            open_timeout=self.timeout_s,
        )
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):  # the server may be gone already
                await asyncio.wait_for(self.ws.close(), 5)
        self.ws = None

    async def _read(self) -> None:
        error: BaseException | None = None
        try:
            async for data in self.ws:
                message = ForwardMsg()
                message.ParseFromString(data)
                self._handle(message)
        except Exception as exc:  # noqa: BLE001 - any end of the stream breaks the session
            error = exc
        if self.pending is not None and not self.pending.done():
            self.pending.set_exception(SessionBroken(f"connection closed: {error!r}"))

    def _handle(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "new_session" and not message.metadata.run.fragment_ids:
            self.widgets = {}
        elif kind == "navigation":
            self.pages.update(
                {p.url_pathname: p.page_script_hash for p in message.navigation.app_pages}
            )
            self.page_hash = message.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = message.page_info_changed.query_string
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            element = message.delta.new_element
            etype = element.WhichOneof("type")
            if self.run is not None and etype == "alert":
                alert = element.alert
                if alert.format == alert.SUCCESS:
                    self.run.successes.append(alert.body)
                elif alert.format == alert.ERROR:
                    self.run.errors.append(alert.body)
            elif self.run is not None and etype == "exception":
                self.run.exceptions.append(element.exception.message[:300])
            widget = _widget(element)
            if widget is not None:
                self.widgets[widget.id] = widget
        elif (
            kind == "script_finished"
            and message.script_finished in FINAL
            and self.pending is not None
            and not self.pending.done()
        ):
            self.pending.set_result(message.script_finished)

    async def _rerun(self, widgets: list[WidgetState]) -> Run:
        if self.ws is None:
            raise SessionBroken("not connected")
        message = BackMsg()
        rerun = message.rerun_script
        rerun.query_string = self.query_string
        rerun.page_script_hash = self.page_hash
        rerun.widget_states.widgets.extend(widgets)
        context = rerun.context_info
        context.timezone, context.timezone_offset, context.locale = "UTC", 0, "en-GB"
        context.url = self.page_url
        self.run = Run()
        self.pending = asyncio.get_running_loop().create_future()
        try:
            await self.ws.send(message.SerializeToString())
            await asyncio.wait_for(self.pending, self.timeout_s)
        except TimeoutError:
            raise SessionBroken(f"no answer within {self.timeout_s} s") from None
        except websockets.ConnectionClosed as exc:
            raise SessionBroken(f"send failed: {exc!r}") from None
        run, self.run = self.run, None
        return run

    def find(self, kind: str, label: str) -> Widget:
        for widget in self.widgets.values():
            if widget.kind == kind and widget.label == label:
                return widget
        shown = sorted(f"{w.kind}:{w.label}" for w in self.widgets.values())
        raise LookupError(f"no {kind} {label!r} on the page; it shows {shown}")

    def has(self, kind: str, label: str) -> bool:
        return any(w.kind == kind and w.label == label for w in self.widgets.values())

    # --- what a person does -----------------------------------------------------------------------
    async def sign_in(self, username: str, password: str) -> None:
        await self.connect()
        await self._rerun([])
        form = [
            state(self.find("text_input", "Username"), username),
            state(self.find("text_input", "Password"), password),
            state(self.find("button", "Sign in"), True),
        ]
        run = await self._rerun(form)
        if not self.has("button", "Sign out"):
            shown = sorted(f"{w.kind}:{w.label}" for w in self.widgets.values())
            raise SessionBroken(
                f"{username} could not sign in: errors {run.errors[:1]}, exceptions "
                f"{run.exceptions[:1]}, successes {run.successes[:1]}, widgets {shown}"
            )

    async def open(self, page: str, query_string: str = "") -> Run:
        """Open a page, as a link with `query_string` would."""
        self.page_hash = self.pages[page]
        self.query_string = query_string
        self.owned = {}
        return await self._rerun([])

    async def set(self, widget: Widget, value) -> Run:
        """Change one widget outside a form: the page reruns at once."""
        self.owned[widget.id] = state(widget, value)
        return await self._rerun(self._current())

    async def submit(self, values: list[tuple[Widget, object]], button: Widget) -> Run:
        """Fill a form's widgets and click its submit button: one run with all of them."""
        for widget, value in values:
            self.owned[widget.id] = state(widget, value)
        return await self._rerun([*self._current(), state(button, True)])

    def _current(self) -> list[WidgetState]:
        return [s for widget_id, s in self.owned.items() if widget_id in self.widgets]
