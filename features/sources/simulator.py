"""Synthetic conflict events for a gazetteer's districts, written as an ACLED export (older 31-column layout).

The simulator is the quickstart's embedded data, the ground truth for model checks and the generator of
scale benchmarks. Everything random comes from one ``numpy`` Generator tree seeded by ``seed``: the same
inputs and seed give a byte-identical export.

Time
----
Weeks start on Monday. ``start`` is rounded down to its Monday; the simulation holds every *whole* week
whose Sunday is on or before ``end`` (an unfinished last week is left out, as in ``features.panel``).
``burn_in_weeks`` weeks before the first one are simulated and discarded so that the self-exciting state
is already in its stationary regime when the output starts. District-week arrays are
``(n_districts, n_weeks)`` like ``features.panel`` (the recursion runs on a week-major copy).

Model (violent events: Battles, Explosions/Remote violence, Violence against civilians)
----------------------------------------------------------------------------------------
For district d and week w (Monday t_w)::

    log λ[d,w] = μ[d] + s[w] + a·log1p(min(E_own[d,w], C)) + b·log1p(min(E_nbr[d,w], C))
                 + γ_p·P[d,w] + γ_v·V[d,w] + δ·S[w]
    y[d,w]     ~ NegativeBinomial(mean λ[d,w], dispersion k)      Var = λ + λ²/k

* ``μ[d] = log(base_rate) + β·(log pop[d] − median log pop) + σ·u[d] + h·H[d]``: background log rate
  (events per week); u[d] ~ N(0, 1) a district random effect, H[d] = 1 for a few random hot spots.
* ``s[w] = −A·cos(2π (doy(t_w + 3 days) − 228) / 365.25)``: season, lowest mid-August (day 228, the middle
  of the July–September rainy season, ``features.seasonality.RAINY_SEASON_MONTHS``), highest mid-February
  (dry season).
* ``E_own[d,w] = Σ_{j≥1} ρ^(j−1) y[d,w−j]`` with ρ = 0.5^(1/half_life): decayed count of the district's own
  past events (self-excitation, the same quantity as ``features.windows.decayed_sum``);
  recursion ``E_own[·,w+1] = ρ·E_own[·,w] + y[·,w]``.
* ``E_nbr[d,w] = Σ_n ω[d,n] E_own[n,w]``, ω ∝ exp(−distance_km / spillover_range_km) over the district's
  neighbours, rows summing to 1 (spillover).
* ``P[d,w]`` = 1 when a foreign-force deployment of a ``presence_kinds`` kind covers any day of week w;
  ``V[d,w]`` = 1 when P[d,w] = 0 but P was 1 in one of the ``vacuum_weeks`` previous weeks (withdrawal
  vacuum; a handover between forces is no withdrawal). Deployments are the rows of the shipped registry
  by default (below).
* ``S[w] = Σ_j 0.5^((w − k_j) / shock_half_life)`` over national shocks j whose week k_j ≤ w (coups,
  elections, ...; every kind counts equally).

Registries (one source of truth)
--------------------------------
The simulator holds no fact about a country. By default a run takes its deployments from the shipped
foreign-force registry (``features/data/registries/<ISO3>/foreign_forces.csv``, read by
``features.registries.load_foreign_forces``, the file the foreign-force features read) and its national
shocks from the political calendar (``political_calendar.csv``); each registry row is one deployment,
placed in the district containing its base by the gazetteer's rules. A country without registries (a
``Gazetteer.synthetic`` grid) gets random deployments and shocks drawn from the seed, unless the caller
passes its own frames (or empty ones: none). What a run used is in ``SimulationResult.forces`` / ``shocks``
and in ``simulation.json``.

Stability: the excitation terms are capped at C, so λ ≤ exp(max μ + A + (a+b)·log1p(C) + γ⁺ + δ⁺·max S);
``a + b < 1`` (checked) keeps the mean-field map λ ↦ e^{m}(1 + λ/(1−ρ))^{a+b} a contraction for large λ, so
the process settles well below the cap instead of exploding.

Event attributes
----------------
Drawn in bulk for all events (``np.repeat`` over counts): event type from a district-level Dirichlet mix;
perpetrator family (JNIM, Islamic State Sahel, communal militias, state forces, unidentified armed group)
from another district-level mix; target from a table conditional on (type, perpetrator), a foreign force
only where one is present that week; sub-event type; actor names as ACLED writes them in the event's
period ("Military Forces of Mali (2021-)", "Islamic State (Sahel)", ...); fatalities zero with a
type-specific probability, otherwise ``1 + floor(LogNormal(m, s))`` (heavy tail, a few events with 20+);
date uniform within the week; location one of ``points_per_district`` points sampled uniformly inside
the district polygon. Protests, riots and strategic developments are independent Poisson counts with
rate ``rate·(pop/median pop)^elasticity`` per week.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely
from scipy import sparse

from features.gazetteer import Gazetteer
from features.panel import monday_on_or_before
from features.registries import (
    FOREIGN_FORCES_FILE,
    FOREIGN_KINDS,
    POLITICAL_CALENDAR_FILE,
    REGISTRY_DIR,
    load_foreign_forces,
    load_political_calendar,
)
from features.seasonality import RAINY_SEASON_MONTHS
from features.sources.simulated_events import (
    SOURCE_NAME,
    Names,
    acled_table,
    actor_catalogue,
    nonviolent_events,
    violent_events,
)

TRUTH_COLUMNS: tuple[str, ...] = ("district_code", "week_start", "expected_violent_events", "violent_events")

SHOCK_KINDS_RANDOM: tuple[str, ...] = ("coup", "election", "major attack")

_DEFAULT_FORCE_ACTORS = {
    "foreign combat": "Military Forces of France (2017-)",
    "peacekeeping": "UN: United Nations Peacekeeping Forces",
    "training": "EUTM: European Union Training Mission",
    "private military": "Wagner Group",
    "regional": "G5S: G5 Sahel Force (2017-)",
}
_FRANCE = (("", "Military Forces of France (2012-2017)"), ("2017-05-14", "Military Forces of France (2017-)"))
#: How ACLED names each force of the registries (their ``force`` column) as the target of an attack, with
#: the day each name came into use: ACLED renamed the French actor on 2017-05-14 (Barkhane's name
#: changes mid-deployment; that is no withdrawal). A force not listed gets the name of its kind.
FORCE_ACTOR_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "France (Serval)": _FRANCE,
    "France (Barkhane)": _FRANCE,
    "Takuba": _FRANCE,
    "MINUSMA": (("", "MINUSMA: United Nations Multidimensional Integrated Stabilization Mission in Mali (2013-)"),),
    "EUTM Mali": (("", "EUTM Mali: European Union Training Mission Mali"),),
    "G5 Sahel Joint Force": (("", "G5S: G5 Sahel Force (2017-)"),),
    "Wagner Group": (("", "Wagner Group"),),
    "Africa Corps": (("", "Military Forces of Russia (2000-)"),),
}


@dataclass(frozen=True)
class SimulationParams:
    """Parameters of the generative model (see the module docstring for the equations).

    Rates are expected events per district-week; effects are on the log scale (a value x multiplies the
    rate by e^x).
    """

    base_rate: float = 0.12                 #: e^{μ} at the median log population, no random effect (events/week)
    population_elasticity: float = 0.3      #: β: effect of log population on the background log rate
    district_sd: float = 0.7                #: σ: s.d. of the district random effect u[d]
    hot_spot_share: float = 0.06            #: share of districts that are hot spots (at least one)
    hot_spot_effect: float = 1.2            #: h: log-rate bonus of a hot spot
    rainy_season_effect: float = 0.35       #: A: seasonal amplitude, lowest mid-August
    self_excitation: float = 0.35           #: a: weight of log1p(own decayed past counts)
    spillover: float = 0.2                  #: b: weight of log1p(neighbours' decayed past counts)
    excitation_half_life_weeks: float = 4.0  #: half-life of the decayed sums (weeks)
    spillover_range_km: float = 100.0       #: distance scale of neighbour weights exp(-km / range)
    excitation_cap: float = 200.0           #: C: decayed sums are capped here before log1p
    presence_effect: float = 0.5            #: γ_p: log-rate effect of a present foreign force
    vacuum_effect: float = 0.8              #: γ_v: log-rate effect of the weeks after the last force left
    vacuum_weeks: int = 13                  #: how many weeks a withdrawal vacuum lasts
    presence_kinds: tuple[str, ...] = ("foreign combat", "peacekeeping", "private military", "regional")
    shock_effect: float = 0.4               #: δ: log-rate effect of a national shock in its own week
    shock_half_life_weeks: float = 6.0      #: half-life of a shock's effect (weeks)
    dispersion: float = 1.5                 #: k of the negative binomial (Var = λ + λ²/k)
    burn_in_weeks: int = 104                #: weeks simulated before the output starts and discarded
    type_mix: tuple[float, float, float] = (0.40, 0.20, 0.40)  #: mean share of Battles / Explosions / VAC
    type_mix_concentration: float = 20.0    #: Dirichlet concentration of the district type mixes
    perpetrator_mix: tuple[float, float, float, float, float] = (0.35, 0.10, 0.15, 0.20, 0.20)  #: FAMILIES
    perpetrator_mix_concentration: float = 4.0
    fatality_zero_share: tuple[float, float, float] = (0.35, 0.50, 0.40)  #: P(0 deaths) by violent type
    fatality_log_mean: float = 0.6          #: m: non-zero fatalities are 1 + floor(LogNormal(m, s))
    fatality_log_sd: float = 1.2            #: s
    fatality_max: int = 1000
    protest_rate: float = 0.03              #: protests per week at median population
    riot_rate: float = 0.01
    strategic_rate: float = 0.04
    nonviolent_population_elasticity: float = 0.8
    points_per_district: int = 8            #: candidate event locations per district
    random_force_share: float = 0.05        #: share of districts with a random deployment (non-Mali)
    random_shocks_per_year: float = 0.5     #: rate of random national shocks (non-Mali)

    def __post_init__(self) -> None:
        checks = {
            "base_rate > 0": self.base_rate > 0,
            "self_excitation >= 0 and spillover >= 0": self.self_excitation >= 0 and self.spillover >= 0,
            "self_excitation + spillover < 1 (stationarity)": self.self_excitation + self.spillover < 1,
            "half-lives > 0": self.excitation_half_life_weeks > 0 and self.shock_half_life_weeks > 0,
            "excitation_cap > 0": self.excitation_cap > 0,
            "dispersion > 0": self.dispersion > 0,
            "spillover_range_km > 0": self.spillover_range_km > 0,
            "vacuum_weeks >= 0 and burn_in_weeks >= 0": self.vacuum_weeks >= 0 and self.burn_in_weeks >= 0,
            "points_per_district >= 1": self.points_per_district >= 1,
            "0 <= hot_spot_share <= 1": 0 <= self.hot_spot_share <= 1,
            "mixes have 3 and 5 positive shares": len(self.type_mix) == 3 and len(self.perpetrator_mix) == 5
            and min(self.type_mix) > 0 and min(self.perpetrator_mix) > 0,
            "fatality_zero_share in [0, 1]": len(self.fatality_zero_share) == 3
            and all(0 <= p <= 1 for p in self.fatality_zero_share),
            "non-violent rates >= 0": min(self.protest_rate, self.riot_rate, self.strategic_rate) >= 0,
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"invalid SimulationParams: {', '.join(failed)}")


@dataclass(frozen=True)
class SimulationResult:
    """Output of :func:`simulate`.

    ``events``: ACLED older-layout export (:data:`features.sources.simulated_events.ACLED_OLDER_COLUMNS`), sorted by date.
    ``truth``: one row per district-week (district-major): district_code, week_start (Monday),
    expected_violent_events (λ, events/week), violent_events (realised count, = violent rows in ``events``).
    ``district_effects``: district_code, background_log_rate (μ[d]), hot_spot.
    ``forces`` / ``shocks``: the deployments and national shocks the run used.
    ``start`` / ``end``: first Monday and last Sunday covered.
    """

    events: pd.DataFrame
    truth: pd.DataFrame
    district_effects: pd.DataFrame
    forces: pd.DataFrame
    shocks: pd.DataFrame
    seed: int
    params: SimulationParams
    start: date
    end: date
    country_name: str
    country_iso3: str


# --------------------------------------------------------------------------------------------- registries

def registry_forces(country_iso3: str = "MLI", path: Path | None = None) -> pd.DataFrame | None:
    """The shipped foreign-force registry of ``country_iso3`` (or the registry file ``path``), or None when the
    country has none.

    Read by :func:`features.registries.load_foreign_forces` from
    ``features/data/registries/<ISO3>/foreign_forces.csv`` (the file the foreign-force features read: one
    source of truth), one row per foreign or external force and base (the national army's rows are left out:
    the simulated army is everywhere, not at a few bases), with latitude, longitude and ``admin2_hint`` but no
    district; :func:`place_deployments` places them.
    """
    path = path or REGISTRY_DIR / country_iso3.upper() / FOREIGN_FORCES_FILE
    if not path.is_file():
        return None
    forces = load_foreign_forces(path)
    return forces[forces["kind"].isin(FOREIGN_KINDS)].reset_index(drop=True)


def registry_shocks(country_iso3: str = "MLI", path: Path | None = None) -> pd.DataFrame | None:
    """National shocks from the shipped political calendar of ``country_iso3`` (or the calendar file ``path``;
    None when there is none).

    Columns date (datetime64[s]), kind, note (the calendar's ``event``), one row per calendar event (a
    two-round vote is two rows), read by :func:`features.registries.load_political_calendar`. Every kind
    counts equally in S[w].
    """
    path = path or REGISTRY_DIR / country_iso3.upper() / POLITICAL_CALENDAR_FILE
    if not path.is_file():
        return None
    calendar = load_political_calendar(path)
    return pd.DataFrame({"date": calendar["date"], "kind": calendar["kind"], "note": calendar["event"]})


def place_deployments(forces: pd.DataFrame, districts: pd.DataFrame, country_iso3: str) -> pd.DataFrame:
    """Registry deployments (as from :func:`registry_forces`) with the district_code of the district holding them.

    Placed by the gazetteer's rules (:meth:`features.gazetteer.Gazetteer.assign`, as
    :func:`features.registries.assign_deployments` does for the features): the polygon of ``districts``
    containing the base, else ``admin2_hint`` matched to a district name. Rows in none of ``districts``
    are left out, so a run on part of a country keeps the deployments it holds; the other rows and
    their order are kept unchanged. ``districts`` needs district_code, district_name, admin1_name,
    population and geometry with a CRS. Returns a new frame.
    """
    if getattr(districts, "crs", None) is None:  # as in simulate: coordinates without a CRS are WGS84 degrees
        districts = gpd.GeoDataFrame(districts, geometry="geometry", crs="EPSG:4326")
    gazetteer = Gazetteer.from_frames(country_iso3, districts)
    query = pd.DataFrame({
        "latitude": forces["latitude"], "longitude": forces["longitude"],
        "admin1": pd.Series(pd.NA, index=forces.index, dtype="string"),
        "admin2": forces["admin2_hint"].astype("string"),
    }, index=forces.index)
    codes = gazetteer.assign(query)["district_code"]
    return forces.assign(district_code=codes)[codes.notna().to_numpy()]


def _actor_eras(forces: pd.DataFrame) -> list[tuple[tuple[str, str], ...]]:
    """ACLED actor name(s) of each deployment, each with the day it came into use ("" = always).

    The row's ``actor`` when it has one; else :data:`FORCE_ACTOR_NAMES` of its ``force``; else the name
    of its ``kind`` (:data:`_DEFAULT_FORCE_ACTORS`).
    """
    n = len(forces)
    actors = forces["actor"] if "actor" in forces.columns else [None] * n
    names = forces["force"] if "force" in forces.columns else [None] * n
    eras = []
    for actor, force, kind in zip(actors, names, forces["kind"], strict=True):
        if isinstance(actor, str) and actor:
            eras.append((("", actor),))
        elif isinstance(force, str) and force in FORCE_ACTOR_NAMES:
            eras.append(FORCE_ACTOR_NAMES[force])
        else:
            eras.append((("", _DEFAULT_FORCE_ACTORS.get(kind, "Foreign Military Forces")),))
    return eras


def _random_forces(codes: np.ndarray, first: np.datetime64, last: np.datetime64, share: float,
                   rng: np.random.Generator) -> pd.DataFrame:
    """Random deployments: ~share of districts, kinds uniform, 6 months to 10 years, some still ongoing."""
    n = min(len(codes), max(1, round(share * len(codes)))) if share > 0 else 0
    picked = np.sort(rng.choice(len(codes), size=n, replace=False))
    span = int((last - first).astype(int))
    start_days = first.astype("datetime64[D]").astype(np.int64) - 365 + rng.integers(0, span + 365, n)
    end_days = start_days + rng.integers(26 * 7, 520 * 7, n)
    kinds = np.asarray(FOREIGN_KINDS, dtype=object)[rng.integers(0, len(FOREIGN_KINDS), n)]
    end = end_days.astype("datetime64[D]").astype("datetime64[s]")
    end = np.where(end_days > last.astype("datetime64[D]").astype(np.int64), np.datetime64("NaT", "s"), end)
    return pd.DataFrame({
        "district_code": pd.array(codes[picked], dtype="str"),
        "kind": pd.array(kinds, dtype="str"),
        "start": start_days.astype("datetime64[D]").astype("datetime64[s]"),
        "end": end.astype("datetime64[s]"),
        "force": "random deployment",
        "actor": pd.array([_DEFAULT_FORCE_ACTORS[k] for k in kinds], dtype="str"),
        "note": "drawn by the simulator",
    })


def _random_shocks(first: np.datetime64, last: np.datetime64, per_year: float,
                   rng: np.random.Generator) -> pd.DataFrame:
    span = int((last - first).astype(int)) + 1
    n = int(rng.poisson(per_year * span / 365.25))
    days = np.sort(first.astype("datetime64[D]").astype(np.int64) + rng.integers(0, span, n))
    kinds = np.asarray(SHOCK_KINDS_RANDOM, dtype=object)[rng.integers(0, len(SHOCK_KINDS_RANDOM), n)]
    return pd.DataFrame({"date": days.astype("datetime64[D]").astype("datetime64[s]"),
                         "kind": pd.array(kinds, dtype="str"), "note": "drawn by the simulator"})


# ------------------------------------------------------------------------------------------- model maths

def simulation_weeks(start: date, end: date) -> pd.DatetimeIndex:
    """Mondays of the whole weeks in [Monday on or before ``start``, ``end``] (a week needs its Sunday <= end)."""
    first = monday_on_or_before(start)
    last = monday_on_or_before(pd.Timestamp(end) - pd.Timedelta(days=6))  # a week's Monday must be <= end - 6 days
    if last < first:
        raise ValueError(f"no whole week between {start} and {end}")
    return pd.date_range(first, last, freq="7D").astype("datetime64[s]")


def _rainy_season_middle() -> float:
    """Day of year (1 = 1 January, a common year) in the middle of :data:`RAINY_SEASON_MONTHS`: 228 for
    July .. September, halfway between the first day of July (182) and the first day after September (274)."""
    first_day = np.datetime64(f"2001-{min(RAINY_SEASON_MONTHS):02d}", "M").astype("datetime64[D]")
    after_last = (np.datetime64(f"2001-{max(RAINY_SEASON_MONTHS):02d}", "M") + 1).astype("datetime64[D]")
    jan1 = np.datetime64("2001-01-01", "D")
    return ((first_day - jan1).astype(np.int64) + 1 + (after_last - jan1).astype(np.int64) + 1) / 2


#: Day of year of the seasonal trough: the middle of the rainy season of ``features.seasonality``.
SEASON_TROUGH_DOY: float = _rainy_season_middle()


def seasonal_effect(week_starts: np.ndarray, amplitude: float) -> np.ndarray:
    """s[w] = −A·cos(2π(doy(t_w + 3 days) − D)/365.25), D = :data:`SEASON_TROUGH_DOY` (228, mid-August: the
    middle of ``features.seasonality.RAINY_SEASON_MONTHS``): log-rate season, lowest in the rainy season.
    Shape (n_weeks,)."""
    mid = week_starts.astype("datetime64[D]") + np.timedelta64(3, "D")
    doy = (mid - mid.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    return -amplitude * np.cos(2 * np.pi * (doy - SEASON_TROUGH_DOY) / 365.25)


def decay_factor(half_life_weeks: float) -> float:
    """ρ = 0.5 ** (1 / half_life): weight kept by a decayed sum from one week to the next."""
    return 0.5 ** (1.0 / half_life_weeks)


def spillover_matrix(codes: np.ndarray, neighbours: pd.DataFrame, range_km: float) -> sparse.csr_matrix:
    """Row-stochastic (n_districts, n_districts) matrix ω[d, n] ∝ exp(−distance_km / range_km) over neighbours.

    Pairs naming unknown districts and self-pairs are ignored; a district without neighbours has a zero row.
    """
    index = pd.Index(codes)
    i = index.get_indexer(neighbours["district_code"].astype(str))
    j = index.get_indexer(neighbours["neighbour_code"].astype(str))
    keep = (i >= 0) & (j >= 0) & (i != j)
    w = np.exp(-neighbours["distance_km"].to_numpy(dtype=np.float64)[keep] / range_km)
    m = sparse.coo_matrix((w, (i[keep], j[keep])), shape=(len(codes), len(codes))).tocsr()
    m.sum_duplicates()
    row = np.asarray(m.sum(axis=1)).ravel()
    return sparse.diags(np.divide(1.0, row, out=np.zeros_like(row), where=row > 0)) @ m


def presence_matrix(forces: pd.DataFrame, codes: np.ndarray, first_week: np.datetime64, n_weeks: int,
                    kinds: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Which deployment (row position in ``forces``) covers each district-week, among ``kinds``.

    Returns ``present`` (bool) and ``force`` (int, −1 = none; the latest-starting deployment when several
    overlap), both (n_districts, n_weeks). A deployment covers the weeks from the one holding ``start`` to
    the one holding ``end`` (NaT = to the last week).
    """
    d = pd.Index(codes).get_indexer(forces["district_code"].astype(str))
    f0 = np.datetime64(first_week, "D").astype(np.int64)
    s_day = forces["start"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    end = forces["end"].to_numpy(dtype="datetime64[D]")
    s = (s_day - f0) // 7
    e = np.where(np.isnat(end), n_weeks - 1, (end.astype(np.int64) - f0) // 7)
    s, e = np.maximum(s, 0), np.minimum(e, n_weeks - 1)
    rows = np.flatnonzero((d >= 0) & forces["kind"].isin(kinds).to_numpy() & (e >= s))
    lengths = e[rows] - s[rows] + 1
    row_of = np.repeat(rows, lengths)
    week = np.repeat(s[rows], lengths) + np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cell = d[row_of] * n_weeks + week
    order = np.lexsort((row_of, s_day[row_of], cell))
    cell, row_of = cell[order], row_of[order]
    last = np.r_[cell[1:] != cell[:-1], True] if len(cell) else np.zeros(0, bool)
    force = np.full(len(codes) * n_weeks, -1, dtype=np.int64)
    force[cell[last]] = row_of[last]
    force = force.reshape(len(codes), n_weeks)
    return force >= 0, force


def vacuum_matrix(present: np.ndarray, vacuum_weeks: int) -> np.ndarray:
    """V[d, w] = not present[d, w] and present[d, w−j] for some 1 <= j <= vacuum_weeks. (n_districts, n_weeks)."""
    t = np.arange(present.shape[1])
    last = np.maximum.accumulate(np.where(present, t, -(vacuum_weeks + 1) - 1), axis=1)
    return ~present & (t - last <= vacuum_weeks)


def shock_effect(shock_dates: np.ndarray, first_week: np.datetime64, n_weeks: int, half_life_weeks: float) -> np.ndarray:
    """S[w] = Σ_j 0.5^((w − k_j)/half_life) over shocks whose week k_j <= w. Shape (n_weeks,)."""
    k = (shock_dates.astype("datetime64[D]").astype(np.int64) - np.datetime64(first_week, "D").astype(np.int64)) // 7
    lag = np.arange(n_weeks)[None, :] - k[:, None]
    return np.where(lag >= 0, 0.5 ** (np.maximum(lag, 0) / half_life_weeks), 0.0).sum(axis=0)


def background_log_rate(population: np.ndarray, params: SimulationParams,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """μ[d] = log(base_rate) + β(log pop − median log pop) + σ u[d] + h H[d], and the hot-spot flags H."""
    logpop = np.log(np.maximum(population.astype(np.float64), 1.0))
    n = len(population)
    hot = np.zeros(n, dtype=bool)
    n_hot = max(1, round(params.hot_spot_share * n)) if params.hot_spot_share > 0 else 0
    hot[rng.choice(n, size=n_hot, replace=False)] = True
    mu = (np.log(params.base_rate) + params.population_elasticity * (logpop - np.median(logpop))
          + params.district_sd * rng.standard_normal(n) + params.hot_spot_effect * hot)
    return mu, hot


def simulate_counts(log_base: np.ndarray, spill: sparse.csr_matrix, params: SimulationParams,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Run the self-exciting recursion over weeks (each step vectorised over all districts).

    ``log_base`` (n_districts, n_weeks): every log-rate term that does not depend on past counts. Returns
    λ (float64) and realised counts y (int64), both (n_districts, n_weeks); E_own starts at 0.
    """
    base = np.ascontiguousarray(log_base.T)
    rho, cap, k = decay_factor(params.excitation_half_life_weeks), params.excitation_cap, params.dispersion
    lam, y = np.empty_like(base), np.empty(base.shape, dtype=np.int64)
    e_own = np.zeros(base.shape[1])
    for w in range(base.shape[0]):
        e_nbr = spill @ e_own
        lam[w] = np.exp(base[w] + params.self_excitation * np.log1p(np.minimum(e_own, cap))
                        + params.spillover * np.log1p(np.minimum(e_nbr, cap)))
        y[w] = rng.negative_binomial(k, k / (k + lam[w]))
        e_own = rho * e_own + y[w]
    return lam.T, y.T


def sample_points_in_polygons(geometries: np.ndarray, n_points: int, rng: np.random.Generator,
                              decimals: int = 4, max_rounds: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` uniform points inside each polygon by vectorised rejection sampling in bounding boxes.

    Coordinates are rounded to ``decimals`` before the containment test, so the rounded points written to
    the export are inside. A polygon still short after ``max_rounds`` (a sliver) fills up with its
    ``point_on_surface``. Returns lon, lat arrays (n_polygons, n_points), WGS84 degrees.
    """
    geoms = shapely.from_wkb(shapely.to_wkb(np.asarray(geometries, dtype=object)))  # own copies: prepare() marks them
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    n = len(geoms)
    lon, lat = np.full((n, n_points), np.nan), np.full((n, n_points), np.nan)
    filled = np.zeros(n, dtype=np.int64)
    batch = 4 * n_points
    for _ in range(max_rounds):
        todo = np.flatnonzero(filled < n_points)
        if len(todo) == 0:
            break
        who = np.repeat(todo, batch)
        b = bounds[who]
        x = np.round(b[:, 0] + rng.random(len(who)) * (b[:, 2] - b[:, 0]), decimals)
        y = np.round(b[:, 1] + rng.random(len(who)) * (b[:, 3] - b[:, 1]), decimals)
        ok = shapely.contains_xy(geoms[who], x, y)
        who, x, y = who[ok], x[ok], y[ok]
        rank = np.arange(len(who)) - np.searchsorted(who, who)  # position among accepted points of the polygon
        slot = filled[who] + rank
        take = slot < n_points
        lon[who[take], slot[take]], lat[who[take], slot[take]] = x[take], y[take]
        filled = np.minimum(filled + np.bincount(who, minlength=n), n_points)
    short = np.isnan(lon)
    if short.any():
        surface = shapely.point_on_surface(geoms)
        fx, fy = shapely.get_x(surface), shapely.get_y(surface)
        rows = np.nonzero(short)[0]
        lon[short], lat[short] = fx[rows], fy[rows]
    return lon, lat


# ----------------------------------------------------------------------------------------------- simulate

def _resolve_registries(forces: pd.DataFrame | None, shocks: pd.DataFrame | None, districts: pd.DataFrame,
                        first: np.datetime64, last: np.datetime64, country_iso3: str, params: SimulationParams,
                        rng_forces: np.random.Generator,
                        rng_shocks: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The forces and shocks a run uses: copies of the given frames with typed dates, or the defaults.

    Forces default to the country's shipped registry (:func:`registry_forces`, placed in ``districts``)
    and to random deployments when the country has no registry or none of its rows is in ``districts``;
    given forces without a district_code column are placed the same way. Shocks default to the
    country's political calendar (:func:`registry_shocks`), else random shocks.
    """
    if forces is None:
        registry = registry_forces(country_iso3)
        forces = None if registry is None else place_deployments(registry, districts, country_iso3)
        if forces is None or forces.empty:
            forces = _random_forces(districts["district_code"].to_numpy(dtype=object), first, last,
                                    params.random_force_share, rng_forces)
    else:
        if "district_code" not in forces.columns:
            forces = place_deployments(forces, districts, country_iso3)
        forces = forces.copy()
        forces["start"] = pd.to_datetime(forces["start"]).astype("datetime64[s]")
        forces["end"] = pd.to_datetime(forces["end"]).astype("datetime64[s]")
    if shocks is None:
        shocks = registry_shocks(country_iso3)
        if shocks is None:
            shocks = _random_shocks(first, last, params.random_shocks_per_year, rng_shocks)
    else:
        shocks = shocks.copy()
        shocks["date"] = pd.to_datetime(shocks["date"]).astype("datetime64[s]")
    return forces.reset_index(drop=True), shocks.reset_index(drop=True)


def simulate(districts: pd.DataFrame, neighbours: pd.DataFrame, *, start: date, end: date, seed: int = 0,
             params: SimulationParams = SimulationParams(), forces: pd.DataFrame | None = None,
             shocks: pd.DataFrame | None = None, country_name: str = "Mali",
             country_iso3: str = "MLI") -> SimulationResult:
    """Simulate weekly violent-event intensities and an ACLED-format event export for ``districts``.

    ``districts``: district_code, district_name, admin1_name, population, geometry (polygons; reprojected
    to EPSG:4326 if needed). ``neighbours``: district_code, neighbour_code, distance_km.

    ``forces``, the foreign-force deployments: a frame with kind, start, end (NaT = ongoing), optional
    force and actor (ACLED actor name; default from :data:`FORCE_ACTOR_NAMES` by force, else by kind) and
    either district_code or, as the registry has them, latitude, longitude, admin2_hint (placed by
    :func:`place_deployments`). None (the default) = the shipped registry of ``country_iso3``
    (:func:`registry_forces`: ``features/data/registries/MLI/foreign_forces.csv`` for Mali), or random
    deployments for a country without one (e.g. a ``Gazetteer.synthetic`` grid) or when no registry row
    falls in ``districts``; an empty frame = no deployment. Every row is used as given (no row added,
    merged or split): ``SimulationResult.forces`` is that frame with its district_code.

    ``shocks``: date, kind; None = the country's political calendar (:func:`registry_shocks`), random
    shocks for a country without one; an empty frame = none. Inputs are not modified.
    """
    return simulate_region(districts, neighbours, {country_iso3: SimulatedCountry(country_name, forces, shocks)},
                           start=start, end=end, seed=seed, params=params)


@dataclass(frozen=True)
class SimulatedCountry:
    """One country of a simulated region: its name (as ACLED writes it) and its deployments and shocks (None:
    its shipped registry, else random ones; see :func:`simulate`)."""

    name: str
    forces: pd.DataFrame | None = None
    shocks: pd.DataFrame | None = None


def simulate_region(districts: pd.DataFrame, neighbours: pd.DataFrame, countries: dict[str, SimulatedCountry], *,
                    start: date, end: date, seed: int = 0, params: SimulationParams = SimulationParams(),
                    district_countries: pd.Series | None = None) -> SimulationResult:
    """:func:`simulate` over the districts of several countries at once (ISO3 -> :class:`SimulatedCountry`):
    one self-exciting process over all of them, so violence spills over the borders through ``neighbours``
    (which should cross them: :meth:`features.gazetteer.Gazetteer.combine`); each country keeps its own
    deployments, national shocks, actor names and ``country``/``iso3`` columns. ``district_countries``
    (district_code -> ISO3) says whose each district is; None for one country. Event ids run over the region."""
    if len(districts) == 0:
        raise ValueError("simulate needs at least one district")
    gdf = districts
    if getattr(districts, "crs", None) is not None and not districts.crs.equals("EPSG:4326"):
        gdf = districts.to_crs("EPSG:4326")
    gdf = gdf.sort_values("district_code", kind="stable").reset_index(drop=True)
    codes = gdf["district_code"].astype(str).to_numpy(dtype=object)
    population = gdf["population"].to_numpy(dtype=np.float64)
    isos = list(countries)
    owner = (np.full(len(codes), isos[0], dtype=object) if district_countries is None
             else district_countries.reindex(codes).to_numpy(dtype=object))
    if len(isos) > 1 and district_countries is None or not np.isin(owner, isos).all():
        raise ValueError(f"every district needs one of the countries {isos} (district_countries)")
    groups = pd.Index(isos).get_indexer(owner)

    weeks = simulation_weeks(start, end)
    n_w, n_d = len(weeks), len(codes)
    first = weeks[0].to_datetime64().astype("datetime64[D]")
    last = first + np.timedelta64(7 * n_w - 1, "D")
    n_burn, n_vac = params.burn_in_weeks, params.vacuum_weeks
    ext_first = first - np.timedelta64(7 * (n_burn + n_vac), "D")
    n_ext = n_w + n_burn + n_vac

    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    r_back, r_counts, r_violent, r_nonviolent, r_points, r_forces, r_shocks, r_export = streams
    resolved = [_resolve_registries(c.forces, c.shocks, gdf[groups == g], first, last, iso3, params, r_forces,
                                    r_shocks) for g, (iso3, c) in enumerate(countries.items())]
    forces = pd.concat([f for f, _ in resolved], ignore_index=True) if len(resolved) > 1 else resolved[0][0]
    shocks = (pd.concat([sh.assign(country_iso3=iso3) for iso3, (_, sh) in zip(isos, resolved, strict=True)],
                        ignore_index=True) if len(resolved) > 1 else resolved[0][1])

    mu, hot = background_log_rate(population, params, r_back)
    present, force = presence_matrix(forces, codes, ext_first, n_ext, params.presence_kinds)
    vacuum = vacuum_matrix(present, n_vac)[:, n_vac:]
    present, force = present[:, n_vac:], force[:, n_vac:]
    sim_first = ext_first + np.timedelta64(7 * n_vac, "D")
    sim_weeks = sim_first + 7 * np.arange(n_w + n_burn).astype("timedelta64[D]")
    shock = np.stack([shock_effect(sh["date"].to_numpy(dtype="datetime64[D]"), sim_first, n_w + n_burn,
                                   params.shock_half_life_weeks) for _, sh in resolved])
    log_base = (mu[:, None] + seasonal_effect(sim_weeks, params.rainy_season_effect)[None, :]
                + params.presence_effect * present + params.vacuum_effect * vacuum
                + params.shock_effect * shock[groups])
    spill = spillover_matrix(codes, neighbours, params.spillover_range_km)
    lam, y = simulate_counts(log_base, spill, params, r_counts)
    del log_base, vacuum
    lam, y, force = lam[:, n_burn:], y[:, n_burn:], force[:, n_burn:]

    names = Names()
    force_actors = _actor_eras(forces)
    day0 = int(first.astype(np.int64))
    parts = []
    for g, country in enumerate(countries.values()):
        mine = np.flatnonzero(groups == g)
        catalogue = actor_catalogue(country.name)
        violent = violent_events(y[mine], force[mine], force_actors, day0, catalogue, names, params, r_violent)
        other = nonviolent_events(population[mine], n_w, day0, catalogue, names, params, r_nonviolent)
        parts += [{**part, "district": mine[part["district"]]} for part in (violent, other)]
    days = np.concatenate([part["day"] for part in parts])
    order = np.argsort(days, kind="stable")
    ev = {k: np.concatenate([part[k] for part in parts])[order] for k in parts[0]}
    del parts, order
    lon_pts, lat_pts = sample_points_in_polygons(gdf.geometry.to_numpy(), params.points_per_district, r_points)
    country_names = np.array([countries[iso3].name for iso3 in owner], dtype=object)
    table = acled_table(ev, names, gdf, lon_pts, lat_pts, country_names, owner, r_export)
    del ev
    events = table.to_pandas(split_blocks=True, self_destruct=True)
    del table

    truth = pd.DataFrame({
        "district_code": pd.array(np.repeat(codes, n_w), dtype="str"),
        "week_start": np.tile(weeks.to_numpy(), n_d),
        "expected_violent_events": lam.ravel(),
        "violent_events": y.ravel(),
    })
    effects = pd.DataFrame({"district_code": pd.array(codes, dtype="str"), "background_log_rate": mu, "hot_spot": hot})
    return SimulationResult(events=events, truth=truth, district_effects=effects, forces=forces, shocks=shocks,
                            seed=seed, params=params, start=pd.Timestamp(first).date(), end=pd.Timestamp(last).date(),
                            country_name="+".join(c.name for c in countries.values()), country_iso3="+".join(isos))


# --------------------------------------------------------------------------------------------------- I/O

def _fixed_decimals(values: pa.Array, decimals: int = 4) -> pa.Array:
    """Floats as decimals with exactly ``decimals`` decimals (written "15.0200", as ACLED writes coordinates)."""
    rounded = np.round(values.to_numpy(zero_copy_only=False).astype(np.float64), decimals)
    return pa.array(rounded, mask=np.isnan(rounded)).cast(pa.decimal128(12, decimals), safe=False)


def _json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts, dates as "YYYY-MM-DD" and missing values as None."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    return json.loads(out.to_json(orient="records"))


def write_simulation(result: SimulationResult, out_dir: Path) -> dict[str, Path]:
    """Write ``events.csv`` (ACLED export text), ``truth.parquet`` and ``simulation.json`` into ``out_dir``.

    The CSV (pyarrow's writer, streamed in record batches) quotes text fields and writes coordinates with 4
    decimals, as ACLED exports do. Returns
    {"events": path, "truth": path, "metadata": path}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"events": out_dir / "events.csv", "truth": out_dir / "truth.parquet", "metadata": out_dir / "simulation.json"}
    table = pa.Table.from_pandas(result.events, preserve_index=False)
    for col in ("latitude", "longitude"):
        table = table.set_column(table.schema.get_field_index(col), col, _fixed_decimals(table[col].combine_chunks()))
    # Written batch by batch (rows keep their order, memory stays flat); the header unquoted, as ACLED's.
    with open(paths["events"], "wb") as handle:
        handle.write((",".join(table.column_names) + "\n").encode())
        options = pa_csv.WriteOptions(quoting_style="needed", include_header=False)
        with pa_csv.CSVWriter(handle, table.schema, write_options=options) as out:
            for batch in table.to_batches(max_chunksize=200_000):
                out.write_batch(batch)
    result.truth.to_parquet(paths["truth"], index=False)
    meta = {
        "generator": SOURCE_NAME, "seed": result.seed, "params": asdict(result.params),
        "start": result.start.isoformat(), "end": result.end.isoformat(),
        "country_name": result.country_name, "country_iso3": result.country_iso3,
        "n_districts": int(result.truth["district_code"].nunique()),
        "n_weeks": int(result.truth["week_start"].nunique()), "n_events": len(result.events),
        "n_violent_events": int(result.truth["violent_events"].sum()),
        "forces": _json_records(result.forces),
        "shocks": _json_records(result.shocks),
    }
    paths["metadata"].write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths
