"""What is counted per district-week, described as data.

A :class:`Measure` is one row of a table: a name and a filter on events (event types, perpetrator
families, target families, major attacks only) plus the quantity summed over the events that pass it
(1 per event, or the event's reported fatalities). :data:`MEASURES` is the standard table; it is data,
not code per measure, and :func:`measure_table` shows it as a frame.

Families come from the actor-family registry (:func:`features.registries.load_actor_families`):
the *perpetrator* of an event is the family of its ``actor1``, its *target* the family of its
``actor2`` ("none" when there is no actor2). A *major attack* is a violent event that passes the
configurable :class:`MajorAttackRule`.

Every per-event quantity is computed once for all events by :func:`event_attributes` (categorical
columns factorised over the distinct actor names, so millions of events cost a few vectorised passes);
:meth:`Measure.weights` then turns the attributes into one weight per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd

from features.registries import ACTOR_FAMILIES, OTHER_FAMILY, classify_actors
from features.schema import VIOLENT_EVENT_TYPES

#: Target family of events without an actor2.
NO_TARGET = "none"
#: Families whose members are security forces (as targets: "attacks on security forces or their positions").
SECURITY_FORCE_FAMILIES: tuple[str, ...] = ("state_forces", "foreign_forces")

MajorRuleName = Literal["fatalities", "military", "either", "both"]
MAJOR_RULES: tuple[str, ...] = ("fatalities", "military", "either", "both")


#: What each source's ``fatalities`` column is (the deaths a major attack is counted on).
DEATHS_BY_SOURCE: dict[str, str] = {
    "acled": "ACLED's reported fatalities (the `fatalities` column: a conservative count, 0 when unknown)",
    "ucdp": "UCDP's best estimate of deaths (`best`: every UCDP GED event is deadly organised violence, "
            "state-based, non-state or one-sided)",
    "simulated": "the simulator's fatalities (no real event)",
}


@dataclass(frozen=True)
class MajorAttackRule:
    """Which violent events are "major attacks".

    ``rule``: "fatalities" (at least ``min_fatalities`` reported deaths), "military" (actor2 is in
    ``military_families``: an attack on security forces or their positions, whatever its toll),
    "either" or "both" of the two. Non-violent events are never major.
    """

    min_fatalities: int = 5
    rule: MajorRuleName = "fatalities"
    military_families: tuple[str, ...] = SECURITY_FORCE_FAMILIES

    def __post_init__(self) -> None:
        if self.rule not in MAJOR_RULES:
            raise ValueError(f"major attack rule must be one of {MAJOR_RULES}, got {self.rule!r}")
        if self.min_fatalities < 0:
            raise ValueError(f"min_fatalities must be >= 0, got {self.min_fatalities}")

    @property
    def uses_targets(self) -> bool:
        return self.rule != "fatalities"

    def describe(self) -> str:
        deadly = f"with {self.min_fatalities} or more fatalities"
        military = "against security forces (actor2 " + " or ".join(self.military_families) + ")"
        return {
            "fatalities": f"violent events {deadly}",
            "military": f"violent events {military}",
            "either": f"violent events {deadly} or {military}",
            "both": f"violent events {deadly} and {military}",
        }[self.rule]

    def definition(self, source: str) -> str:
        """The rule in words for events of ``source`` (which deaths it counts): shown to analysts and in MLflow."""
        deaths = DEATHS_BY_SOURCE.get(source, f"the {source} events' fatalities")
        return f"{self.describe()}, where fatalities are {deaths}"

    def flags(self, violent: np.ndarray, fatalities: np.ndarray, target: pd.Series) -> np.ndarray:
        """Bool per event; ``target`` holds the actor2 families."""
        deadly = fatalities >= self.min_fatalities
        military = target.isin(self.military_families).to_numpy(dtype=bool) if self.uses_targets else deadly
        combined = {"fatalities": deadly, "military": military, "either": deadly | military,
                    "both": deadly & military}[self.rule]
        return violent & combined


@dataclass(frozen=True)
class Measure:
    """A weekly quantity: ``quantity`` summed over the events passing every filter.

    Filters: ``event_types`` (ACLED event types), ``perpetrators`` (actor1 families; empty = any),
    ``targets`` (actor2 families, "none" for no actor2; empty = any), ``major_only`` (only major attacks).
    """

    name: str
    description: str
    quantity: Literal["events", "fatalities"] = "events"
    event_types: tuple[str, ...] = VIOLENT_EVENT_TYPES
    perpetrators: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    major_only: bool = False

    def __post_init__(self) -> None:
        if self.quantity not in ("events", "fatalities"):
            raise ValueError(f"measure {self.name!r}: quantity must be 'events' or 'fatalities'")
        unknown = set(self.perpetrators) - set(ACTOR_FAMILIES)
        unknown |= set(self.targets) - set(ACTOR_FAMILIES) - {NO_TARGET}
        if unknown:
            raise ValueError(f"measure {self.name!r}: unknown families {sorted(unknown)}")

    @property
    def unit(self) -> str:
        return "deaths" if self.quantity == "fatalities" else "events"

    @property
    def needs_families(self) -> bool:
        return bool(self.perpetrators or self.targets)

    def weights(self, attributes: pd.DataFrame) -> np.ndarray:
        """One float64 per event of ``attributes`` (see :func:`event_attributes`): 0 when filtered out."""
        keep = _member(attributes["event_type"], self.event_types)
        if self.perpetrators:
            keep &= _member(attributes["perpetrator"], self.perpetrators)
        if self.targets:
            keep &= _member(attributes["target"], self.targets)
        if self.major_only:
            keep &= attributes["major"].to_numpy(dtype=bool)
        value = attributes["fatalities"].to_numpy(dtype=np.float64) if self.quantity == "fatalities" else 1.0
        return np.where(keep, value, 0.0)


def _member(column: pd.Series, values: tuple[str, ...]) -> np.ndarray:
    """``column.isin(values)`` for a categorical column, through its categories (one lookup per event)."""
    lookup = np.append(column.cat.categories.isin(values), False)  # code -1 (NA) -> last entry
    return lookup[column.cat.codes.to_numpy()]


# ---------------------------------------------------------------------- the standard measure table

#: name -> (ACLED event type, description). Splits of violent events by type.
EVENT_TYPE_SPLITS: dict[str, tuple[str, str]] = {
    "battles": ("Battles", "battles"),
    "explosions": ("Explosions/Remote violence", "explosions/remote violence"),
    "civilian_violence": ("Violence against civilians", "violence against civilians"),
}
#: name -> (actor1 families, description). Splits of violent events by perpetrator.
PERPETRATOR_SPLITS: dict[str, tuple[tuple[str, ...], str]] = {
    "jnim_aq": (("jnim_aq",), "JNIM / al-Qaeda-affiliated groups"),
    "islamic_state": (("islamic_state",), "Islamic State (Sahel / Greater Sahara)"),
    "communal_militia": (("communal_militia",), "communal and self-defence militias"),
    "northern_armed": (("northern_armed",), "northern armed movements (CMA, Plateforme, ...)"),
    "state_forces": (("state_forces",), "national state forces"),
    "foreign_forces": (("foreign_forces",), "foreign and international forces"),
    "other": ((OTHER_FAMILY, "civilians"), "unidentified or other actors"),
}
#: name -> (actor2 families, description). Splits of violent events by target.
TARGET_SPLITS: dict[str, tuple[tuple[str, ...], str]] = {
    "security_forces": (SECURITY_FORCE_FAMILIES, "security forces (state or foreign) or their positions"),
    "civilians": (("civilians",), "civilians"),
}
#: name -> (ACLED event type, description). Non-violent events.
UNREST: dict[str, tuple[str, str]] = {
    "protests": ("Protests", "protests"),
    "riots": ("Riots", "riots"),
    "strategic": ("Strategic developments", "strategic developments"),
}

_VIOLENT = "violent events (battles, explosions/remote violence, violence against civilians)"


def _standard_measures() -> tuple[Measure, ...]:
    rows = [
        Measure("violent_events", _VIOLENT),
        Measure("fatalities", "fatalities in violent events", "fatalities"),
        Measure("major_attacks", "major attacks", major_only=True),
    ]
    for name, (event_type, desc) in EVENT_TYPE_SPLITS.items():
        rows += [Measure(name, desc, event_types=(event_type,)),
                 Measure(f"{name}_fatalities", f"fatalities in {desc}", "fatalities", event_types=(event_type,))]
    for name, (families, desc) in PERPETRATOR_SPLITS.items():
        rows += [Measure(f"by_{name}_events", f"violent events by {desc}", perpetrators=families),
                 Measure(f"by_{name}_fatalities", f"fatalities in violent events by {desc}", "fatalities",
                         perpetrators=families)]
    for name, (families, desc) in TARGET_SPLITS.items():
        rows += [Measure(f"on_{name}_events", f"violent events against {desc}", targets=families),
                 Measure(f"on_{name}_fatalities", f"fatalities in violent events against {desc}", "fatalities",
                         targets=families)]
    rows += [Measure(name, desc, event_types=(event_type,)) for name, (event_type, desc) in UNREST.items()]
    return tuple(rows)


#: The standard measure table (see :func:`measure_table`).
MEASURES: tuple[Measure, ...] = _standard_measures()


def measure_table(measures: tuple[Measure, ...] = MEASURES) -> pd.DataFrame:
    """The measures as a frame: name, description, quantity, event_types, perpetrators, targets, major_only."""
    return pd.DataFrame([asdict(m) for m in measures])


def measures_by_name(measures: tuple[Measure, ...] = MEASURES) -> dict[str, Measure]:
    out: dict[str, Measure] = {}
    for m in measures:
        if m.name in out:
            raise ValueError(f"measure {m.name!r} defined twice")
        out[m.name] = m
    return out


# ---------------------------------------------------------------------- per-event attributes


def _families(names: pd.Series, actor_families, *, missing: str, countries: np.ndarray | None = None) -> pd.Series:
    """Categorical family of each actor name, classified once per distinct name; ``missing`` for NA names.

    ``actor_families``: the registry frame, None (everyone "other"), or, for events of several countries, a
    mapping ISO3 -> that country's frame, each name classified in its event's country (``countries``)."""
    categories = list(ACTOR_FAMILIES) + ([missing] if missing not in ACTOR_FAMILIES else [])
    if isinstance(actor_families, Mapping):
        codes = np.full(len(names), categories.index(OTHER_FAMILY), dtype=np.int64)
        for iso3, frame in actor_families.items():
            mine = countries == iso3
            codes[mine] = _families(names[mine], frame, missing=missing).cat.codes.to_numpy()
        return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=names.index)
    codes, uniques = pd.factorize(names.astype("string"), use_na_sentinel=True)
    if actor_families is None:
        per_name = np.full(len(uniques), OTHER_FAMILY, dtype=object)
    else:
        per_name = classify_actors(pd.Series(uniques, dtype="string"), actor_families).to_numpy(
            dtype=object, na_value=missing)
    category_of = pd.Index(categories).get_indexer(per_name)
    family_codes = np.where(codes >= 0, category_of[codes] if len(uniques) else 0, categories.index(missing))
    return pd.Series(pd.Categorical.from_codes(family_codes, categories=categories), index=names.index)


#: Event columns :func:`event_attributes` reads.
ATTRIBUTE_INPUTS: tuple[str, ...] = ("event_type", "actor1", "actor2", "fatalities")


def event_attributes(
    events: pd.DataFrame,
    actor_families,
    major: MajorAttackRule = MajorAttackRule(),
    countries: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-event inputs of the measure filters, with the index of ``events``.

    Columns: event_type (categorical), perpetrator (actor1 family, categorical; NA actor1 -> "other"),
    target (actor2 family, categorical; NA actor2 -> "none"), fatalities (float64, NA -> 0), major
    (bool, per ``major``). ``actor_families`` is the registry frame; None classifies every actor as
    "other" (for measures that do not split by family); for events of several countries, a mapping ISO3 ->
    frame with ``countries`` the ISO3 of each event's district (each country's own forces are its state forces).
    """
    fatalities = pd.to_numeric(events["fatalities"]).astype("Float64").to_numpy(dtype=np.float64, na_value=0.0)
    event_type = events["event_type"].astype("string").astype("category")
    violent = _member(event_type, VIOLENT_EVENT_TYPES)
    perpetrator = _families(events["actor1"], actor_families, missing=OTHER_FAMILY, countries=countries)
    target = _families(events["actor2"], actor_families, missing=NO_TARGET, countries=countries)
    return pd.DataFrame(
        {
            "event_type": event_type,
            "perpetrator": perpetrator,
            "target": target,
            "fatalities": fatalities,
            "major": major.flags(violent, fatalities, target),
        },
        index=events.index,
    )
