"""The workbench in a real browser: Debian's chromium driven by playwright.

One walk through what a user does: load the page, pick rongcheng, move a slider, run
20,000 agents for 60 days and watch the chart get its days, watch a long run's chart
grow and cancel it, compare two runs, explain an agent, download the report. Every
request stays on this machine and the page logs no error. Without /usr/bin/chromium
the test is skipped and says why; under CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import CAMERA_CITY
from scsim.testing.browser import ARGS, CHROMIUM
from scsim.web.command import running

POINTS = "(i) => (document.getElementById(`chart-${i}`).data || [{x: []}])[0].x.length"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser test (.ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install -e '.[test]')")
    store = tmp_path_factory.mktemp("workbench") / "store.duckdb"
    with running(store, slots=1) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.problems = []
            page.on(
                "console",
                lambda m: page.problems.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: page.problems.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    None
                    if urlparse(r.url).hostname == "127.0.0.1" or r.url.startswith("data:")
                    else page.problems.append(f"left the machine: {r.url}")
                ),
            )
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]")
            yield page
        finally:
            browser.close()


def _run(page, days: int) -> str:
    """Press run; the id of the job it queued."""
    page.fill("#population", "20000")
    page.fill("#days", str(days))
    with page.expect_response(lambda r: r.url.endswith("/api/jobs") and r.status == 202) as sent:
        page.click("#run-button")
    return sent.value.json()["id"]


def _done(page, job: str) -> None:
    page.wait_for_selector(f"#jobs li[data-job='{job}'][data-state=done]", timeout=60_000)


def test_the_workbench_in_chromium(page, tmp_path: Path) -> None:
    # An uploaded file with a mistake: the message is shown under its line.
    lines = CAMERA_CITY.read_text(encoding="utf-8").splitlines()
    at = lines.index("    latency_days: 3")
    lines[at] = "    latency_dayz: 3"
    bad = tmp_path / "city.yaml"
    bad.write_text("\n".join(lines), encoding="utf-8")
    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#upload-error .line.bad")
    assert page.text_content("#upload-error .line.bad").split() == [str(at + 1), *lines[at].split()]
    assert "observers.1.latency_dayz: unknown key" in page.text_content("#upload-error .message")
    page.set_input_files("#upload", str(CAMERA_CITY))
    page.wait_for_function(
        "() => document.getElementById('regime-description').textContent.startsWith('camera')"
    )
    assert page.is_hidden("#upload-error") and page.text_content("#error") == ""

    # Pick rongcheng and move a slider with the keyboard, as a person would.
    for name in ("sesame", "rongcheng"):  # the page opens on rongcheng: leave and return
        with page.expect_response(f"**/api/regimes/{name}"):
            page.select_option("#regime-select", name)
    page.wait_for_selector(".field[data-path='score.initial']")
    slider = page.locator(".field[data-path='score.initial'] input[type=range]")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    moved = page.input_value(".field[data-path='score.initial'] input[type=number]")
    assert float(moved) == 1030.0  # three steps of 10 from 1000
    assert page.text_content("#changed-count") == "1 key changed"

    # 20,000 agents x 60 days: the chart gets every day, appended (never redrawn).
    harsher = _run(page, 60)
    _done(page, harsher)
    page.wait_for_function(f"() => ({POINTS})(0) === 60")
    assert page.evaluate("() => window.scsim.stats.points") == 60

    # A long run: its chart grows while it computes; cancel stops it.
    page.fill("#population", "50000")
    page.fill("#days", "36500")
    with page.expect_response(lambda r: r.url.endswith("/api/jobs") and r.status == 202) as sent:
        page.click("#run-button")
    long_job = sent.value.json()["id"]
    page.wait_for_function(f"() => ({POINTS})(0) > 0", timeout=60_000)
    before = page.evaluate(f"({POINTS})(0)")
    page.wait_for_function(f"() => ({POINTS})(0) > {before}", timeout=60_000)
    page.click(f"#jobs li[data-job='{long_job}'] button.cancel")
    page.wait_for_selector(f"#jobs li[data-job='{long_job}'][data-state=cancelled]")

    # The same run without the slider's change, then the two compared.
    page.click("#reset-button")
    assert page.text_content("#changed-count") == ""
    baseline = _run(page, 60)
    _done(page, baseline)
    page.click("button[data-tab=runs]")
    page.wait_for_selector("#runs-table tbody tr:nth-child(2)")
    rows = page.locator("#runs-table tbody tr")
    newest, older = rows.nth(0).get_attribute("data-run"), rows.nth(1).get_attribute("data-run")
    page.check(f"input[name=run-a][value='{newest}']")  # A: the baseline
    page.check(f"input[name=run-b][value='{older}']")  # B: the higher start
    page.click("#compare-button")
    page.wait_for_selector("#regime-diff")
    assert "score.initial" in page.text_content("#regime-diff")
    page.wait_for_selector("#compare-view .chart .main-svg")

    # Explain an agent of the run.
    rows.nth(0).locator("button", has_text="explain").click()
    page.wait_for_selector("#tab-explain:not([hidden])")
    page.fill("#explain-agent", "7")
    page.click("#explain-button")
    page.wait_for_function("() => document.getElementById('explain-text').textContent")
    assert page.text_content("#explain-text").startswith("agent 7: group")

    # Download the report, made from the store.
    page.click("button[data-tab=runs]")
    with page.expect_download() as download:
        rows.nth(0).locator("a.report-link").click()
    saved = tmp_path / "report.html"
    download.value.save_as(saved)
    assert "<html" in saved.read_text(encoding="utf-8")[:500].lower()

    assert page.problems == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]  # the upload with a mistake, and nothing else
