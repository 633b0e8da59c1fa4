"""The ``scsim`` command: a thin layer over the public API (``import scsim``).

Each command is a few lines over ``scsim.load_regime``, ``scsim.simulate`` and
``scsim.open_store``; anything the CLI can do, a script can do the same way.

User errors (a ``ScsimError`` anywhere, or a bad option) end in one message on stderr
and exit code 2, never a traceback; any other exception is a bug and surfaces as one.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

import scsim
from scsim.errors import OptionError, ScsimError

if TYPE_CHECKING:
    import click
    from rich.console import Console

    from scsim.engine.result import Run

MAX_POPULATION = 2_000_000_000
MAX_DAYS = 36_500
MAX_SEED = 2**63 - 1
DEFAULT_STORE = "scsim.duckdb"


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _fail(message: str) -> None:
    """The one way a user error ends: ``error: <message>`` on stderr."""
    _stderr_console().print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)


class _Group(TyperGroup):
    """Turns a ``ScsimError`` from any command into its message and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScsimError as e:
            _fail(_escape(str(e)))
            raise typer.Exit(2) from None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


app = typer.Typer(
    cls=_Group,
    name="scsim",
    help="Simulate and audit citizen-scoring regimes on synthetic citizens only.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RegimeArg = Annotated[
    str, typer.Argument(help="A built-in regime name (see `scsim regimes`) or a YAML file.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="dotted.key=value",
        help="Override one regime key, e.g. --set rules.0.points=-10. Repeatable.",
    ),
]
StoreOpt = Annotated[
    Path, typer.Option("--store", help="The results store (a DuckDB file).", dir_okay=False)
]


def _overrides(values: Sequence[str] | None) -> list[str]:
    """Check the shape of each --set before the regime loader sees it."""
    out = []
    for value in values or ():
        key, sep, _ = value.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"--set {value!r}: expected dotted.key=value, e.g. score.initial=900")
        out.append(value)
    return out


@contextlib.contextmanager
def _progress_bar(days: int, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A transient rich bar on stderr; the engine reports ``progress(day_done, days)``."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task("simulating days", total=days)

        def progress(day_done: int, total: int) -> None:
            bar.update(task, completed=day_done, total=total)

        yield progress


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: an undefined metric (e.g. 0/0) is ``null``."""
    value = float(value)
    return value if math.isfinite(value) else None


def _run_json(run: Run) -> str:
    payload = {
        "run_id": run.run_id,
        "regime": run.regime.name,
        "population": run.population,
        "days": run.days,
        "seed": run.seed,
        "metrics": {name: _finite(v) for name, v in run.summary.items()},
        "seconds": run.seconds,
        "agent_days_per_s": run.agent_days_per_s,
    }
    return json.dumps(payload, allow_nan=False)


# Metric families (DESIGN.md "Metric names") grouped for the end-of-run table.
_SECTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("score", ("mean_score", "score_gini")),
    ("grades", ("grade_share",)),
    ("list, sanctions, rewards", ("blacklisted", "sanctioned", "rewarded")),
    (
        "errors",
        ("false_attributions", "wrongful_penalties", "wrongfully_sanctioned", "disparate_impact"),
    ),
    ("events", ("events_true", "events_recorded")),
    ("behaviour and ties", ("chilling", "isolation")),
]


def _section_of(metric: str) -> str:
    family = metric.split(".", 1)[0]
    for title, families in _SECTIONS:
        if family in families:
            return title
    return "other"


# Metric families whose values are shares of the population, shown as percentages.
_SHARES = ("grade_share",)


def _fmt(value: float, share: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    if share:
        return f"{value * 100:.4g}%"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.6g}"


def _print_summary(run: Run) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("run id", str(run.run_id))
    head.add_row("regime", run.regime.name)
    head.add_row("population", f"{run.population:,}")
    head.add_row("days", f"{run.days:,}")
    head.add_row("seed", str(run.seed))
    head.add_row("seconds", f"{run.seconds:,.3g}")
    head.add_row("agent-days/s", f"{run.agent_days_per_s:,.3g}")
    console.print(head)

    table = Table(title="metrics (stocks on the last day, flows summed over the run)")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("", style="dim")
    by_section: dict[str, list[str]] = {}
    for name in run.summary:
        by_section.setdefault(_section_of(name), []).append(name)
    titles = [title for title, _ in _SECTIONS] + ["other"]
    first = True
    for title in titles:
        names = by_section.get(title)
        if not names:
            continue
        if not first:
            table.add_section()
        first = False
        table.add_row(f"[bold]{title}[/]", "", "")
        for name in names:
            kind = "last day" if name in run.stocks else "total"
            share = name.split(".", 1)[0] in _SHARES
            table.add_row(f"  {_escape(name)}", _fmt(run.summary[name], share), kind)
    console.print(table)


@app.command()
def run(
    regime: RegimeArg,
    population: Annotated[
        int, typer.Option(min=1, max=MAX_POPULATION, help="Number of synthetic citizens.")
    ] = 100_000,
    days: Annotated[int, typer.Option(min=1, max=MAX_DAYS, help="Days to simulate.")] = 365,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="The run's one seed.")] = 0,
    store: StoreOpt = Path(DEFAULT_STORE),
    set_: SetOpt = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout, nothing else.")
    ] = False,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Worker threads (default: all cores).")
    ] = None,
) -> None:
    """Simulate REGIME and store the run."""
    overrides = _overrides(set_)
    # Under --json stdout carries the one object only: anything else printed while we
    # work (a library's chatter) goes to stderr.
    quiet = contextlib.redirect_stdout(sys.stderr) if json_ else contextlib.nullcontext()
    with quiet:
        loaded = scsim.load_regime(regime, overrides)
        with scsim.open_store(store):  # a bad store path fails now, not after the run
            pass
        try:
            with _progress_bar(days, enabled=sys.stderr.isatty()) as progress:
                result = scsim.simulate(
                    loaded,
                    population=population,
                    days=days,
                    seed=seed,
                    threads=threads,
                    progress=progress,
                )
            with scsim.open_store(store) as s:
                s.save(result)
        except KeyboardInterrupt:
            _fail("interrupted; nothing was stored")
            raise typer.Exit(130) from None
    if json_:
        typer.echo(_run_json(result))
    else:
        _print_summary(result)


@app.command()
def regimes() -> None:
    """List the built-in regimes, one line each: name — description."""
    for name in scsim.builtin_regimes():
        typer.echo(f"{name} — {scsim.load_regime(name).description}")


@app.command()
def show(regime: RegimeArg, set_: SetOpt = None) -> None:
    """Print REGIME fully resolved (defaults filled, --set applied) as YAML."""
    typer.echo(scsim.load_regime(regime, _overrides(set_)).to_yaml().rstrip("\n"))


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="A regime YAML file.")],
) -> None:
    """Check a regime file: `ok: <name>`, or what is wrong and where (exit 2)."""
    if not file.is_file():
        raise OptionError(f"FILE {str(file)!r}: no such file")
    typer.echo(f"ok: {scsim.load_regime(str(file)).name}")


@app.command()
def runs(store: StoreOpt = Path(DEFAULT_STORE)) -> None:
    """List the runs in the store."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    with scsim.open_store(store, read_only=True) as s:
        frame = s.runs()
    if frame.height == 0:
        typer.echo(f"no runs in {store} yet; `scsim run REGIME` adds one")
        return
    table = Table(title=f"runs in {store}", box=box.SIMPLE_HEAD, collapse_padding=True)
    table.add_column("id (stored at)", no_wrap=True)
    table.add_column("regime")
    for column in ("population", "days", "seed"):
        table.add_column(column, justify="right")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    for row in frame.iter_rows(named=True):
        table.add_row(
            row["id"],
            _escape(row["regime"]),
            f"{row['population']:,}",
            f"{row['days']:,}",
            str(row["seed"]),
            row["status"],
            f"{row['seconds']:,.3g}",
        )
    Console(highlight=False).print(table)


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(help="A run id (see `scsim runs`).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Directory for the Parquet files.")
    ],
    store: StoreOpt = Path(DEFAULT_STORE),
) -> None:
    """Export one run as Parquet files, one per table (runs, daily, summary, agents)."""
    with scsim.open_store(store, read_only=True) as s:
        for path in s.export_parquet(run_id, output):
            typer.echo(str(path))


def main() -> None:
    """Entry point of the ``scsim`` script."""
    try:
        app()
    except ScsimError as e:  # raised outside a command (the group catches the rest)
        _fail(_escape(str(e)))
        sys.exit(2)
