"""The district-week feature table that models learn from: features, targets and their catalog.

Row (d, t) describes district d at the Monday t. Features use only events dated before t; targets
count what happens from t onwards (``target_violent_events_h4`` = violent events in weeks t .. t+3).
The table runs up to and including the *forecast week* (the week being scored), whose targets are unknown.

:class:`FeatureConfig` is the one place that says what is built: the measure table, the recipe of
windowed features (:class:`features.attacks.WindowSet` rows), the spatial kernel, the major-attack
rule and the target horizons. Registries (actor families, foreign deployments, the political calendar)
come in a :class:`Registries` bundle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.attacks import TREND_OFFSET, WEEKS_SINCE_CAP, WindowSet, window_features
from features.country import Country, load_country
from features.forces import foreign_force_features
from features.measures import (
    EVENT_TYPE_SPLITS,
    MAJOR_RULES,
    MEASURES,
    PERPETRATOR_SPLITS,
    TARGET_SPLITS,
    MajorAttackRule,
    Measure,
)
from features.membership import country_features
from features.panel import Panel, build_panel, monday_on_or_before
from features.political import political_features
from features.registries import (
    FOREIGN_FORCES_FILE,
    POLITICAL_CALENDAR_FILE,
    assign_deployments,
    empty_foreign_forces,
    load_actor_families,
    load_foreign_force_actors,
    load_foreign_forces,
    load_political_calendar,
)
from features.seasonality import RAINY_SEASON_MONTHS, seasonality_features
from features.spatial import Scope, spatial_scopes
from features.spec import FeatureBlock, FeatureSpec, catalog, catalog_version
from features.windows import future_sum

log = logging.getLogger("vigie")

KEYS = ["district_code", "week_start"]

#: Windows (weeks) and half-lives (weeks) of the main measures (all violent events, their fatalities).
MAIN_WINDOWS: tuple[int, ...] = (1, 2, 4, 8, 13, 26, 52)
MAIN_HALF_LIVES: tuple[float, ...] = (1, 4, 13, 52)
#: Windows and half-lives of the splits (by type, perpetrator, target) and of the spatial scopes.
SPLIT_WINDOWS: tuple[int, ...] = (4, 13, 52)
SPLIT_HALF_LIVES: tuple[float, ...] = (4, 13)

_TYPE_MEASURES = tuple(f"{t}{q}" for t in EVENT_TYPE_SPLITS for q in ("", "_fatalities"))
_PERPETRATOR_MEASURES = tuple(f"by_{p}_{q}" for p in PERPETRATOR_SPLITS for q in ("events", "fatalities"))
_TARGET_MEASURES = tuple(f"on_{t}_{q}" for t in TARGET_SPLITS for q in ("events", "fatalities"))


def _split(family: str, measures: tuple[str, ...], scope: str = "own") -> WindowSet:
    return WindowSet(family, measures, scope, windows=SPLIT_WINDOWS, half_lives=SPLIT_HALF_LIVES)


#: The default recipe (206 features): every window for the main measures, a subset for the splits,
#: neighbours / distance kernel / national totals for the main measures, time since, trends.
#: Protests, riots and strategic developments are measures too, but their features come with the
#: political features (:mod:`features.political`), not from this recipe.
DEFAULT_RECIPE: tuple[WindowSet, ...] = (
    WindowSet("recent_attacks", ("violent_events", "fatalities"), windows=MAIN_WINDOWS, half_lives=MAIN_HALF_LIVES),
    _split("recent_attacks", ("major_attacks",)),
    _split("event_types", _TYPE_MEASURES),
    _split("perpetrators", _PERPETRATOR_MEASURES),
    _split("targets", _TARGET_MEASURES),
    _split("neighbours", ("violent_events", "fatalities", "major_attacks", "by_jnim_aq_events",
                          "by_islamic_state_events"), "neighbours"),
    _split("distance_weighted", ("violent_events", "fatalities"), "kernel"),
    _split("national", ("violent_events", "fatalities", "major_attacks"), "national"),
    WindowSet("time_since", ("violent_events", "major_attacks", "on_security_forces_events"), weeks_since=True),
    WindowSet("time_since", ("violent_events",), "neighbours", weeks_since=True),
    WindowSet("trend", ("violent_events", "fatalities"), trends=((4, 52), (13, 52))),
    WindowSet("trend", ("violent_events",), "neighbours", trends=((4, 52),)),
)


@dataclass(frozen=True)
class FeatureConfig:
    """What to build. Units are weeks, except the kernel (km) and the major-attack threshold (fatalities).

    Major attacks (the ``major_attacks`` measure and the ``target_major_attack_h*`` targets): a violent
    event with at least ``major_min_fatalities`` fatalities, or (``major_military_targets``, as in the
    settings' ``major_attack.military_targets``) also any violent event against security forces (actor2
    state or foreign forces). ``major_rule`` overrides that choice when given: "fatalities",
    "military", "either" or "both" (see :class:`features.measures.MajorAttackRule`).
    """

    horizons: tuple[int, ...] = (1, 4, 13)
    target_measures: tuple[str, ...] = ("violent_events", "fatalities")
    major_min_fatalities: int = 5
    major_military_targets: bool = False
    major_rule: str | None = None
    measures: tuple[Measure, ...] = MEASURES
    recipe: tuple[WindowSet, ...] = DEFAULT_RECIPE
    kernel_scale_km: float = 100.0
    kernel_radius_km: float = 200.0
    weeks_since_cap: int = WEEKS_SINCE_CAP
    trend_offset: float = TREND_OFFSET
    seasonality: bool = True
    rainy_season_months: tuple[int, ...] = RAINY_SEASON_MONTHS  #: the country's (features.country); () for none
    foreign_forces: bool = True  #: foreign-force features, when the registries hold deployments
    political: bool = True  #: political-calendar features, when the registries hold a calendar

    def __post_init__(self) -> None:
        if self.major_rule is not None and self.major_rule not in MAJOR_RULES:
            raise ValueError(f"major_rule must be one of {MAJOR_RULES} or None, got {self.major_rule!r}")
        if self.major_rule == "fatalities" and self.major_military_targets:
            raise ValueError("major_rule='fatalities' contradicts major_military_targets=True")
        if not self.horizons or min(self.horizons) < 1:
            raise ValueError(f"horizons must be >= 1, got {self.horizons}")
        known = {m.name for m in self.measures}
        if len(known) != len(self.measures):
            raise ValueError("measure names must be unique")
        if "major_attacks" not in known:
            raise ValueError("the measure table needs a 'major_attacks' measure (major-attack targets)")
        wanted = set(self.target_measures) | {m for row in self.recipe for m in row.measures}
        if wanted - known:
            raise ValueError(f"unknown measures in the config: {sorted(wanted - known)}")

    @property
    def major(self) -> MajorAttackRule:
        rule = self.major_rule or ("either" if self.major_military_targets else "fatalities")
        return MajorAttackRule(self.major_min_fatalities, rule)

    def panel_measures(self) -> tuple[Measure, ...]:
        """The measures the recipe and the targets read (the panel holds only these)."""
        wanted = set(self.target_measures) | {"major_attacks"} | {m for row in self.recipe for m in row.measures}
        return tuple(m for m in self.measures if m.name in wanted)


class MissingRegistry(RuntimeError):
    """A command needs a registry the country does not have (withdrawals and scenarios: the foreign forces)."""


@dataclass(frozen=True, eq=False)
class Registries:
    """Loaded registry frames (see :mod:`features.registries`).

    ``actor_families`` classifies perpetrators and targets; ``forces`` (foreign deployments, with or
    without a district_code column) and ``calendar`` (political calendar) switch on the foreign-force
    and political features; ``foreign_force_actors`` maps actor names to forces. ``notes``: what was left
    out and why (a country without a foreign-force registry, ...), for the run's warnings.
    """

    actor_families: pd.DataFrame
    foreign_force_actors: pd.DataFrame | None = None
    forces: pd.DataFrame | None = None
    calendar: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def load(cls, country: "str | Country" = "MLI") -> "Registries":
        """The registries of a country (a :class:`features.country.Country`, or the ISO3 code of a shipped one).

        The shared actor registries are filled for the country (its own forces are state forces there). Its
        foreign-force deployments and political calendar are optional: a country without one, or with a file
        that holds a header and no row, gets no feature from it (never constant columns) and a note saying so.
        """
        if isinstance(country, str):
            country = load_country(country)
        notes: list[str] = []
        forces = _optional_registry(country, FOREIGN_FORCES_FILE, load_foreign_forces, "foreign-force", notes)
        calendar = _optional_registry(country, POLITICAL_CALENDAR_FILE, load_political_calendar, "political-calendar",
                                      notes)
        return cls(load_actor_families(country=country), load_foreign_force_actors(country=country), forces, calendar,
                   tuple(notes))

    def require_forces(self, where: str) -> None:
        """Raise :class:`MissingRegistry` when there are no deployments (``where``: the country, for the message)."""
        if self.forces is None:
            raise MissingRegistry(f"{where} has no foreign-force registry ({FOREIGN_FORCES_FILE}, or it holds no "
                                  "row): withdrawals and scenarios need one (README, 'Adding a country')")

    def placed_forces(self, gazetteer, *, required: bool = False, placed: bool = True) -> pd.DataFrame:
        """The foreign-force deployments, placed in the gazetteer's districts (``placed``: with district_code).

        A country without a registry gets an empty one, or, when ``required`` (withdrawals and scenarios need
        deployments), a :class:`MissingRegistry` error saying so."""
        if required:
            self.require_forces(gazetteer.country_iso3)
        forces = empty_foreign_forces() if self.forces is None else self.forces
        if not placed or "district_code" in forces.columns:
            return forces
        return assign_deployments(forces, gazetteer.assign)

    @classmethod
    def combine(cls, by_country: dict[str, "Registries"]) -> "Registries":
        """The registries of a regional run (ISO3 -> each country's :meth:`load`): actor registries per country
        (each classifies the events of its own districts), deployments and calendars together with a
        ``country_iso3`` column (deployment ids prefixed ``<ISO3>:``, so two files may use the same ids)."""
        if len(by_country) == 1:
            return next(iter(by_country.values()))

        def stacked(frames: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
            kept = [f.assign(country_iso3=iso3) for iso3, f in frames.items() if f is not None]
            return pd.concat(kept, ignore_index=True) if kept else None

        forces = stacked({iso3: _prefixed_ids(r.forces, iso3) for iso3, r in by_country.items()})
        calendar = stacked({iso3: r.calendar for iso3, r in by_country.items()})
        return cls({iso3: r.actor_families for iso3, r in by_country.items()},
                   {iso3: r.foreign_force_actors for iso3, r in by_country.items()}, forces, calendar,
                   tuple(note for r in by_country.values() for note in r.notes))

    @classmethod
    def for_countries(cls, countries: "Sequence[Country]") -> "Registries":
        """The registries of a run over ``countries``: :meth:`load` of one, :meth:`combine` of several."""
        return cls.combine({c.iso3: cls.load(c) for c in countries})

    @classmethod
    def actors_only(cls) -> "Registries":
        """The shipped actor-family registry alone: no foreign-force or political features."""
        return cls(load_actor_families())


def _prefixed_ids(forces: pd.DataFrame | None, iso3: str) -> pd.DataFrame | None:
    """``forces`` with ``<ISO3>:`` before every deployment id (and the ids of ``replaced_by``)."""
    if forces is None:
        return None
    replaced = forces["replaced_by"].str.split(";").map(
        lambda ids: ";".join(f"{iso3}:{i.strip()}" for i in ids), na_action="ignore").astype("string")
    return forces.assign(deployment_id=iso3 + ":" + forces["deployment_id"].astype("string"), replaced_by=replaced)


def _optional_registry(country: Country, name: str, load, features: str, notes: list[str]) -> pd.DataFrame | None:
    """The country's registry ``name`` read by ``load``, or None (with a note) when it has none or it is empty."""
    path = country.registry_file(name)
    frame = None if path is None else load(path)
    if path is None:
        where = " or ".join(str(f) for f in country.registry_folders)
        note = f"{country.iso3} has no {name} (looked in {where}): the {features} features are left out"
    elif frame.empty:
        note = f"{path} holds no row: the {features} features are left out"
    else:
        return frame
    notes.append(note)
    log.warning("%s", note)
    return None


@dataclass
class FeatureTable:
    """A built table: ``frame`` (district_code, week_start, the features in ``specs`` order, the targets),
    the feature and target specs, the forecast week (= the data cutoff), the panel it was built from,
    the config, and how many input events were dated before the cutoff."""

    frame: pd.DataFrame
    specs: list[FeatureSpec]
    targets: list[str]
    forecast_week: pd.Timestamp
    panel: Panel = field(repr=False)
    target_specs: list[FeatureSpec] = field(default_factory=list)
    config: FeatureConfig = field(default_factory=FeatureConfig, repr=False)
    n_events_used: int = 0  #: events dated before the data cutoff (what the table could see)

    @property
    def feature_names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def data_cutoff(self) -> pd.Timestamp:
        """Events dated on or after this day were not used (equals the forecast week's Monday)."""
        return self.forecast_week

    @property
    def first_week(self) -> pd.Timestamp:
        return pd.Timestamp(self.panel.weeks[0])

    @property
    def catalog(self) -> pd.DataFrame:
        return catalog(self.specs)

    @property
    def target_catalog(self) -> pd.DataFrame:
        return catalog(self.target_specs)

    @property
    def catalog_version(self) -> str:
        return catalog_version(self.specs)

    def training_rows(self, target: str) -> pd.DataFrame:
        """Rows whose target is fully observed (before the forecast week)."""
        return self.frame[self.frame[target].notna()]

    def forecast_rows(self) -> pd.DataFrame:
        return self.frame[self.frame["week_start"] == self.forecast_week]


def target_names(config: FeatureConfig) -> list[str]:
    return [f"target_{m}_h{h}" for m in config.target_measures for h in config.horizons] + [
        f"target_major_attack_h{h}" for h in config.horizons
    ]


def _target_alignment(h: int) -> str:
    return (f"counts events dated in [week_start, week_start + {h} weeks); NaN unless those weeks all closed "
            "before the forecast week")


def build_feature_table(
    events: pd.DataFrame,
    gazetteer,
    *,
    start,
    forecast_week,
    config: FeatureConfig = FeatureConfig(),
    registries: Registries | None = None,
) -> FeatureTable:
    """Features and targets for every district of ``gazetteer`` and every week from ``start`` to ``forecast_week``.

    ``events``: the normalized event table with a district_code column (``Gazetteer.assign``).
    ``gazetteer``: a :class:`features.gazetteer.Gazetteer` (districts, neighbours, centroids).
    Events dated on or after ``forecast_week`` (rounded down to its Monday) are discarded before anything
    is computed, so the table is the same whatever later events the input holds. Events before ``start``
    are not used either: windows are partial over the first weeks.

    ``registries``: None uses the shipped actor-family registry and builds no foreign-force or political
    features; a :class:`Registries` with ``forces`` / ``calendar`` adds them.

    The long frame is built once, its feature columns sharing memory with the builders' 2-D arrays.
    """
    if not (hasattr(gazetteer, "districts") and hasattr(gazetteer, "neighbours")):
        raise TypeError("build_feature_table takes a features.gazetteer.Gazetteer (districts, neighbours, "
                        f"centroids), got {type(gazetteer).__name__}")
    week = monday_on_or_before(forecast_week)
    before = (pd.to_datetime(events["event_date"]) < week).to_numpy(dtype=bool)
    registries = registries if registries is not None else Registries.actors_only()
    districts = pd.Index(gazetteer.districts["district_code"].astype("string"), dtype="string", name="district_code")
    panel = build_panel(events, districts, start=start, end=week + pd.Timedelta(days=7), cutoff=week,
                        measures=config.panel_measures(), actor_families=registries.actor_families, major=config.major,
                        district_countries=gazetteer.district_countries)

    block = FeatureBlock()
    block.extend(window_features(panel, config.recipe, _scopes(config, gazetteer, districts),
                                 weeks_since_cap=config.weeks_since_cap, trend_offset=config.trend_offset))
    if config.seasonality:
        block.extend(seasonality_features(panel, config.rainy_season_months))
    if gazetteer.district_countries is not None:
        block.extend(country_features(panel, gazetteer.country_of(districts).tolist()))
    with_forces = config.foreign_forces and registries.forces is not None
    with_politics = config.political and registries.calendar is not None
    if with_forces or with_politics:
        known = events if before.all() else events.loc[before]
        if with_forces:
            deployments = registries.forces
            if "district_code" not in deployments.columns:
                deployments = assign_deployments(deployments, gazetteer.assign)
            block.extend(foreign_force_features(panel, gazetteer, deployments, known,
                                                 actor_mapping=registries.foreign_force_actors))
        if with_politics:
            countries = None if gazetteer.district_countries is None else gazetteer.country_of(districts)
            block.extend(political_features(panel, registries.calendar, known, district_countries=countries))
        del known

    n_observed = panel.shape[1] - 1  # the last column is the forecast week: nothing of it is known
    targets: dict[str, np.ndarray] = {}
    target_specs: list[FeatureSpec] = []
    for h in config.horizons:
        for m in config.target_measures:
            desc, unit = panel.descriptions[m]
            targets[f"target_{m}_h{h}"] = _observed_future(panel.measures[m], h, n_observed)
            target_specs.append(FeatureSpec(f"target_{m}_h{h}", "target", f"{desc} in weeks week_start .. +{h - 1}",
                                            unit, h, _target_alignment(h)))
        major = _observed_future(panel.measures["major_attacks"], h, n_observed)
        targets[f"target_major_attack_h{h}"] = np.minimum(major, 1)
        target_specs.append(FeatureSpec(f"target_major_attack_h{h}", "target",
                                        f"1 if a major attack ({config.major.describe()}) happens in weeks "
                                        f"week_start .. +{h - 1}, else 0", "indicator", h, _target_alignment(h)))
    order = target_names(config)
    columns: dict[str, object] = panel.long_index_columns()
    columns.update({name: block.values[name].ravel() for name in block.names})
    columns.update({name: targets[name].ravel() for name in order})
    frame = pd.DataFrame(columns, copy=False)
    return FeatureTable(frame, block.specs, order, week, panel, sorted(target_specs, key=lambda s: order.index(s.name)),
                        config, int(before.sum()))


def _scopes(config: FeatureConfig, gazetteer, districts: pd.Index) -> dict[str, Scope]:
    """The spatial scopes the recipe uses (the kernel matrix is built only when needed)."""
    return spatial_scopes(gazetteer, districts, names={row.scope for row in config.recipe},
                          kernel_scale_km=config.kernel_scale_km, kernel_radius_km=config.kernel_radius_km)


def _observed_future(x: np.ndarray, horizon: int, n_observed: int) -> np.ndarray:
    """(n_d, n_w) float32 future sums of weeks t .. t+horizon-1, NaN unless all of them are observed."""
    out = np.full(x.shape, np.nan, dtype=np.float32)
    out[:, :n_observed] = future_sum(x[:, :n_observed], horizon)
    return out


def feature_catalog(gazetteer, country_iso3: str, config: FeatureConfig, panel_start) -> pd.DataFrame:
    """The catalog of the features ``config`` builds for a country (built on an empty two-week panel)."""
    from features.schema import empty_events

    events = empty_events().assign(district_code=pd.Series(dtype="string"))
    week = monday_on_or_before(panel_start) + pd.Timedelta(weeks=2)
    table = build_feature_table(events, gazetteer, start=week - pd.Timedelta(weeks=2), forecast_week=week,
                                config=config, registries=Registries.load(country_iso3))
    return table.catalog
