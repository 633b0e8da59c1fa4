"""Hostile and odd YAML: each is refused with one line naming the file, the line and
what is allowed, before anything is built from it (issue 13, items 10-12 and 21).

Fixtures are generated here: a 100,000-deep list is 200 KB of brackets, and "billion
laughs" is a few hundred bytes that would expand to a billion nodes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scsim.errors import RegimeError
from scsim.regime import load_regime
from scsim.regime.loader import MAX_ALIAS_NODES, MAX_DEPTH
from scsim.world import load_world
from test_regime_loader import BASE, write


def refused(path: Path, load=load_regime) -> str:
    """The one-line message loading ``path`` is refused with."""
    with pytest.raises(RegimeError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def laughs(levels: int) -> str:
    """``levels`` levels of ten aliases of the level below: 10**levels strings."""
    lines = ['x0: &x0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deep_flow_list_is_refused(tmp_path: Path, depth: int) -> None:
    path = write(tmp_path, BASE.replace("name: example", "name: " + "[" * depth + "]" * depth))
    message = refused(path)
    assert message.startswith(f"{path}:1: YAML error: ")
    assert f"nested more than {MAX_DEPTH} deep" in message


def test_deep_block_mapping_is_refused_at_the_first_level_too_deep(tmp_path: Path) -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(3000)) + "  " * 3000 + "x: 1\n"
    message = refused(write(tmp_path, text))
    assert f":{MAX_DEPTH + 1}: YAML error: " in message
    assert f"allowed: at most {MAX_DEPTH} levels" in message


def test_nesting_up_to_the_limit_is_read(tmp_path: Path) -> None:
    deep = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    message = refused(write(tmp_path, BASE.replace("name: example", f"name: {deep}")))
    # Read, then refused by the schema for what it is: a list where a name goes.
    assert "name: wrong type" in message


def test_billion_laughs_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    # Ten levels would be 10**10 nodes: this finishes only because nothing expands.
    path = write(tmp_path, laughs(10) + BASE)
    message = refused(path)
    # x0 is 11 nodes; x1's aliases repeat 110, x2's 1,110, x3's 11,110, x4's 111,110:
    # the running total first passes the bound on x4's line, the fifth.
    assert message.startswith(f"{path}:5: YAML error: aliases repeat more than")
    assert f"{MAX_ALIAS_NODES:,}" in message


def test_billion_laughs_inside_a_valid_regime_is_refused(tmp_path: Path) -> None:
    # Anchors defined under a key the schema would refuse, used as `sources`.
    text = BASE.replace("name: example", "name: example\nsources: *x8")
    message = refused(write(tmp_path, laughs(9) + text))
    assert "aliases repeat more than" in message


def test_small_aliases_still_work(tmp_path: Path) -> None:
    text = BASE.replace("  - {name: a, share: 0.5}", "  - &half {name: a, share: 0.5}")
    text = text.replace("observers:", "observers:\n  - {<<: *half, name: x, watches: []}", 0)
    regime = load_regime(write(tmp_path, text.replace("jaywalking: {rate: 0.01}",
                                                      "jaywalking: &r {rate: 0.01}")
                               .replace("charity: {rate: 0.002, spread: 0.5}",
                                        "charity: *r")))  # fmt: skip
    assert regime.behaviours["charity"] == regime.behaviours["jaywalking"]


def test_self_referencing_alias_in_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("name: example", "name: example\nsources: &a [*a]"))
    message = refused(path)
    assert message.startswith(f"{path}:2: YAML error: alias *a inside its own anchor &a")


def test_self_referencing_alias_in_an_override() -> None:
    with pytest.raises(RegimeError) as info:
        load_regime("rongcheng", ["description=&a [*a]"])
    message = str(info.value)
    assert message.startswith("--set description=&a [*a]: description: bad value: alias *a")


def test_nul_byte_is_named_on_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("name: example", "name: exa\0mple"))
    assert refused(path) == (
        f"{path}:1: YAML error: a NUL byte (allowed: printable text, tabs and newlines)"
    )


def test_yaml_1_1_booleans_are_named(tmp_path: Path) -> None:
    text = "%YAML 1.1\n---\n" + BASE
    message = refused(write(tmp_path, text))
    # rules: {on: jaywalking, ...} is on line 15 of BASE, 17 with the directive.
    assert ":17: YAML error: %YAML 1.1 reads the word on as true" in message
    assert "remove the %YAML 1.1 line" in message


def test_yaml_1_2_directive_reads_on_as_a_word(tmp_path: Path) -> None:
    regime = load_regime(write(tmp_path, "%YAML 1.2\n---\n" + BASE))
    assert regime.rules[0].on == "jaywalking"


def test_complex_key_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "\n\n? [a, b]\n: 1\n")
    message = refused(path)
    assert message.startswith(f"{path}:28: YAML error: a list or mapping as a key")
    assert "(" not in message.split("error: ", 1)[1].split("(allowed")[0]  # no tuple


def test_alias_of_a_list_as_a_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "x: &k [a]\n*k : 1\n" + BASE)
    assert refused(path).startswith(f"{path}:2: YAML error: a list or mapping as a key")


@pytest.mark.parametrize(
    ("value", "tag"),
    [("!foo bar", "!foo"), ("!!python/object:os.system x", "!!python/object:os.system"),
     ("!!str example", "!!str")],
)  # fmt: skip
def test_tags_are_refused(tmp_path: Path, value: str, tag: str) -> None:
    path = write(tmp_path, BASE.replace("name: example", f"name: {value}"))
    assert refused(path) == (
        f"{path}:1: YAML error: a tag ({tag}) (allowed: plain values without tags; quote a string)"
    )


def test_world_file_gets_the_same_checks(tmp_path: Path) -> None:
    path = write(tmp_path, laughs(9) + "name: w\noperators: *x8\n", "world.yaml")
    assert "aliases repeat more than" in refused(path, load_world)
