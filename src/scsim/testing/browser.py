"""Debian's headless chromium as the tests, benches and doc scripts drive it (never a
browser that playwright downloads): where it is, and the flags that keep it offline
and quiet on a machine with no network but loopback."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
