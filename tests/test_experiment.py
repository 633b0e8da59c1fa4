"""Experiment files, designs and the sensitivity analysis: no Ray needed here.

The sweeps themselves (on a local Ray) are in ``test_experiment_ray.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import scsim
from scsim.cli import app
from scsim.errors import RegimeError, ScsimError
from scsim.experiment import design, load_experiment
from scsim.experiment.sensitivity import analyse
from scsim.experiment.worker import Task, Worker

ROOT = Path(__file__).resolve().parent.parent
CITY = ROOT / "examples" / "camera-city.yaml"


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"regime: {CITY}\npopulation: 300\ndays: 10\n" + text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------ the file


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("parameters:\n  rules.0.points: {levels: [-1], colour: red}\n", 5, "unknown key"),
        ("parameters:\n  rules.0.points: {range: [-5, -1]}\ndesign: {kind: grid}\n", 5, "steps"),
        (
            "parameters:\n  observers.0.coverage:\n    range: [0.1, 1.5]\n    steps: 2\n",
            6,
            "the regime refuses 1.5",
        ),
        (
            "parameters:\n  rules.0.pointz: {levels: [1]}\n",
            5,
            "pointz: unknown key (allowed: on, points",
        ),
        (
            "design: {kind: sobol, samples: 12}\n"
            "parameters:\n  rules.0.points: {range: [-5, -1]}\n",
            4,
            "power of two",
        ),
        (
            "parameters:\n  rules.0.points: {levels: [-1]}\nmetrics: [mean_score, happiness]\n",
            6,
            "unknown metric",
        ),
        ("parameters:\n  rules.0.points: {range: [-1, -5], steps: 2}\n", 5, "low must be below"),
        ("parameters: {}\n", 4, "must not be empty"),
        ("regime_: x\nparameters:\n  rules.0.points: {levels: [-1]}\n", 4, "unknown key"),
    ],
)
def test_bad_file_is_one_message_with_its_line(tmp_path, text, line, words) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RegimeError) as err:
        load_experiment(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message
    result = CliRunner().invoke(app, ["sweep", str(path), "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not (tmp_path / "s.db").exists()  # refused before anything was started


def test_id_changes_with_the_file_version_and_engine(tmp_path) -> None:
    import dataclasses

    a = load_experiment(write(tmp_path, "parameters:\n  rules.0.points: {levels: [-1, -2]}\n"))
    b = load_experiment(write(tmp_path, "parameters:\n  rules.0.points: {levels: [-1, -3]}\n"))
    assert b.id == load_experiment(tmp_path / "exp.yaml").id != a.id
    assert a.id.startswith("exp-") and a.content != b.content
    assert dataclasses.replace(a, version="9.9").id != a.id
    assert dataclasses.replace(a, engine="0" * 16).id != a.id


# ----------------------------------------------------------------------- designs


def test_designs_have_the_promised_sizes_and_bounds(tmp_path) -> None:
    params = (
        "parameters:\n"
        "  rules.0.points: {range: [-12, -2], integer: true, steps: 3}\n"
        "  observers.0.coverage: {range: [0.1, 0.9], distribution: normal, mean: 0.5, sd: 0.2}\n"
        "  observers.1.coverage: {levels: [0.2, 0.4, 0.8]}\n"
    )
    sizes = {
        "design: {kind: lhs, samples: 20}\n": 20,
        "design: {kind: sobol, samples: 16}\n": 16 * (4 + 2),  # three parameters + dummy
        "design: {kind: sobol, samples: 16, second_order: true}\n": 16 * (2 * 4 + 2),
        "design: {kind: morris, samples: 5}\n": 5 * (4 + 1),
        "design: {kind: morris, samples: 5, dummy: false}\n": 5 * (3 + 1),
    }
    for text, n in sizes.items():
        plan = load_experiment(write(tmp_path, text + params))
        assert len(plan.points) == n
        pts = np.array([p[:2] for p in plan.points], dtype=float)
        assert (pts[:, 0] >= -12).all() and (pts[:, 0] <= -2).all()
        assert (pts[:, 0] == np.rint(pts[:, 0])).all()  # integer
        assert (pts[:, 1] >= 0.1).all() and (pts[:, 1] <= 0.9).all()
        assert {p[2] for p in plan.points} <= {0.2, 0.4, 0.8}
        assert plan.points == load_experiment(tmp_path / "exp.yaml").points  # seeded
    grid = load_experiment(
        write(tmp_path, params.replace(", distribution: normal, mean: 0.5, sd: 0.2", ", steps: 2"))
    )
    assert len(grid.points) == 3 * 2 * 3
    assert sorted({p[0] for p in grid.points}) == [-12, -7, -2]


def test_levels_split_the_unit_interval_evenly() -> None:
    from scsim.experiment.schema import Parameter

    p = Parameter(levels=["a", "b", "c", "d"])
    u = np.array([0.0, 0.2499, 0.25, 0.5, 0.7499, 0.99, 1.0])
    assert design.values(p, u) == ["a", "a", "b", "c", "c", "d", "d"]


# ------------------------------------------------------------------------ workers


def test_a_reused_population_gives_the_run_of_a_fresh_one() -> None:
    """Distancing drops ties in the population's arrays: the worker's cached population
    must not carry one run's dropped ties into the next."""
    shun = ("network.distancing={rate: 0.2, from: {low_grade: D}}",)
    worker = Worker()
    kw = dict(ref=str(CITY), population=800, days=40, metrics=None, keep_daily=False)
    results = [
        worker.run(Task(point=p, replicate=0, seed=4, overrides=(*shun, o), **kw))
        for p, o in enumerate(["rules.0.points=-9", "rules.0.points=-12", "rules.0.points=-9"])
    ]
    assert worker.built == 1
    assert all(r["status"] == "ok" for r in results)
    fresh = scsim.simulate(
        scsim.load_regime(str(CITY), [*shun, "rules.0.points=-12"]), population=800, days=40,
        seed=4, keep_events=False, keep_agents=False,
    )  # fmt: skip
    np.testing.assert_equal(results[1]["metrics"], fresh.summary)  # NaN equals NaN here
    assert results[1]["metrics"]["ties_dropped"] > 0
    np.testing.assert_equal(results[0]["metrics"], results[2]["metrics"])


def test_a_bad_combination_fails_with_its_message() -> None:
    task = Task(point=0, replicate=0, seed=0, ref=str(CITY), population=100, days=2,
                overrides=("grades.0.min=95", "grades.1.min=97"), metrics=None,
                keep_daily=False)  # fmt: skip
    out = Worker().run(task)
    assert out["status"] == "failed"
    assert "grades" in out["message"] and out["metrics"] == {}


# -------------------------------------------------------------------- sensitivity


def fake_frame(plan, f, replicates: int = 1, noise: float = 0.0) -> pl.DataFrame:
    """A stored sweep of a closed-form model instead of the simulator."""
    rng = np.random.default_rng(0)
    rows = []
    for p, values in enumerate(plan.points):
        for r in range(replicates):
            y = f(*values[:2]) + noise * rng.standard_normal()
            rows.append((p, r, r, "ok", None, *values, y))
    cols = ["point", "replicate", "seed", "status", "message", *plan.columns, "y"]
    return pl.DataFrame(rows, schema=cols, orient="row")


def sobol_plan(tmp_path, kind: str = "sobol", samples: int = 256):
    return load_experiment(
        write(
            tmp_path,
            f"design: {{kind: {kind}, samples: {samples}}}\nparameters:\n"
            "  observers.0.coverage: {range: [0, 1]}\n  observers.1.coverage: {range: [0, 1]}\n",
        )
    )


def test_sobol_indices_of_a_known_function(tmp_path) -> None:
    """y = x1 + x2 / 2 (independent uniforms): S1 = ST = 0.8 and 0.2 (variances
    1/12 and 1/48); the dummy is exactly 0."""
    plan = sobol_plan(tmp_path)
    [ind] = analyse(fake_frame(plan, lambda a, b: a + b / 2), plan.spec)
    t = {r["parameter"]: r for r in ind.table.iter_rows(named=True)}
    for name, want in (("observers.0.coverage", 0.8), ("observers.1.coverage", 0.2)):
        for key in ("S1", "ST"):
            assert abs(t[name][key] - want) < 3 * t[name][f"{key}_conf"] + 0.02
    assert t["dummy"]["ST"] == 0 and ind.floor == 0
    assert ind.reading.startswith("y depends mostly on observers.0.coverage")
    assert ind.noise_share is None  # one replicate: seed noise unmeasured


def test_seed_noise_share_and_morris(tmp_path) -> None:
    plan = sobol_plan(tmp_path, "morris", 20)
    frame = fake_frame(plan, lambda a, b: 10 * a, replicates=3, noise=0.5)
    [ind] = analyse(frame, plan.spec)
    t = {r["parameter"]: r for r in ind.table.iter_rows(named=True)}
    assert t["observers.0.coverage"]["mu_star"] > 5 * t["observers.1.coverage"]["mu_star"]
    # within-point variance 0.25 of a total of about 100/12 + 0.25
    assert 0.01 < ind.noise_share < 0.08


def test_failed_points_are_refused_unless_dropped(tmp_path) -> None:
    plan = sobol_plan(tmp_path, samples=16)
    frame = fake_frame(plan, lambda a, b: a + b).with_columns(
        status=pl.when(pl.col("point") == 7).then(pl.lit("failed")).otherwise(pl.col("status")),
        message=pl.when(pl.col("point") == 7).then(pl.lit("boom")),
    )
    with pytest.raises(ScsimError, match="point 7: boom"):
        analyse(frame, plan.spec)
    [ind] = analyse(frame, plan.spec, drop_failed=True)
    assert ind.dropped == 3 + 2  # the whole Saltelli block of point 7 (D = 3)
    with pytest.raises(ScsimError, match="no sensitivity indices"):
        grid = load_experiment(write(tmp_path, "parameters:\n  rules.0.points: {levels: [-1]}\n"))
        analyse(frame, grid.spec)


def test_resume_is_refused_across_versions_and_when_nothing_is_stored(tmp_path) -> None:
    import dataclasses

    from scsim.store import experiments as tables

    plan = load_experiment(write(tmp_path, "parameters:\n  rules.0.points: {levels: [-1]}\n"))
    with scsim.open_store(tmp_path / "s.duckdb") as s:
        with pytest.raises(ScsimError, match="nothing to resume"):
            tables.register(s, plan, resume=True)
        tables.register(s, plan, resume=False)
        tables.register(s, plan, resume=True)  # the same experiment: fine
        newer = dataclasses.replace(plan, version="9.9")
        with pytest.raises(ScsimError, match=f"experiment {plan.id} was run by scsim"):
            tables.register(s, newer, resume=True)
        tables.register(s, newer, resume=False)  # a fresh start under 9.9
        ids = {r[0] for r in s._con.execute("SELECT id FROM experiments").fetchall()}
    assert ids == {plan.id, newer.id}


@pytest.mark.parametrize("doc", ["README.md", "docs/sensitivity.md"])
def test_the_documented_experiment_files_load(tmp_path, doc) -> None:
    import re

    text = (ROOT / doc).read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    (tmp_path / "doc.yaml").write_text(block, encoding="utf-8")
    assert load_experiment(tmp_path / "doc.yaml").runs() > 0
