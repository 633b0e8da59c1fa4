"""The ``scsim`` command: a thin layer over the public API (``import scsim``).

Each command is a few lines over ``scsim.load_regime``, ``scsim.simulate``,
``scsim.open_store``, ``scsim.compare`` and ``scsim.report.write_report``; anything the
CLI can do, a script can do the same way.

User errors (a ``ScsimError`` anywhere, or a bad option) end in one message on stderr
and exit code 2, never a traceback; any other exception is a bug and surfaces as one.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

import scsim
from scsim.errors import OptionError, ScsimError

if TYPE_CHECKING:
    import click
    import polars as pl
    from rich.console import Console

    from scsim.analysis.compare import Comparison
    from scsim.engine.result import Run
    from scsim.regime import Regime
    from scsim.store import Store
    from scsim.store.spool import Lander

MAX_POPULATION = 2_000_000_000
MAX_DAYS = 36_500
MAX_SEED = 2**63 - 1
MAX_REPLICATES = 1000
DEFAULT_STORE = "scsim.duckdb"
#: Largest population whose per-agent frames (final state, event log) a run keeps by
#: default: above it a run stores aggregates only (a billion agents' rows do not fit).
PER_AGENT_LIMIT = 10_000_000


def _stderr_console() -> Console:
    # Every console is made with emoji=False: rich would turn ":x:" in a user's value
    # into an emoji (markup is escaped by _escape; emoji codes have no escape).
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


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


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"scsim {scsim.__version__}")
        raise typer.Exit


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    del version  # handled by its callback


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


COMPILING = "compiling kernels (first run only; cached after)"


@contextlib.contextmanager
def _progress_bar(
    days: int, enabled: bool, runs: int = 1, lines: bool = False
) -> Iterator[Callable[[int, int], None] | None]:
    """Progress on stderr; the engine reports ``progress(day_done, days)``.

    On a terminal (``enabled``) a transient rich bar; otherwise, with ``lines``, one
    line at every tenth of the days, so a log shows the run is alive. Either way
    numba's compiling (a first run on a machine) is said while it happens, so the
    run does not look frozen at day 0. Over ``runs`` replicates the count covers
    every run's days: the callback is called with each run's own count, so it
    remembers which run it is on.
    """
    if not enabled and not lines:
        yield None
        return
    total = days * runs
    done = [0, 0]  # days of the runs finished before, last day reported

    def count(day_done: int) -> int:
        if day_done <= done[1]:  # a new replicate started
            done[0] += done[1]
        done[1] = day_done
        return done[0] + day_done

    if not enabled:
        with _compile_notice(lambda: _note(COMPILING + "..."), once=True):
            yield _progress_lines(total, count)
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
        task = bar.add_task("simulating days", total=total)

        def on_compile() -> None:
            bar.update(task, description=COMPILING)

        def progress(day_done: int, _days: int) -> None:
            bar.update(task, completed=count(day_done), description="simulating days")

        with _compile_notice(on_compile, once=False):
            yield progress


def _progress_lines(total: int, count: Callable[[int], int]) -> Callable[[int, int], None]:
    """A progress callback printing ``day N of M (P%)`` at each tenth of the days."""
    step = max(1, math.ceil(total / 10))

    def progress(day_done: int, _days: int) -> None:
        n = count(day_done)
        if n % step == 0 or n == total:
            _note(f"day {n:,} of {total:,} ({100 * n // total}%)")

    return progress


def _note(text: str) -> None:
    """A plain line on stderr (what a log of a run not on a terminal shows)."""
    print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _compile_notice(notify: Callable[[], None], once: bool) -> Iterator[None]:
    """Call ``notify`` when numba starts compiling a kernel (not when it loads one
    from its on-disk cache), at each start or, with ``once``, the first only."""
    from numba.core import event

    class Notice(event.Listener):
        told = False

        def on_start(self, _event: object) -> None:
            if not (once and self.told):
                notify()
            self.told = True

        def on_end(self, _event: object) -> None:
            pass

    with event.install_listener("numba:compile", Notice()):
        yield


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: an undefined metric (e.g. 0/0) is ``null``."""
    value = float(value)
    return value if math.isfinite(value) else None


def _people_per_agent(run: Run) -> float:
    """How many real people each agent stands for (the regime's ``represents``; a
    world's operators share the first one's)."""
    regime = run.regime
    if hasattr(regime, "regimes"):  # a world
        regime = next(iter(regime.regimes.values()))
    return regime.people_per_agent(run.population)


def _run_json(run: Run, replicates: list[str] | None = None, ci: dict | None = None) -> str:
    """The ``--json`` object: the run's id, parameters, metrics and times (compiling
    apart), plus ``replicates`` and ``ci`` for a batch (K > 1) only, so a single run's
    object is unchanged."""
    payload: dict[str, Any] = {
        "run_id": run.run_id,
        "regime": run.regime.name,
        "population": run.population,
        "people_per_agent": _people_per_agent(run),
        "days": run.days,
        "seed": run.seed,
        "metrics": {name: _finite(v) for name, v in run.summary.items()},
        "seconds": run.seconds,
        "compile_seconds": run.compile_seconds,
        "agent_days_per_s": run.agent_days_per_s,
    }
    if replicates is not None:
        payload["replicates"] = replicates
        payload["ci"] = {
            name: None if not math.isfinite(lo) else [_finite(lo), _finite(hi)]
            for name, (_, lo, hi) in (ci or {}).items()
        }
    return json.dumps(payload, allow_nan=False)


# Metric families (docs/frames.md) grouped for the end-of-run table.
_SECTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("score", ("mean_score", "score_gini")),
    ("grades", ("grade_share",)),
    ("list, sanctions, rewards", ("blacklisted", "sanctioned", "rewarded")),
    (
        "errors",
        (
            "false_attributions",
            "false_matches_outside",
            "wrongful_penalties",
            "wrongfully_sanctioned",
            "disparate_impact",
        ),
    ),
    ("events", ("events_true", "events_recorded")),
    ("behaviour and ties", ("chilling", "isolation")),
]


def _section_of(metric: str) -> str:
    family = _section_family(metric)
    for title, families in _SECTIONS:
        if family in families:
            return title
    return "other"


# Metric families whose values are shares of the population, shown as percentages.
_SHARES = ("grade_share",)


def _is_share(metric: str) -> bool:
    """A share of the population, in a regime's run or (``<operator>.``) a world's."""
    return _section_family(metric) in _SHARES


def _section_family(metric: str) -> str:
    """A metric's family, without a world's ``<operator>.`` prefix."""
    family = metric.split(".", 1)[0]
    known = {f for _, families in _SECTIONS for f in families}
    if family not in known and "." in metric:
        family = metric.split(".")[1]
    return family


def _number(value: float, share: bool, digits: int, share_digits: int) -> str:
    """A finite value for a table: a percentage, a whole count, or ``digits`` digits."""
    if share:
        return f"{value * 100:.{share_digits}g}%"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.{digits}g}"


def _fmt(value: float, share: bool = False) -> str:
    return _number(value, share, 6, 4) if math.isfinite(value) else "n/a"


def _seconds(run: Run) -> str:
    """The run's wall time, saying how much of it was compiling (a first run)."""
    text = f"{run.seconds:,.3g}"
    if run.compile_seconds >= 0.05:
        text += f" ({run.compile_seconds:,.3g} compiling kernels, first run only)"
    return text


def _print_summary(run: Run, everything: bool = False) -> None:
    """The end-of-run summary. A world's fits a screen (each operator on one line,
    then the world's own metrics) unless ``everything`` (``--all``) is asked for."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, emoji=False)
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("run id", str(run.run_id))
    head.add_row("world" if hasattr(run, "world") else "regime", run.regime.name)
    head.add_row("population", f"{run.population:,}")
    head.add_row("people per agent", f"{_people_per_agent(run):,.4g}")
    head.add_row("days", f"{run.days:,}")
    head.add_row("seed", str(run.seed))
    head.add_row("seconds", _seconds(run))
    head.add_row("agent-days/s", f"{run.agent_days_per_s:,.3g}")
    console.print(head)
    if hasattr(run, "world") and not everything:
        _print_world_summary(console, run)
        return

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
            share = _is_share(name)
            table.add_row(f"  {_escape(name)}", _fmt(run.summary[name], share), kind)
    console.print(table)


def _print_world_summary(console: Console, run: Any) -> None:
    """Each operator on one line, then the joint sanctions and the cascade."""
    from rich.table import Table

    ops = Table(title="each operator (stocks on the last day, flows summed over the run)")
    ops.add_column("operator")
    for column in ("mean score", "lowest grade", "listed", "sanctions*", "wrongful**", "false"):
        ops.add_column(column, justify="right")
    for op, r in run.runs.items():
        m = r.summary
        low = r.regime.grades[-1].name
        sanctions = sum(v for k, v in m.items() if k.startswith("sanctioned."))
        ops.add_row(
            _escape(op),
            _fmt(m.get("mean_score", math.nan)),
            f"{low}: {_fmt(m.get(f'grade_share.{low}', math.nan), True)}",
            _fmt(m.get("blacklisted", math.nan)),
            _fmt(sanctions),
            _fmt(m.get("wrongfully_sanctioned", math.nan)),
            _fmt(m.get("false_attributions", math.nan)),
        )
    console.print(ops)
    console.print(
        "* sanctions in force (a person under two counts twice); ** people wrongfully "
        "sanctioned; false: records attributed to someone who did not do it",
        style="dim",
    )
    world = Table(title="the world: joint sanctions and the cascade (last day)")
    world.add_column("metric", no_wrap=True)
    world.add_column("value", justify="right")
    for name, value in run.summary.items():
        if name.split(".", 1)[0] not in run.runs and not name.startswith("sanctions_per_listed."):
            world.add_row(_escape(name), _fmt(value))
    console.print(world)
    console.print(
        f"{len(run.summary)} metrics in all: --all prints every one, --json gives them "
        "as one object, `scsim report` draws them."
    )


@app.command()
def run(
    regime: RegimeArg,
    population: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_POPULATION,
            help="Number of synthetic citizens (default: the regime's population key, "
            "else 100,000).",
        ),
    ] = None,
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
    replicates: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_REPLICATES,
            help="Run seeds SEED..SEED+K-1, store each, and add 95% intervals across them.",
        ),
    ] = 1,
    events: Annotated[
        bool | None,
        typer.Option(
            "--events/--no-events",
            help="Keep every recorded event and list move, for `scsim explain` "
            f"(default: when the population is at most {PER_AGENT_LIMIT:,}).",
        ),
    ] = None,
    agents: Annotated[
        bool | None,
        typer.Option(
            "--agents/--no-agents",
            help="Keep the final state of every agent "
            f"(default: when the population is at most {PER_AGENT_LIMIT:,}).",
        ),
    ] = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="Print every metric of a world's run, not one line an operator."
        ),
    ] = False,
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            metavar="TEXT",
            help="Your words for this run, shown by `scsim runs` (e.g. 'harsher rules').",
        ),
    ] = None,
) -> None:
    """Simulate REGIME (a regime or a world) and store the run (or K replicate runs
    with --replicates K). Above 10 million agents only aggregates are kept unless
    --events or --agents asks for more."""
    overrides = _overrides(set_)
    if seed + replicates - 1 > MAX_SEED:
        raise OptionError(
            f"--seed {seed} with --replicates {replicates}: the last seed would exceed "
            f"{MAX_SEED}; lower --seed"
        )
    from scsim.store.duck import check_store
    from scsim.store.spool import Lander

    # Under --json stdout carries the one object only: anything else printed while we
    # work (a library's chatter) goes to stderr.
    quiet = contextlib.redirect_stdout(sys.stderr) if json_ else contextlib.nullcontext()
    with quiet:
        from scsim.engine.run import default_population

        loaded = scsim.load(regime, overrides)
        population = default_population(loaded, population)
        small = population <= PER_AGENT_LIMIT
        keep = {
            "keep_events": small if events is None else events,
            "keep_agents": small if agents is None else agents,
        }
        check_store(store)  # a path a run cannot be saved to fails now, not after it
        lander = Lander(store, replicates=replicates, label=_label(label), overrides=overrides)
        first, summaries = _simulate_batch(
            loaded, population, days, seed, threads, replicates, lander, keep
        )
    ids = lander.ids
    ci = None
    if replicates > 1:
        from scsim.analysis.stats import summary_intervals

        ci = summary_intervals(summaries)
    if json_:
        typer.echo(_run_json(first, ids if replicates > 1 else None, ci))
    else:
        _print_summary(first, all_)
        if ci is not None:
            _print_intervals(ids, ci)


def _label(text: str | None) -> str | None:
    """A label is one line of printable text (it is shown in a table)."""
    if text is None:
        return None
    if not text.strip() or not text.isprintable() or len(text) > 200:
        raise OptionError(
            f"--label {text!r}: expected one line of printable text, 1 to 200 characters"
        )
    return text.strip()


def _simulate_batch(
    regime: Regime,
    population: int,
    days: int,
    seed: int,
    threads: int | None,
    replicates: int,
    lander: Lander,
    keep: dict[str, bool],
) -> tuple[Run, list[dict[str, float]]]:
    """Simulate seeds ``seed..seed+replicates-1``, then store them all at once.

    Keeps the first run whole (for its summary table) and only the summaries of the
    others; the lander holds the runs until the batch is complete, so a batch lands
    whole or not at all. An interruption or failure stores nothing.
    """
    from scsim.store.spool import store_wait

    first: Run | None = None
    summaries: list[dict[str, float]] = []
    tty = sys.stderr.isatty()
    try:
        with _progress_bar(days, enabled=tty, runs=replicates, lines=not tty) as progress:
            for k in range(replicates):
                result = scsim.simulate(
                    regime,
                    population=population,
                    days=days,
                    seed=seed + k,
                    threads=threads,
                    progress=progress,
                    **keep,
                )
                lander.add(result)
                summaries.append(result.summary)
                if first is None:
                    first = result
        waiting, failure = lander.land(store_wait(), on_wait=lambda t: _note(f"note: {t}"))
    except BaseException as e:
        lander.discard()
        if isinstance(e, KeyboardInterrupt):
            _fail("interrupted; nothing was stored")
            raise typer.Exit(130) from None
        raise
    if waiting is not None:
        _report_kept(lander.path, waiting, failure, replicates)
    assert first is not None
    return first, summaries


def _report_kept(store: Path, kept: Path, failure: ScsimError | None, replicates: int) -> None:
    """Say where finished runs wait that the store could not take now; exit 2 when
    the store refused them (damaged, say) rather than being busy."""
    runs = "runs are" if replicates > 1 else "run is"
    where = (
        f"the {runs} kept in {str(kept)!r}, an scsim store itself (`scsim runs --store "
        f"{kept}`); scsim adds {'them' if replicates > 1 else 'it'} to {str(store)!r} the "
        "next time it can write to it (`scsim runs` tries). Nothing is lost."
    )
    if failure is None:
        _note(f"note: the store {str(store)!r} stayed busy, so {where}")
        return
    _fail(_escape(f"{failure}. {where[0].upper()}{where[1:]}"))
    raise typer.Exit(2)


def _print_intervals(ids: list[str], ci: dict[str, tuple[float, float, float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"across {len(ids)} replicates (seeds in order; mean and 95% t-interval)")
    table.add_column("metric", no_wrap=True)
    table.add_column("mean", justify="right", no_wrap=True)
    table.add_column("95% interval", justify="right", no_wrap=True)
    for name, (mean, lo, hi) in ci.items():
        share = _is_share(name)
        interval = f"{_fmt(lo, share)} to {_fmt(hi, share)}" if math.isfinite(lo) else "n/a"
        table.add_row(_escape(name), _fmt(mean, share), interval)
    console = Console(highlight=False, emoji=False)
    console.print(table)
    console.print(f"replicate run ids: {', '.join(ids)}")


@app.command()
def regimes() -> None:
    """List the built-in regimes, one line each: name — description."""
    for name in scsim.builtin_regimes():
        typer.echo(f"{name} — {scsim.load_regime(name).description}")
    for name in scsim.builtin_worlds():
        typer.echo(f"{name} (world) — {scsim.load_world(name).description}")


@app.command()
def show(regime: RegimeArg, set_: SetOpt = None) -> None:
    """Print REGIME fully resolved (defaults filled, --set applied) as YAML, with the
    file's comments (its `# guess:` marks) beside the keys they annotate."""
    typer.echo(scsim.load(regime, _overrides(set_)).to_yaml(comments=True).rstrip("\n"))


@app.command()
def validate(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="A regime or world YAML file, or a built-in name (as `run` and `show` take).",
        ),
    ],
) -> None:
    """Check a regime or world file: `ok: <name>`, or what is wrong and where (exit 2)."""
    loaded = scsim.load(file)
    builtin = loaded.source.startswith("builtin:")
    typer.echo(f"ok: {loaded.name}" + (" (built-in)" if builtin else ""))


@app.command()
def runs(store: StoreOpt = Path(DEFAULT_STORE)) -> None:
    """List the runs in the store.

    One line a run: id, regime and the first digits of its hash (an edited copy of a
    built-in shows another hash), label, --set overrides, population, days, seed and
    replicate batch."""
    from scsim.store.spool import pending

    waiting = _take_in_pending(store)
    with scsim.open_store(store, read_only=True) as s:
        frame = s.runs()
    if frame.height == 0:
        typer.echo(f"no runs in {store} yet; `scsim run REGIME` adds one")
    else:
        _print_runs(store, frame)
    if waiting:
        left = pending(store)
        _note(
            f"note: {len(left)} finished batch(es) wait in {', '.join(map(str, left))} "
            "because another process holds the store; they are added the next time "
            "scsim can write to it"
        )


def _take_in_pending(store: Path) -> bool:
    """Add runs spooled while the store was busy; True if some still wait."""
    from scsim.store.duck import StoreBusy, check_path
    from scsim.store.spool import pending

    if not check_path(store).exists() or not pending(store):
        return False
    try:
        scsim.open_store(store).close()  # opening for writing takes them in
    except StoreBusy:
        return True
    return False


def _print_runs(store: Path, frame: pl.DataFrame) -> None:
    """The runs table. Under each regime name, the first digits of its resolved hash
    (an edited copy of a built-in has another), the label and the --set overrides."""
    import polars as pl
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"runs in {_escape(str(store))}", box=box.SIMPLE_HEAD, collapse_padding=True
    )
    table.add_column("id (stored at)", no_wrap=True)
    table.add_column("regime #hash, label, --set", overflow="fold")
    for column in ("population", "days", "seed"):
        table.add_column(column, justify="right", no_wrap=True)
    # Replicate batches are named by their first run's random tail (status is always
    # "complete": the store keeps whole runs only).
    batched = set(frame.filter(pl.col("batch").is_duplicated()).get_column("batch"))
    table.add_column("batch", no_wrap=True)
    for row in frame.iter_rows(named=True):
        lines = [f"{_escape(row['regime'])} [dim]#{row['regime_hash'][:7]}[/]"]
        if row["label"]:
            lines.append(f"[italic]{_escape(row['label'])}[/]")
        lines += [_escape(o) for o in json.loads(row["overrides"] or "[]")]
        table.add_row(
            row["id"],
            "\n".join(lines),
            f"{row['population']:,}",
            f"{row['days']:,}",
            str(row["seed"]),
            row["batch"].rsplit("-", 1)[-1] if row["batch"] in batched else "",
        )
    Console(highlight=False, emoji=False).print(table)


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(help="A run id (see `scsim runs`).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Directory for the Parquet files.")
    ],
    store: StoreOpt = Path(DEFAULT_STORE),
) -> None:
    """Export one run as Parquet files, one per table.

    Writes <run id>.<table>.parquet in OUTPUT for each table: runs (the run's row:
    regime YAML, parameters, label), daily (the columns of run.daily: day, group, one
    per metric), summary, agents (the final state, if kept), events, transitions and
    list_moves (if kept). Each file has a run_id column."""
    with scsim.open_store(store, read_only=True) as s:
        for path in s.export_parquet(run_id, output):
            typer.echo(str(path))


@app.command()
def delete(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids (see `scsim runs`).")],
    store: StoreOpt = Path(DEFAULT_STORE),
) -> None:
    """Delete runs from the store and give their space back.

    The file is rewritten without them (DuckDB alone would only reuse the space for
    later runs)."""
    from scsim.store.spool import open_waiting, store_wait

    if not store.exists():
        raise ScsimError(f"no store at {str(store)!r}; nothing to delete")
    with open_waiting(store, store_wait()) as s:
        count = s.delete(list(dict.fromkeys(run_ids)))
        before, after = s.compact()
    typer.echo(
        f"deleted {count} run{'s' if count != 1 else ''} from {store}; "
        f"the file went from {_mb(before)} to {_mb(after)}"
    )


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Run A, the baseline (see `scsim runs`).")],
    run_b: Annotated[str, typer.Argument(help="Run B, compared with A (B minus A).")],
    store: StoreOpt = Path(DEFAULT_STORE),
    json_: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout, nothing else.")
    ] = False,
) -> None:
    """Compare two runs agent by agent (same population, days and seed).

    Who is sanctioned under A and not B and the reverse, by group; score differences;
    each metric's difference, with a 95% interval when both runs were made with
    --replicates K (the batches are paired seed by seed).
    """
    with scsim.open_store(store, read_only=True) as s:
        batch_a = _batch_from(s, run_a)
        batch_b = _batch_from(s, run_b)
    result = scsim.compare(batch_a, batch_b)
    if json_:
        typer.echo(json.dumps(result.to_dict(), allow_nan=False))
    elif hasattr(result, "operators"):
        _print_world_comparison(result)
    else:
        _print_comparison(result)


def _print_world_comparison(result: Any) -> None:
    """Two world runs, operator by operator, then the world's own metrics."""
    from rich.console import Console
    from rich.rule import Rule
    from rich.table import Table

    console = Console(highlight=False)
    console.print(f"A  {_escape(result.a.label())}\nB  {_escape(result.b.label())}")
    _print_differs(console, result.differs)
    for op, comparison in result.operators.items():
        console.print(Rule(f"operator {_escape(op)}: its run in A and its run in B"))
        _print_comparison(comparison, heading=False)
    console.print(Rule("the world: joint sanctions and the cascade"))
    table = Table(title=f"B minus A ({'mean over pairs' if result.pairs > 1 else 'one pair'})")
    table.add_column("metric", overflow="fold")
    for column in ("A", "B", "B - A", "95% interval"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in result.metrics.iter_rows(named=True):
        interval = (
            f"{_short(r['ci_lo'])} to {_short(r['ci_hi'])}" if math.isfinite(r["ci_lo"]) else ""
        )
        table.add_row(
            _escape(r["metric"]), _short(r["a"]), _short(r["b"]), _short(r["diff"]), interval
        )
    console.print(table)
    for note in result.notes:
        console.print(f"note: {_escape(note)}")


def _batch_from(store: Store, run_id: str) -> list[Run]:
    """The run, then the rest of its replicate batch by seed."""
    ids = store.batch_ids(run_id)
    return [store.load(i) for i in [run_id, *(i for i in ids if i != run_id)]]


def _short(value: float, share: bool = False) -> str:
    """Four significant digits: a comparison table has five numbers a row."""
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return _number(value, share, 4, 3)


def _print_comparison(result: Comparison, heading: bool = True) -> None:
    """The comparison's tables; ``heading``: first A, B and what differs (a world's
    operators share the world's)."""
    import polars as pl
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, emoji=False)
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("A", _escape(result.a.label()))
    head.add_row("B", _escape(result.b.label()))
    head.add_row(
        "paired on",
        f"{result.a.population:,} people, {result.a.days:,} days, seed {result.a.seed}",
    )
    head.add_row("replicate pairs", str(result.pairs))
    if heading:
        console.print(head)
        _print_differs(console, result.differs)
    one_seed = _agents_title(result)

    sanctions = Table(title=f"under each sanction on the last day, agent by agent{one_seed}")
    for column in ("sanction", "group"):
        sanctions.add_column(column, no_wrap=True)
    for column in ("people", "under A", "under B", "both", "only A", "only B"):
        sanctions.add_column(column, justify="right")
    for row in result.sanctions.iter_rows():
        sanctions.add_row(*(_escape(str(v)) for v in row[:2]), *(f"{v:,}" for v in row[2:]))
    console.print(sanctions)
    wrongful = result.wrongful.filter(pl.col("group") == "all")
    if wrongful.height:
        r = wrongful.row(0, named=True)
        console.print(
            f"wrongfully sanctioned (only because of a false attribution): {r['sanctioned_a']:,} "
            f"under A, {r['sanctioned_b']:,} under B; {r['only_b']:,} under B only, "
            f"{r['only_a']:,} under A only"
        )

    scores = Table(title=f"scores, B minus A (points){one_seed}")
    scores.add_column("group", no_wrap=True)
    for column in ("mean A", "mean B", "mean diff", "5%", "median", "95%", "lower", "higher"):
        scores.add_column(column, justify="right")
    for r in result.scores.iter_rows(named=True):
        scores.add_row(
            _escape(r["group"]),
            f"{r['mean_a']:,.2f}",
            f"{r['mean_b']:,.2f}",
            f"{r['mean_diff']:+,.2f}",
            f"{r['q05']:+,.4g}",
            f"{r['q50']:+,.4g}",
            f"{r['q95']:+,.4g}",
            f"{r['lower_under_b']:,}",
            f"{r['higher_under_b']:,}",
        )
    console.print(scores)

    over = f"mean over {result.pairs} seed pairs" if result.pairs > 1 else "one pair of runs"
    metrics = Table(
        title=f"metrics, B minus A ({over})",
        caption="stocks on the last day, flows summed"
        + ("; interval: 95% t over the pairs" if result.pairs > 1 else ""),
    )
    # The names fold when the terminal is narrow; the numbers never shrink.
    metrics.add_column("metric", overflow="fold")
    for column in ("A", "B", "B - A", "95% interval"):
        metrics.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    same = 0
    for r in result.metrics.iter_rows(named=True):
        no_spread = not math.isfinite(r["ci_lo"]) or r["ci_lo"] == r["ci_hi"] == 0
        if r["diff"] == 0 and no_spread:
            same += 1  # equal in every replicate pair (common random numbers)
            continue
        share = _is_share(r["metric"])
        interval = (
            f"{_short(r['ci_lo'], share)} to {_short(r['ci_hi'], share)}"
            if math.isfinite(r["ci_lo"])
            else ""
        )
        metrics.add_row(
            _escape(r["metric"]),
            _short(r["a"], share),
            _short(r["b"], share),
            _short(r["diff"], share),
            interval,
        )
    console.print(metrics)
    if same:
        console.print(f"{same} metrics are equal under A and B and not shown (see --json).")
    for note in result.notes:
        console.print(f"note: {_escape(note)}")


def _agents_title(result: Comparison) -> str:
    """Agent-by-agent tables pair one seed: say which when a batch has more."""
    if result.pairs > 1:
        return f", seed {result.agents_seed} (the first of {result.pairs} pairs)"
    return ""


def _print_differs(console: Console, differs: list[str]) -> None:
    """What differs between A and B, key by key: what the comparison measures."""
    if not differs:
        console.print("A and B: the same regime (nothing differs but the run)")
        return
    console.print(f"what differs, A -> B ({len(differs)}):")
    for line in differs:
        console.print(f"  {_escape(line)}")


class ReportFormat(StrEnum):
    html = "html"
    png = "png"


@app.command()
def report(
    run_ids: Annotated[list[str], typer.Argument(help="One or more run ids (see `scsim runs`).")],
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", help="The HTML file (.html), or with --format png a directory."
        ),
    ],
    store: StoreOpt = Path(DEFAULT_STORE),
    format_: Annotated[
        ReportFormat,
        typer.Option("--format", help="html: one offline file; png: one figure per chart."),
    ] = ReportFormat.html,
) -> None:
    """Write an audit report on one or more runs (several: compared side by side), or
    on an experiment (its id from `scsim sweep`).

    A run made with --replicates K is reported with its whole batch: means over the
    replicates with 95% interval bands. A world run shows its operators, flows and
    cascade, then each operator; two world runs are compared operator by operator.
    """
    from scsim.experiment.cli import report_experiment
    from scsim.report import check_output, write_report

    check_output(output, format_.value)  # before loading anything
    if len(run_ids) == 1 and report_experiment(run_ids[0], output, store, format_.value):
        return
    with scsim.open_store(store, read_only=True) as s:
        loaded = [_report_item(s, run_id) for run_id in run_ids]
    try:
        written = write_report(loaded, output, format=format_.value)
    except OSError as e:  # a read-only directory, a full disk, /proc ...
        raise ScsimError(f"cannot write {e.filename or output}: {e.strerror or e}") from None
    for path in written:
        typer.echo(str(path))


def _report_item(store: Store, run_id: str) -> Run | list[Run]:
    """The run, or its replicate batch (the run first, then the rest by seed)."""
    batch = _batch_from(store, run_id)
    return batch if len(batch) > 1 else batch[0]


@app.command()
def explain(
    run_id: Annotated[str, typer.Argument(help="A run id (see `scsim runs`).")],
    agent: Annotated[int, typer.Argument(help="The agent's id (0 to population - 1).")],
    store: StoreOpt = Path(DEFAULT_STORE),
    account: Annotated[
        bool,
        typer.Option(
            "--account/--no-account",
            help="Account for every point (re-runs the run with the agent traced: as long "
            "as the run took) and trace a wrongful flag to its false records; "
            "--no-account reads the logs only.",
        ),
    ] = True,
) -> None:
    """The chain of recorded events behind an agent's sanctions, each marked true or
    false; every point it gained or lost; the false records behind a wrongful flag."""
    with scsim.open_store(store, read_only=True) as s:
        loaded = s.load(run_id)
    typer.echo(loaded.explain(agent, account).text())


from scsim.web.command import serve  # noqa: E402 - the workbench's command lives with it

app.command()(serve)


from scsim.experiment.cli import register  # noqa: E402  (sweep, sensitivity)

register(app)


def main() -> None:
    """Entry point of the ``scsim`` script."""
    try:
        app()
    except ScsimError as e:  # raised outside a command (the group catches the rest)
        _fail(_escape(str(e)))
        sys.exit(2)
