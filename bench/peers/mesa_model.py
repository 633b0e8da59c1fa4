"""The reference regime in Mesa 3, written as a Mesa user would write it.

One ``Citizen`` agent per synthetic citizen. A day is two activations, as in Mesa's
simultaneous activation: ``step`` (behave and be observed: a record may land on another
citizen through a false match, or the match on someone outside the simulation) for
every citizen in random order, then ``advance`` (clamp, grade, blacklist, sanction)
for every citizen, so that all of a day's records land before anyone is graded. A
``DataCollector`` records the daily metrics.

The parameters come from ``compare.peer_parameters`` (read from reference.yaml), so
both models run the same figures; compare.py's docstring maps each rule to scsim's.
"""

from __future__ import annotations

import mesa
import numpy as np


class Observer:
    """A channel through which the regime learns of events (not an agent: it does not
    act on its own, citizens' events reach it)."""

    def __init__(self, model, name, watches, coverage, detection, enrolled, p_false, p_inside):
        self.model = model
        self.name = name
        self.watches = watches
        self.coverage = coverage
        self.detection = detection
        self.enrolled = enrolled  # chance a citizen is in the gallery
        self.p_false = p_false  # FPIR: chance a search that missed the doer returns someone
        self.p_inside = p_inside  # chance that someone is a simulated citizen
        self.gallery = []  # the enrolled citizens (filled once the citizens exist)
        self.members = set()

    def enrol(self, citizens):
        """Each citizen is in the gallery with chance ``enrolled``, once for the run."""
        rand = self.model.random.random
        self.gallery = [c for c in citizens if self.enrolled >= 1 or rand() < self.enrolled]
        self.members = set(self.gallery)

    def search(self, doer, behaviour):
        """Attribute one event in view: to the doer (an enrolled doer found), to an
        impostor (a search that did not return the doer), or to nobody."""
        model = self.model
        if doer in self.members and model.random.random() < self.detection:
            blamed = doer
        elif model.random.random() < self.p_false:
            if model.random.random() >= self.p_inside or self.gallery == [doer]:
                model.false_matches_outside += 1  # someone outside the simulation
                return
            blamed = doer
            while blamed is doer:
                blamed = model.random.choice(self.gallery)
            model.false_attributions += 1
        else:
            return
        model.recorded += 1
        blamed.score += model.points.get(behaviour, 0)


class Citizen(mesa.Agent):
    """A synthetic citizen: a score, a grade, days in that grade, days on the list."""

    def __init__(self, model):
        super().__init__(model)
        self.score = model.initial
        self.grade = model.grade_of(self.score)
        self.days_in_grade = 0
        self.days_listed = 0  # 0: not on the blacklist
        self.sanctioned = False

    def step(self):
        """Today's events of each behaviour; each goes to the first observer (in the
        regime's order) that has it in view."""
        model = self.model
        for behaviour, rate in model.rates.items():
            for _ in range(self.rng.poisson(rate)):
                for observer in model.watching[behaviour]:
                    if self.random.random() < observer.coverage:
                        observer.search(self, behaviour)
                        break

    def advance(self):
        """The day's points are in: clamp the score, grade it, list and sanction."""
        model = self.model
        self.score = min(max(self.score, model.floor), model.ceiling)
        grade = model.grade_of(self.score)
        self.days_in_grade = self.days_in_grade + 1 if grade == self.grade else 1
        self.grade = grade
        if self.days_listed > 0:
            self.days_listed += 1
            if model.after_days is not None and self.days_listed > model.after_days:
                self.days_listed = 0  # off the list; the count in the grade restarts
                self.days_in_grade = 0
        elif grade == model.list_grade and self.days_in_grade >= model.for_days:
            self.days_listed = 1
        self.sanctioned = self.days_listed > 0


def share_in(grade):
    """A model reporter: the share of citizens in ``grade``."""
    return lambda m: m.agents.agg("grade", lambda grades: grades.count(grade) / len(grades))


class ReferenceModel(mesa.Model):
    """The reference regime over ``n`` citizens."""

    def __init__(self, n, params, rng=None):
        super().__init__(rng=rng)
        self.rates = params["rates"]
        self.points = params["points"]
        self.initial = params["initial"]
        self.floor = params["floor"]
        self.ceiling = params["ceiling"]
        self.grades = params["grades"]  # (name, min), highest first; the last min is None
        self.list_grade = params["list_grade"]
        self.for_days = params["for_days"]
        self.after_days = params["after_days"]
        self.observers = [Observer(self, **o) for o in params["observers"]]
        self.watching = {
            b: [o for o in self.observers if b in o.watches] for b in self.rates
        }  # observers of each behaviour, in the regime's order
        self.recorded = 0
        self.false_attributions = 0
        self.false_matches_outside = 0

        Citizen.create_agents(self, n)
        for observer in self.observers:
            observer.enrol(self.agents.to_list())

        reporters = {"mean_score": lambda m: m.agents.agg("score", np.mean)}
        for name, _ in self.grades:
            reporters[f"grade_share.{name}"] = share_in(name)
        reporters["blacklisted"] = lambda m: len(m.agents.select(lambda a: a.days_listed > 0))
        reporters["sanctioned"] = lambda m: len(m.agents.select(lambda a: a.sanctioned))
        reporters["recorded"] = "recorded"
        reporters["false_attributions"] = "false_attributions"
        reporters["false_matches_outside"] = "false_matches_outside"
        self.datacollector = mesa.DataCollector(model_reporters=reporters)

    def grade_of(self, score):
        for name, lowest in self.grades:
            if lowest is None or score >= lowest:
                return name
        raise AssertionError("the last grade has no min")

    def step(self):
        self.agents.shuffle_do("step")
        self.agents.do("advance")
        self.datacollector.collect(self)
