"""The reference regime in mesa-frames (0.1.0a0), written as a mesa-frames user would.

All citizens are one ``AgentSetPolars``: one row per citizen in a polars DataFrame.
``step`` draws the day's events of each behaviour for everyone at once with the
model's numpy generator, routes them through the observers and adds the points of the
day's records; ``advance`` clamps, grades, lists and sanctions with polars
expressions. mesa-frames 0.1.0a0 has no DataCollector: the model keeps one row of
metrics a day and ``daily()`` returns them as a DataFrame.

The parameters come from ``compare.peer_parameters`` (read from reference.yaml); the
semantics are those of mesa_model.py (compare.py's docstring maps them to scsim's).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from mesa_frames import AgentSetPolars, ModelDF


class Citizens(AgentSetPolars):
    """Every citizen: score, grade (0 = highest), days in the grade, days listed."""

    def __init__(self, model, n):
        super().__init__(model)
        self += pl.DataFrame(
            {
                "unique_id": pl.int_range(n, eager=True, dtype=pl.Int64),
                "score": pl.repeat(model.initial, n, eager=True, dtype=pl.Float64),
                "grade": pl.repeat(model.grade_of(model.initial), n, eager=True, dtype=pl.Int32),
                "days_in_grade": pl.repeat(0, n, eager=True, dtype=pl.Int32),
                "days_listed": pl.repeat(0, n, eager=True, dtype=pl.Int32),
            }
        )

    def step(self):
        """Behave and be observed: each citizen's events of each behaviour, each to the
        first observer (in order) that has it in view, and the points of the records."""
        model = self.model
        rng = model.random
        n = len(self)
        points = np.zeros(n)
        for behaviour, rate in model.rates.items():
            doers = np.repeat(np.arange(n), rng.poisson(rate, n))
            for observer in model.watching[behaviour]:
                in_view = rng.random(doers.size) < observer["coverage"]
                blamed = self.search(observer, doers[in_view])
                points += np.bincount(blamed, minlength=n) * model.points.get(behaviour, 0)
                doers = doers[~in_view]
        self["score"] = self["score"] + points

    def search(self, observer, doers):
        """Whom each event in view is attributed to: the doer (enrolled and found), an
        impostor (a search that did not return the doer), or nobody."""
        model = self.model
        rng = model.random
        enrolled = model.enrolled[observer["name"]]
        found = enrolled[doers] & (rng.random(doers.size) < observer["detection"])
        missed = doers[~found]
        impostor = missed[rng.random(missed.size) < observer["p_false"]]
        inside = impostor[rng.random(impostor.size) < observer["p_inside"]]
        pool = np.flatnonzero(enrolled)
        others = pool[rng.integers(0, pool.size, inside.size)] if pool.size else inside[:0]
        if pool.size < 2:  # nobody else in the gallery: outside after all
            others = inside = inside[:0]
        while (same := others == inside).any():  # anyone in the gallery but the doer
            others[same] = pool[rng.integers(0, pool.size, same.sum())]
        model.false_attributions += others.size
        model.false_matches_outside += impostor.size - inside.size
        model.recorded += others.size + found.sum()
        return np.concatenate([others, doers[found]])

    def advance(self):
        """The day's points are in: clamp, grade, list, sanction."""
        model = self.model
        score = pl.col("score").clip(model.floor, model.ceiling)
        grade = pl.lit(len(model.grades) - 1, dtype=pl.Int32)
        for k in range(len(model.grades) - 2, -1, -1):
            grade = pl.when(score >= model.grades[k][1]).then(pl.lit(k, pl.Int32)).otherwise(grade)
        lowest = len(model.grades) - 1
        df = self.agents.with_columns(score=score, new_grade=grade)
        df = df.with_columns(
            days_in_grade=pl.when(pl.col("new_grade") == pl.col("grade"))
            .then(pl.col("days_in_grade") + 1)
            .otherwise(1),
            grade=pl.col("new_grade"),
        ).drop("new_grade")
        df = df.with_columns(
            days_listed=pl.when(pl.col("days_listed") > 0)
            .then(pl.col("days_listed") + 1)
            .when((pl.col("grade") == lowest) & (pl.col("days_in_grade") >= model.for_days))
            .then(1)
            .otherwise(0)
        )
        if model.after_days is not None:
            leave = pl.col("days_listed") > model.after_days
            df = df.with_columns(
                days_listed=pl.when(leave).then(0).otherwise(pl.col("days_listed")),
                days_in_grade=pl.when(leave).then(0).otherwise(pl.col("days_in_grade")),
            )
        self.agents = df.with_columns(sanctioned=pl.col("days_listed") > 0)


class ReferenceModelDF(ModelDF):
    """The reference regime over ``n`` citizens."""

    def __init__(self, n, params, seed=None):
        super().__init__(seed)
        self.rates = params["rates"]
        self.points = params["points"]
        self.initial = params["initial"]
        self.floor = params["floor"]
        self.ceiling = params["ceiling"]
        self.grades = params["grades"]
        self.list_grade = params["list_grade"]
        self.for_days = params["for_days"]
        self.after_days = params["after_days"]
        self.watching = {
            b: [o for o in params["observers"] if b in o["watches"]] for b in self.rates
        }
        self.recorded = 0
        self.false_attributions = 0
        self.false_matches_outside = 0
        self.rows = []
        self.enrolled = {  # who is in each observer's gallery, drawn once
            o["name"]: self.random.random(n) < o["enrolled"] for o in params["observers"]
        }
        if self.grades[-1][0] != self.list_grade:
            raise ValueError("this model lists from the lowest grade only")
        self.agents += Citizens(self, n)

    def grade_of(self, score):
        return next(
            k for k, (_, lowest) in enumerate(self.grades) if lowest is None or score >= lowest
        )

    def step(self):
        self.agents.do("step")
        self.agents.do("advance")
        df = self.get_agents_of_type(Citizens).agents
        shares = df["grade"].value_counts()
        count = dict(zip(shares["grade"], shares["count"], strict=True))
        row = {"mean_score": df["score"].mean()}
        for k, (name, _) in enumerate(self.grades):
            row[f"grade_share.{name}"] = count.get(k, 0) / len(df)
        row["blacklisted"] = int((df["days_listed"] > 0).sum())
        row["sanctioned"] = int(df["sanctioned"].sum())
        row["recorded"] = self.recorded
        row["false_attributions"] = self.false_attributions
        row["false_matches_outside"] = self.false_matches_outside
        self.rows.append(row)

    def daily(self):
        return pl.DataFrame(self.rows)
