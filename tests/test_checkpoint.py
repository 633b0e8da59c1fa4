"""Checkpoints and resume (issue 15): a run resumed from any day is the run without
the interruption, bit for bit; a damaged or foreign checkpoint is refused with one
message; a real ``scsim`` process killed with SIGKILL at random moments loses nothing
past its last checkpoint and lands in the store once, whole."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import scsim
from scsim.cli import app
from scsim.engine import checkpoint as ckpt
from scsim.engine.memory import arrays
from scsim.engine.run import resume, simulate
from scsim.regime.loader import validate_mapping

FRAMES = ("daily", "agents", "events", "transitions", "list_moves")
DAYS = 30


class Stop(Exception):
    """Stands for a crash right after a checkpoint."""


def stop_after(day: int):
    def progress(done: int, days: int) -> None:
        if done == day:
            raise Stop

    return progress


def busy():
    """Every mechanism that keeps state between days: deterrence (friends and
    everyone), chilling, displacement, gaming, distancing, a waiting queue, an
    adaptive observer, latency, false matches (a clean copy), appeals in flight."""
    behaviours = {
        "post": {"rate": 0.03, "spread": 0.5, "deterrence": {"sensitivity": 2}},
        "chat": {"rate": 0.02, "chilled_by": {"behaviour": "post", "share": 0.5}},
        "jaywalk": {
            "rate": 0.01,
            "deterrence": {"sensitivity": 10, "seen": "everyone"},
            "displaced_to": "chat",
        },
        "read_paper": {"rate": 0.001, "gaming": {"uptake": 0.002, "rate": 1, "detected": 0.3}},
    }
    cam = {"watches": ["post", "jaywalk"], "coverage": 0.6, "latency_days": 3}
    return validate_mapping(
        {
            "name": "busy",
            "grades": [{"name": "A", "min": 900}, {"name": "D"}],
            "behaviours": behaviours,
            "observers": [
                {"name": "cam", **cam, "false_match_rate": 1e-4, "gallery": 5_000},
                {"name": "queue", "watches": ["jaywalk"], "capacity_per_day": 5, "queue": "wait"},
                {"name": "patrol", "watches": ["read_paper"], "coverage": 0.3, "adaptive": True},
            ],
            "places": [{"name": "north", "share": 0.5}, {"name": "south", "share": 0.5}],
            "rules": [
                {"on": "post", "points": -10},
                {"on": "jaywalk", "points": -5},
                {"on": "read_paper", "points": 1},
            ],
            "groups": [{"name": "x", "share": 0.7}, {"name": "y", "share": 0.3}],
            "network": {"degree": 6, "distancing": {"rate": 0.1, "from": {"low_grade": "D"}}},
            "appeals": {"rate": 0.5, "delay_days": 4, "undoes": ["points"]},
        },
        "<test>",
    )


def assert_same(a, b) -> None:
    for frame in FRAMES:
        x, y = getattr(a, frame, None), getattr(b, frame, None)
        if x is None or y is None:
            assert x is None and y is None, frame
        else:
            assert_frame_equal(x, y, check_exact=True)


def cut_and_resume(regime, tmp: Path, cut: int, threads: int | None = None):
    """The run stopped right after the checkpoint of day ``cut``, then resumed."""
    with pytest.raises(Stop):
        simulate(regime, 3_000, DAYS, 5, checkpoint=tmp, every=1, progress=stop_after(cut))
    assert ckpt.peek(tmp)["day"] == cut
    return resume(tmp, threads=threads)[0]


@pytest.fixture(scope="module")
def busy_run():
    return simulate(busy(), 3_000, DAYS, 5, threads=2)


@pytest.mark.parametrize("cut", [1, 2, 13, DAYS - 1, DAYS])
def test_regime_resumed_from_any_day_is_bit_identical(busy_run, tmp_path, cut):
    assert busy_run.summary["appeals_filed"] > 0 and busy_run.summary["gaming_share"] > 0
    assert_same(cut_and_resume(busy(), tmp_path, cut, threads=1), busy_run)


def test_procedural_distancing_resumes_bit_identical(tmp_path):
    """The procedural graph keeps its dropped ties as bits per agent (``proc.gone``):
    part of the run state, so a resumed run drops the same ties."""
    regime = scsim.load_regime(
        "national",
        ["network.graph=procedural", "network.distancing={rate: 0.3, from: {low_grade: A}}"],
    )
    whole = simulate(regime, 3_000, DAYS, 5, threads=1)
    assert whole.summary["ties_dropped"] > 0
    assert_same(cut_and_resume(regime, tmp_path, 13, threads=2), whole)


@pytest.mark.parametrize("name", ["china-2018", "national-pooled"])
@pytest.mark.parametrize("cut", [1, 17, DAYS])
def test_world_resumed_from_any_day_is_bit_identical(tmp_path, name, cut):
    world = scsim.load(name)
    whole = simulate(world, 3_000, DAYS, 5, threads=1)
    resumed = cut_and_resume(world, tmp_path, cut, threads=2)
    assert_same(resumed, whole)
    for op in whole.runs:
        assert_same(resumed.runs[op], whole.runs[op])


def test_the_run_state_layout_names_every_array_that_changes(tmp_path):
    """Every array a day loop holds is either saved (``RUN_STATE``) or rebuilt
    identically from the regime, population and seed, or rewritten each day before
    it is read: the arrays a fresh loop holds and a loop 20 days on holds differ only
    where ``RUN_STATE`` says."""
    from scsim.engine.compile import compile_regime
    from scsim.engine.day import DayLoop
    from scsim.population import build_population

    regime = busy()
    pop = build_population(regime, 2_000, 5)

    def loop():
        return DayLoop(regime, compile_regime(regime, 2_000), pop, 5, 1 << 14)

    saved = {path for path, kind in ckpt.RUN_STATE if kind == "array"}
    # rewritten each day before they are read (the day's events, tallies, buffers)
    rewritten = ("buf", "true_counts", "tallies.", "lows", "friend_hits", "appeal_exits",
                 "observe_stage.outside", "graph.who", "graph.dropped", "events.", "chill",
                 "state.")  # fmt: skip
    live = loop()
    for day in range(20):
        live.step(day)
    fresh = dict(arrays("", loop(), set()))
    for name, arr in arrays("", live, set()):
        if name in saved or name.startswith(rewritten):
            continue
        assert name in fresh and np.array_equal(arr, fresh[name]), (
            f"{name} changes during a run but is not in checkpoint.RUN_STATE"
        )


def _checkpoint(tmp: Path) -> Path:
    simulate("sesame", 2_000, 6, 1, checkpoint=tmp, every=3)
    where = ckpt.latest(tmp)
    assert where is not None and where.name == "day-000006"
    return where


def _cli_resume(tmp: Path):
    return CliRunner().invoke(app, ["resume", str(tmp)])


def _edit_manifest(where: Path, **changes) -> None:
    manifest = json.loads((where / ckpt.MANIFEST).read_text())
    manifest.update(changes)
    (where / ckpt.MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda w: _edit_manifest(w, version="0.0.1"), "written by scsim 0.0.1"),
        (lambda w: _edit_manifest(w, state_format=0), "state format 0"),
        (lambda w: next(w.glob("*state.score.npy")).unlink(), "state.score.npy: missing"),
        (lambda w: os.truncate(next(w.glob("*state.grade.npy")), 10), "state.grade.npy: damaged"),
        (lambda w: (w / ckpt.MANIFEST).unlink(), "manifest is missing or damaged"),
        (lambda w: (w / ckpt.MANIFEST).write_text("{"), "manifest is missing or damaged"),
        (lambda w: _edit_manifest(w, crc32=None) or _edit_manifest(w, arrays=None), ""),
    ],
)
def test_a_damaged_or_foreign_checkpoint_is_refused_with_one_message(tmp_path, damage, message):
    where = _checkpoint(tmp_path)
    damage(where)
    result = _cli_resume(tmp_path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and message in result.output
    assert result.output.count("error:") == 1


def test_a_checkpoint_of_another_regime_is_refused(tmp_path):
    where = _checkpoint(tmp_path)
    other = scsim.load("sesame").to_yaml().replace("initial: 550.0", "initial: 560.0")
    (where / ckpt.REGIME_FILE).write_text(other)
    manifest = json.loads((where / ckpt.MANIFEST).read_text())
    manifest["crc32"][ckpt.REGIME_FILE] = ckpt._crc(where / ckpt.REGIME_FILE)
    (where / ckpt.MANIFEST).write_text(json.dumps(manifest))
    result = _cli_resume(tmp_path)
    assert result.exit_code == 2 and "another hash" in result.output


def test_no_checkpoint_and_a_used_directory_are_refused(tmp_path):
    result = _cli_resume(tmp_path)
    assert result.exit_code == 2 and "no checkpoint here" in result.output
    _checkpoint(tmp_path)
    result = CliRunner().invoke(
        app, ["run", "sesame", "--days", "3", "--checkpoint", str(tmp_path)]
    )
    assert result.exit_code == 2 and "already holds a checkpoint" in result.output
    result = CliRunner().invoke(app, ["run", "sesame", "--days", "3", "--every", "2"])
    assert result.exit_code == 2 and "only with --checkpoint" in result.output


def test_a_partial_write_never_hides_the_last_good_checkpoint(tmp_path):
    """A kill during a write leaves a hidden temporary directory: ignored."""
    _checkpoint(tmp_path)
    (tmp_path / ".tmp-day-000009").mkdir()
    (tmp_path / ".tmp-day-000009" / "sesame~state.score.npy").write_bytes(b"\x93NUMPY")
    run, _ = resume(tmp_path)
    assert_same(run, simulate("sesame", 2_000, 6, 1))


def _scsim(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(scsim.__file__).parents[1])}
    return subprocess.Popen(
        [sys.executable, "-c", "from scsim.cli import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_kill_9_at_random_moments_then_resume_gives_the_run_once_whole(tmp_path):
    """Each kill waits for the checkpoints to pass a day drawn from the seed, then for a
    random fraction of a second (so some kills land mid-write): when the process is
    killed follows its progress, not the clock, so a fast or a loaded machine kills it
    at the same points of the run."""
    store, where = tmp_path / "s.duckdb", tmp_path / "ck"
    days = 120
    args = ["--population", "500000", "--days", str(days), "--seed", "4", "--store", str(store)]
    proc = _scsim("run", "sesame", *args, "--checkpoint", str(where), "--every", "2")
    rnd = random.Random(15)
    last = kills = 0
    for target in sorted(rnd.sample(range(4, days - 10), 3)):
        if not _wait_for_checkpoint(proc, where, target):
            break
        time.sleep(rnd.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        manifest, _, _ = ckpt.read(where)  # whole, or it raises
        assert manifest["day"] >= last  # nothing before the last checkpoint is lost
        last = manifest["day"]
        proc = _scsim("resume", str(where))
    _, err = proc.communicate(timeout=900)
    assert kills == 3 and last > 0  # killed mid-run, after a checkpoint, three times
    assert proc.returncode == 0, err.decode()
    with scsim.open_store(store, read_only=True) as s:
        runs = s.runs()
        assert runs.height == 1
        stored = s.load(runs["id"][0])
    whole = simulate("sesame", 500_000, days, 4)
    assert_frame_equal(stored.daily, whole.daily, check_exact=True)
    assert_frame_equal(stored.events, whole.events, check_exact=True)
    assert ckpt.latest(where) is None  # stored, so its checkpoints are gone


def _wait_for_checkpoint(proc, where: Path, day: int) -> bool:
    """Wait until the newest checkpoint is of ``day`` or later (True), or the process
    has ended (False); ten minutes at most, a guard against a hang."""
    give_up = time.monotonic() + 600  # a bound against a hang, not a timing
    while time.monotonic() < give_up:
        if proc.poll() is not None:
            return False
        if ckpt.latest(where) is not None:
            with contextlib.suppress(ckpt.CheckpointError, OSError):
                if ckpt.peek(where)["day"] >= day:
                    return True
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint of day {day} in 600 s")


def test_the_default_interval_keeps_writing_under_5_percent():
    """Ten minutes of wall clock between checkpoints, or 20 times the last write's
    time when that is longer (a 290M-agent checkpoint takes a minute or two)."""
    schedule = ckpt.Schedule()
    assert not schedule.due(1)
    schedule.written(3.0)
    assert schedule.gap == ckpt.DEFAULT_SECONDS
    schedule.written(90.0)
    assert schedule.gap == 1800.0 and 90.0 / (schedule.gap + 90.0) <= 0.05
    schedule.last -= 1800.0
    assert schedule.due(7)
    assert ckpt.Schedule(every=5).due(10) and not ckpt.Schedule(every=5).due(11)
