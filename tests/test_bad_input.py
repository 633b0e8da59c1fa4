"""Bad input through the public API and the CLI: one ``ScsimError`` (exit code 2 from
the CLI) with a message that says what, where and what is allowed (issue 13, items 6,
9 and 21). Nothing here simulates more than a day."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import scsim
from scsim.cli import app
from scsim.errors import OptionError, RegimeError
from scsim.regime import builtin_names, load_regime
from scsim.world import load_world

BUILTIN = Path(scsim.__file__).parent / "regime" / "builtin"
runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def refused_by_cli(*args: str | Path) -> str:
    """The one error line a command ends with (exit code 2, nothing on stdout)."""
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    return " ".join(result.stderr.split())  # rich wraps long lines at the terminal width


# ------------------------------------------------------------------ the python API


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"population": 1.5}, "population: 1.5 is not a whole number"),
        ({"population": True}, "population: True is not a whole number"),
        ({"population": "100"}, "population: '100' is not a whole number"),
        ({"population": 0}, "population: 0 is out of range"),
        ({"days": 2.0}, "days: 2.0 is not a whole number"),
        ({"seed": None}, "seed: None is not a whole number"),
        ({"threads": "2"}, "threads: '2' is not a whole number"),
        ({"keep_events": "yes"}, "keep_events: 'yes' is not true or false"),
        ({"progress": 5}, "progress: 5 is not callable"),
    ],
)
def test_simulate_refuses_wrong_types_with_one_option_error(options: dict, needle: str) -> None:
    with pytest.raises(OptionError) as info:
        scsim.simulate(load_regime("rongcheng"), **{"days": 1, **options})
    message = str(info.value)
    assert message.startswith(needle) and "allowed: " in message, message


def test_simulate_refuses_a_regime_that_is_not_one() -> None:
    with pytest.raises(OptionError, match=r"^regime: 5 is not a regime \(allowed: a Regime"):
        scsim.simulate(5)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ([5], "overrides: 5 is not a string"),
        (["score.initial=1", None], "overrides: null is not a string"),
        (5, "overrides: 5 is not a list"),
    ],
)
def test_loaders_refuse_overrides_that_are_not_strings(overrides, needle: str) -> None:
    for load in (load_regime, load_world, scsim.load):
        name = "china-2018" if load is load_world else "rongcheng"
        with pytest.raises(OptionError, match=f"^{needle}"):
            load(name, overrides=overrides)


def test_load_regime_refuses_a_name_that_is_not_a_string() -> None:
    with pytest.raises(OptionError, match=r"^5: not a name or a path"):
        load_regime(5)


def test_load_regime_of_a_world_says_to_use_load(tmp_path: Path) -> None:
    for target in ("china-2018", Path(scsim.__file__).parent / "world/builtin/china-2018.yaml"):
        with pytest.raises(RegimeError, match=r"a world .*scsim.load or scsim.load_world"):
            load_regime(target)
    world = tmp_path / "w.yaml"
    world.write_text("name: w\noperators: {a: rongcheng}\n")
    with pytest.raises(RegimeError, match=f"^{world}: a world .*scsim.load_world"):
        load_regime(world)
    assert scsim.load(world).name == "w"


@pytest.mark.parametrize("load", [load_regime, load_world, scsim.load])
def test_a_directory_is_named_as_one(tmp_path: Path, load) -> None:
    with pytest.raises(RegimeError) as info:
        load(tmp_path)
    assert str(info.value) == f"{tmp_path}: a directory, not a file (allowed: a YAML file)"


def test_negative_list_index_in_an_override() -> None:
    with pytest.raises(RegimeError) as info:
        load_regime("rongcheng", ["rules.-1.points=1"])
    message = str(info.value)
    assert "rules is a list, its index must be counted from 0" in message
    assert f"allowed: 0 to {len(load_regime('rongcheng').rules) - 1}" in message


# -------------------------------------------------------------------------- worlds


def world_file(tmp_path: Path, operator: str) -> Path:
    path = tmp_path / "world.yaml"
    path.write_text(f"name: w\noperators:\n  a: {operator}\n", encoding="utf-8")
    return path


def test_invalid_inline_operator_reports_the_real_error(tmp_path: Path) -> None:
    path = world_file(tmp_path, "{regime: {name: x, grades: 5}}")
    with pytest.raises(RegimeError) as info:
        load_world(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3: operators.a.regime.grades: wrong type (got 5; ")
    assert "allowed: a string)" not in message


def test_unknown_key_of_an_inline_regime_has_a_clean_path(tmp_path: Path) -> None:
    path = world_file(tmp_path, "{regime: {name: x, grades: [{name: A}], bogus: 1}}")
    with pytest.raises(RegimeError) as info:
        load_world(path)
    assert str(info.value).startswith(f"{path}:3: operators.a.regime.bogus: unknown key")


def test_an_operator_of_no_shape_lists_every_shape(tmp_path: Path) -> None:
    path = world_file(tmp_path, "5")
    with pytest.raises(RegimeError) as info:
        load_world(path)
    assert str(info.value) == (
        f"{path}:3: operators.a: wrong type (got 5; allowed: a string or a mapping {{regime, set}})"
    )


def test_an_operator_naming_another_file_quotes_at_most_a_line_of_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("".join(f"user{i}:x:{i}:{i}::/home/user{i}:/bin/sh\n" for i in range(40)))
    (tmp_path / "a" / "b").mkdir(parents=True)
    path = tmp_path / "a" / "b" / "world.yaml"
    path.write_text("name: w\noperators:\n  a: ../../secret\n", encoding="utf-8")
    with pytest.raises(RegimeError) as info:
        load_world(path)
    message = str(info.value)
    assert "its regime is refused" in message and "not a mapping" in message
    quoted = message.split("(got ", 1)[1].split("; allowed", 1)[0]
    assert "\n" not in message and len(quoted) <= 80 and quoted.endswith("..."), quoted


# ----------------------------------------------------------------------------- CLI


def test_run_defaults_to_the_regimes_population(tmp_path: Path) -> None:
    file_value = load_regime("rongcheng-neighbourhood").population
    assert file_value == 14280
    result = invoke(
        "run", "rongcheng-neighbourhood", "--days", "1", "--json", "--store", tmp_path / "s.db"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["population"] == file_value


def test_validate_takes_builtin_names_and_files(tmp_path: Path) -> None:
    assert invoke("validate", "rongcheng").stdout == "ok: rongcheng (built-in)\n"
    assert invoke("validate", "china-2018").stdout == "ok: china-2018 (built-in)\n"
    path = tmp_path / "mine.yaml"
    path.write_text((BUILTIN / "rongcheng.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert invoke("validate", path).stdout == "ok: rongcheng\n"


@pytest.mark.parametrize("name", ["run", "show", "no-such-thing"])
def test_validate_of_a_name_that_is_neither_says_what_is_allowed(name: str) -> None:
    message = refused_by_cli("validate", name)
    assert message.startswith(f"error: {name}: no such built-in regime, world or file")
    assert "allowed: a path to a YAML file" in message and "rongcheng" in message


def test_validate_of_a_directory(tmp_path: Path) -> None:
    message = refused_by_cli("validate", tmp_path)
    assert message == f"error: {tmp_path}: a directory, not a file (allowed: a YAML file)"


def comment(line: str) -> str:
    return line.split("#", 1)[1].strip() if "#" in line else ""


@pytest.mark.parametrize("name", builtin_names())
def test_show_keeps_every_comment_of_the_file(name: str) -> None:
    result = invoke("show", name)
    assert result.exit_code == 0, result.output
    shown = {comment(line) for line in result.stdout.splitlines()}
    text = (BUILTIN / f"{name}.yaml").read_text(encoding="utf-8")
    wanted = {comment(line) for line in text.splitlines()} - {""}
    assert wanted <= shown, wanted - shown
    assert any(c.startswith("guess") for c in wanted)


def test_show_keeps_comments_beside_overridden_keys(tmp_path: Path) -> None:
    result = invoke("show", "rongcheng", "--set", "score.floor=5")
    assert result.exit_code == 0, result.output
    floor = next(line for line in result.stdout.splitlines() if line.strip().startswith("floor:"))
    assert floor.split("#")[0].split() == ["floor:", "5"]
    assert comment(floor) == "guess: the record names no floor"
    # The output still reads back to the regime it shows.
    path = tmp_path / "shown.yaml"
    path.write_text(result.stdout, encoding="utf-8")
    assert load_regime(path) == load_regime("rongcheng", ["score.floor=5"])


@pytest.mark.parametrize("value", [":x:", ":thumbs_up:", "[bold]x[/bold]"])
def test_user_text_is_printed_as_given(value: str) -> None:
    message = refused_by_cli("show", "rongcheng", "--set", f"name={value}")
    assert message.startswith(f"error: --set name={value}: name: "), message
    assert "(<" not in message and "',)" not in message  # no Python tuples
    assert "❌" not in message and "👍" not in message


def test_show_of_a_world_keeps_the_world_files_comments() -> None:
    result = invoke("show", "national-pooled")
    assert result.exit_code == 0, result.output
    assert "population: 100000       # guess: a city district" in result.stdout


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than"),
        ("".join("  " * i + f"k{i}:\n" for i in range(3000)), "nested more than"),
        ("a: &a [*a]\n", "inside its own anchor"),
        (
            'x0: &x0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
            + "".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]\n" for i in range(1, 9))
            + "name: w\noperators: *x8\n",
            "aliases repeat more than",
        ),
    ],
    ids=["deep list", "deep mapping", "self alias", "billion laughs world"],
)
def test_hostile_yaml_through_the_cli(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    for command in ("validate", "show", "run"):
        message = refused_by_cli(
            command, path, *(["--store", tmp_path / "s.db"] * (command == "run"))
        )
        assert message.startswith(f"error: {path}:") and needle in message, message
    assert not (tmp_path / "s.db").exists()
