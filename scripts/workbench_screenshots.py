"""Take the workbench screenshots that docs/workbench.md shows.

    python scripts/workbench_screenshots.py            # writes docs/img/workbench-*.png

Starts the workbench on a throw-away store, drives Debian's chromium through the
question the docs walk through (rongcheng, cameras everywhere: the traffic police
see every ticket), and saves two views: the live run, and the comparison with the
regime as shipped. The runs are 20,000 agents for a year, seed 1.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from scsim.testing.browser import ARGS, CHROMIUM
from scsim.web.command import running

ROOT = Path(__file__).resolve().parent.parent
#: The key the docs' question moves: the traffic police observer's coverage.
COVERAGE = "observers.3.coverage"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory() as tmp,
        running(Path(tmp) / "store.duckdb", slots=1) as url,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        for field in ("#population", "#days", "#seed"):
            page.fill(field, {"#population": "20000", "#days": "365", "#seed": "1"}[field])
        _run(page)
        page.click(f"details:has(.field[data-path='{COVERAGE}']) summary")
        page.locator(f".field[data-path='{COVERAGE}'] input[type=number]").fill("1")
        _run(page)
        page.locator(f".field[data-path='{COVERAGE}']").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        _save(page, args.out / "workbench-live.png")

        page.click("button[data-tab=runs]")
        page.wait_for_selector("#runs-table tbody tr:nth-child(2)")
        rows = page.locator("#runs-table tbody tr")
        page.check(f"input[name=run-a][value='{rows.nth(1).get_attribute('data-run')}']")
        page.check(f"input[name=run-b][value='{rows.nth(0).get_attribute('data-run')}']")
        page.click("#compare-button")
        page.wait_for_selector("#compare-view .chart .main-svg")
        page.locator("#compare-view").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        _save(page, args.out / "workbench-compare.png")
        browser.close()


def _save(page, path: Path) -> None:
    """A screenshot in 256 colours: a page of flat colours loses nothing visible, and
    the file is a third of the size."""
    from PIL import Image

    page.screenshot(path=str(path))
    with Image.open(path) as shot:
        small = shot.convert("RGB").quantize(colors=256)
    small.save(path, optimize=True)
    print(path, f"{path.stat().st_size / 1024:.0f} KiB")


def _run(page) -> None:
    with page.expect_response(lambda r: r.url.endswith("/api/jobs") and r.status == 202) as sent:
        page.click("#run-button")
    job = sent.value.json()["id"]
    page.wait_for_selector(f"#jobs li[data-job='{job}'][data-state=done]", timeout=300_000)


if __name__ == "__main__":
    main()
