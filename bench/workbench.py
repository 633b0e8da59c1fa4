"""The workbench's latencies, measured in Debian's chromium against a live server.

    python bench/workbench.py [--population 100000] [--days 365] [--loads 5]

1. Page interactive: from navigation to the page's ``data-ready`` mark (regimes
   listed, form built), and to plotly.js's being loaded (``data-charts``), over
   ``loads`` loads; the first with an empty browser cache, the rest from the cache.
2. First points: a ``population`` x ``days`` rongcheng run, its worker's kernels
   already loaded (a first run is made and waited for): from the click on Run to the
   first points on the chart, and how far the chart trails the worker while the run
   goes (days done by the worker minus days on the chart, in seconds of the run's
   own pace, sampled every 0.1 s).
3. Health while two runs compute: a server with two workers runs two long runs; the
   median, 95th percentile and largest latency of 200 ``/api/health`` requests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from scsim.testing.browser import ARGS, CHROMIUM
from scsim.web.command import running

POINTS = "() => window.scsim.stats.points"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        with running(Path(tmp) / "one.duckdb", slots=1) as url:
            httpx.get(url + "api/regimes", timeout=120)  # the server is up and warm
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            loads = [_load(page, url) for _ in range(args.loads)]
            for i, what in enumerate(("page interactive", "charts ready")):
                cached = [load[i] for load in loads[1:]] or [loads[0][i]]
                print(
                    f"{what}: first load {loads[0][i]:.2f} s, cached loads median "
                    f"{statistics.median(cached):.2f} s"
                )
            _run(page, 20_000, 30)  # the worker's kernels are loaded now
            first, lag = _first_points(page, url, args.population, args.days)
            print(
                f"{args.population:,} x {args.days} rongcheng: first points {first:.2f} s "
                f"after Run; chart behind the worker by at most {lag:.2f} s"
            )
        with running(Path(tmp) / "two.duckdb", slots=2) as url:
            p50, p95, top = _health_under_load(url)
            print(
                f"health while two runs compute: median {p50 * 1e3:.1f} ms, "
                f"95% {p95 * 1e3:.1f} ms, max {top * 1e3:.1f} ms (200 requests)"
            )
        browser.close()


def _load(page, url: str) -> tuple[float, float]:
    """Seconds from navigation to the form's being usable, and to plotly's being
    loaded (the charts need it; picking, moving and pressing Run do not)."""
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    ready = time.perf_counter() - t0
    page.wait_for_selector("body[data-charts=true]")
    return ready, time.perf_counter() - t0


def _run(page, population: int, days: int) -> str:
    page.fill("#population", str(population))
    page.fill("#days", str(days))
    with page.expect_response(lambda r: r.url.endswith("/api/jobs") and r.status == 202) as sent:
        page.click("#run-button")
    job = sent.value.json()["id"]
    page.wait_for_selector(f"#jobs li[data-job='{job}'][data-state=done]", timeout=600_000)
    return job


def _first_points(page, url: str, population: int, days: int) -> tuple[float, float]:
    page.fill("#population", str(population))
    page.fill("#days", str(days))
    t0 = time.perf_counter()
    with page.expect_response(lambda r: r.url.endswith("/api/jobs") and r.status == 202) as sent:
        page.click("#run-button")
    job = sent.value.json()["id"]
    page.wait_for_function("() => window.scsim.stats.points > 0", polling=10, timeout=600_000)
    first = time.perf_counter() - t0
    lag = 0.0
    samples = []
    start = time.perf_counter()
    with httpx.Client(base_url=url) as client:
        while True:
            shown = page.evaluate(POINTS)  # the chart first: the worker is never behind it
            status = client.get(f"/api/jobs/{job}").json()
            pace = max(status["days_done"], 1) / (time.perf_counter() - start + first)
            lag = max(lag, (status["days_done"] - shown) / pace)
            samples.append((round(time.perf_counter() - start, 2), status["days_done"], shown))
            if status["state"] == "done":
                break
            time.sleep(0.1)
    print("samples (s, worker days, chart days):", samples[:: max(1, len(samples) // 8)])
    return first, lag


def _health_under_load(url: str) -> tuple[float, float, float]:
    body = {"regime": "rongcheng", "population": 100_000, "days": 36_500}
    times = []
    with httpx.Client(base_url=url, timeout=30) as client:
        jobs = [client.post("/api/jobs", json=body).json()["id"] for _ in range(2)]
        while client.get("/api/health").json()["running"] < 2:
            time.sleep(0.1)
        time.sleep(2.0)  # both past their population build
        for _ in range(200):
            t0 = time.perf_counter()
            client.get("/api/health").raise_for_status()
            times.append(time.perf_counter() - t0)
            time.sleep(0.02)
        for job in jobs:
            client.post(f"/api/jobs/{job}/cancel")
    times.sort()
    return statistics.median(times), times[int(0.95 * len(times))], times[-1]


if __name__ == "__main__":
    main()
