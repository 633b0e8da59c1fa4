"""The ``scsim sweep`` and ``scsim sensitivity`` commands, and ``scsim report`` for an
experiment id: a thin layer over :func:`scsim.experiment.sweep`,
:func:`scsim.experiment.sensitivity.analyse` and :mod:`scsim.experiment.report`.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

#: Most workers a sweep may ask for (``runner.MAX_WORKERS``, not imported: the CLI
#: registers these commands without loading the experiment machinery).
MAX_WORKERS = 4096
Progress = Callable[[int, int, int], None]

FileArg = Annotated[Path, typer.Argument(help="An experiment file (YAML).")]
StoreOpt = Annotated[
    Path, typer.Option("--store", help="The results store (a DuckDB file).", dir_okay=False)
]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Insist on finishing a stored sweep of this file (refused across versions).",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(min=1, max=MAX_WORKERS, help="Ray workers (default: the cluster's CPUs)."),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address", help="A Ray cluster to run on (default: RAY_ADDRESS, else a local Ray)."
    ),
]


def register(app: typer.Typer) -> None:
    """Add the experiment commands to the ``scsim`` app."""
    app.command()(sweep)
    app.command()(sensitivity)


def sweep(
    file: FileArg,
    store: StoreOpt = Path("scsim.duckdb"),
    resume: ResumeOpt = False,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
) -> None:
    """Run an experiment (parameter sweep) on Ray and store every run; running it again
    (or with --resume) runs only what is missing."""
    result = _run(file, store, resume, workers, address)
    typer.echo(
        f"experiment {result.id}: {result.runs} runs ({result.ran} now, "
        f"{result.runs - result.ran} stored before), {result.failed} failed now, "
        f"{result.seconds:,.1f} s; `scsim report {result.id} -o report.html` draws it"
    )


def sensitivity(
    file: FileArg,
    store: StoreOpt = Path("scsim.duckdb"),
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="A directory for the figures (PNG) and indices.json."),
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="Only this metric (repeatable).")
    ] = None,
    drop_failed: Annotated[
        bool,
        typer.Option(
            "--drop-failed", help="Drop failed points' blocks (Sobol) or trajectories (Morris)."
        ),
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the indices as JSON only.")] = False,
    resume: ResumeOpt = False,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
) -> None:
    """Sobol or Morris sensitivity indices of an experiment (design sobol or morris),
    running whatever of its sweep is missing first."""
    import scsim
    from scsim.experiment import load_experiment
    from scsim.experiment.sensitivity import analyse

    plan = load_experiment(file)
    if plan.spec.design.kind not in ("sobol", "morris"):
        from scsim.errors import OptionError

        raise OptionError(
            f"{file}: design {plan.spec.design.kind} has no sensitivity indices "
            "(allowed: design kind sobol or morris)"
        )
    if output is not None and output.exists() and not output.is_dir():
        from scsim.errors import OptionError

        raise OptionError(f"--output {str(output)!r}: not a directory")
    quiet = contextlib.redirect_stdout(sys.stderr) if json_ else contextlib.nullcontext()
    with quiet:
        result = _run(plan, store, resume, workers, address)
        with scsim.open_store(store, read_only=True) as s:
            frame = s.experiment(result.id)
        found = analyse(frame, plan.spec, metric, drop_failed)
    if json_:
        typer.echo(json.dumps([i.to_dict() for i in found], allow_nan=False))
    else:
        _print_indices(found, plan)
    if output is not None:
        from scsim.experiment.report import sensitivity_figures

        output.mkdir(parents=True, exist_ok=True)
        (output / "indices.json").write_text(json.dumps([i.to_dict() for i in found], indent=1))
        for path in sensitivity_figures(found, output):
            typer.echo(str(path), err=json_)


def report_experiment(name: str, output: Path, store: Path, format_: str) -> bool:
    """``scsim report EXPERIMENT``: draw it and return True if ``name`` is an
    experiment in the store, else False (the report command goes on with runs)."""
    import scsim
    from scsim.store import experiments

    if not store.exists():
        return False
    with scsim.open_store(store, read_only=True) as s:
        if not experiments.is_experiment(s, name):
            return False
        frame = s.experiment(name)
        meta = experiments.info(s, name)
    from scsim.experiment.report import write_experiment_report

    for path in write_experiment_report(frame, meta, output, format_):
        typer.echo(str(path))
    return True


def _run(file, store, resume, workers, address):
    from scsim.experiment import sweep as run_sweep

    with _progress_line() as progress:
        try:
            return run_sweep(
                file, store=store, resume=resume, workers=workers, address=address,
                progress=progress,
            )  # fmt: skip
        except KeyboardInterrupt:
            typer.echo(
                "interrupted: the runs that finished are stored; run the same command "
                "again to finish the sweep",
                err=True,
            )
            raise typer.Exit(130) from None


@contextlib.contextmanager
def _progress_line() -> Iterator[Progress]:
    """A rich bar on a terminal; otherwise a plain line on stderr at most once a
    second (logs and CI stay readable): runs done, failures and an ETA."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), console=Console(stderr=True), transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task("runs", total=None)

            def show(done: int, total: int, failed: int) -> None:
                bar.update(task, completed=done, total=total, description=f"runs ({failed} failed)")

            yield show
        return
    t0, last, first = time.monotonic(), [0.0], [None]

    def line(done: int, total: int, failed: int) -> None:
        now = time.monotonic()
        first[0] = first[0] if first[0] is not None else done - 1
        if now - last[0] < 1.0 and done < total:
            return
        last[0] = now
        rate = (done - first[0]) / max(now - t0, 1e-9)
        eta = (total - done) / rate if rate > 0 else float("nan")
        print(
            f"{done}/{total} runs, {failed} failed, eta {eta:,.0f} s", file=sys.stderr, flush=True
        )

    yield line


def _print_indices(found, plan) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    for ind in found:
        table = Table(title=f"{ind.metric}: {ind.method} indices (95% bootstrap intervals)")
        table.add_column("parameter", no_wrap=True)
        cols = ["S1", "ST"] if ind.method == "sobol" else ["mu_star", "sigma"]
        for c in cols:
            table.add_column(c, justify="right", no_wrap=True)
        for r in ind.table.iter_rows(named=True):
            cells = []
            for c in cols:
                if c not in r:
                    cells.append("n/a")
                elif f"{c}_conf" in r:
                    cells.append(f"{r[c]:.3g} ± {r[c + '_conf']:.2g}")
                else:
                    cells.append(f"{r[c]:.3g}")
            table.add_row(r["parameter"], *cells)
        console.print(table)
        console.print(ind.reading)
        if ind.dropped:
            console.print(f"({ind.dropped} points dropped with their failed blocks)")
    console.print(
        f"experiment {plan.id}, {len(plan.points)} points x {plan.spec.replicates} replicates"
    )
