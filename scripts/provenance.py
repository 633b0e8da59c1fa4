"""Write docs/provenance.md: every figure of every built-in regime and world, its value,
and where it comes from, read from the comment on its line in the regime file.

    python scripts/provenance.py            # rewrite docs/provenance.md
    python scripts/provenance.py --check    # exit 1 if the file is out of date

The built-in files mark each figure on its line: `[official]` (a law, regulation or
court text), `[state]` (state media), `[press]`, `guess` (a modelling guess), or
`calibrated` (fitted by `scsim calibrate`). A figure in a flow mapping such as
`{name: AA, min: 1150}  # guess` takes the comment of its line, and a section
comment such as `behaviours:  # ... every rate is a guess` covers the figures under
it that have none of their own. The table says which comment a class came from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from scsim.regime import builtin_names
from scsim.regime.provenance import figures
from scsim.world import builtin_world_names

SRC = Path(__file__).resolve().parents[1] / "src" / "scsim"

OUT = Path(__file__).resolve().parents[1] / "docs" / "provenance.md"

HEAD = """# Where every figure of the built-in regimes comes from

Made by `python scripts/provenance.py` from the comments in the built-in regime and
world files (`scsim show NAME` prints a file with them). Classes: **official** (a law,
regulation or court text), **state** (state media), **press** (a press report),
**guess** (a modelling guess, to be calibrated or varied in a sensitivity analysis),
**calibrated** (fitted to a reported figure by `scsim calibrate`). A figure whose class
comes from the comment of the section it sits in, not its own line, is marked
*(section)*. The sources of the official, state and press figures are listed in each
file's `sources:` and in `docs/regimes/<name>.md`.
"""


def table(path: Path) -> list[str]:
    rows = figures(path.read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.kind] = counts.get(row.kind, 0) + 1
    tally = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    lines = [f"{len(rows)} figures: {tally}.", "", "| key | value | class | note |"]
    lines.append("| --- | --- | --- | --- |")
    for row in rows:
        kind = row.kind + (" *(section)*" if row.inherited else "")
        note = row.note.replace("|", "\\|")
        lines.append(f"| `{row.key}` | {row.value} | {kind} | {note} |")
    return lines


def render() -> str:
    parts = [HEAD]
    for name in builtin_names():
        parts += [f"\n## {name}\n", *table(SRC / "regime" / "builtin" / f"{name}.yaml")]
    for name in builtin_world_names():
        parts += [f"\n## {name} (world)\n", *table(SRC / "world" / "builtin" / f"{name}.yaml")]
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        sys.exit(0 if OUT.exists() and OUT.read_text(encoding="utf-8") == text else 1)
    OUT.write_text(text, encoding="utf-8")
    print(OUT)


if __name__ == "__main__":
    main()
