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
from typing import Annotated, Any, Literal

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

from scsim.limits import EVENT_INDEX_BITS, MAX_DAYS, MAX_POPULATION, MAX_REPRESENTS

__all__ = [
    "MATCHERS",
    "Appeals",
    "AppliesTo",
    "Behaviour",
    "Blacklist",
    "ChilledBy",
    "Cure",
    "Deterrence",
    "Distancing",
    "Enrolment",
    "EnterOnEvent",
    "EnterOnGrade",
    "Exit",
    "FalseAccusations",
    "Gaming",
    "Grade",
    "Group",
    "Households",
    "ListSpec",
    "LowFriendPenalty",
    "LowGrade",
    "Network",
    "Observer",
    "Place",
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
#: Largest number of places (the engine stores the place in a uint8).
MAX_PLACES = 255
#: Most behaviours a regime may have: a 257th could not be told from the first.
MAX_BEHAVIOURS = 1 << EVENT_INDEX_BITS
#: Most observers a regime may have (records observers a world adds included).
MAX_OBSERVERS = 1 << EVENT_INDEX_BITS
#: Most behaviours with ``gaming``: the engine keeps an agent's bots as the bits of
#: one uint32 (``engine.respond``).
MAX_GAMED = 32
#: Largest number of lists (``blacklist`` and ``lists`` together).
MAX_LISTS = 4
#: Longest escalation ladder in a rule's ``points``.
MAX_ESCALATION = 32
#: Tolerance on the sum of group shares.
SHARE_TOLERANCE = 1e-6

#: False-positive identification rate of the NIST FRTE 1:N figures, and the gallery
#: size it was measured on. The per-comparison false-match rate that gives that FPIR
#: on that gallery is ``1 - (1 - FPIR) ** (1 / gallery)``, computed without
#: cancellation (about 2.5e-10).
NIST_FPIR = 0.003
NIST_GALLERY = 12_000_000
_NIST_FMR = -math.expm1(math.log1p(-NIST_FPIR) / NIST_GALLERY)
#: Matcher presets: name -> (detection, false_match_rate). Detection is 1 - FNIR:
#: NIST FRTE 1:N (2026-01), best / median / 90th percentile of developers at FPIR
#: 0.003 on a 12M gallery; NISTIR 8238 rank-1 miss rates of 2018 and 2014. The false
#: match rate is the same for all five; for the NISTIR 8238 presets the FPIR of 0.003
#: is an assumption (those figures are rank-1 miss rates, with no FPIR).
MATCHERS: dict[str, tuple[float, float]] = {
    "nist-frte-2026-best": (1 - 0.0007, _NIST_FMR),
    "nist-frte-2026-median": (1 - 0.011, _NIST_FMR),
    "nist-frte-2026-p90": (1 - 0.068, _NIST_FMR),
    "nistir-8238-2018": (1 - 0.002, _NIST_FMR),
    "nistir-8238-2014": (1 - 0.04, _NIST_FMR),
}
MatcherName = Literal[
    "nist-frte-2026-best",
    "nist-frte-2026-median",
    "nist-frte-2026-p90",
    "nistir-8238-2018",
    "nistir-8238-2014",
]
ObserverKind = Literal["generic", "camera", "gait", "platform", "informant", "records"]

REGIME_NAME = r"^[a-z0-9][a-z0-9-]*$"
BEHAVIOUR_NAME = r"^[a-z_][a-z0-9_]*$"
#: Grade, observer, sanction, reward and group names become parts of metric names
#: (``grade_share.<grade>``), so no dots, spaces or other punctuation.
LABEL = r"^[A-Za-z0-9_][A-Za-z0-9_-]*$"

BehaviourName = Annotated[str, Field(pattern=BEHAVIOUR_NAME)]
Label = Annotated[str, Field(pattern=LABEL)]
Share = Annotated[float, Field(ge=0, le=1)]
Points = Annotated[float, Field(ge=-MAX_POINTS, le=MAX_POINTS)]
Days = Annotated[int, Field(ge=0, le=MAX_DAYS)]


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


class _Aliased(_Model):
    # Keys that are Python words (``from``, ``list``, ``as``) are fields ending in "_";
    # files and dumps use the words.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        serialize_by_alias=True,
        validate_by_name=True,
    )


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _shape(value: Any) -> str | None:
    """Tag of a scalar-or-collection union member: the tag names the member's bare
    type (``float``, ``list``, ``dict``) so the loader can strip it from error paths."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return None


def _one_of(*members: tuple[Any, str], expected: str) -> Any:
    """``Annotated[Union[...], Discriminator]`` over members told apart by shape, so a
    bad value is checked against the one member of its shape only."""
    tagged = [Annotated[tp, Tag(tag)] for tp, tag in members]
    union = tagged[0]
    for member in tagged[1:]:
        union = union | member
    return Annotated[
        union,
        Discriminator(_shape, custom_error_type="shape", custom_error_message=expected),
    ]


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
    unit: Literal["person", "household"] = Field(
        "person",
        description="The scored unit. household: every event recorded against any member "
        "lands on every member; members carry one score.",
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


class Deterrence(_Model):
    """Agents do less of a behaviour the more of its recorded events they see."""

    sensitivity: float = Field(
        gt=0,
        le=MAX_POINTS,
        description="The rate is multiplied by 1 / (1 + sensitivity x perceived x |points|).",
    )
    memory_days: float = Field(
        30.0, gt=0, le=MAX_DAYS, description="Mean life of a seen record (exponential fading)."
    )
    cost: float | None = Field(
        None,
        gt=0,
        le=MAX_POINTS,
        description="Felt cost of one record in points, for a behaviour sanctioned without "
        "points (a public screen, a fine); null: the points its rules cost.",
    )
    seen: Literal["friends", "everyone"] = Field(
        "friends",
        description="friends: records against oneself and one's friends; everyone: the "
        "population's records per capita, as on a public screen.",
    )


class ChilledBy(_Model):
    """A behaviour that is not penalised but shrinks with a penalised neighbour."""

    behaviour: BehaviourName = Field(description="The deterred neighbour behaviour.")
    share: float = Field(
        ge=0, le=1, description="Spill: multiplier = 1 - share x (1 - the neighbour's)."
    )


class Gaming(_Model):
    """Agents take up a cheap rewarded behaviour and automate it (a bot)."""

    uptake: float = Field(
        gt=0, le=1, description="Daily chance of taking it up, per point the event earns."
    )
    rate: float = Field(gt=0, le=100, description="Events a day of an agent who took it up.")
    detected: float = Field(
        0.0, ge=0, le=1, description="Share of those events the regime detects and ignores."
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
    deterrence: Deterrence | None = Field(
        None, description="Agents lower their rate as they see records; null: they do not."
    )
    chilled_by: ChilledBy | None = Field(
        None, description="Shrinks with a deterred neighbour behaviour; null: it does not."
    )
    displaced_to: BehaviourName | None = Field(
        None, description="Events deterred away happen as this behaviour instead; null: none."
    )
    gaming: Gaming | None = Field(None, description="Agents automate it; null: they do not.")


class FalseAccusations(_Model):
    """Reports of events nobody committed (informants)."""

    rate: float = Field(ge=0, le=1, description="False reports per person-day.")
    behaviour: BehaviourName = Field(
        description="The behaviour reported; one of the observer's watches."
    )


Coverage = _one_of(
    (Share, "float"),
    (dict[Label, Share], "dict"),
    expected="expected a number or a mapping {<place>: <number>}",
)


class Observer(_Model):
    """A channel through which the regime learns of events (cameras, courts, informants)."""

    name: Label = Field(description="Name of the observer.")
    watches: list[BehaviourName] = Field(
        min_length=1, description="Behaviours whose events this observer can record."
    )
    kind: ObserverKind = Field(
        "generic", description="What the channel is; a label for reports and docs."
    )
    matcher: MatcherName | None = Field(
        None,
        description="A matcher preset filling detection and false_match_rate unless they "
        "are given (see MATCHERS).",
    )
    coverage: Coverage = Field(
        1.0,
        description="Share of events that happen in view: one number, or per place "
        "(missing places: 0).",
    )
    detection: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Chance an event in view is attributed to its doer; for a searching "
        "observer (a matcher or false_match_rate > 0), 1 - FNIR: the chance a search of an "
        "enrolled doer returns the doer.",
    )
    false_match_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Per comparison (times the doer's group false_match_multiplier); a "
        "search that does not return the doer returns someone else with probability "
        "FPIR = 1 - (1 - false_match_rate * multiplier) ** gallery.",
    )
    gallery: int | None = Field(
        None,
        ge=1,
        description="Number of people each search compares against; null: everyone the "
        "population represents who is enrolled (represents x enrolled).",
    )
    enrolled: Share = Field(
        1.0,
        description="Share of people in the gallery of a searching observer, fixed per "
        "agent; a search of a doer outside it can only return someone else. Ignored by "
        "an observer that does not search.",
    )
    latency_days: int = Field(
        0, ge=0, le=3650, description="Days between an event and its recording."
    )
    capacity_per_day: int | None = Field(
        None,
        ge=0,
        description="Events processed per day; what happens to the rest is `queue`. "
        "null: unlimited.",
    )
    queue: Literal["expire", "wait"] = Field(
        "expire",
        description="Events beyond capacity_per_day expire, or wait for the next day "
        "(oldest first).",
    )
    attribute_error: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of correctly matched events attributed instead to another "
        "member of the doer's household.",
    )
    false_accusations: FalseAccusations | None = Field(
        None, description="Reports of events nobody committed; null: none."
    )
    adaptive: bool = Field(
        False,
        description="Reallocate the mean coverage across places each day in proportion "
        "to the events recorded in each so far (a Polya urn).",
    )

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        # A preset fills what the file leaves out; explicit values win.
        if isinstance(data, dict) and isinstance(data.get("matcher"), str):
            preset = MATCHERS.get(data["matcher"])
            if preset is not None:
                data = dict(data)
                data.setdefault("detection", preset[0])
                data.setdefault("false_match_rate", preset[1])
        return data

    @property
    def searching(self) -> bool:
        """It searches a gallery of faces (a matcher preset or a false-match rate):
        enrolment, mated and non-mated searches and impostors apply to it."""
        return self.matcher is not None or self.false_match_rate > 0


PointsOrLadder = _one_of(
    (Points, "float"),
    (Annotated[list[Points], Field(min_length=1, max_length=MAX_ESCALATION)], "list"),
    expected="expected a number or a list of numbers",
)


class Rule(_Model):
    """Points for each recorded event of a behaviour."""

    on: BehaviourName = Field(description="The behaviour whose recorded events score.")
    points: PointsOrLadder = Field(
        description="Points per recorded event (negative: deduction); a list escalates: "
        "the n-th application within the year gets points[n], the last repeats.",
    )
    max_per_year: int | None = Field(
        None, ge=1, description="At most this many scoring events per agent per year; null: no cap."
    )
    at_most: float | None = Field(
        None,
        ge=-MAX_POINTS,
        le=MAX_POINTS,
        description="After this event's points the score is at most this; null: no cap.",
    )


class EnterOnEvent(_Model):
    """Enter a list when ``count`` recorded events of these behaviours fall within
    ``within_days``."""

    on: list[BehaviourName] = Field(
        min_length=1,
        description="The behaviours whose recorded events list the agent (one name or a list).",
    )
    count: int = Field(1, ge=1, le=1000, description="Recorded events needed.")
    within_days: int | None = Field(
        None,
        ge=1,
        le=MAX_DAYS,
        description="Window in days the events must fall within; required when count > 1.",
    )
    term_days: int | None = Field(
        None,
        ge=1,
        le=MAX_DAYS,
        description="Overrides the list's exit.after_days for agents listed on this ground.",
    )
    serious_share: float = Field(
        0.0, ge=0, le=1, description="Share of those listed on this ground who stay longer."
    )
    serious_extra_days: list[Days] = Field(
        default_factory=lambda: [0, 0],
        min_length=2,
        max_length=2,
        description="[lo, hi]: the serious stay a uniform integer number of days in it longer.",
    )

    @field_validator("on", mode="before")
    @classmethod
    def _one_name(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> EnterOnEvent:
        if self.count > 1 and self.within_days is None:
            raise RegimeFieldError(
                ("within_days",),
                "count > 1 needs a window",
                None,
                "an integer >= 1: the days the count events must fall within",
            )
        lo, hi = self.serious_extra_days
        if lo > hi:
            raise RegimeFieldError(
                ("serious_extra_days",), "lo above hi", [lo, hi], "[lo, hi] with lo <= hi"
            )
        return self


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
        custom_error_message="expected {on: <behaviour>, ...} or "
        "{grade: <grade>, for_days: <days>}",
    ),
]


class Cure(_Model):
    """Listed agents cure (pay) and are then removed, not always and not at once."""

    rate: float = Field(ge=0, le=1, description="Chance per listed day that the agent cures.")
    delay_days: int = Field(
        0, ge=0, le=MAX_DAYS, description="Days from curing to the removal decision."
    )
    removal_probability: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Chance the agent then leaves; otherwise it stays until its term ends.",
    )
    late_removal_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="After a payment not followed by removal, the chance each day that the "
        "listing is removed late; 0: it stays until its term ends.",
    )


class Exit(_Model):
    """How agents leave a list."""

    after_days: int | None = Field(
        None,
        ge=1,
        le=MAX_DAYS,
        description="Days on the list after which the agent leaves; null: never.",
    )
    cure: Cure | None = Field(None, description="Leaving by curing; null: no cure.")
    reset_score: bool = Field(False, description="On leaving, the score returns to score.initial.")


class ListSpec(_Model):
    """A named list agents enter on events or a long stay in a grade."""

    name: Label = Field(description="Name of the list (metric names use it).")
    enter: list[EnterCondition] = Field(
        min_length=1, description="Conditions, any of which lists an agent."
    )
    exit: Exit = Field(default_factory=Exit, description="When listed agents leave.")
    renew: Literal["none", "restart", "extend"] = Field(
        "none",
        description="A new ground while listed: none (the term stands), restart (the "
        "ground's term counts again from that day) or extend (the ground's term is "
        "added to what is left).",
    )


class Blacklist(ListSpec):
    """The list under the ``blacklist:`` key: a list named ``blacklist``."""

    name: Literal["blacklist"] = Field(
        "blacklist", description="Always 'blacklist' under the blacklist: key."
    )


class AppliesTo(_Model):
    """Who a sanction or reward applies to: agents in any of ``grades``, on the
    blacklist, or on any of ``lists``; with ``family``, their other household members
    instead."""

    grades: list[Label] = Field(default_factory=list, description="Grades it applies to.")
    blacklisted: bool = Field(False, description="Whether it applies to blacklisted agents.")
    lists: list[Label] = Field(
        default_factory=list, description="Lists whose members it applies to."
    )
    family: bool = Field(
        False,
        description="It falls on the other members of the household of each agent who "
        "meets the condition, and not on that agent.",
    )
    ages: list[int] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="With family: only the members aged from the first to the second "
        "(whole years, 0 to 79, from a hash of the agent); null: every member.",
    )

    @model_validator(mode="after")
    def _something(self) -> AppliesTo:
        if self.ages is not None and (
            not self.family or not 0 <= self.ages[0] <= self.ages[1] <= 79
        ):
            raise RegimeFieldError(
                ("ages",),
                "ages on a sanction that is not a family one, or out of order",
                list(self.ages),
                "[first, last] with 0 <= first <= last <= 79, and family: true",
            )
        if not self.grades and not self.blacklisted and not self.lists:
            raise RegimeFieldError(
                (),
                "applies to nobody",
                {},
                "grades: [...], blacklisted: true and/or lists: [...]",
            )
        return self


class Sanction(_Model):
    """A sanction (or, under ``rewards``, a reward) and who it applies to."""

    name: Label = Field(description="Name of the sanction or reward.")
    applies_to: AppliesTo = Field(
        description="'blacklisted', or {grades: [...], blacklisted: ..., lists: [...], "
        "family: ...}."
    )
    by: str = Field("", description="The agency that enforces it (airlines, railways...).")

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


class LowGrade(_Model):
    """Friends at or below a grade."""

    low_grade: Label = Field(description="A grade: friends in it or any lower grade.")


def _shun_shape(value: Any) -> str | None:
    # Tags are the members' bare type names, which the loader strips from error paths.
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict | LowGrade):
        return "LowGrade"
    return None


Shunned = Annotated[
    Annotated[list[Label], Tag("list")]
    | Annotated[str, Field(pattern=r"^listed$"), Tag("str")]
    | Annotated[LowGrade, Tag("LowGrade")],
    Discriminator(
        _shun_shape,
        custom_error_type="shape",
        custom_error_message="expected a list of sanction names, 'listed' or {low_grade: <grade>}",
    ),
]


class Distancing(_Aliased):
    """Agents drop ties to friends who are listed, sanctioned or low in grade."""

    rate: float = Field(
        ge=0,
        le=1,
        description="Each day, the chance an agent drops each tie to a friend it shuns.",
    )
    from_: Shunned = Field(
        alias="from",
        description="Whom agents shun: a list of sanction names (friends under any of "
        "them), 'listed' (friends on any list), or {low_grade: <grade>}.",
    )


class LowFriendPenalty(_Model):
    """Points lost each day for each friend at or below a grade."""

    grade: Label = Field(description="Friends in this grade or any lower grade count.")
    points: float = Field(
        gt=0, le=MAX_POINTS, description="Points deducted a day for each such friend."
    )


class Network(_Model):
    """The friendship graph and how much friends' scores pull on one's own."""

    degree: int = Field(10, ge=0, le=1000, description="Mean number of friends per agent.")
    liability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Each day a score moves this share of the gap to its friends' mean score.",
    )
    liability_direction: Literal["both", "down"] = Field(
        "both",
        description="both: friends' mean pulls a score up or down; down: only down (friends "
        "with lower scores cost points, friends with higher ones earn none).",
    )
    locality: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Share of friends drawn close in id order; the rest uniformly.",
    )
    homophily: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Groups live in contiguous id blocks (so close friends share a group) "
        "and a far friend is drawn from one's own group with this chance; 0: groups mix.",
    )
    degree_spread: float = Field(
        0.0,
        ge=0,
        le=3,
        description="Lognormal sigma of each agent's number of far friends (mean kept).",
    )
    distancing: Distancing | None = Field(
        None, description="Dropping ties to shunned friends; null: ties never drop."
    )
    friend_deductions: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of each friend's recorded deduction that lands on an agent too.",
    )
    low_friend_penalty: LowFriendPenalty | None = Field(
        None, description="Points lost a day for each friend at or below a grade; null: none."
    )
    graph: Literal["auto", "stored", "procedural"] = Field(
        "auto",
        description="How friends are kept: stored (CSR arrays, about 44 bytes an agent at "
        "degree 10), procedural (computed from a hash of the agent's id each time they are "
        "read: no memory, but no distancing, friend deductions, low-friend penalty, "
        "deterrence seen by friends, homophily or degree spread), or auto (procedural above "
        "50,000,000 agents when the regime needs none of those).",
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
    accusation_multiplier: float = Field(
        1.0,
        ge=0,
        le=MAX_POINTS,
        description="Weight of this group's members as targets of false accusations.",
    )
    appeal_multiplier: float = Field(
        1.0, ge=0, le=MAX_POINTS, description="Factor on appeals.rate for this group's members."
    )


class Households(_Model):
    """Household structure of the population."""

    mean_size: float = Field(1.0, ge=1, le=20, description="Mean number of people per household.")


class Enrolment(_Model):
    """Who is in the system at all (opt-in schemes)."""

    share: float = Field(1.0, ge=0, le=1, description="Chance each agent is enrolled.")


class Place(_Model):
    """Where agents live; observers' coverage may differ by place."""

    name: Label = Field(description="Name of the place.")
    share: float = Field(gt=0, le=1, description="Share of the population living there.")


class Appeals(_Model):
    """Recorded events that cost points or listed the agent are appealed, and some
    appeals are won."""

    rate: float = Field(
        ge=0, le=1, description="Chance such an event is appealed (times appeal_multiplier)."
    )
    delay_days: int = Field(30, ge=0, le=MAX_DAYS, description="Days to the decision.")
    success_if_false: float = Field(
        0.5, ge=0, le=1, description="Chance an appeal against a false event is won."
    )
    success_if_true: float = Field(
        0.05, ge=0, le=1, description="Chance an appeal against a true event is won."
    )
    undoes: list[Literal["points", "listing"]] = Field(
        default_factory=lambda: ["points", "listing"],
        min_length=1,
        max_length=2,
        description="What a won appeal undoes.",
    )

    @field_validator("undoes")
    @classmethod
    def _once(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each of points, listing at most once")
        return value


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
        min_length=1, max_length=MAX_BEHAVIOURS, description="What citizens do, by name."
    )
    observers: list[Observer] = Field(
        default_factory=list,
        max_length=MAX_OBSERVERS,
        description="Channels, tried in order, that record events.",
    )
    rules: list[Rule] = Field(default_factory=list, description="Points per recorded event.")
    blacklist: Blacklist | None = Field(None, description="The list named blacklist, if any.")
    lists: list[ListSpec] = Field(
        default_factory=list, max_length=MAX_LISTS, description="Further named lists."
    )
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
    enrolment: Enrolment = Field(default_factory=Enrolment, description="Who is enrolled.")
    population: int | None = Field(
        None,
        ge=1,
        le=MAX_POPULATION,
        description="Default population size when the user gives none; null: the tool's.",
    )
    represents: int | None = Field(
        None,
        ge=1,
        le=MAX_REPRESENTS,
        description="How many real people the simulated population stands for (each "
        "agent for represents / population); null: the population itself.",
    )
    places: list[Place] = Field(
        default_factory=lambda: [Place(name="everywhere", share=1.0)],
        min_length=1,
        max_length=MAX_PLACES,
        description="Places agents live in; shares sum to 1.",
    )
    appeals: Appeals | None = Field(None, description="Appeals; null: none.")

    _source: str = PrivateAttr("")
    _raw: Any = PrivateAttr(None)  # the mapping read from the file, comments and all

    @property
    def all_lists(self) -> list[ListSpec]:
        """Every list: the blacklist first if present, then ``lists`` in order."""
        return ([self.blacklist] if self.blacklist is not None else []) + list(self.lists)

    def people_per_agent(self, n: int) -> float:
        """How many real people each of ``n`` agents stands for."""
        return 1.0 if self.represents is None else self.represents / n

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
        allowed_b = ", ".join(sorted(self.behaviours))
        grade_names = [g.name for g in self.grades]
        self._check_places()
        self._check_observers(allowed_b)
        for i, rule in enumerate(self.rules):
            if rule.on not in self.behaviours:
                raise RegimeFieldError(("rules", i, "on"), "unknown behaviour", rule.on, allowed_b)
        self._check_lists(allowed_b, grade_names)
        self._check_acts(grade_names)
        self._check_groups(allowed_b)
        self._check_network(grade_names)
        self._check_responses(allowed_b)
        self._check_gaming()
        return self

    def _check_gaming(self) -> None:
        gamed = [name for name, beh in self.behaviours.items() if beh.gaming is not None]
        if len(gamed) > MAX_GAMED:
            raise RegimeFieldError(
                ("behaviours", gamed[MAX_GAMED], "gaming"),
                f"{len(gamed)} behaviours with gaming",
                gamed[MAX_GAMED],
                f"gaming on at most {MAX_GAMED} behaviours",
            )

    def _check_responses(self, allowed_b: str) -> None:
        points: dict[str, float] = {}
        for rule in self.rules:
            first = rule.points[0] if isinstance(rule.points, list) else rule.points
            points[rule.on] = points.get(rule.on, 0.0) + first
        for name, beh in self.behaviours.items():
            at = ("behaviours", name)
            det = beh.deterrence
            if det is not None and det.cost is None and points.get(name, 0.0) >= 0:
                raise RegimeFieldError(
                    (*at, "deterrence"),
                    "deterrence of a behaviour that costs no points",
                    name,
                    "a behaviour with a rule of negative points, or deterrence.cost",
                )
            chill = beh.chilled_by
            if chill is not None:
                other = self.behaviours.get(chill.behaviour)
                if other is None:
                    raise RegimeFieldError(
                        (*at, "chilled_by", "behaviour"), "unknown behaviour", chill.behaviour,
                        allowed_b,
                    )  # fmt: skip
                if other.deterrence is None or beh.deterrence is not None:
                    raise RegimeFieldError(
                        (*at, "chilled_by", "behaviour"),
                        "chilled by a behaviour without deterrence, or deterred itself",
                        chill.behaviour,
                        "a behaviour with deterrence, on a behaviour without",
                    )
            to = beh.displaced_to
            if to is not None and (to not in self.behaviours or to == name):
                raise RegimeFieldError(
                    (*at, "displaced_to"), "unknown or same behaviour", to, allowed_b
                )
            if to is not None and beh.deterrence is None and beh.chilled_by is None:
                raise RegimeFieldError(
                    (*at, "displaced_to"),
                    "displaced from a behaviour nothing deters",
                    to,
                    "deterrence or chilled_by on the same behaviour",
                )
            if beh.gaming is not None and points.get(name, 0.0) <= 0:
                raise RegimeFieldError(
                    (*at, "gaming"),
                    "gaming of a behaviour that earns no points",
                    name,
                    "a behaviour with a rule of positive points",
                )

    def _check_network(self, grade_names: list[str]) -> None:
        allowed_g = ", ".join(grade_names)
        net = self.network
        if net.low_friend_penalty is not None and net.low_friend_penalty.grade not in grade_names:
            raise RegimeFieldError(
                ("network", "low_friend_penalty", "grade"),
                "unknown grade",
                net.low_friend_penalty.grade,
                allowed_g,
            )
        if net.graph == "procedural":
            needs = stored_edge_keys(self)
            if needs:
                raise RegimeFieldError(
                    ("network", "graph"),
                    f"a procedural graph cannot drop or walk stored ties, which {needs[0]} needs",
                    net.graph,
                    "stored or auto, or a regime without " + ", ".join(needs),
                )
            if net.degree > 255:
                raise RegimeFieldError(
                    ("network", "graph"),
                    f"a procedural graph has at most 255 friends an agent ({net.degree} asked)",
                    net.graph,
                    "stored or auto, or network.degree <= 255",
                )
        if net.distancing is None:
            return
        shun = net.distancing.from_
        where = ("network", "distancing", "from")
        if isinstance(shun, LowGrade) and shun.low_grade not in grade_names:
            raise RegimeFieldError(
                (*where, "low_grade"), "unknown grade", shun.low_grade, allowed_g
            )
        if shun == "listed" and not self.all_lists:
            raise RegimeFieldError(
                where, "shuns listed friends but the regime has no lists", shun, "a list first"
            )
        if isinstance(shun, list):
            names = [s.name for s in self.sanctions]
            for j, name in enumerate(shun):
                if name not in names:
                    raise RegimeFieldError(
                        (*where, j),
                        "unknown sanction",
                        name,
                        ", ".join(names) or "none: the regime has no sanctions",
                    )

    def _check_places(self) -> None:
        _unique(self.places, "name", "places", "place")
        total = math.fsum(p.share for p in self.places)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise RegimeFieldError(
                ("places",),
                "place shares do not sum to 1",
                round(total, 9),
                f"shares summing to 1 within {SHARE_TOLERANCE:g}",
            )

    def _check_observers(self, allowed_b: str) -> None:
        _unique(self.observers, "name", "observers", "observer")
        place_names = [p.name for p in self.places]
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
            if isinstance(obs.coverage, dict):
                for place in obs.coverage:
                    if place not in place_names:
                        raise RegimeFieldError(
                            ("observers", i, "coverage", place),
                            "unknown place",
                            place,
                            ", ".join(place_names),
                        )
            fa = obs.false_accusations
            if fa is not None and fa.behaviour not in obs.watches:
                raise RegimeFieldError(
                    ("observers", i, "false_accusations", "behaviour"),
                    "not a behaviour this observer watches",
                    fa.behaviour,
                    ", ".join(obs.watches),
                )

    def _check_lists(self, allowed_b: str, grade_names: list[str]) -> None:
        allowed_g = ", ".join(grade_names)
        located = [(("blacklist",), self.blacklist)] if self.blacklist is not None else []
        located += [(("lists", i), spec) for i, spec in enumerate(self.lists)]
        if len(located) > MAX_LISTS:
            raise RegimeFieldError(
                ("lists",),
                "too many lists",
                len(located),
                f"at most {MAX_LISTS} lists, blacklist included",
            )
        seen: set[str] = set()
        for where, spec in located:
            if spec.name in seen:
                raise RegimeFieldError(
                    (*where, "name"),
                    "duplicate list name",
                    spec.name,
                    "a list name not used before",
                )
            seen.add(spec.name)
            for i, cond in enumerate(spec.enter):
                if isinstance(cond, EnterOnGrade):
                    if cond.grade not in grade_names:
                        raise RegimeFieldError(
                            (*where, "enter", i, "grade"), "unknown grade", cond.grade, allowed_g
                        )
                    continue
                for j, b in enumerate(cond.on):
                    at = (*where, "enter", i, "on") + ((j,) if len(cond.on) > 1 else ())
                    if b not in self.behaviours:
                        raise RegimeFieldError(at, "unknown behaviour", b, allowed_b)
                    if b in cond.on[:j]:
                        raise RegimeFieldError(
                            at, "behaviour listed twice", b, "each behaviour once"
                        )

    def _check_acts(self, grade_names: list[str]) -> None:
        allowed_g = ", ".join(grade_names)
        list_names = [spec.name for spec in self.all_lists]
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
                for j, name in enumerate(s.applies_to.lists):
                    if name not in list_names:
                        raise RegimeFieldError(
                            (where, i, "applies_to", "lists", j),
                            "unknown list",
                            name,
                            ", ".join(list_names) or "none: the regime has no lists",
                        )
                    if name in s.applies_to.lists[:j]:
                        raise RegimeFieldError(
                            (where, i, "applies_to", "lists", j),
                            "list named twice",
                            name,
                            "each list once",
                        )
                if s.applies_to.blacklisted and "blacklist" not in list_names:
                    raise RegimeFieldError(
                        (where, i, "applies_to"),
                        "applies to blacklisted agents but the regime has no blacklist",
                        "blacklisted",
                        "grades or lists only, or add a list named blacklist",
                    )

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

    def to_yaml(self, comments: bool = False) -> str:
        """The resolved regime, every default filled in, as YAML 1.2 that
        :func:`scsim.regime.load_regime` reads back to an equal regime. With
        ``comments``, a regime read from a file keeps the file's comments (``scsim
        show`` does this, so the ``# guess:`` marks stay)."""
        from scsim.regime.loader import commented_yaml, dump_yaml

        if comments and self._raw is not None:
            return commented_yaml(self._raw, self.model_dump(mode="json"))
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


def stored_edge_keys(regime: Regime) -> list[str]:
    """The keys of a regime that need the graph's ties stored (ties dropped one by one,
    or a graph shaped by groups or by a spread of degrees): a procedural graph has none
    of those."""
    net = regime.network
    keys = [
        ("network.distancing above 64 friends", net.distancing is not None and net.degree > 64),
        ("network.friend_deductions", net.friend_deductions > 0),
        ("network.low_friend_penalty", net.low_friend_penalty is not None),
        ("network.homophily", net.homophily > 0),
        ("network.degree_spread", net.degree_spread > 0),
    ]
    for name, beh in regime.behaviours.items():
        seen = beh.deterrence is not None and beh.deterrence.seen == "friends"
        keys.append((f"behaviours.{name}.deterrence.seen: friends", seen))
    return [k for k, on in keys if on]
