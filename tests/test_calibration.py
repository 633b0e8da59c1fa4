"""Calibration: a tiny closed-form model recovers its own rate within the posterior
interval, the calibrated file carries the `calibrated` mark, a killed calibration
resumes from the store, and bad targets files get one clear message and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import scsim
from scsim.calibration import load_targets
from scsim.calibration.measure import measure
from scsim.cli import app
from scsim.errors import RegimeError
from scsim.regime.provenance import figures

ray = pytest.importorskip("ray")
pytest.importorskip("sklearn")

# One behaviour, x, at a constant rate r per person-day, recorded by nobody: the
# events of N people over D days are Poisson with mean r N D, so the per-capita count
# has mean r D and sd sqrt(r D / N).
REGIME = """\
name: poisson
grades: [{name: A}]
behaviours:
  x: {rate: 0.02}     # guess
"""
TRUE_RATE = 0.01
N, DAYS = 1000, 60


def targets(observed: float, sd: float, later: float) -> str:
    return f"""\
name: poisson-rate
regime: poisson.yaml
population: {N}
days: {DAYS}
replicates: 2
seed: 5
parameters:
  behaviours.x.rate: {{range: [0.002, 0.05], distribution: log}}
targets:
  events:
    metric: events_true.x
    over: [0, 40]
    scale: per_capita
    value: {observed}
    sd: {sd}
    source: "its own simulation at rate {TRUE_RATE}"
validate:
  later_events:
    metric: events_true.x
    over: [40, 60]
    scale: per_capita
    value: {later}
    sd: {sd}
    source: "the same simulation, days 40-59"
method: {{points: 8, waves: 2, predictive: 8, candidates: 5000}}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    folder = tmp_path_factory.mktemp("cal")
    (folder / "poisson.yaml").write_text(REGIME, encoding="utf-8")
    truth = scsim.simulate(
        scsim.load(folder / "poisson.yaml", [f"behaviours.x.rate={TRUE_RATE}"]),
        population=N, days=DAYS, seed=123, keep_events=False, keep_agents=False,
    )  # fmt: skip
    plan = load_targets(_write(folder, targets(0.4, 0.02, 0.2)))
    observed = measure(truth.daily, plan.spec.targets["events"], truth.regime, N)
    later = measure(truth.daily, plan.spec.validate_["later_events"], truth.regime, N)
    _write(folder, targets(observed, (TRUE_RATE * 40 / N) ** 0.5, later))
    yield folder
    ray.shutdown()


def _write(folder: Path, text: str) -> Path:
    (folder / "targets.yaml").write_text(text, encoding="utf-8")
    return folder / "targets.yaml"


@pytest.fixture(scope="module")
def result(folder):
    return scsim.calibrate(
        folder / "targets.yaml", store=folder / "s.duckdb", output=folder / "calibrated.yaml",
        report=folder / "report", workers=2,
    )  # fmt: skip


def test_the_posterior_interval_holds_the_true_rate(result) -> None:
    low, median, high = result.quantiles[:, 0]
    assert low < TRUE_RATE < high
    # the data's sd is 5% of the count: the interval is narrow, not the prior's 25x
    assert high / low < 1.5
    assert abs(median / TRUE_RATE - 1) < 0.1


def test_targets_and_validation_figures_get_predictive_intervals(result) -> None:
    by = {p.name: p for p in result.predicted}
    assert by["events"].fitted and not by["later_events"].fitted
    for p in by.values():
        assert p.low <= p.median <= p.high
    # the validation figure is the same process over the next 20 days, never fitted:
    # predicted from the posterior, it holds the simulated "reported" value
    assert by["later_events"].verdict == "within"
    assert by["later_events"].low < by["later_events"].value < by["later_events"].high


def test_the_calibrated_file_carries_the_mark_and_the_best_value(result, folder) -> None:
    text = (folder / "calibrated.yaml").read_text()
    regime = scsim.load(folder / "calibrated.yaml")
    assert regime.behaviours["x"].rate == pytest.approx(result.best["behaviours.x.rate"], rel=1e-3)
    kinds = {f.key: f.kind for f in figures(text)}
    assert kinds["behaviours.x.rate"] == "calibrated"
    assert "# calibrated: poisson-rate," in text and "90% interval" in text
    assert (folder / "report" / "pairs.png").stat().st_size > 0
    assert "Validation figures (never fitted)" in (folder / "report" / "calibration.md").read_text()


def test_a_second_call_runs_nothing_and_gives_the_same_posterior(result, folder) -> None:
    again = scsim.calibrate(folder / "targets.yaml", store=folder / "s.duckdb", resume=True)
    assert again.ran == 0 and again.runs == result.runs
    assert (again.quantiles == result.quantiles).all()


BAD = [
    ("metric: events_true.x", "metric: events_true.y", "unknown metric"),
    ("range: [0.002, 0.05], distribution: log", "range: [-0.1, 0.05]", "the regime refuses"),
    ("range: [0.002, 0.05]", "range: [0.05, 0.002]", "low must be below high"),
    ("over: [0, 40]", "over: [0, 400]", "beyond the run's days"),
    ("    sd: ", "    tolerance: 0.1\n    sd: ", "exactly one of sd or tolerance"),
    ("behaviours.x.rate: {", "behaviours.x.rat: {", "rat"),
]


@pytest.mark.parametrize(("old", "new", "words"), BAD)
def test_bad_targets_files_get_one_message_and_exit_2(folder, tmp_path, old, new, words) -> None:
    (tmp_path / "poisson.yaml").write_text(REGIME, encoding="utf-8")
    text = targets(0.4, 0.02, 0.2).replace(old, new, 1)
    path = _write(tmp_path, text)
    with pytest.raises(RegimeError, match=words) as err:
        load_targets(path)
    assert str(err.value).startswith(f"{path}:")
    out = CliRunner().invoke(app, ["calibrate", str(path), "--store", str(tmp_path / "s.db")])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output


def test_a_figure_reads_a_day_a_window_a_product_and_a_scale(tmp_path) -> None:
    import polars as pl

    from scsim.calibration.schema import Figure

    daily = pl.DataFrame(
        {"day": [0, 1, 2, 0, 1, 2], "group": ["all"] * 3 + ["g"] * 3,
         "listed": [1.0, 2.0, 4.0, 9.0, 9.0, 9.0]}
    )  # fmt: skip
    regime = scsim.load_regime(_regime(tmp_path))
    base = {"metric": "listed", "value": 1.0, "sd": 1.0, "source": "s"}
    assert measure(daily, Figure(**base, at=1), regime, 10) == 2.0
    assert measure(daily, Figure(**base, over=[1, 3]), regime, 10) == 6.0
    times = Figure(**base, over=[0, 3], times="behaviours.x.rate", scale="per_capita")
    assert measure(daily, times, regime, 10) == pytest.approx(7 * 0.02 / 10)


def _regime(folder: Path) -> Path:
    (folder / "poisson.yaml").write_text(REGIME, encoding="utf-8")
    return folder / "poisson.yaml"


def test_a_built_in_regime_is_never_overwritten(folder) -> None:
    from importlib import resources

    builtin = Path(str(resources.files("scsim.regime").joinpath("builtin", "poisson.yaml")))
    out = CliRunner().invoke(
        app, ["calibrate", str(folder / "targets.yaml"), "-o", str(builtin),
              "--store", str(folder / "other.duckdb")],
    )  # fmt: skip
    assert out.exit_code == 2 and "a built-in regime" in out.output
    assert not builtin.exists()


def test_an_interrupted_calibration_resumes_to_the_same_posterior(result, folder) -> None:
    class Stop(Exception):
        pass

    def stop_in_wave_two(stage: str, done: int, total: int) -> None:
        if stage == "wave 2" and done >= 3:
            raise Stop

    store = folder / "killed.duckdb"
    with pytest.raises(Stop):
        scsim.calibrate(folder / "targets.yaml", store=store, progress=stop_in_wave_two)
    resumed = scsim.calibrate(folder / "targets.yaml", store=store, resume=True)
    assert 0 < resumed.ran < resumed.runs
    assert (resumed.quantiles == result.quantiles).all()
    assert resumed.best == result.best
