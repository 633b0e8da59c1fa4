"""What a calibration hands back: the posterior table, the predictive table (targets
and validation figures apart), the pair plot, and the calibrated regime file.

The regime file is the original (comments and all) with each free figure set to the
highest-posterior particle, and its comment replaced by
``# calibrated: <targets>, <date>, posterior median M [90% interval L to H]`` -- the
mark :mod:`scsim.regime.provenance` reads as the class ``calibrated``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken

from scsim.regime.loader import _override, _parse, dump_yaml, read_source, regime_from_text

if TYPE_CHECKING:
    from scsim.calibration.runner import CalibrationResult


def g(x: float) -> str:
    return f"{x:.3g}"


def posterior_rows(result: CalibrationResult) -> list[dict[str, Any]]:
    """One row per free parameter: prior, median and 90% interval, the written value."""
    q = result.quantiles
    return [
        {"parameter": key, "prior": _prior(p), "median": q[1, j], "low": q[0, j],
         "high": q[2, j], "written": result.best[key]}
        for j, (key, p) in enumerate(result.calibration.spec.parameters.items())
    ]  # fmt: skip


def _prior(p: Any) -> str:
    lo, hi = p.range
    extra = ""
    if p.distribution == "normal":
        extra = f", mean {g(p.mean)} sd {g(p.sd)}"
    elif p.distribution == "triangular":
        extra = f", mode {g(p.mode)}"
    return f"{p.distribution} {g(lo)} to {g(hi)}{extra}"


def comment(result: CalibrationResult, key: str, date: str) -> str:
    row = next(r for r in posterior_rows(result) if r["parameter"] == key)
    return (
        f"# calibrated: {result.calibration.name}, {date}, posterior median "
        f"{g(row['median'])} [90% interval {g(row['low'])} to {g(row['high'])}]"
    )


def calibrated_yaml(result: CalibrationResult, date: str | None = None) -> str:
    """The regime file with the calibrated figures written and marked."""
    cal = result.calibration
    date = date or datetime.now(UTC).date().isoformat()
    text, where = read_source(cal.ref)
    data = _parse(text, where)
    for key, value in result.best.items():
        _override(data, f"{key}={json.dumps(float(f'{value:.4g}'))}")  # 4 digits: legible
        parent, last = _parent(data, key)
        _mark(parent, last, comment(result, key, date))
    out = dump_yaml(data)
    regime_from_text(out, "the calibrated regime")  # it must load as it is written
    return out


def _parent(data: Any, key: str) -> tuple[Any, Any]:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    return node, int(last) if isinstance(node, list) else last


def _mark(parent: Any, key: Any, text: str) -> None:
    """Put ``text`` as the end-of-line comment of ``key``, keeping the full-line
    comments that ruamel stores in the same token (the lines that follow)."""
    if isinstance(parent, CommentedMap | CommentedSeq):
        parent.fa.set_block_style()  # a flow map's keys cannot carry their own comments
    tokens = parent.ca.items.get(key)
    slot = 2 if isinstance(parent, CommentedMap) else 0
    old = tokens[slot] if tokens and len(tokens) > slot else None
    if isinstance(old, CommentToken):
        rest = old.value.split("\n", 1)[1] if "\n" in old.value else ""
        old.value = (
            f"{text}\n{rest}" if old.value.lstrip().startswith("#") else f"{text}\n{old.value}"
        )
        return
    parent.yaml_add_eol_comment(text, key)


def pair_plot(result: CalibrationResult, path: Path) -> None:
    """The posterior's particles: histograms on the diagonal, pairs below it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = result.posterior.particles[:1500]
    keys = result.keys
    d = len(keys)
    fig, axes = plt.subplots(d, d, figsize=(2.4 * d + 1, 2.4 * d + 1), squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i][j]
            if j > i:
                ax.axis("off")
            elif i == j:
                ax.hist(x[:, i], bins=30, color="#4c72b0")
                ax.axvline(result.best[keys[i]], color="#c44e52")
            else:
                ax.scatter(x[:, j], x[:, i], s=2, alpha=0.3, color="#4c72b0")
            if i == d - 1:
                ax.set_xlabel(keys[j], fontsize=7)
            if j == 0 and i > 0:
                ax.set_ylabel(keys[i], fontsize=7)
            ax.tick_params(labelsize=6)
    fig.suptitle(f"posterior of {result.calibration.name} (red: the written values)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: CalibrationResult) -> str:
    """The posterior and predictive tables as Markdown."""
    lines = [
        f"# Calibration {result.id}", "",
        f"{result.runs} runs ({result.ran} this time), {result.seconds:,.0f} s; prior share "
        "not ruled out before each wave: " + ", ".join(f"{s:.3g}" for s in result.shares)
        + f"; effective sample size of the posterior weights {result.posterior.ess:,.0f}.", "",
        "## Posterior (fitted parameters)", "",
        "| parameter | prior | median | 90% interval | written (highest posterior) |",
        "|---|---|---:|---:|---:|",
    ]  # fmt: skip
    for r in posterior_rows(result):
        lines.append(f"| `{r['parameter']}` | {r['prior']} | {g(r['median'])} | "
                     f"{g(r['low'])} to {g(r['high'])} | {g(r['written'])} |")  # fmt: skip
    for fitted, title in ((True, "Calibration targets (fitted)"),
                          (False, "Validation figures (never fitted)")):  # fmt: skip
        rows = [p for p in result.predicted if p.fitted == fitted]
        if not rows:
            continue
        lines += ["", f"## {title}", "",
                  "| figure | reported ± sd | one run's sd | predictive median | 90% interval "
                  "| verdict |", "|---|---:|---:|---:|---:|---|"]  # fmt: skip
        for p in rows:
            noise = "" if p.run_sd != p.run_sd else g(p.run_sd)  # nan: not emulated
            lines.append(f"| {p.name} | {g(p.value)} ± {g(p.sigma)} | {noise} | {g(p.median)} | "
                         f"{g(p.low)} to {g(p.high)} | {p.verdict} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_outputs(result: CalibrationResult, output: Any, report: Any) -> None:
    if output is not None:
        Path(output).write_text(calibrated_yaml(result), encoding="utf-8")
    if report is not None:
        folder = Path(report)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "calibration.md").write_text(markdown(result), encoding="utf-8")
        rows = [{"figure": p.name, "fitted": p.fitted, "reported": p.value, "sd": p.sigma,
                 "median": p.median, "low": p.low, "high": p.high, "verdict": p.verdict}
                for p in result.predicted]  # fmt: skip
        (folder / "posterior.json").write_text(
            json.dumps({"posterior": posterior_rows(result), "predictive": rows}, indent=1),
            encoding="utf-8",
        )
        pair_plot(result, folder / "pairs.png")
