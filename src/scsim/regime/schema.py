"""The regime file's schema: frozen pydantic v2 models.

Every bound lives in exactly one place, the ``Field`` definition, so that the loader's
error messages ("allowed: ...") and the property tests read the same numbers the
validator enforces. Checks that span several keys (a rule naming an unknown
behaviour, grade thresholds out of order, ...) raise :class:`RegimeFieldError`, which
carries the dotted location of the offending key so the loader can point at its line.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

__all__ = [
    "AppliesTo",
    "Behaviour",
    "Blacklist",
    "EnterOnEvent",
    "EnterOnGrade",
    "Exit",
    "Grade",
    "Group",
    "Households",
    "Network",
    "Observer",
    "Regime",
    "RegimeFieldError",
    "Rule",
    "Sanction",
    "Score",
]

#: Largest absolute score, threshold or points value (the engine stores scores in
#: fixed point; this keeps every sum far from overflow).
MAX_POINTS = 1e6
#: Largest number of population groups (the engine stores the group in a uint8).
MAX_GROUPS = 255
#: Tolerance on the sum of group shares.
SHARE_TOLERANCE = 1e-6

REGIME_NAME = r"^[a-z0-9][a-z0-9-]*$"
BEHAVIOUR_NAME = r"^[a-z_][a-z0-9_]*$"
#: Grade, observer, sanction, reward and group names become parts of metric names
#: (``grade_share.<grade>``), so no dots, spaces or other punctuation.
LABEL = r"^[A-Za-z0-9_][A-Za-z0-9_-]*$"

BehaviourName = Annotated[str, Field(pattern=BEHAVIOUR_NAME)]
Label = Annotated[str, Field(pattern=LABEL)]


class RegimeFieldError(ValueError):
    """A check across keys failed; ``loc`` is the offending key relative to the model
    whose validator raised it, so the loader can find its line in the file."""

    def __init__(self, loc: tuple[str | int, ...], problem: str, got: Any, allowed: str):
        self.loc = loc
        self.problem = problem
        self.got = got
        self.allowed = allowed
        super().__init__(f"{problem} (got {got!r}; allowed: {allowed})")


class _Model(BaseModel):
    # strict: a quoted "0.01" is a string, not a rate; YAML already types its scalars.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _unique(items: list[Any], attr: str, where: str, kind: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        name = getattr(item, attr)
        if name in seen:
            raise RegimeFieldError(
                (where, i, attr), f"duplicate {kind} name", name, f"a {kind} name not used before"
            )
        seen.add(name)


class Score(_Model):
    """The score every agent starts with and the bounds it is clamped to."""

    initial: float = Field(
        1000.0, ge=-MAX_POINTS, le=MAX_POINTS, description="Score of every agent on day 0."
    )
    floor: float | None = Field(
        0.0,
        ge=-MAX_POINTS,
        le=MAX_POINTS,
        description="Lowest score; the score is clamped to it after each day. null: no floor.",
    )
    ceiling: float | None = Field(
        None,
        ge=-MAX_POINTS,
        le=MAX_POINTS,
        description="Highest score; clamped after each day. null: no ceiling.",
    )

    @model_validator(mode="after")
    def _order(self) -> Score:
        if self.floor is not None and self.floor > self.initial:
            raise RegimeFieldError(
                ("floor",),
                "floor above initial",
                self.floor,
                f"a number <= initial ({_num(self.initial)})",
            )
        if self.ceiling is not None and self.ceiling < self.initial:
            raise RegimeFieldError(
                ("ceiling",),
                "ceiling below initial",
                self.ceiling,
                f"a number >= initial ({_num(self.initial)})",
            )
        return self


class Grade(_Model):
    """A tier. An agent takes the first grade (highest first) whose ``min`` it reaches."""

    name: Label = Field(description="Name of the grade, e.g. AAA.")
    min: float | None = Field(
        None,
        ge=-MAX_POINTS,
        le=MAX_POINTS,
        description="Lowest score in this grade; omitted on the last grade (everyone else).",
    )


class Behaviour(_Model):
    """Something citizens do, at a rate, whether or not anyone watches."""

    rate: float = Field(ge=0, le=100, description="Mean events per person-day.")
    spread: float = Field(
        0.0,
        ge=0,
        le=3,
        description="Lognormal sigma of the rate across people (mean preserved); 0: same rate.",
    )


class Observer(_Model):
    """A channel through which the regime learns of events (cameras, courts, informants)."""

    name: Label = Field(description="Name of the observer.")
    watches: list[BehaviourName] = Field(
        min_length=1, description="Behaviours whose events this observer can record."
    )
    coverage: float = Field(1.0, ge=0, le=1, description="Share of events that happen in view.")
    detection: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Chance an event in view (and not falsely matched) is attributed to its doer.",
    )
    false_match_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Per comparison; a search returns someone else with probability "
        "1 - (1 - false_match_rate) ** gallery.",
    )
    gallery: int | None = Field(
        None,
        ge=1,
        description="Number of people each search compares against; null: the whole population.",
    )
    latency_days: int = Field(
        0, ge=0, le=3650, description="Days between an event and its recording."
    )
    capacity_per_day: int | None = Field(
        None,
        ge=0,
        description="Events processed per day; the rest expire unprocessed. null: unlimited.",
    )


class Rule(_Model):
    """Points for each recorded event of a behaviour."""

    on: BehaviourName = Field(description="The behaviour whose recorded events score.")
    points: float = Field(
        ge=-MAX_POINTS,
        le=MAX_POINTS,
        description="Points per recorded event (negative: deduction).",
    )
    max_per_year: int | None = Field(
        None, ge=1, description="At most this many scoring events per agent per year; null: no cap."
    )


class EnterOnEvent(_Model):
    """Enter the blacklist when an event of a behaviour is recorded."""

    on: BehaviourName = Field(description="The behaviour whose recorded event lists the agent.")


class EnterOnGrade(_Model):
    """Enter the blacklist after ``for_days`` consecutive days in a grade."""

    grade: Label = Field(description="The grade.")
    for_days: int = Field(ge=1, description="Consecutive days in that grade before listing.")


def _enter_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "on" in value:
            return "EnterOnEvent"
        if "grade" in value or "for_days" in value:
            return "EnterOnGrade"
        return None
    if isinstance(value, EnterOnEvent | EnterOnGrade):
        return type(value).__name__
    return None


EnterCondition = Annotated[
    Annotated[EnterOnEvent, Tag("EnterOnEvent")] | Annotated[EnterOnGrade, Tag("EnterOnGrade")],
    Discriminator(
        _enter_kind,
        custom_error_type="enter_condition",
        custom_error_message="expected {on: <behaviour>} or {grade: <grade>, for_days: <days>}",
    ),
]


class Exit(_Model):
    """How agents leave the blacklist."""

    after_days: int | None = Field(
        None, ge=1, description="Days on the list after which the agent leaves; null: never."
    )


class Blacklist(_Model):
    """A list agents enter on an event or a long stay in a grade."""

    enter: list[EnterCondition] = Field(
        min_length=1, description="Conditions, any of which lists an agent."
    )
    exit: Exit = Field(default_factory=Exit, description="When listed agents leave.")


class AppliesTo(_Model):
    """Who a sanction or reward applies to: agents in any of ``grades``, and/or listed agents."""

    grades: list[Label] = Field(default_factory=list, description="Grades it applies to.")
    blacklisted: bool = Field(False, description="Whether it applies to blacklisted agents.")

    @model_validator(mode="after")
    def _something(self) -> AppliesTo:
        if not self.grades and not self.blacklisted:
            raise RegimeFieldError(
                (), "applies to nobody", {}, "grades: [...] and/or blacklisted: true"
            )
        return self


class Sanction(_Model):
    """A sanction (or, under ``rewards``, a reward) and who it applies to."""

    name: Label = Field(description="Name of the sanction or reward.")
    applies_to: AppliesTo = Field(
        description="'blacklisted', or {grades: [...], blacklisted: true|false}."
    )

    @field_validator("applies_to", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # "blacklisted" is shorthand; normalised so the engine sees one shape only.
        if isinstance(value, str):
            if value == "blacklisted":
                return {"blacklisted": True}
            raise RegimeFieldError(
                (), "unknown shorthand", value, "'blacklisted' or {grades: [...], blacklisted: ...}"
            )
        return value


class Network(_Model):
    """The friendship graph and how much friends' scores pull on one's own."""

    degree: int = Field(10, ge=0, le=1000, description="Mean number of friends per agent.")
    liability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Each day a score moves this share of the gap to its friends' mean score.",
    )
    locality: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Share of friends drawn close in id order; the rest uniformly.",
    )


class Group(_Model):
    """A share of the population with its own behaviour rates and matcher errors."""

    name: Label = Field(
        description='Name of the group ("all" is reserved for the whole population).'
    )
    share: float = Field(gt=0, le=1, description="Share of the population in this group.")
    rate_multiplier: dict[BehaviourName, Annotated[float, Field(ge=0, le=MAX_POINTS)]] = Field(
        default_factory=dict,
        description="Per behaviour, a factor on the rate in this group; missing: 1.",
    )
    false_match_multiplier: float = Field(
        1.0,
        ge=0,
        le=MAX_POINTS,
        description="Factor on every observer's false_match_rate for this group's members.",
    )


class Households(_Model):
    """Household structure of the population."""

    mean_size: float = Field(1.0, ge=1, le=20, description="Mean number of people per household.")


class Regime(_Model):
    """A whole regime: what people do, who watches, how it scores, what follows."""

    name: str = Field(pattern=REGIME_NAME, description="Short name, lower case, digits, dashes.")
    description: str = Field("", description="One line that says what the regime is.")
    sources: list[str] = Field(
        default_factory=list, description="Documents or URLs for the figures."
    )
    score: Score = Field(default_factory=Score, description="Initial score and clamps.")
    grades: list[Grade] = Field(min_length=1, description="Tiers, highest first.")
    behaviours: dict[BehaviourName, Behaviour] = Field(
        min_length=1, description="What citizens do, by name."
    )
    observers: list[Observer] = Field(
        default_factory=list, description="Channels, tried in order, that record events."
    )
    rules: list[Rule] = Field(default_factory=list, description="Points per recorded event.")
    blacklist: Blacklist | None = Field(None, description="The list, if the regime has one.")
    sanctions: list[Sanction] = Field(default_factory=list, description="Punishments.")
    rewards: list[Sanction] = Field(default_factory=list, description="Perks.")
    network: Network = Field(default_factory=Network, description="Friendship graph.")
    groups: list[Group] = Field(
        default_factory=lambda: [Group(name="everyone", share=1.0)],
        min_length=1,
        max_length=MAX_GROUPS,
        description="Population groups; shares sum to 1.",
    )
    households: Households = Field(default_factory=Households, description="Households.")

    _source: str = PrivateAttr("")

    @property
    def source(self) -> str:
        """Where the regime was loaded from: a path or ``builtin:<name>``."""
        return self._source

    def __eq__(self, other: object) -> bool:
        # Where a regime came from does not change what it is.
        if not isinstance(other, Regime):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _cross(self) -> Regime:
        self._check_grades()
        known = sorted(self.behaviours)
        allowed_b = ", ".join(known)
        grade_names = [g.name for g in self.grades]
        allowed_g = ", ".join(grade_names)
        _unique(self.observers, "name", "observers", "observer")
        for i, obs in enumerate(self.observers):
            seen: set[str] = set()
            for j, b in enumerate(obs.watches):
                if b not in self.behaviours:
                    raise RegimeFieldError(
                        ("observers", i, "watches", j), "unknown behaviour", b, allowed_b
                    )
                if b in seen:
                    raise RegimeFieldError(
                        ("observers", i, "watches", j),
                        "behaviour listed twice",
                        b,
                        "each behaviour once",
                    )
                seen.add(b)
        for i, rule in enumerate(self.rules):
            if rule.on not in self.behaviours:
                raise RegimeFieldError(("rules", i, "on"), "unknown behaviour", rule.on, allowed_b)
        if self.blacklist is not None:
            for i, cond in enumerate(self.blacklist.enter):
                if isinstance(cond, EnterOnEvent) and cond.on not in self.behaviours:
                    raise RegimeFieldError(
                        ("blacklist", "enter", i, "on"), "unknown behaviour", cond.on, allowed_b
                    )
                if isinstance(cond, EnterOnGrade) and cond.grade not in grade_names:
                    raise RegimeFieldError(
                        ("blacklist", "enter", i, "grade"), "unknown grade", cond.grade, allowed_g
                    )
        seen_s: set[str] = set()
        for where in ("sanctions", "rewards"):
            for i, s in enumerate(getattr(self, where)):
                if s.name in seen_s:
                    raise RegimeFieldError(
                        (where, i, "name"),
                        "duplicate sanction/reward name",
                        s.name,
                        "a name not used by another sanction or reward",
                    )
                seen_s.add(s.name)
                for j, g in enumerate(s.applies_to.grades):
                    if g not in grade_names:
                        raise RegimeFieldError(
                            (where, i, "applies_to", "grades", j), "unknown grade", g, allowed_g
                        )
                if s.applies_to.blacklisted and self.blacklist is None:
                    raise RegimeFieldError(
                        (where, i, "applies_to"),
                        "applies to blacklisted agents but the regime has no blacklist",
                        "blacklisted",
                        "grades only, or add a blacklist",
                    )
        self._check_groups(allowed_b)
        return self

    def _check_grades(self) -> None:
        _unique(self.grades, "name", "grades", "grade")
        last = len(self.grades) - 1
        previous: float | None = None
        for i, grade in enumerate(self.grades):
            if i == last:
                if grade.min is not None:
                    raise RegimeFieldError(
                        ("grades", i, "min"),
                        "the last grade takes everyone else and has no min",
                        grade.min,
                        "no min key on the last grade",
                    )
                continue
            if grade.min is None:
                raise RegimeFieldError(
                    ("grades", i, "min"),
                    "missing min (only the last grade has none)",
                    None,
                    "a number" + (f" < {_num(previous)}" if previous is not None else ""),
                )
            if previous is not None and grade.min >= previous:
                raise RegimeFieldError(
                    ("grades", i, "min"),
                    "grade mins must decrease strictly (highest grade first)",
                    grade.min,
                    f"a number < {_num(previous)}",
                )
            previous = grade.min

    def _check_groups(self, allowed_b: str) -> None:
        _unique(self.groups, "name", "groups", "group")
        for i, group in enumerate(self.groups):
            if group.name == "all":
                raise RegimeFieldError(
                    ("groups", i, "name"),
                    "'all' names the whole population in the metrics",
                    "all",
                    "any other name",
                )
        for i, group in enumerate(self.groups):
            for b in group.rate_multiplier:
                if b not in self.behaviours:
                    raise RegimeFieldError(
                        ("groups", i, "rate_multiplier", b), "unknown behaviour", b, allowed_b
                    )
        total = math.fsum(g.share for g in self.groups)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise RegimeFieldError(
                ("groups",),
                "group shares do not sum to 1",
                round(total, 9),
                f"shares summing to 1 within {SHARE_TOLERANCE:g}",
            )

    def to_yaml(self) -> str:
        """The resolved regime, every default filled in, as YAML 1.2 that
        :func:`scsim.regime.load_regime` reads back to an equal regime."""
        from scsim.regime.loader import dump_yaml

        return dump_yaml(self.model_dump(mode="json"))

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the regime (not of where it came from), so
        runs of the same regime can be recognised whatever file they were read from."""
        canon = json.dumps(
            _canonical(self.model_dump(mode="json")),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> Any:
    # -0.0 == 0.0 in an equal regime, so it must hash the same.
    if isinstance(value, float) and value == 0.0:
        return 0.0
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value
