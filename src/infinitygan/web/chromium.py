"""Driving the explorer in a headless Chromium: where the binary is and how it is launched.

Used by the browser tests (tests/test_web_browser.py) and by
scripts/render_explorer_screenshot.py, which both drive Debian's ``chromium`` through Playwright
(no browser download).
"""

from __future__ import annotations

import os
import shutil

CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--force-color-profile=srgb",
)
"""Launch flags: headless, no sandbox (containers run as root), nothing fetched in the
background, and sRGB so that screenshots hold the exact tile colours."""


def find_chromium() -> str:
    """The Chromium binary: ``INFINITYGAN_CHROMIUM``, ``chromium`` on PATH or /usr/bin/chromium."""
    return os.environ.get("INFINITYGAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
