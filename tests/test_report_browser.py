"""The HTML report in a real browser: every chart draws, nothing errs, nothing leaves.

Debian's chromium, driven by playwright (the pip package only: ``playwright install``
would download a browser of its own). Without /usr/bin/chromium the test is skipped
and says why; under CI (CI=true), where .ci/run installs chromium, a missing browser
or playwright is a failure, never a silent pass.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scsim.engine.result import Run
from scsim.report import parts, write_report
from scsim.testing.browser import ARGS, CHROMIUM

LOCAL = ("file://", "data:")

# Per plot div: is there a drawn SVG (paths inside .main-svg) and what title it shows.
DRAWN = """() => [...document.querySelectorAll('.plotly-graph-div')].map(d => ({
    id: d.id,
    svg: d.querySelectorAll('.main-svg').length,
    paths: d.querySelectorAll('.main-svg path').length,
    title: (d.querySelector('.gtitle') || {}).textContent || '',
}))"""
ALL_DRAWN = """() => {
    const divs = [...document.querySelectorAll('.plotly-graph-div')];
    return divs.length > 0 && divs.every(d => d.querySelector('.main-svg path'));
}"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser test (.ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def sync_playwright():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install -e '.[test]')")
    return sync_playwright


def test_report_renders_offline_in_chromium(sync_playwright, city_run: Run, tmp_path: Path) -> None:
    [report] = write_report([city_run], tmp_path / "report.html")
    titles = [c.title for p in parts([city_run]) for c in p.charts()]
    requests: list[str] = []
    errors: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data dir
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def record(route) -> None:
                requests.append(route.request.url)
                if route.request.url.startswith(LOCAL):
                    route.continue_()
                else:
                    route.abort()  # never let a request out, even while failing

            page.route("**/*", record)
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_function(ALL_DRAWN, timeout=60_000)
            drawn = page.evaluate(DRAWN)
        finally:
            browser.close()

    assert len(drawn) == len(titles) > 8
    for chart, title in zip(drawn, titles, strict=True):
        assert chart["svg"] >= 1 and chart["paths"] > 0, chart
        assert chart["title"] == title, chart
    assert errors == []
    assert requests and all(url.startswith(LOCAL) for url in requests), [
        u for u in requests if not u.startswith(LOCAL)
    ]
    assert report.as_uri() in requests
