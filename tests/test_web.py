"""The workbench's server through FastAPI's TestClient, with its real worker pool.

One pool (one worker process) serves the module; each test waits for it to be idle.
What is checked: runs queue rather than block and the server answers meanwhile; the
days streamed live are exactly the days stored; cancel leaves nothing stored; the
form's fields are the schema's leaves and their paths are valid overrides; every error
is a JSON message with a status code; compare, explain and the downloads give what
the library gives for the same stored runs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
import warnings
import zipfile
from pathlib import Path

import polars as pl
import pytest
from pydantic import Field
from typer.testing import CliRunner

import scsim
from conftest import CAMERA_CITY
from scsim.cli import app as cli_app
from scsim.regime import Regime
from scsim.web.app import MAX_BODY, create_app
from scsim.web.command import _check_port, _is_loopback
from scsim.web.form import fields
from scsim.web.views import regime_diff
from scsim.web.worker import load_source

with warnings.catch_warnings():  # starlette's note that it prefers httpx2 to httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

#: Long enough to still be computing when the test looks (a run is cancelled).
LONG = {"regime": "rongcheng", "population": 200_000, "days": 36_500}
SMALL = {"regime": "rongcheng", "population": 5_000, "days": 40}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    store = tmp_path_factory.mktemp("web") / "store.duckdb"
    with TestClient(create_app(store, slots=1), raise_server_exceptions=False) as c:
        c.store = store
        yield c


def wait(client, job_id: str, states=("done", "failed", "cancelled"), timeout=300.0) -> dict:
    give_up = time.monotonic() + timeout  # a bound against a hang, not a timing
    while time.monotonic() < give_up:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] in states:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {status['state']} after {timeout} s")


def idle(client) -> None:
    for job in client.get("/api/jobs").json():
        if job["state"] not in ("done", "failed", "cancelled"):
            client.post(f"/api/jobs/{job['id']}/cancel")
            wait(client, job["id"])


def submit(client, **body) -> dict:
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def events(client, job_id: str) -> list[tuple[str, dict]]:
    out = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                out.append((kind, json.loads(line.removeprefix("data: "))))
    return out


def run_small(client, **extra) -> dict:
    job = submit(client, **{**SMALL, **extra})
    status = wait(client, job["id"])
    assert status["state"] == "done", status
    return status


# ----------------------------------------------------------------------- the queue


def test_a_second_run_queues_and_the_server_answers_meanwhile(client) -> None:
    idle(client)
    first = submit(client, **LONG)
    second = submit(client, **LONG)
    wait(client, first["id"], states=("running",))
    seen = []
    for _ in range(20):  # the page polls health while runs compute
        health = client.get("/api/health")
        assert health.status_code == 200
        seen.append(health.json())
    assert client.get(f"/api/jobs/{second['id']}").json()["state"] == "queued"
    assert seen[-1] == {"ok": True, "running": 1, "queued": 1, "slots": 1}

    assert client.post(f"/api/jobs/{second['id']}/cancel").json()["state"] == "cancelled"
    client.post(f"/api/jobs/{first['id']}/cancel")
    stopped = wait(client, first["id"], timeout=30)
    assert stopped["state"] == "cancelled" and stopped["run_ids"] == []
    assert client.get("/api/health").json()["running"] == 0


def test_cancelling_a_running_batch_stores_none_of_it(client) -> None:
    idle(client)
    before = len(client.get("/api/runs").json()) if client.store.exists() else 0
    job = submit(client, **{**SMALL, "days": 3_000, "replicates": 3})
    give_up = time.monotonic() + 600  # a bound against a hang, not a timing
    while client.get(f"/api/jobs/{job['id']}").json()["days_done"] < 3_100:
        assert time.monotonic() < give_up  # into the second replicate: one is stored
        time.sleep(0.05)
    client.post(f"/api/jobs/{job['id']}/cancel")
    assert wait(client, job["id"])["state"] == "cancelled"
    after = len(client.get("/api/runs").json())
    assert after == before


def test_a_worker_that_dies_fails_its_job_and_is_replaced(client) -> None:
    idle(client)
    job = submit(client, **LONG)
    wait(client, job["id"], states=("running",))
    pid = client.app.state.pool._slots[0].process.pid
    os.kill(pid, signal.SIGKILL)
    failed = wait(client, job["id"], timeout=30)
    assert failed["state"] == "failed" and "worker process stopped" in failed["error"]
    assert run_small(client)["run_ids"]  # the new worker runs the next job


# --------------------------------------------------------------------- live days


def test_streamed_days_are_the_stored_days(client) -> None:
    idle(client)
    job = submit(client, **SMALL, overrides=["rules.0.points=-7"])
    stream = events(client, job["id"])
    kinds = [k for k, _ in stream]
    assert kinds[-1] == "end" and stream[-1][1]["state"] == "done"
    names = next(d["names"] for k, d in stream if k == "names")
    rows, days = [], []
    for kind, data in stream:
        if kind == "days":
            days += range(data["first"], data["first"] + len(data["rows"]))
            rows += data["rows"]
    assert days == list(range(SMALL["days"]))
    [run_id] = stream[-1][1]["run_ids"]
    with scsim.open_store(client.store, read_only=True) as s:
        stored = s.load(run_id)
    everyone = stored.daily.filter(pl.col("group") == "all").sort("day").select(names)
    # JSON has no NaN: an undefined metric (0/0) streams as null.
    assert everyone.fill_nan(None).rows() == [tuple(r) for r in rows]
    assert stored.regime.rules[0].points == -7


def test_on_day_streams_the_rows_of_the_run_it_returns() -> None:
    regime = scsim.load_regime(str(CAMERA_CITY))
    seen: list[tuple[int, dict]] = []
    run = scsim.simulate(
        regime, population=3000, days=30, seed=4, on_day=lambda d, m: seen.append((d, m))
    )
    assert [d for d, _ in seen] == list(range(30))
    everyone = run.daily.filter(pl.col("group") == "all").sort("day").drop("day", "group")
    assert list(seen[0][1]) == everyone.columns
    assert everyone.fill_nan(None).rows() == [_no_nan(m) for _, m in seen]


def test_on_day_streams_a_worlds_columns() -> None:
    seen: list[dict] = []
    run = scsim.simulate(
        "china-2018", population=2000, days=5, seed=1, on_day=lambda d, m: seen.append(m)
    )
    everyone = run.daily.filter(pl.col("group") == "all").sort("day").drop("day", "group")
    assert list(seen[0]) == everyone.columns
    assert everyone.fill_nan(None).rows() == [_no_nan(m) for m in seen]


def _no_nan(metrics: dict) -> tuple:
    return tuple(None if v != v else v for v in metrics.values())


def test_a_world_streams_its_progress_and_stores_its_run(client) -> None:
    idle(client)
    job = submit(client, regime="china-2018", population=3_000, days=20)
    stream = events(client, job["id"])
    assert stream[-1][1]["state"] == "done", stream[-1]
    rows = sum(len(d["rows"]) for k, d in stream if k == "days")
    assert rows == 20


# ------------------------------------------------------------------------- form


class _Grown(Regime):
    new_knob: float = Field(0.25, ge=0, le=2, description="A key the page has no code for.")


def test_a_new_schema_key_appears_in_the_form_with_its_bounds() -> None:
    regime = scsim.load_regime("rongcheng")
    grown = _Grown.model_validate(regime.model_dump())
    [knob] = [f for f in fields(grown) if f["path"] == "new_knob"]
    assert knob["kind"] == "number" and (knob["min"], knob["max"]) == (0, 2)
    assert knob["description"] == "A key the page has no code for."
    assert knob["value"] == 0.25 and 0 <= knob["slider"][0] <= 0.25 <= knob["slider"][1] <= 2


def test_every_field_is_a_valid_override_holding_the_regimes_value() -> None:
    regime = scsim.load_regime("rongcheng")
    form = fields(regime)
    assert {"score.initial", "rules.0.points", "behaviours.traffic_ticket.rate"} <= {
        f["path"] for f in form
    }
    same = [f"{f['path']}={'null' if f['value'] is None else json.dumps(f['value'])}" for f in form]
    assert load_source({"regime": "rongcheng", "overrides": same}) == regime
    for f in form:
        if f["kind"] in ("number", "integer") and f["value"] is not None:
            lo, hi = f["slider"]
            assert lo <= f["value"] <= hi, f
            assert f["min"] is None or f["min"] <= lo
            assert f["max"] is None or hi <= f["max"]


def test_regime_endpoint_serves_the_form(client) -> None:
    body = client.get("/api/regimes/rongcheng").json()
    assert body["kind"] == "regime" and body["fields"] == [
        f for f in fields(scsim.load_regime("rongcheng")) if f["path"] != "population"
    ]
    names = {r["name"] for r in client.get("/api/regimes").json()}
    assert names == set(scsim.builtin_regimes()) | set(scsim.builtin_worlds())


# ----------------------------------------------------------------------- errors


def test_an_uploaded_file_error_names_its_line(client) -> None:
    text = CAMERA_CITY.read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "latency_days: 3")
    lines[at] = lines[at].replace("latency_days", "latency_dayz")
    response = client.post(
        "/api/regimes/check", json={"text": "\n".join(lines), "filename": "../../city.yaml"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["line"] == at + 1
    assert body["error"].startswith(f"city.yaml:{at + 1}: observers.1.latency_dayz: unknown key")
    ok = client.post("/api/regimes/check", json={"text": text, "filename": "city.yaml"})
    assert ok.status_code == 200 and ok.json()["name"] == "camera-city"


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "says"),
    [
        ("get", "/api/regimes/nowhere", None, 404, "no built-in regime or world"),
        ("get", "/api/jobs/job-0", None, 404, "no job"),
        ("get", "/api/runs/20000101-000000-000000/explain?agent=1", None, 404, "no run"),
        ("get", "/api/runs/a.b/report.html", None, 422, "run_id"),
        ("post", "/api/jobs", {"regime": "rongcheng", "population": 0}, 422, "population"),
        ("post", "/api/jobs", {"population": 10}, 422, "exactly one of"),
        ("post", "/api/jobs", {"regime": "rongcheng", "days": 36_501}, 422, "days"),
        ("post", "/api/jobs", {"regime": "nowhere"}, 400, "no such built-in"),
        ("post", "/api/jobs", {"regime": "rongcheng", "overrides": ["x.y=1"]}, 400, "--set"),
        ("post", "/api/compare", {"a": "x"}, 422, "b"),
        ("get", "/static/../app.py", None, 404, "Not Found"),
    ],
)
def test_errors_are_json_messages_with_a_status(client, method, url, body, status, says) -> None:
    response = getattr(client, method)(url, **({"json": body} if body is not None else {}))
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert says in message and "Traceback" not in message


def test_a_body_over_one_mebibyte_is_refused(client) -> None:
    text = "# padding\n" * (MAX_BODY // 10 + 1)
    response = client.post("/api/regimes/check", json={"text": text})
    assert response.status_code == 413
    assert "1 MiB" in response.json()["error"]


def test_a_population_too_big_for_memory_fails_with_the_memory_check(client) -> None:
    idle(client)
    job = submit(client, regime="national", population=2_000_000_000, days=1)
    failed = wait(client, job["id"], timeout=300)
    assert failed["state"] == "failed"
    assert failed["error"].startswith("population: 2,000,000,000 agents of national for 1 day")


# -------------------------------------------------------- stored runs and views


@pytest.fixture(scope="module")
def pair(client) -> tuple[str, str]:
    idle(client)
    text = CAMERA_CITY.read_text(encoding="utf-8")
    common = {"text": text, "filename": "camera-city.yaml", "population": 2000, "days": 120}
    a = wait(client, submit(client, **common, seed=5)["id"])
    b = wait(client, submit(client, **common, seed=5, overrides=["rules.0.points=-8"])["id"])
    return a["run_ids"][0], b["run_ids"][0]


def test_compare_is_scsim_compare_with_the_regime_diff(client, pair) -> None:
    a, b = pair
    body = client.post("/api/compare", json={"a": a, "b": b}).json()
    with scsim.open_store(client.store, read_only=True) as s:
        run_a, run_b = s.load(a), s.load(b)
    expected = json.loads(json.dumps(scsim.compare(run_a, run_b).to_dict()))
    assert {k: body[k] for k in expected} == expected
    assert [d["key"] for d in body["regime_diff"]] == ["rules.0.points"]
    assert body["regime_diff"] == regime_diff(run_a.regime, run_b.regime)
    charts = [c for s in body["sections"] for c in s["charts"]]
    assert charts and all(c["figure"]["data"] for c in charts)


def test_explain_is_the_runs_explanation(client, pair) -> None:
    run_id = pair[1]
    kinds = client.get(f"/api/runs/{run_id}/agents").json()
    agent = (kinds["wrongly_sanctioned"] or kinds["sanctioned"])[0]
    body = client.get(f"/api/runs/{run_id}/explain", params={"agent": agent}).json()
    with scsim.open_store(client.store, read_only=True) as s:
        assert body["text"] == s.load(run_id).explain(agent).text()
    out_of_range = client.get(f"/api/runs/{run_id}/explain", params={"agent": 2000})
    assert out_of_range.status_code == 400 and "0 to 1999" in out_of_range.json()["error"]


def test_downloads_come_from_the_store(client, pair) -> None:
    run_id = pair[0]
    html = client.get(f"/api/runs/{run_id}/report.html")
    assert html.status_code == 200 and "attachment" in html.headers["content-disposition"]
    assert "<script src=" not in html.text  # plotly inlined: the report opens offline
    pngs = zipfile.ZipFile(io.BytesIO(client.get(f"/api/runs/{run_id}/figures.zip").content))
    assert any(n.endswith(".png") for n in pngs.namelist())
    parquet = zipfile.ZipFile(io.BytesIO(client.get(f"/api/runs/{run_id}/parquet.zip").content))
    assert f"{run_id}.daily.parquet" in parquet.namelist()
    daily = pl.read_parquet(parquet.read(f"{run_id}.daily.parquet"))
    with scsim.open_store(client.store, read_only=True) as s:
        stored = s.load(run_id).daily
    assert daily.drop("run_id", strict=False).equals(stored)  # the export's form: run.daily's


def test_the_page_and_plotly_are_served_locally(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    import plotly

    bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert client.get("/static/plotly.min.js").content == bundled.read_bytes()


# ------------------------------------------------------------------------ serve


def test_serve_refuses_a_taken_port_with_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli_app, ["serve", "--port", str(port), "--store", str(tmp_path / "s.duckdb")]
        )
    assert result.exit_code == 2
    assert f"--port {port}: cannot listen" in result.output


def test_only_loopback_is_quiet() -> None:
    assert _is_loopback("127.0.0.1") and _is_loopback("localhost") and _is_loopback("::1")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.4")
    _check_port("127.0.0.1", 0)  # a free port passes


# ------------------------------------------------------------------------- experiments


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory):
    """A stored 3-point grid x 2 replicates, its rows written as a sweep writes them
    (``scsim.store.experiments``; no Ray): y = 10 x point + replicate, one run failed."""
    from scsim.experiment import load_experiment
    from scsim.store import experiments as tables

    tmp = tmp_path_factory.mktemp("exp")
    path = tmp / "grid.yaml"
    path.write_text(
        f"regime: {CAMERA_CITY}\npopulation: 100\ndays: 5\nreplicates: 2\n"
        "parameters:\n  rules.0.points: {levels: [-1, -2, -3]}\n",
        encoding="utf-8",
    )
    plan = load_experiment(path)
    store = tmp / "store.duckdb"
    with scsim.open_store(store) as s:
        tables.register(s, plan, resume=False)
        for point in range(3):
            for rep in range(2):
                failed = (point, rep) == (2, 1)
                tables.write(s, plan.id, {
                    "point": point, "replicate": rep, "seed": rep,
                    "status": "failed" if failed else "ok", "message": "boom" if failed else None,
                    "metrics": {} if failed else {"y": 10.0 * point + rep},
                    "seconds": 0.1, "engine_seconds": 0.1, "worker": 0,
                })  # fmt: skip
    # Outside ``with``: no lifespan, so no worker pool; the experiment views need none.
    return TestClient(create_app(store, warm=False), raise_server_exceptions=False), plan


def test_experiments_are_listed_with_their_counts(swept) -> None:
    c, plan = swept
    [e] = c.get("/api/experiments").json()
    assert (e["id"], e["name"], e["design"]) == (plan.id, plan.name, "grid")
    assert (e["points"], e["replicates"], e["runs"], e["done"], e["failed"]) == (3, 2, 6, 5, 1)


def test_an_experiments_charts_are_the_stores_means(swept) -> None:
    c, plan = swept
    r = c.get(f"/api/experiments/{plan.id}")
    assert r.status_code == 200, r.text
    body = r.json()
    with scsim.open_store(c.app.state.store, read_only=True) as s:
        frame = s.experiment(plan.id)
    assert body["design"] == [[-1], [-2], [-3]] and body["columns"] == ["rules.0.points"]
    assert (body["runs"], body["failed"]) == (frame.height, 1) == (6, 1)
    [chart] = body["charts"]
    assert (chart["metric"], chart["parameter"]) == ("y", "rules.0.points")
    means = (
        frame.filter(pl.col("status") == "ok")
        .group_by("rules.0.points")
        .agg(pl.col("y").mean())
        .sort("rules.0.points")
    )
    [trace] = chart["figure"]["data"]
    got = sorted(zip(trace["x"], trace["y"], strict=True))
    assert got == list(zip(means["rules.0.points"], means["y"], strict=True))
    assert got == [(-3, 20.0), (-2, 10.5), (-1, 0.5)]
    # 95% t-interval of (10, 11) is 10.5 +- 12.706 x 0.5; a lone replicate has none
    half = dict(zip(trace["x"], trace["error_y"]["array"], strict=True))
    assert half[-2] == pytest.approx(12.706 * 0.5, rel=1e-3) and half[-3] is None


def test_an_unknown_experiment_is_404(swept, tmp_path: Path) -> None:
    c, _ = swept
    r = c.get("/api/experiments/nope")
    assert r.status_code == 404 and "no experiment 'nope'" in r.json()["error"]
    empty = TestClient(create_app(tmp_path / "none.duckdb", warm=False))
    assert empty.get("/api/experiments").json() == []
