"""A world's day: one population behaves once, every operator observes, scores and
settles it under its own regime, and data moves between them.

    behave (first operator) -> for each operator, in the world's order:
        its records + the flows due today -> score -> settle -> respond -> record
        -> send its flows (records, list entries, grade entries)
    -> joint sanctions -> the cascade metrics

A flow sent on day d arrives on day d + delay_days; with a delay of 0 it reaches an
operator later in the world's order the same day, an earlier one the next day. A
record that was false where it was made stays false where it arrives (its doer is
kept; a wrongful listing or grade arrives with no doer), so every operator's clean
counterfactual leaves out what traces back to a false attribution anywhere.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scsim.core import rng
from scsim.core.lists import list_masks
from scsim.engine.compile import Compiled, compile_regime
from scsim.engine.day import DayLoop, own_errors
from scsim.engine.settle import BY_EVENT, BY_GRADE
from scsim.observe.stage import Events
from scsim.population import Population
from scsim.world import World


class Route(NamedTuple):
    """One compiled flow."""

    index: int
    sender: str
    receiver: str
    kind: str  # events | list | grade
    behaviours: np.ndarray  # events: the sender's behaviours it carries
    as_beh: int  # the receiver's behaviour they arrive as (-1: the same)
    what: int  # list: the list's index; grade: the grade's index
    observer: int  # the receiver's observer named after the sender
    delay: int
    loss: float


class Joint(NamedTuple):
    name: str
    on: str
    list_: int  # -1: a grade sanction
    grade: int
    delay: int
    kept: np.ndarray | None  # bool[n]: the enforcer learns of the agent (None: all)


def world_metric_names(world: World) -> list[str]:
    """The world's own metrics, after every operator's (prefixed) ones."""
    names = []
    for j in world.joint_sanctions:
        names += [f"sanctioned.{j.name}", f"wrongfully_sanctioned.{j.name}"]
    names += ["sanctions_per_listed", "cascade_wrongful"]
    for op, regime in world.regimes.items():
        names += [f"sanctions_per_listed.{op}.{lst.name}" for lst in regime.all_lists]
    return names


class WorldLoop:
    """The operators' day loops over one population, and the flows between them."""

    def __init__(
        self, world: World, pop: Population, seed: int, chunk: int, keep_events: bool = True
    ) -> None:
        self.world, self.pop, self.seed = world, pop, seed
        regimes = world.regimes
        self.order = list(regimes)
        compiled = {name: compile_regime(r, pop.n) for name, r in regimes.items()}
        wrong = _can_wrong(world, compiled)
        self.loops: dict[str, DayLoop] = {}
        for name, regime in regimes.items():
            self.loops[name] = DayLoop(
                regime, compiled[name], pop, seed, chunk, keep_events,
                stream=None if world.single else name, can_wrong=wrong[name],
            )  # fmt: skip
        self.routes = [self._route(i, f) for i, f in enumerate(world.flows)]
        for route in self.routes:
            if route.kind == "list":
                self.loops[route.sender].keep_moves = True
        self.grade_senders = {r.sender for r in self.routes if r.kind == "grade"}
        self.before: dict[str, np.ndarray] = {}
        self.inbox: dict[str, dict[int, list[Events]]] = {name: {} for name in self.order}
        self.joints = [self._joint(j) for j in world.joint_sanctions]
        self.n_groups = len(next(iter(regimes.values())).groups)
        self.world_names = [] if world.single else world_metric_names(world)

    def _route(self, i: int, flow) -> Route:
        send, recv = self.world.regimes[flow.from_], self.world.regimes[flow.to]
        behs = list(send.behaviours)
        carried = np.array([behs.index(b) for b in flow.events or []], dtype=np.int64)
        what = -1
        if flow.list_ is not None:
            what = [x.name for x in send.all_lists].index(flow.list_)
        elif flow.grade is not None:
            what = [g.name for g in send.grades].index(flow.grade)
        recv_behs = list(recv.behaviours)
        return Route(
            i, flow.from_, flow.to, flow.kind, carried,
            recv_behs.index(flow.as_) if flow.as_ is not None else -1, what,
            [o.name for o in recv.observers].index(flow.from_),
            flow.delay_days, flow.loss,
        )  # fmt: skip

    def _joint(self, joint) -> Joint:
        regime = self.world.regimes[joint.on]
        lst = [x.name for x in regime.all_lists].index(joint.list_) if joint.list_ else -1
        grade = [g.name for g in regime.grades].index(joint.grade) if joint.grade else -1
        kept = None
        if joint.loss > 0:
            key = rng.stage_key(self.seed ^ int(rng.name_key(joint.name)) >> 1, 0, rng.JOINT)
            kept = rng.uniforms(key, self.pop.n) >= joint.loss
        return Joint(joint.name, joint.on, lst, grade, joint.delay_days, kept)

    @property
    def first(self) -> DayLoop:
        return self.loops[self.order[0]]

    def step(self, day: int) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Live one day; each operator's metrics (its own names) and the world's."""
        true = self.first.behave(day)
        rows = {}
        for name in self.order:
            loop = self.loops[name]
            if loop is not self.first:
                loop.true_counts[...] = self.first.true_counts
            if name in self.grade_senders:
                self.before[name] = loop.state.grade[0].copy()
            due = self.inbox[name].pop(day, [])
            rows[name] = loop.step(day, true, Events.concat(due) if due else None)
            for route in self.routes:
                if route.sender == name:
                    self._send(route, day)
        return rows, (None if self.world.single else self._world_row())

    def _send(self, route: Route, day: int) -> None:
        loop = self.loops[route.sender]
        st = loop.state
        if route.kind == "events":
            ev = loop.events
            ev = ev.subset(np.isin(ev.beh, route.behaviours))
            beh = ev.beh if route.as_beh < 0 else np.full(ev.attr.size, route.as_beh)
            attr, doer, happened = ev.attr, ev.doer, ev.happened
        else:
            if route.kind == "list":
                codes = (loop.moved_codes >> (2 * route.what)) & 3
                attr = loop.moved[(codes == BY_EVENT) | (codes == BY_GRADE)]
                clean = st.listed[1, route.what, attr] > 0 if st.track_clean else None
            else:
                now, was = st.grade[0], self.before[route.sender]
                attr = np.flatnonzero((now >= route.what) & (was < route.what))
                clean = st.grade[1, attr] >= route.what if st.track_clean else None
            attr = attr.astype(np.int64)
            doer = attr.copy()
            if clean is not None:
                doer[(st.taint[attr] > 0) & ~clean] = -1  # wrongful: nobody did it
            beh = np.full(attr.size, route.as_beh, dtype=np.int64)
            happened = np.full(attr.size, day, dtype=np.int64)
        obs = np.full(attr.size, route.observer, dtype=np.int64)
        sent = Events(attr, doer, beh.astype(np.int64), obs, happened)
        if route.loss > 0 and sent.attr.size:
            key = rng.stage_key(self.seed, day, rng.FLOW) ^ rng.name_key(f"flow{route.index}")
            sent = sent.subset(rng.uniforms(key, sent.attr.size) >= route.loss)
        later = self.order.index(route.receiver) > self.order.index(route.sender)
        arrive = day + (route.delay if later else max(route.delay, 1))
        if sent.attr.size:
            self.inbox[route.receiver].setdefault(arrive, []).append(sent)

    def _world_row(self) -> np.ndarray:
        """Joint sanctions and the cascade, per group with "all" first."""
        group = self.pop.group
        g = self.n_groups
        total = np.zeros(self.pop.n, dtype=np.int32)  # sanctions in force, per agent
        wrong = np.zeros(g, dtype=np.int64)  # (agent, sanction) pairs without cause
        listed = np.zeros(self.pop.n, dtype=np.bool_)
        masks = []
        cols = []
        for name in self.order:
            loop = self.loops[name]
            count, wrong_pairs, mask = _sanctions(loop.c, loop.state)
            total += count
            wrong += np.bincount(group, weights=wrong_pairs, minlength=g).astype(np.int64)
            listed |= mask > 0
            masks.append((mask, loop.c.n_lists))
        for j in self.joints:
            real, clean = _joint_members(j, self.loops[j.on].state)
            total += real
            unfair = real & ~clean
            wrong += np.bincount(group[unfair], minlength=g)
            cols += [np.bincount(group[real], minlength=g), np.bincount(group[unfair], minlength=g)]
        cols = [_with_all(c) for c in cols]
        cols += [self._per_listed(listed, total), _with_all(wrong)]
        for mask, n_lists in masks:
            cols += [self._per_listed((mask >> li) & 1 == 1, total) for li in range(n_lists)]
        return np.column_stack(cols)

    def _per_listed(self, on: np.ndarray, total: np.ndarray) -> np.ndarray:
        """Mean sanctions in force on the agents ``on`` a list, per group and overall."""
        group, g = self.pop.group, self.n_groups
        per = np.bincount(group[on], weights=total[on], minlength=g)
        with np.errstate(invalid="ignore", divide="ignore"):
            return _with_all(per) / _with_all(np.bincount(group[on], minlength=g))


def _with_all(per_group: np.ndarray) -> np.ndarray:
    col = np.asarray(per_group, dtype=np.float64)
    return np.concatenate([col.sum(keepdims=True), col])


def _can_wrong(world: World, compiled: dict[str, Compiled]) -> dict[str, bool]:
    """Which operators can hold a false record: their own channels err, or they
    receive records (directly or along a chain of flows) from one that does."""
    wrong = {name: own_errors(c) for name, c in compiled.items()}
    changed = True
    while changed:
        changed = False
        for flow in world.flows:
            if wrong[flow.from_] and not wrong[flow.to]:
                wrong[flow.to] = changed = True
    return wrong


def _sanctions(c: Compiled, st) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per agent: the operator's sanctions in force on it (family ones aside: they
    fall on others), how many of them the clean counterfactual does not have, and the
    mask of the operator's lists it is on."""
    own = c.active[: c.n_sanctions][~c.family[: c.n_sanctions]]  # [S, K, masks]
    mask = list_masks(st.listed[0])
    grade = st.grade[0].astype(np.int64)
    count = own.sum(0, dtype=np.int32)[grade, mask]
    wrong = np.zeros(grade.size)
    if st.track_clean and own.shape[0]:
        idx = np.flatnonzero(st.taint)
        clean_mask = list_masks(st.listed[1][:, idx])
        real = own[:, grade[idx], mask[idx]]
        clean = own[:, st.grade[1, idx].astype(np.int64), clean_mask]
        wrong[idx] = (real & ~clean).sum(0)
    return count, wrong, mask


def _joint_members(j: Joint, st) -> tuple[np.ndarray, np.ndarray]:
    """Who the joint sanction falls on, and who it would fall on in the clean
    counterfactual (the same agents where no false record reached the source)."""

    def members(copy: int) -> np.ndarray:
        if j.list_ >= 0:
            return st.listed[copy, j.list_] > j.delay
        return (st.grade[copy] >= j.grade) & (st.gdays[copy] > j.delay)

    real = members(0)
    clean = real
    if st.track_clean:
        clean = np.where(st.taint > 0, members(1), real)
    if j.kept is not None:
        real, clean = real & j.kept, clean & j.kept
    return real, clean
