"""Real-browser fixtures: `streamlit run` on a free local port with a temporary database,
driven by Playwright with Debian's Chromium (never a downloaded browser)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(
            f"CI is set but {CHROMIUM} is missing: browser tests must run in CI."
        )
    skip = pytest.mark.skip(
        reason=f"browser tests skipped: Chromium not found at {CHROMIUM} "
        "(apt-get install -y chromium)"
    )
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@dataclass
class Server:
    url: str
    database_url: str
    process: subprocess.Popen


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seed(database_url: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "seed",
            "--database-url",
            database_url,
            "--customers",
            "9",
            "--cases",
            "300",
            "--days",
            "30",
            "--demo-password",
            DEMO_PASSWORD,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def start_server(
    database_url: str,
    *,
    port: int | None = None,
    extra_args: tuple[str, ...] = (),
    cookie_key: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """`streamlit run app.py` on `port` (default: a free one), with `extra_args` appended and
    `extra_env` in its environment; replicas of one deployment share `cookie_key` (default: a new
    random one)."""
    port = port or _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HYPERCARE_COOKIE_KEY": cookie_key or secrets.token_urlsafe(48),
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            *extra_args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=server_log(),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return Server(url=url, database_url=database_url, process=process)
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("streamlit did not become healthy within 60 s")


def server_log():
    """Where the server's log goes: the file named by HYPERCARE_TEST_SERVER_LOG (appended to, for
    chasing a flaky browser test), else nowhere."""
    path = os.environ.get("HYPERCARE_TEST_SERVER_LOG")
    return open(path, "a") if path else subprocess.DEVNULL  # noqa: SIM115 (the server holds it)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def seeded_database(tmp_path_factory) -> str:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'app.db'}"
    _seed(database_url)
    return database_url


@pytest.fixture
def fresh_server(seeded_database) -> Iterator[Server]:
    """A newly started server: no session has run app.py on it yet."""
    server = start_server(seeded_database)
    yield server
    stop_server(server)
