"""Features described as data.

Every feature column comes from a :class:`FeatureSpec` (name, family, description, unit, window,
alignment, and the structured facts the builder knows: measure, spatial scope, statistic, half-life);
builders return a :class:`FeatureBlock` holding the specs and their values as dense
``(n_districts, n_weeks)`` float32 arrays aligned with a :class:`features.panel.Panel`. The feature
catalog (``vigie features --list``) is generated from the specs, never written by hand.

Models choose their columns from the catalog with :func:`select` and :class:`Select` (by family, measure,
scope, statistic, window, half-life), never by parsing names: a name is generated from its spec's facts
(:func:`features.attacks.window_name`) and never read back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

#: Alignment of every feature value of week t: it uses only information dated before t's Monday.
BEFORE_WEEK = "uses events dated before week_start"


@dataclass(frozen=True)
class FeatureSpec:
    """One feature column: what it is, in which unit, and which information of week t it uses.

    ``window_weeks``: the weeks a windowed value covers (the long window of a trend, k for a lag k).
    Structured facts, None when they do not apply (builders fill what they know):

    * ``measure``: what is counted (a :mod:`features.measures` name such as ``violent_events``, or the
      builder's own quantity, e.g. ``force_departures``, ``week_of_year``);
    * ``scope``: where it is counted, one of :data:`features.spatial.SCOPES` (own, neighbours, kernel,
      national);
    * ``statistic``: the time transform: ``sum`` (total of the ``window_weeks`` weeks before week_start),
      ``ewm`` (decayed sum, half-life ``half_life_weeks``), ``lag``, ``weeks_since``, ``trend`` (log ratio of
      the weekly rates of ``short_window_weeks`` and ``window_weeks``), ``any`` (1 when any in the window),
      ``count`` (at week_start), ``sin``/``cos`` (annual harmonics), ``indicator``, ...;
    * ``half_life_weeks``: the half-life of an ``ewm`` (weeks); ``short_window_weeks``: a trend's short window.
    """

    name: str
    family: str
    description: str
    unit: str
    window_weeks: int | None = None
    alignment: str = BEFORE_WEEK
    measure: str | None = None
    scope: str | None = None
    statistic: str | None = None
    half_life_weeks: float | None = None
    short_window_weeks: int | None = None


def _values(value) -> tuple | None:
    """None, or the tuple of accepted values of a :class:`Select` field (a single value or a collection)."""
    if value is None:
        return None
    if isinstance(value, (str, int, float)):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class Select:
    """Which catalog features: a spec matches when every field given here matches (a field given as a
    collection matches any of its values). ``windows`` are matched against ``window_weeks`` and
    ``half_lives`` against ``half_life_weeks``; fields left None match anything.

    ``Select(measure="violent_events", scope="own", statistic="sum", windows=(4, 13))`` designates
    ``violent_events_sum_w4`` and ``violent_events_sum_w13`` when the catalog has them.
    """

    family: str | tuple[str, ...] | None = None
    measure: str | tuple[str, ...] | None = None
    scope: str | tuple[str, ...] | None = None
    statistic: str | tuple[str, ...] | None = None
    windows: int | tuple[int, ...] | None = None
    half_lives: float | tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("family", "measure", "scope", "statistic"):
            object.__setattr__(self, name, _values(self.__dict__[name]))
        object.__setattr__(self, "windows", _values(self.windows))
        half_lives = _values(self.half_lives)
        object.__setattr__(self, "half_lives", None if half_lives is None else tuple(float(h) for h in half_lives))

    def matches(self, spec: FeatureSpec) -> bool:
        return ((self.family is None or spec.family in self.family)
                and (self.measure is None or spec.measure in self.measure)
                and (self.scope is None or spec.scope in self.scope)
                and (self.statistic is None or spec.statistic in self.statistic)
                and (self.windows is None or spec.window_weeks in self.windows)
                and (self.half_lives is None or spec.half_life_weeks in self.half_lives))

    def __str__(self) -> str:
        given = {k: v for k, v in self.__dict__.items() if v is not None}
        return "features with " + ", ".join(f"{k} {v[0] if len(v) == 1 else list(v)}" for k, v in given.items())


class AnyOf:
    """The union of several selectors: a spec matches when one of them matches (in catalog order)."""

    def __init__(self, *selectors: "Select | AnyOf"):
        self.selectors = tuple(selectors)

    def matches(self, spec: FeatureSpec) -> bool:
        return any(s.matches(spec) for s in self.selectors)

    def __eq__(self, other) -> bool:
        return isinstance(other, AnyOf) and other.selectors == self.selectors

    def __hash__(self) -> int:
        return hash(self.selectors)

    def __repr__(self) -> str:
        return f"AnyOf{self.selectors!r}"

    def __str__(self) -> str:
        return " or ".join(str(s) for s in self.selectors)


Selector = Select | AnyOf


def select(specs: Iterable[FeatureSpec], *selectors: Selector, **fields) -> list[FeatureSpec]:
    """The specs of ``specs`` (a catalog) that the selectors designate.

    ``select(catalog, family="trend")`` is ``select(catalog, Select(family="trend"))``. With several
    selectors the result is their matches one selector after the other (catalog order within one), each
    spec once; no selector at all selects the whole catalog. Use :class:`AnyOf` for a union in catalog order.
    """
    specs = list(specs)
    if fields:
        selectors = (*selectors, Select(**fields))
    if not selectors:
        return specs
    out: list[FeatureSpec] = []
    seen: set[str] = set()
    for selector in selectors:
        for spec in specs:
            if spec.name not in seen and selector.matches(spec):
                out.append(spec)
                seen.add(spec.name)
    return out


def names(specs: Sequence[FeatureSpec]) -> list[str]:
    """The column names of ``specs``, in order."""
    return [s.name for s in specs]


@dataclass
class FeatureBlock:
    """Specs and their values; ``values[name]`` has the panel's shape."""

    specs: list[FeatureSpec] = field(default_factory=list)
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, spec: FeatureSpec, value: np.ndarray) -> None:
        if spec.name in self.values:
            raise ValueError(f"feature {spec.name!r} defined twice")
        self.specs.append(spec)
        self.values[spec.name] = np.asarray(value, dtype=np.float32)

    def extend(self, other: "FeatureBlock") -> "FeatureBlock":
        for spec in other.specs:
            self.add(spec, other.values[spec.name])
        return self

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]


def catalog(specs: list[FeatureSpec]) -> pd.DataFrame:
    """The feature catalog: one row per feature with name, family, description, unit, window, alignment."""
    return pd.DataFrame([asdict(s) for s in specs], columns=list(FeatureSpec.__dataclass_fields__))


def catalog_version(specs: list[FeatureSpec]) -> str:
    """A short hash of the catalog: changes whenever a feature is added, removed or redefined."""
    payload = json.dumps([asdict(s) for s in specs], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:12]
