"""The world file format: several regimes (operators) over one population, and the
data flows and joint sanctions between them (docs/regime-format.md, "Worlds").

Checks that need only the file are here; checks that need the operators' regimes
(a flow's behaviour, list or grade) are in ``scsim.world.load``, which reads them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, model_validator

from scsim.regime.schema import (
    MAX_POPULATION,
    REGIME_NAME,
    Behaviour,
    BehaviourName,
    Days,
    Group,
    Households,
    Label,
    Place,
    Regime,
    RegimeFieldError,
    Share,
    _Aliased,
    _Model,
    _unique,
)


class Operator(_Model):
    """One scorer in the world: a regime, and overrides of it."""

    regime: str | Regime = Field(
        description="A built-in regime name, a path (relative to the world file), or "
        "the regime itself, inline."
    )
    set: list[str] = Field(
        default_factory=list,
        description="Overrides of that regime, dotted.key=value as `scsim run --set`.",
    )


class Flow(_Aliased):
    """Data one operator receives from another: recorded events, list entries or
    grade entries, which arrive as recorded events of the receiver."""

    from_: Label = Field(alias="from", description="The operator the data comes from.")
    to: Label = Field(description="The operator that receives it.")
    events: list[BehaviourName] | None = Field(
        None, description="The sender's recorded events of these behaviours."
    )
    list_: Label | None = Field(
        None, alias="list", description="Entries onto this list of the sender."
    )
    grade: Label | None = Field(
        None, description="Entries into this grade of the sender, or any lower grade."
    )
    as_: BehaviourName | None = Field(
        None,
        alias="as",
        description="The receiver's behaviour they are recorded as (required for list "
        "and grade; for events, default: the same names).",
    )
    delay_days: Days = Field(0, description="Days on the way.")
    loss: Share = Field(0.0, description="Share of the records lost on the way.")

    @model_validator(mode="after")
    def _one_kind(self) -> Flow:
        given = [k for k in ("events", "list", "grade") if self._kind_value(k) is not None]
        if len(given) != 1:
            raise RegimeFieldError(
                (),
                "a flow carries exactly one of events, list, grade",
                given or None,
                "one of: events, list, grade",
            )
        if given[0] != "events" and self.as_ is None:
            raise RegimeFieldError(
                ("as",),
                f"a {given[0]} flow needs the receiver's behaviour to record it as",
                None,
                "a behaviour name of the receiving operator",
            )
        if self.from_ == self.to:
            raise RegimeFieldError(
                ("to",), "a flow goes to another operator", self.to, "not the sender"
            )
        return self

    def _kind_value(self, kind: str) -> Any:
        return {"events": self.events, "list": self.list_, "grade": self.grade}[kind]

    @property
    def kind(self) -> str:
        return "events" if self.events is not None else "list" if self.list_ else "grade"


class JointSanction(_Aliased):
    """A service denied by one party to anyone on an operator's list or low in its
    grades (airlines enforcing the court's flight bans)."""

    name: Label = Field(description="Name of the sanction (metric names use it).")
    by: str = Field("", description="Who enforces it (airlines, railways...).")
    on: Label = Field(description="The operator whose list or grade it reads.")
    list_: Label | None = Field(None, alias="list", description="Anyone on this list.")
    grade: Label | None = Field(None, description="Anyone in this grade or any lower grade.")
    delay_days: Days = Field(
        0, description="Days before a listing (or a grade, held that long) reaches the enforcer."
    )
    loss: Share = Field(0.0, description="Share of the people the enforcer never learns of.")

    @model_validator(mode="after")
    def _one_kind(self) -> JointSanction:
        if (self.list_ is None) == (self.grade is None):
            raise RegimeFieldError(
                (), "a joint sanction reads exactly one of list, grade", None, "list or grade"
            )
        return self


class World(_Model):
    """Operators over one population; ``scsim.world.load_world`` reads one."""

    name: str = Field(pattern=REGIME_NAME, description="Short name, lower case, digits, dashes.")
    description: str = Field("", description="One line that says what the world is.")
    sources: list[str] = Field(default_factory=list, description="Where the figures come from.")
    population: int | None = Field(
        None, ge=1, le=MAX_POPULATION, description="Default population; null: the first operator's."
    )
    operators: dict[Label, str | Operator] = Field(
        min_length=1,
        description="Name -> regime (a built-in name, a path, or {regime, set}). The "
        "first operator's population keys (groups, places, households, graph) are the "
        "world's unless the world gives its own.",
    )
    behaviours: dict[BehaviourName, Behaviour] = Field(
        default_factory=dict,
        description="Behaviours as the whole population has them; needed where two "
        "operators give one behaviour different rates.",
    )
    groups: list[Group] | None = Field(None, description="Groups; null: the first operator's.")
    places: list[Place] | None = Field(None, description="Places; null: the first operator's.")
    households: Households | None = Field(
        None, description="Households; null: the first operator's."
    )
    flows: list[Flow] = Field(default_factory=list, description="Data flows between operators.")
    joint_sanctions: list[JointSanction] = Field(
        default_factory=list, description="Services denied on another operator's list or grade."
    )

    _source: str = PrivateAttr("")
    _regimes: dict[str, Regime] = PrivateAttr(default_factory=dict)
    _originals: dict[str, Regime] = PrivateAttr(default_factory=dict)
    _raw: Any = PrivateAttr(None)  # the mapping read from the file, comments and all

    @model_validator(mode="after")
    def _cross(self) -> World:
        names = list(self.operators)
        allowed = ", ".join(names)
        for i, flow in enumerate(self.flows):
            for key, name in (("from", flow.from_), ("to", flow.to)):
                if name not in self.operators:
                    raise RegimeFieldError(("flows", i, key), "unknown operator", name, allowed)
        for i, joint in enumerate(self.joint_sanctions):
            if joint.on not in self.operators:
                raise RegimeFieldError(
                    ("joint_sanctions", i, "on"), "unknown operator", joint.on, allowed
                )
        _unique(self.joint_sanctions, "name", "joint_sanctions", "joint sanction")
        return self

    @property
    def regimes(self) -> dict[str, Regime]:
        """Each operator's regime as the engine runs it: the world's behaviours,
        groups, places, households and graph, and one records observer per operator
        that sends it data (named after the sender)."""
        return self._regimes

    @property
    def originals(self) -> dict[str, Regime]:
        """Each operator's regime as read (overrides applied), before the world."""
        return self._originals

    @property
    def source(self) -> str:
        return self._source

    @property
    def single(self) -> bool:
        """A world of one operator without joint sanctions: runs, metrics and frames
        are exactly those of that regime alone (no prefixes, no world metrics)."""
        return len(self.operators) == 1 and not self.joint_sanctions

    def to_yaml(self, comments: bool = False) -> str:
        """The world with every operator's regime inline (overrides applied), as YAML
        1.2 that ``load_world`` reads back to an equal world; with ``comments``, the
        world file's own comments stay (as ``Regime.to_yaml`` keeps a regime's)."""
        from scsim.regime.loader import commented_yaml, dump_yaml

        if comments and self._raw is not None:
            return commented_yaml(self._raw, self._inline())
        return dump_yaml(self._inline())

    def content_hash(self) -> str:
        import hashlib
        import json

        from scsim.regime.schema import _canonical

        canon = json.dumps(_canonical(self._inline()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()

    def _inline(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=True)
        data["operators"] = {
            name: {"regime": regime.model_dump(mode="json")}
            for name, regime in self._originals.items()
        }
        return data
