"""The ``scsim calibrate`` command: a thin layer over :func:`scsim.calibrate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scsim.experiment.cli import AddressOpt, StoreOpt, WorkersOpt


def register(app: typer.Typer) -> None:
    app.command()(calibrate)


def calibrate(
    file: Annotated[Path, typer.Argument(help="A targets file (YAML).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write the calibrated regime (a new YAML file).", dir_okay=False
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="A folder for calibration.md, posterior.json, pairs.png "
            "(default: beside -o, <stem>-calibration).",
        ),
    ] = None,
    store: StoreOpt = Path("scsim.duckdb"),
    resume: Annotated[
        bool, typer.Option("--resume", help="Insist on finishing a stored calibration.")
    ] = False,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
) -> None:
    """Calibrate a regime to reported figures: a posterior over the free parameters
    (history matching with emulators, then ABC), predictive intervals for every target
    and validation figure; running it again resumes what is stored."""
    from scsim.calibration import calibrate as run
    from scsim.calibration.output import markdown
    from scsim.experiment.cli import _progress_line

    if report is None and output is not None:
        report = output.with_name(f"{output.stem}-calibration")
    with _progress_line() as line:

        def progress(stage: str, done: int, total: int) -> None:
            line(done, total, 0)

        try:
            result = run(file, store=store, output=output, report=report, resume=resume,
                         workers=workers, address=address, progress=progress)  # fmt: skip
        except KeyboardInterrupt:
            typer.echo("interrupted: the runs that finished are stored; run the same command "
                       "again to resume", err=True)  # fmt: skip
            raise typer.Exit(130) from None
    typer.echo(markdown(result))
    for path in (output, report):
        if path is not None:
            typer.echo(f"wrote {path}")
