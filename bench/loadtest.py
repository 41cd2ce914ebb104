#!/usr/bin/env python3
"""Load test for the HyperCare Desk Streamlit app: N concurrent sessions over Streamlit's own websocket
protocol (no browser), each signed in as a real user, each doing real script reruns.

This is a copy of ../shared/tools/loadtest.py with the filter labels the app uses now (portfolio
"Only breaching", case queue "State"); bench/load_bench.py runs it.

Run it with the app's virtualenv python (it needs `websockets` and `streamlit.proto`):

    .venv/bin/python ../shared/tools/loadtest.py --url http://127.0.0.1:8941 --sessions 10 \
        --seconds 120 --warmup 30 --users csm.apac,csm.emea,csm.na,csm.na2 --password 'secret'

What one session does, as a browser would on the wire:
  1. connects to ws://HOST:PORT/_stcore/stream (subprotocol "streamlit") and sends a BackMsg rerun_script
     for "/" (page_name ""): the app answers with its sign-in form;
  2. signs in: a rerun carrying the form's widget states (Username, Password as string_value, the
     "Sign in" submitter as trigger_value), widget ids read from the ForwardMsg deltas; the app calls
     st.rerun() and renders the default page for the signed-in user;
  3. loops over --pages: navigates (a rerun with that page's page_script_hash, taken from the
     ForwardMsg navigation, and an empty query string), then changes one filter widget on the page (a
     rerun with the page's current query string and the widget's new value), picked at random from
     FILTERS below, with --think seconds of pause after each action.
Each rerun's latency is from sending the BackMsg to the ForwardMsg script_finished that ends the run
(FINISHED_EARLY_FOR_RERUN, e.g. st.rerun() after signing in, is not the end). Like the browser, a session
keeps a ForwardMsg cache (messages the server marked cacheable, dropped after 2 runs unused) and sends
its hashes, sends a context_info, and answers a `run_every` fragment's auto_rerun with fragment reruns
(fired between its own actions once the interval has passed, not on a free-running timer).

Timeline: sessions connect and sign in, spread over --ramp seconds; when all are signed in, --warmup
seconds of the loop are not measured, then --seconds are. A rerun counts when it completes inside the
measured window. The server's RSS (and CPU time) is read from /proc every --rss-interval seconds; the
server is --server-pid or whoever listens on the URL's port.

Errors counted: reruns that time out or lose the connection, script_finished with a compile error,
exception elements, st.error alerts, a page that shows the sign-in form again, a sign-in that fails, a
filter widget that is not on its page. A failed session reconnects and signs in again.

Prints one JSON line of results at the end; --out FILE also writes every rerun and RSS sample.
Besides the server's CPU it reports this client's CPU and everything else's (other_cpu_pct, from
/proc/stat; approximate) so a run on a shared machine can be judged.

Where it differs from a browser (caveats):
  - it sends the states of the widgets it changed, not of every widget on the page (the server keeps
    the others' values itself, so the script sees the same values);
  - the cookie component of streamlit-authenticator never answers, so the extra rerun a browser makes
    when that component reports the cookies does not happen, and no cookie is stored or restored;
  - it loads no HTML/JS/CSS or media over HTTP and draws nothing: it measures the server, not the page;
  - a run_every fragment ticks only while the session is idle, never during one of its own reruns;
  - a session waits for each rerun to finish before its next action (no clicks that interrupt a run).
A sign-in the app rejects (wrong password, locked account) ends that session instead of retrying, so a
wrong --password cannot lock the accounts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

PAGES = ("portfolio", "case_queue", "entitlements", "monitoring", "weekly_report")

# The filter widgets a session may change on each page: (element type, label). One is picked at random
# among those present in the page's last run.
FILTERS: dict[str, list[tuple[str, str]]] = {
    "portfolio": [
        ("multiselect", "Tier"),
        ("multiselect", "Region"),
        ("checkbox", "Only breaching"),
    ],
    "case_queue": [
        ("multiselect", "Severity"),
        ("multiselect", "Tier"),
        ("multiselect", "State"),
        ("multiselect", "Status"),
    ],
    "entitlements": [("selectbox", "Customer")],
    "monitoring": [
        ("multiselect", "Severity"),
        ("multiselect", "State"),
        ("selectbox", "Metric"),
        ("selectbox", "Period"),
    ],
    "weekly_report": [
        ("selectbox", "Week"),
        ("button_group", "Granularity"),
        ("selectbox", "Customer"),
    ],
}

FINAL = {
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
}
MAX_CACHED_MESSAGE_AGE = 2  # Streamlit's global.maxCachedMessageAge default


class SessionBroken(Exception):
    pass


class SignInRejected(Exception):
    pass


@dataclass
class Widget:
    kind: str
    id: str
    label: str
    form_id: str
    options: list[str]
    value: object  # what the widget shows now, as the browser would send it


@dataclass
class RunResult:
    status: int
    exceptions: list[str] = field(default_factory=list)
    app_errors: list[str] = field(default_factory=list)
    messages: int = 0
    bytes: int = 0


def widget_from_element(element) -> Widget | None:
    kind = element.WhichOneof("type")
    if kind not in {
        "multiselect",
        "selectbox",
        "checkbox",
        "button_group",
        "text_input",
        "button",
        "radio",
    }:
        return None
    el = getattr(element, kind)
    if not el.id:
        return None
    options: list[str] = []
    value: object = None
    if kind == "multiselect":
        options = list(el.options)
        value = (
            list(el.raw_values)
            if el.set_value
            else [options[i] for i in el.default if i < len(options)]
        )
    elif kind in ("selectbox", "radio"):
        options = list(el.options)
        if el.set_value:
            value = el.raw_value
        elif el.HasField("default") and el.default < len(options):
            value = options[el.default]
    elif kind == "button_group":
        options = [o.content for o in el.options]
        value = (
            list(el.raw_values)
            if el.set_value
            else [options[i] for i in el.default if i < len(options)]
        )
    elif kind == "checkbox" or kind == "text_input":
        value = el.value if el.set_value else el.default
    return Widget(kind, el.id, el.label, getattr(el, "form_id", ""), options, value)


def widget_state(widget: Widget, value) -> WidgetState:
    state = WidgetState(id=widget.id)
    if widget.kind in ("multiselect", "button_group"):
        state.string_array_value.data.extend(value)
    elif widget.kind in ("selectbox", "radio", "text_input"):
        state.string_value = value
    elif widget.kind == "checkbox":
        state.bool_value = bool(value)
    elif widget.kind == "button":
        state.trigger_value = True
    return state


def new_value(widget: Widget, current, rng: random.Random):
    """A value different from the widget's current one, as a person picking from it would choose."""
    if widget.kind == "checkbox":
        return not current
    if not widget.options:
        return None
    if widget.kind in ("multiselect", "button_group"):
        current = list(current or [])
        if widget.kind == "multiselect" and current and rng.random() < 0.5:
            return []  # clear the filter
        choices = [o for o in widget.options if [o] != current]
        return [rng.choice(choices)] if choices else None
    choices = [o for o in widget.options if o != current]
    return rng.choice(choices) if choices else None


class Session:
    def __init__(self, index: int, ws_url: str, page_url: str, user: str, password: str, args, rec):
        self.index, self.ws_url, self.page_url = index, ws_url, page_url
        self.user, self.password, self.args, self.rec = user, password, args, rec
        self.rng = random.Random(args.seed * 1000 + index)
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.pending: asyncio.Future | None = None
        self.run: RunResult | None = None
        self.reset_state()

    def reset_state(self):
        self.cache: dict[str, ForwardMsg] = {}
        self.cache_age: dict[str, int] = {}
        self.pages: dict[str, str] = {}  # url_pathname -> page_script_hash
        self.page_hash = ""
        self.query_string = ""
        self.widgets: dict[str, Widget] = {}  # rendered in the last full run, by id
        self.owned: dict[str, WidgetState] = {}  # values this client set, by widget id
        self.owned_values: dict[str, object] = {}
        self.auto_reruns: dict[str, list[float]] = {}  # fragment id -> [interval, last fired]
        self.page = ""

    # --- wire --------------------------------------------------------------------------------------
    async def connect(self):
        self.reset_state()
        self.ws = await websockets.connect(
            self.ws_url,
            subprotocols=["streamlit"],
            max_size=None,
            ping_interval=None,  # browsers do not ping; the server pings us and websockets answers
            open_timeout=self.args.timeout,
        )
        self.reader = asyncio.create_task(self.read_loop())

    async def close(self):
        if self.reader:
            self.reader.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        self.ws = None

    async def read_loop(self):
        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                if self.run is not None:
                    self.run.messages += 1
                    self.run.bytes += len(data)
                self.handle(msg)
        except Exception as exc:  # noqa: BLE001
            err = exc
        else:
            err = None
        if self.pending is not None and not self.pending.done():
            self.pending.set_exception(SessionBroken(f"connection closed: {err!r}"))

    def handle(self, msg: ForwardMsg):
        kind = msg.WhichOneof("type")
        if self.args.trace:
            print(f"  [s{self.index}] {kind} {describe(msg)}", file=sys.stderr)
        if kind == "ref_hash":
            cached = self.cache.get(msg.ref_hash)
            if cached is None:
                self.note_error("cache_miss", msg.ref_hash)
                return
            self.cache_age[msg.ref_hash] = 0
            msg, kind = cached, cached.WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash:
            self.cache[msg.hash] = msg
            self.cache_age[msg.hash] = 0
        if kind == "new_session" and not msg.metadata.run.fragment_ids:
            # a full run starts: the browser forgets the last run's elements and fragment timers
            self.widgets = {}
            self.auto_reruns.clear()
        elif kind == "navigation":
            # accumulated: the signed-in navigation lists its default page under "" only, the sign-in
            # one lists every url path (a page's hash is a hash of its url path, the same in both)
            self.pages.update(
                {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
            )
            self.page_hash = msg.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            if msg.auto_rerun.fragment_id:
                self.auto_reruns[msg.auto_rerun.fragment_id] = [
                    msg.auto_rerun.interval,
                    time.monotonic(),
                ]
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                self.auto_reruns.pop(fid, None)
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            etype = element.WhichOneof("type")
            if etype == "exception" and self.run is not None:
                self.run.exceptions.append(
                    f"{element.exception.type}: {element.exception.message}"[:300]
                )
            elif (
                etype == "alert"
                and element.alert.format == element.alert.ERROR
                and self.run is not None
            ):
                self.run.app_errors.append(element.alert.body[:300])
            widget = widget_from_element(element)
            if widget is not None:
                self.widgets[widget.id] = widget
        elif kind == "script_finished" and msg.script_finished in FINAL:
            for h in list(self.cache_age):
                self.cache_age[h] += 1
                if self.cache_age[h] > MAX_CACHED_MESSAGE_AGE:
                    del self.cache_age[h]
                    self.cache.pop(h, None)
            if self.pending is not None and not self.pending.done():
                self.pending.set_result(msg.script_finished)

    def find(self, kind: str, label: str) -> Widget | None:
        for widget in self.widgets.values():
            if widget.kind == kind and widget.label == label:
                return widget
        return None

    async def rerun(
        self,
        kind: str,
        *,
        page_hash: str,
        query_string: str,
        page_name: str = "",
        widgets: list[WidgetState] = (),
        fragment_id: str = "",
    ) -> RunResult:
        if self.ws is None:
            raise SessionBroken("not connected")
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = query_string
        cs.page_script_hash = page_hash
        cs.page_name = page_name
        cs.widget_states.widgets.extend(widgets)
        cs.cached_message_hashes.extend(self.cache)
        if fragment_id:
            cs.fragment_id = fragment_id
            cs.is_auto_rerun = True
        ctx = cs.context_info
        ctx.timezone, ctx.timezone_offset, ctx.locale = "UTC", 0, "en-US"
        ctx.url = self.page_url + (self.page if self.page != "" else "")
        ctx.is_embedded, ctx.color_scheme = False, "light"
        self.run = RunResult(status=-1)
        self.pending = asyncio.get_running_loop().create_future()
        t_send = time.monotonic()
        try:
            await self.ws.send(msg.SerializeToString())
            status = await asyncio.wait_for(self.pending, self.args.timeout)
        except TimeoutError:
            self.rec.rerun(self, kind, t_send, time.monotonic(), False, "timeout")
            raise SessionBroken(f"{kind} rerun timed out after {self.args.timeout}s") from None
        except SessionBroken:
            if not self.rec.stopping:  # abandoned at the end of the test: not an error
                self.rec.rerun(self, kind, t_send, time.monotonic(), False, "disconnected")
            raise
        except websockets.ConnectionClosed as exc:
            self.rec.rerun(self, kind, t_send, time.monotonic(), False, "disconnected")
            raise SessionBroken(f"send failed: {exc!r}") from None
        t_done = time.monotonic()
        run, self.run = self.run, None
        run.status = status
        error = None
        if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
            error = "compile_error"
        elif run.exceptions:
            error = "exception"
        elif run.app_errors:
            error = "app_error"
        self.rec.rerun(self, kind, t_send, t_done, error is None, error, run)
        return run

    # --- behaviour ---------------------------------------------------------------------------------
    def note_error(self, kind: str, detail: str):
        self.rec.error(self, kind, detail)

    async def sign_in(self) -> bool:
        t0 = time.monotonic()
        await self.connect()
        self.page = ""
        await self.rerun("load", page_hash="", page_name="", query_string="")
        user_w, pass_w = self.find("text_input", "Username"), self.find("text_input", "Password")
        submit = self.find("button", "Sign in")
        if not (user_w and pass_w and submit):
            self.note_error(
                "signin_form_missing", f"widgets: {[w.label for w in self.widgets.values()]}"
            )
            return False
        states = [
            widget_state(user_w, self.user),
            widget_state(pass_w, self.password),
            widget_state(submit, True),
        ]
        run = await self.rerun(
            "signin", page_hash=self.page_hash, query_string=self.query_string, widgets=states
        )
        if (
            self.find("button", "Sign out") is None
            or self.find("text_input", "Username") is not None
        ):
            self.note_error("signin_failed", f"{self.user}: still on the sign-in form")
            if (
                run.app_errors
            ):  # the app said no (wrong password, locked): retrying would lock the account
                raise SignInRejected(run.app_errors[0])
            return False
        missing = [p for p in self.args.pages if p not in self.pages]
        if missing:
            self.note_error("pages_missing", f"{self.user} cannot open {missing}")
            return False
        self.rec.signin(self, time.monotonic() - t0)
        return True

    def signed_out(self) -> bool:
        return (
            self.find("button", "Sign out") is None
            and self.find("text_input", "Username") is not None
        )

    async def fire_due_fragments(self):
        now = time.monotonic()
        for fid, timer in list(self.auto_reruns.items()):
            interval, last = timer
            if now - last >= interval:
                timer[1] = now
                await self.rerun(
                    "fragment",
                    page_hash=self.page_hash,
                    query_string=self.query_string,
                    widgets=self.current_states(),
                    fragment_id=fid,
                )

    def current_states(self) -> list[WidgetState]:
        return [s for wid, s in self.owned.items() if wid in self.widgets]

    async def think(self):
        """Pause like a reader; a run_every fragment on the page keeps ticking meanwhile."""
        deadline = time.monotonic() + (
            self.rng.uniform(0.5, 1.5) * self.args.think if self.args.think > 0 else 0
        )
        while not self.rec.stopping:
            due = min(
                (last + interval for interval, last in self.auto_reruns.values()), default=math.inf
            )
            now = time.monotonic()
            if due > deadline:
                if deadline > now:
                    await asyncio.sleep(deadline - now)
                return
            if due > now:
                await asyncio.sleep(due - now)
            await self.fire_due_fragments()

    async def visit(self, page: str):
        # navigate, as a click in the sidebar does: new page hash, query string cleared
        self.auto_reruns.clear()
        self.page = page
        self.query_string = ""
        await self.rerun("nav", page_hash=self.pages[page], query_string="")
        self.owned = {wid: s for wid, s in self.owned.items() if wid in self.widgets}
        self.owned_values = {wid: v for wid, v in self.owned_values.items() if wid in self.widgets}
        if self.signed_out():
            self.note_error("signed_out", f"{self.user} on {page}")
            raise SessionBroken("signed out")
        await self.think()
        if self.rec.stopping:
            return
        candidates = [w for kind, label in FILTERS.get(page, []) if (w := self.find(kind, label))]
        candidates = [w for w in candidates if w.kind == "checkbox" or w.options]
        if not candidates:
            self.note_error("widget_not_found", f"{page}: none of {FILTERS.get(page)}")
            return
        widget = self.rng.choice(candidates)
        # the page's proto says what the server set; a value this client sent is not echoed back
        value = new_value(widget, self.owned_values.get(widget.id, widget.value), self.rng)
        if value is None:
            return
        self.owned[widget.id] = widget_state(widget, value)
        self.owned_values[widget.id] = value
        await self.rerun(
            "filter",
            page_hash=self.page_hash,
            query_string=self.query_string,
            widgets=self.current_states(),
        )
        if self.signed_out():
            self.note_error("signed_out", f"{self.user} on {page} after a filter")
            raise SessionBroken("signed out")
        await self.think()

    async def sign_in_until_done(self) -> bool:
        """Sign in, retrying after failures the app did not decide (errors, lost connections)."""
        while not self.rec.stopping:
            try:
                if await self.sign_in():
                    return True
            except SignInRejected as exc:
                self.note_error("signin_rejected", f"{self.user}: {exc}")
                await self.close()
                return False
            except (SessionBroken, OSError, websockets.WebSocketException) as exc:
                self.note_error("signin_broken", repr(exc))
            await self.close()
            await asyncio.sleep(1)
        return False

    async def main(self, start_delay: float):
        await asyncio.sleep(start_delay)
        signed = await self.sign_in_until_done()
        self.rec.session_ready()
        position = self.index % len(self.args.pages)
        while signed and not self.rec.stopping:
            page = self.args.pages[position % len(self.args.pages)]
            position += 1
            try:
                await self.visit(page)
            except (SessionBroken, OSError, websockets.WebSocketException) as exc:
                if self.rec.stopping:
                    break
                self.note_error("session_broken", repr(exc))
                await self.close()
                signed = await self.sign_in_until_done()
        await self.close()


def describe(msg: ForwardMsg) -> str:
    kind = msg.WhichOneof("type")
    if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
        el = msg.delta.new_element
        etype = el.WhichOneof("type")
        inner = getattr(el, etype)
        label = getattr(inner, "label", "") or getattr(inner, "body", "")[:40]
        return f"{etype} {label!r} id={getattr(inner, 'id', '')[:24]!r} path={list(msg.metadata.delta_path)}"
    if kind == "script_finished":
        return ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
    if kind == "navigation":
        return f"current={msg.navigation.page_script_hash} pages={[p.url_pathname for p in msg.navigation.app_pages]}"
    if kind == "page_info_changed":
        return repr(msg.page_info_changed.query_string)
    if kind == "auto_rerun":
        return f"{msg.auto_rerun.interval}s {msg.auto_rerun.fragment_id}"
    return ""


# --- recording -------------------------------------------------------------------------------------
class Recorder:
    def __init__(self, n_sessions: int):
        self.t0 = time.monotonic()
        self.reruns: list[dict] = []
        self.errors: list[dict] = []
        self.signins: list[float] = []
        self.signed_sessions: set[int] = set()
        self.ready = 0
        self.n = n_sessions
        self.all_ready = asyncio.Event()
        self.stopping = False

    def rel(self, t: float) -> float:
        return round(t - self.t0, 4)

    def rerun(self, s: Session, kind, t_send, t_done, ok, error, run: RunResult | None = None):
        row = {
            "session": s.index,
            "user": s.user,
            "page": s.page,
            "kind": kind,
            "t_send": self.rel(t_send),
            "t_done": self.rel(t_done),
            "latency_ms": round((t_done - t_send) * 1000, 1),
            "ok": ok,
        }
        if run is not None:
            row["messages"], row["bytes"] = run.messages, run.bytes
        if error:
            row["error"] = error
            detail = (run.exceptions or run.app_errors) if run else []
            self.error(s, f"rerun_{error}", f"{kind} {s.page}: {detail[:1]}", t_done)
        self.reruns.append(row)

    def error(self, s: Session, kind: str, detail: str, t: float | None = None):
        self.errors.append(
            {
                "t": self.rel(t or time.monotonic()),
                "session": s.index,
                "kind": kind,
                "detail": detail[:500],
            }
        )

    def signin(self, s: Session, seconds: float):
        self.signins.append(seconds)
        self.signed_sessions.add(s.index)

    def session_ready(self):
        self.ready += 1
        if self.ready >= self.n:
            self.all_ready.set()


# --- server process --------------------------------------------------------------------------------
def pid_listening_on(port: int) -> int | None:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    local, state, inode = parts[1], parts[3], parts[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{inode}]")
        except OSError:
            pass
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy (not idle or iowait) since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:]]
        return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_summary(rows: list[dict]) -> dict:
    values = [r["latency_ms"] for r in rows]
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values), 1),
        "mean_ms": round(statistics.fmean(values), 1),
    }


# --- main ------------------------------------------------------------------------------------------
async def run(args) -> dict:
    parsed = urlparse(args.url)
    base_path = parsed.path.rstrip("/")
    ws_scheme = "wss" if parsed.scheme == "https" else "ws"
    ws_url = f"{ws_scheme}://{parsed.netloc}{base_path}/_stcore/stream"
    page_url = f"{parsed.scheme}://{parsed.netloc}{base_path}/"
    pid = args.server_pid or pid_listening_on(
        parsed.port or (443 if parsed.scheme == "https" else 80)
    )
    users = [u.strip() for u in args.users.split(",") if u.strip()]
    rec = Recorder(args.sessions)
    rss: list[tuple[float, float | None]] = []

    async def sample_rss():
        while True:
            if pid:
                rss.append((rec.rel(time.monotonic()), rss_mb(pid)))
            await asyncio.sleep(args.rss_interval)

    sampler = asyncio.create_task(sample_rss())
    rss_before = rss_mb(pid) if pid else None
    sessions = [
        Session(i, ws_url, page_url, users[i % len(users)], args.password, args, rec)
        for i in range(args.sessions)
    ]
    tasks = [
        asyncio.create_task(s.main(args.ramp * i / max(1, args.sessions)))
        for i, s in enumerate(sessions)
    ]

    t_start = time.monotonic()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(rec.all_ready.wait(), args.signin_timeout)
    t_ready = time.monotonic()
    await asyncio.sleep(args.warmup)
    t_window = time.monotonic()
    cpu_server_0, cpu_client_0 = (cpu_seconds(pid) if pid else None), own_cpu_seconds()
    busy_0 = machine_busy_seconds()
    rss_window_start = rss_mb(pid) if pid else None
    load_start = os.getloadavg()
    await asyncio.sleep(args.seconds)
    t_end = time.monotonic()
    cpu_server_1, cpu_client_1 = (cpu_seconds(pid) if pid else None), own_cpu_seconds()
    busy_1 = machine_busy_seconds()
    rss_end = rss_mb(pid) if pid else None
    load_end = os.getloadavg()
    rec.stopping = True
    for s in sessions:  # abandon in-flight reruns; they end after the window and are not counted
        if s.pending is not None and not s.pending.done():
            s.pending.set_exception(SessionBroken("test over"))
    await asyncio.gather(*tasks, return_exceptions=True)
    sampler.cancel()

    window = t_end - t_window
    lo, hi = rec.rel(t_window), rec.rel(t_end)
    in_window = [
        r
        for r in rec.reruns
        if lo <= r["t_done"] <= hi and r["kind"] in ("nav", "filter", "fragment")
    ]
    ok_rows = [r for r in in_window if r["ok"]]
    errors_in_window = [e for e in rec.errors if lo <= e["t"] <= hi]
    by_kind = {
        k: latency_summary([r for r in ok_rows if r["kind"] == k])
        for k in ("nav", "filter", "fragment")
    }
    by_page = {p: latency_summary([r for r in ok_rows if r["page"] == p]) for p in args.pages}
    error_counts: dict[str, int] = {}
    for e in rec.errors:
        error_counts[e["kind"]] = error_counts.get(e["kind"], 0) + 1
    samples = [e["detail"] for e in rec.errors]
    rss_values = [v for _, v in rss if v is not None] + ([rss_end] if rss_end is not None else [])
    result = {
        "tool": "loadtest.py websocket",
        "url": args.url,
        "sessions": args.sessions,
        "users": users,
        "pages": list(args.pages),
        "think_s": args.think,
        "warmup_s": args.warmup,
        "seconds": round(window, 1),
        "signin_phase_s": round(t_ready - t_start, 1),
        "signed_in": len(rec.signed_sessions),  # sessions that signed in at least once
        "signins": len(rec.signins),  # including signing in again after a failure
        "signin_latency": latency_summary([{"latency_ms": s * 1000} for s in rec.signins]),
        "reruns": len(ok_rows),
        "reruns_per_s": round(len(ok_rows) / window, 2),
        "latency": latency_summary(ok_rows),
        "by_kind": by_kind,
        "by_page": by_page,
        "errors": len(errors_in_window),
        "errors_total": len(rec.errors),
        "error_kinds": error_counts,
        "error_samples": list(dict.fromkeys(samples))[:5],
        "server_pid": pid,
        "rss_mb": {
            "before": rss_before,
            "window_start": rss_window_start,
            "end": rss_end,
            "max": max(rss_values) if rss_values else None,
        },
        "server_cpu_pct": round(100 * (cpu_server_1 - cpu_server_0) / window, 1)
        if cpu_server_0 is not None and cpu_server_1 is not None
        else None,
        "client_cpu_pct": round(100 * (cpu_client_1 - cpu_client_0) / window, 1),
        # everything else on the machine (other people's work), in % of one core; os.cpu_count() cores
        "other_cpu_pct": round(
            100
            * ((busy_1 - busy_0) - (cpu_server_1 - cpu_server_0) - (cpu_client_1 - cpu_client_0))
            / window,
            1,
        )
        if None not in (busy_0, busy_1, cpu_server_0, cpu_server_1)
        else None,
        "cpu_count": os.cpu_count(),
        "loadavg_1m": {"window_start": round(load_start[0], 2), "end": round(load_end[0], 2)},
    }
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(
                {
                    "result": result,
                    "reruns": rec.reruns,
                    "errors": rec.errors,
                    "rss": rss,
                    "window": [lo, hi],
                },
                fh,
            )
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", required=True, help="app URL, e.g. http://127.0.0.1:8501")
    ap.add_argument("--sessions", type=int, default=1, help="concurrent sessions (N)")
    ap.add_argument("--seconds", type=float, default=120, help="measured window, seconds")
    ap.add_argument(
        "--warmup", type=float, default=30, help="unmeasured seconds after all are signed in"
    )
    ap.add_argument(
        "--users", default="csm.apac,csm.emea,csm.na,csm.na2", help="comma-separated; round robin"
    )
    ap.add_argument(
        "--password",
        default=os.environ.get("LOADTEST_PASSWORD"),
        help="password of every user (default: $LOADTEST_PASSWORD)",
    )
    ap.add_argument("--pages", default=",".join(PAGES), help="url paths to cycle through")
    ap.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean pause after each action, seconds (uniform 0.5x-1.5x); 0 = closed loop",
    )
    ap.add_argument(
        "--ramp", type=float, default=10.0, help="spread session starts over this many seconds"
    )
    ap.add_argument(
        "--timeout", type=float, default=180.0, help="a rerun slower than this is an error"
    )
    ap.add_argument(
        "--signin-timeout",
        type=float,
        default=300.0,
        help="start the warm-up after this long even if not all sessions signed in",
    )
    ap.add_argument(
        "--server-pid", type=int, help="server process for RSS/CPU (default: listener on the port)"
    )
    ap.add_argument("--rss-interval", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="also write every rerun, error and RSS sample here (JSON)")
    ap.add_argument(
        "--trace", action="store_true", help="print every ForwardMsg to stderr (debugging)"
    )
    args = ap.parse_args(argv)
    if not args.password:
        ap.error("--password or $LOADTEST_PASSWORD is required")
    args.pages = tuple(p.strip() for p in args.pages.split(",") if p.strip())
    result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
