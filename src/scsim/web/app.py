"""The workbench's HTTP API and page: a thin FastAPI layer over the library.

Everything here calls what the CLI calls (``scsim.load``, ``scsim.compare``,
``Run.explain``, ``write_report``, ``Store.export_parquet``); runs go to the worker
pool (``jobs.Pool``). The store is opened read-only and only for the length of a
request, so ``scsim run`` in a terminal can save while the workbench is up. Every
error is a JSON object ``{"error": message}`` with a status code; the page shows the
message. Nothing from the browser names a path on this machine: uploads are parsed in
memory, and downloads are made from stored runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import logging
import re
import tempfile
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

import scsim
from scsim.errors import ScsimError
from scsim.limits import MAX_DAYS, MAX_POPULATION, MAX_SEED
from scsim.web.form import fields
from scsim.web.jobs import TERMINAL, Pool

log = logging.getLogger("scsim.web")

#: Largest request body (a regime file and its JSON wrapping).
MAX_BODY = 1 << 20
MAX_TEXT = MAX_BODY - 4096
MAX_REPLICATES = 100
#: How long a request waits for the store while a run is being saved (seconds).
STORE_PATIENCE = 5.0
#: How often the live stream looks for new days (seconds).
STREAM_EVERY = 0.2

ExperimentId = Annotated[str, PathParam(max_length=200, description="A stored experiment's id.")]
RunId = Annotated[
    str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="A stored run's id.")
]
Override = Annotated[str, StringConstraints(min_length=3, max_length=2000)]


class ApiError(Exception):
    """A failure with a status code and a message for the page."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, where, and what is allowed.")
    line: int | None = Field(None, description="The regime file's line, when known.")


class RegimeText(BaseModel):
    """An uploaded regime file's text (read by the browser; never a path)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT, description="The YAML text of a regime file.")
    filename: str = Field(
        "upload.yaml", max_length=200, description="The file's name, used in messages."
    )


class RunRequest(BaseModel):
    """What to run: a built-in regime or world by name, or an uploaded regime's text."""

    model_config = ConfigDict(extra="forbid")
    regime: str | None = Field(None, max_length=200, description="A built-in name.")
    text: str | None = Field(None, max_length=MAX_TEXT, description="Uploaded YAML text.")
    filename: str = Field("upload.yaml", max_length=200)
    overrides: list[Override] = Field(
        default_factory=list, max_length=5000, description="dotted.key=value, as --set takes."
    )
    population: int = Field(20_000, ge=1, le=MAX_POPULATION)
    days: int = Field(365, ge=1, le=MAX_DAYS)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    replicates: int = Field(1, ge=1, le=MAX_REPLICATES)

    @model_validator(mode="after")
    def _one_source(self) -> RunRequest:
        if (self.regime is None) == (self.text is None):
            raise ValueError("give exactly one of regime (a built-in name) or text (a file)")
        if self.seed + self.replicates - 1 > MAX_SEED:
            raise ValueError(f"seed + replicates - 1 must be at most {MAX_SEED}")
        return self


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Run A, the baseline.")
    b: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Run B (B minus A).")


def create_app(
    store: str | Path = "scsim.duckdb", *, slots: int | None = None, warm: bool = True
) -> FastAPI:
    """The workbench over the store at ``store``; its pool of ``slots`` workers (one
    per two cores by default) starts and stops with the app. ``warm`` loads the
    kernels in each worker before its first run."""
    store = str(store)
    pool = Pool(store, slots, warm)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.start()
        # The page's first request lists the built-ins: describe them meanwhile.
        threading.Thread(target=builtins, daemon=True, name="scsim-builtins").start()
        try:
            yield
        finally:
            pool.close()

    errors = {400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
    app = FastAPI(
        title="scsim workbench",
        version=scsim.__version__,
        summary="Run, watch, compare and explain citizen-scoring simulations.",
        lifespan=lifespan,
        responses=errors,
    )
    app.state.pool, app.state.store = pool, store
    _errors(app)
    app.add_middleware(_BodyLimit)
    _pages(app)
    _regimes(app)
    _jobs(app, pool)
    _stored(app, store)
    _experiments(app, store)
    return app


# ------------------------------------------------------------------------------ errors


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, e: ApiError) -> JSONResponse:
        return _error(e.status, e.message, **e.extra)

    @app.exception_handler(ScsimError)
    async def user_error(_: Request, e: ScsimError) -> JSONResponse:
        return _error(400, str(e), line=line_of(str(e)))

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, e: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(e.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return _error(e.status_code, str(e.detail))

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(e).__name__}); the server's console has more")


def _validation_message(errors: Any) -> str:
    """The first problem of a request, as ``where: problem``."""
    err = next(iter(errors))
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{loc or 'request'}: {msg}"


_LINE = re.compile(r"^[^\s:]+:(\d+): ")


def line_of(message: str) -> int | None:
    """The line a loader message points at (``file.yaml:12: key: problem``)."""
    m = _LINE.match(message)
    return int(m.group(1)) if m else None


class _BodyLimit:
    """Refuses request bodies over MAX_BODY with 413, before the app reads them."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            await _too_large(send)
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise ApiError(413, f"request body over {MAX_BODY:,} bytes")
            return message

        await self.app(scope, counted, send)


async def _too_large(send) -> None:
    body = json.dumps({"error": f"request body over {MAX_BODY:,} bytes (a regime file: 1 MiB)"})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


# ------------------------------------------------------------------------------- pages


def _static(name: str) -> Path:
    return Path(str(resources.files("scsim.web").joinpath("static", name)))


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _pages(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(_static("index.html").read_text(encoding="utf-8"))

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        files = {"app.js", "app.css"}
        if name == "plotly.min.js":
            return FileResponse(_plotly_js(), headers={"Cache-Control": "max-age=86400"})
        if name not in files:
            raise ApiError(404, f"no static file {name!r}")
        return FileResponse(_static(name), headers={"Cache-Control": "no-cache"})

    @app.get("/api/health", summary="Whether the server answers, and how many runs it has.")
    def health() -> dict[str, Any]:
        return {"ok": True, **app.state.pool.counts()}


# ----------------------------------------------------------------------------- regimes


def _describe(model: Any, kind: str) -> dict[str, Any]:
    return {
        "name": model.name,
        "kind": kind,
        "description": model.description,
        "yaml": model.to_yaml(),
        "fields": [f for f in fields(model) if f["path"] != "population"],
    }


@functools.cache
def builtins() -> dict[str, dict[str, Any]]:
    """Every built-in regime and world, described once: loading them all takes a
    second or more, and they cannot change while the server runs."""
    out = {n: _describe(scsim.load_regime(n), "regime") for n in scsim.builtin_regimes()}
    out |= {n: _describe(scsim.load_world(n), "world") for n in scsim.builtin_worlds()}
    return out


def _regimes(app: FastAPI) -> None:
    @app.get("/api/regimes", summary="The built-in regimes and worlds.")
    def regimes() -> list[dict[str, str]]:
        return [
            {"name": r["name"], "kind": r["kind"], "description": r["description"]}
            for r in builtins().values()
        ]

    @app.get("/api/regimes/{name}", summary="A built-in regime or world and its form.")
    def regime(name: Annotated[str, PathParam(max_length=200)]) -> dict[str, Any]:
        found = builtins().get(name)
        if found is None:
            raise ApiError(404, f"no built-in regime or world {name!r}")
        return found

    @app.post("/api/regimes/check", summary="Validate an uploaded regime file; its form.")
    def check(body: RegimeText) -> dict[str, Any]:
        from scsim.regime.loader import regime_from_text

        return _describe(regime_from_text(body.text, _safe_name(body.filename)), "regime")


def _safe_name(filename: str) -> str:
    """A file name for messages: the last part, printable characters only."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", filename.replace("\\", "/").rsplit("/", 1)[-1])
    return name or "upload.yaml"


# -------------------------------------------------------------------------------- jobs


def _jobs(app: FastAPI, pool: Pool) -> None:
    @app.post("/api/jobs", status_code=202, summary="Queue a run; it starts when a worker is free.")
    def submit(body: RunRequest) -> dict[str, Any]:
        request = body.model_dump()
        request["filename"] = _safe_name(body.filename)
        from scsim.web.worker import load_source

        model = load_source(request)  # refuse a bad regime or override now, with its line
        job = pool.submit(request, f"{model.name}, {body.population:,} agents, {body.days:,} days")
        return job.status()

    @app.get("/api/jobs", summary="The runs queued, running and recently finished.")
    def jobs() -> list[dict[str, Any]]:
        with pool.lock:
            return [j.status() for j in pool.jobs.values()]

    @app.get("/api/jobs/{job_id}", summary="One job's state and progress.")
    def job(job_id: Annotated[str, PathParam(max_length=64)]) -> dict[str, Any]:
        return _job(pool, job_id).status()

    @app.post("/api/jobs/{job_id}/cancel", summary="Cancel a queued or running job.")
    def cancel(job_id: Annotated[str, PathParam(max_length=64)]) -> dict[str, Any]:
        _job(pool, job_id)
        return pool.cancel(job_id).status()

    @app.get(
        "/api/jobs/{job_id}/events",
        summary="Server-sent events: the job's days as they finish, then its end.",
        response_class=StreamingResponse,
    )
    async def events(job_id: Annotated[str, PathParam(max_length=64)], request: Request):
        job = _job(pool, job_id)
        return StreamingResponse(
            _stream(job, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _job(pool: Pool, job_id: str):
    job = pool.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id!r} (jobs are kept while the server runs)")
    return job


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, allow_nan=False)}\n\n"


async def _stream(job, request: Request) -> AsyncIterator[str]:
    """The job's status, its metric names, then each batch of days, then ``end``."""
    sent_batches, sent_names, last = 0, None, None
    while True:
        names_key = (job.replicate, len(job.names))
        if job.names and names_key != sent_names:
            yield _sse("names", {"replicate": job.replicate, "names": job.names})
            sent_names = names_key
        batches = job.batches[sent_batches:]
        for replicate, first, rows in _merged(batches):
            yield _sse("days", {"replicate": replicate, "first": first, "rows": rows})
        sent_batches += len(batches)
        status = job.status()
        if status != last:
            yield _sse("status", status)
            last = status
        if job.state in TERMINAL and sent_batches == len(job.batches):
            yield _sse("end", status)
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(STREAM_EVERY)


def _merged(batches: list) -> list:
    """Consecutive batches of one replicate as one: an event per look, not per batch."""
    out: list = []
    for replicate, first, rows in batches:
        if out and out[-1][0] == replicate and out[-1][1] + len(out[-1][2]) == first:
            out[-1] = (replicate, out[-1][1], out[-1][2] + rows)
        else:
            out.append((replicate, first, rows))
    return out


# ------------------------------------------------------------------------------ stored


@contextlib.contextmanager
def reading(store: str) -> Iterator[Any]:
    """The store, read-only, for one request; waits briefly while a run is saved."""
    if not Path(store).exists():
        raise ApiError(404, "no runs stored yet: run something first")
    deadline = time.monotonic() + STORE_PATIENCE
    while True:
        try:
            opened = scsim.open_store(store, read_only=True)
            break
        except ScsimError as e:
            if "lock" not in str(e).lower():
                raise
            if time.monotonic() > deadline:
                raise ApiError(503, "the store is busy (a run is being saved); try again") from e
            time.sleep(0.1)
    with opened as s:
        yield s


def _load(s, run_id: str):
    if run_id not in set(s.runs().get_column("id")):
        raise ApiError(404, f"no run {run_id!r} in the store")
    return s.load(run_id)


def _stored(app: FastAPI, store: str) -> None:
    @app.get("/api/runs", summary="The runs in the store, newest first.")
    def runs() -> list[dict[str, Any]]:
        if not Path(store).exists():
            return []
        with reading(store) as s:
            frame = s.runs()
        return [
            {k: (str(v) if k in ("started", "finished") else v) for k, v in row.items()}
            for row in reversed(frame.to_dicts())
        ]

    @app.get("/api/runs/{run_id}/explain", summary="Why an agent is sanctioned (`explain`).")
    def explain(run_id: RunId, agent: Annotated[int, Query(ge=0, le=2**40)]) -> dict[str, Any]:
        with reading(store) as s:
            run = _load(s, run_id)
        return {"run_id": run_id, "agent": agent, "text": run.explain(agent).text()}

    @app.get("/api/runs/{run_id}/agents", summary="Agents worth explaining, by kind.")
    def agents(run_id: RunId) -> dict[str, list[int]]:
        with reading(store) as s:
            run = _load(s, run_id)
        return _examples(run)

    @app.post("/api/compare", summary="Compare two runs (or batches) agent by agent.")
    def compare(body: CompareRequest) -> dict[str, Any]:
        from scsim.web.views import comparison

        with reading(store) as s:
            a = [_load(s, i) for i in _batch(s, body.a)]
            b = [_load(s, i) for i in _batch(s, body.b)]
        return comparison(a, b)

    @app.get("/api/runs/{run_id}/report.html", summary="The run's HTML report (offline).")
    def report(run_id: RunId) -> Response:
        html = _report_files(store, run_id, "html")[0][1]
        return Response(html, media_type="text/html", headers=_attachment(f"{run_id}.html"))

    @app.get("/api/runs/{run_id}/figures.zip", summary="The report's figures as PNG files.")
    def figures(run_id: RunId) -> Response:
        return _zip(_report_files(store, run_id, "png"), f"{run_id}-figures.zip")

    @app.get("/api/runs/{run_id}/parquet.zip", summary="The run's tables as Parquet files.")
    def parquet(run_id: RunId) -> Response:
        with tempfile.TemporaryDirectory() as tmp, reading(store) as s:
            _load(s, run_id)
            files = [(p.name, p.read_bytes()) for p in s.export_parquet(run_id, tmp)]
        return _zip(files, f"{run_id}-parquet.zip")


def _experiments(app: FastAPI, store: str) -> None:
    @app.get("/api/experiments", summary="The stored sweeps: design, runs done and failed.")
    def experiments() -> list[dict[str, Any]]:
        from scsim.web.views import experiments

        if not Path(store).exists():
            return []
        with reading(store) as s:
            return experiments(s)

    @app.get("/api/experiments/{experiment_id}", summary="A sweep's design and report charts.")
    def experiment(experiment_id: ExperimentId) -> dict[str, Any]:
        from scsim.store.experiments import is_experiment
        from scsim.web.views import experiment

        with reading(store) as s:
            if not is_experiment(s, experiment_id):
                raise ApiError(404, f"no experiment {experiment_id!r} in the store")
            return experiment(s, experiment_id)


def _batch(s, run_id: str) -> list[str]:
    if run_id not in set(s.runs().get_column("id")):
        raise ApiError(404, f"no run {run_id!r} in the store")
    ids = s.batch_ids(run_id)
    return [run_id, *(i for i in ids if i != run_id)]


def _examples(run) -> dict[str, list[int]]:
    """A few agents of each kind worth explaining: wrongly sanctioned (only because
    of a false record), sanctioned, and recorded falsely at all."""
    import polars as pl

    from scsim.analysis.sanctions import sanction_flags

    agents = run.agents
    out: dict[str, list[int]] = {"wrongly_sanctioned": [], "sanctioned": [], "falsely_recorded": []}
    if agents.width == 0 or not hasattr(run.regime, "sanctions"):
        return out
    ids = agents.get_column("agent")
    if "wrongfully_sanctioned" in agents.columns:
        out["wrongly_sanctioned"] = ids.filter(agents["wrongfully_sanctioned"]).head(5).to_list()
    flags = sanction_flags(run.regime, agents)
    if flags.width:
        hit = flags.select(pl.any_horizontal(pl.all())).to_series()
        out["sanctioned"] = ids.filter(hit).head(5).to_list()
    if run.events is not None and run.events.height:
        false = run.events.filter(pl.col("false")).get_column("agent").unique(maintain_order=True)
        out["falsely_recorded"] = [int(a) for a in false.head(5).to_list()]
    return out


def _report_files(store: str, run_id: str, fmt: str) -> list[tuple[str, bytes]]:
    from scsim.report import write_report

    with reading(store) as s:
        run = _load(s, run_id)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("report.html" if fmt == "html" else "figures")
        return [(p.name, p.read_bytes()) for p in write_report([run], out, format=fmt)]


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _zip(files: list[tuple[str, bytes]], name: str) -> Response:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for filename, data in files:
            z.writestr(filename, data)
    return Response(buffer.getvalue(), media_type="application/zip", headers=_attachment(name))
