"""Headless Chromium for the report tests: open a file with the network off, return DOM and console.

The test bootstrap (scripts/ensure-chromium.sh, run by `make test`) installs Debian's chromium
where it can; without one the browser tests skip and say why, except in CI (CI=true), where a
report that was not rendered is a failure: CI installs Chromium, and a skip there would hide that the
report's charts were never checked.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from segspark.edge.outputs import find_chromium

OFFLINE = [
    "--proxy-server=127.0.0.1:9",  # nothing listens there: any request fails
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def chromium() -> str:
    browser = find_chromium()
    if browser is None:
        require_in_ci("no Chromium: run as root with apt (scripts/ensure-chromium.sh) to enable the browser tests")
    return browser


def require_in_ci(reason: str) -> None:
    """Skip with `reason` on a developer's machine; fail in CI, which must render the report."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"in CI: {reason}")
    pytest.skip(reason)


def _run(browser: str, page: Path, *options: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",  # WebGL without a GPU
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=15000",
                *OFFLINE,
                *options,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )


def render_offline(page: Path) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran, and the browser's console lines."""
    done = _run(chromium(), page, "--dump-dom")
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return done.stdout, console


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2400) -> None:
    _run(chromium(), page, f"--screenshot={png}", f"--window-size={width},{height}", "--hide-scrollbars")
