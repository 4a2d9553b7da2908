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
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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
from features.schema import VIOLENT_EVENT_TYPES
from features.seasonality import RAINY_SEASON_MONTHS

SOURCE_NAME = "Vigie simulator"
_STR = pa.large_string()  # 64-bit offsets: the notes of a few million events pass 2 GB
NOTES_PREFIX = "SIMULATED:"
EVENT_ID_PREFIX = "SIM"

#: ACLED's older (pre-2021) 31-column export, in file order.
ACLED_OLDER_COLUMNS: tuple[str, ...] = (
    "data_id", "iso", "event_id_cnty", "event_id_no_cnty", "event_date", "year", "time_precision",
    "event_type", "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2",
    "inter2", "interaction", "region", "country", "admin1", "admin2", "admin3", "location", "latitude",
    "longitude", "geo_precision", "source", "source_scale", "notes", "fatalities", "timestamp", "iso3",
)

TRUTH_COLUMNS: tuple[str, ...] = ("district_code", "week_start", "expected_violent_events", "violent_events")

#: ISO 3166 numeric code and ACLED region written for known countries; any other ISO3 (e.g. a synthetic
#: gazetteer's "SIM") gets :data:`UNKNOWN_COUNTRY_CODE`: iso 0 (no numeric code) and region "Unknown".
UNKNOWN_COUNTRY_CODE: tuple[int, str] = (0, "Unknown")
COUNTRY_CODES: dict[str, tuple[int, str]] = {
    "MLI": (466, "Western Africa"), "BFA": (854, "Western Africa"), "NER": (562, "Western Africa"),
    "SEN": (686, "Western Africa"), "MRT": (478, "Western Africa"), "GIN": (324, "Western Africa"),
    "CIV": (384, "Western Africa"), "GHA": (288, "Western Africa"), "TGO": (768, "Western Africa"),
    "BEN": (204, "Western Africa"), "NGA": (566, "Western Africa"), "GMB": (270, "Western Africa"),
    "GNB": (624, "Western Africa"), "SLE": (694, "Western Africa"), "LBR": (430, "Western Africa"),
    "TCD": (148, "Middle Africa"), "CMR": (120, "Middle Africa"), "CAF": (140, "Middle Africa"),
    "DZA": (12, "Northern Africa"), "LBY": (434, "Northern Africa"), "SDN": (729, "Northern Africa"),
}

SHOCK_KINDS_RANDOM: tuple[str, ...] = ("coup", "election", "major attack")

# Perpetrator families (order of SimulationParams.perpetrator_mix) and target kinds.
FAMILIES: tuple[str, ...] = ("jnim", "islamic_state", "communal", "state", "unidentified")
TARGETS: tuple[str, ...] = ("civilians", "state", "foreign", "jnim", "islamic_state", "communal", "unidentified", "none")
_INTER = {"state": 1, "jnim": 2, "islamic_state": 2, "unidentified": 3, "communal": 4, "rioters": 5,
          "protesters": 6, "civilians": 7, "foreign": 8, "none": 0}
_STATE = FAMILIES.index("state")

# P(target | event type, perpetrator family): rows Battles / Explosions / VAC, then FAMILIES, then TARGETS.
_TARGET_TABLE = np.array([
    [  # Battles
        [0, .60, .15, 0, .15, .10, 0, 0],      # jnim
        [0, .55, .15, .25, 0, .05, 0, 0],      # islamic_state
        [0, .15, 0, .45, 0, .40, 0, 0],        # communal (a rival militia when communal)
        [0, 0, 0, .50, .25, .15, .10, 0],      # state
        [0, .70, .10, 0, 0, .20, 0, 0],        # unidentified
    ],
    [  # Explosions/Remote violence
        [.15, .45, .15, 0, 0, 0, 0, .25],
        [.15, .45, .15, 0, 0, 0, 0, .25],
        [.30, .30, 0, 0, 0, 0, 0, .40],
        [0, 0, 0, .60, .30, 0, 0, .10],
        [.15, .45, .15, 0, 0, 0, 0, .25],
    ],
    [[1, 0, 0, 0, 0, 0, 0, 0]] * 5,           # Violence against civilians
])

# Sub-event types: P(sub | event type, perpetrator is state forces).
_SUB_EVENTS: dict[str, tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]] = {
    "Battles": ((("Armed clash", .93), ("Non-state actor overtakes territory", .07)),
                (("Armed clash", .93), ("Government regains territory", .07))),
    "Explosions/Remote violence": ((("Remote explosive/landmine/IED", .75), ("Shelling/artillery/missile attack", .18),
                                    ("Suicide bomb", .07)),
                                   (("Air/drone strike", .85), ("Shelling/artillery/missile attack", .15))),
    "Violence against civilians": ((("Attack", .8), ("Abduction/forced disappearance", .2)),
                                   (("Attack", .8), ("Abduction/forced disappearance", .2))),
}
_NONVIOLENT: dict[str, tuple[str, tuple[tuple[str, float], ...]]] = {
    "Protests": ("protesters", (("Peaceful protest", .9), ("Protest with intervention", .1))),
    "Riots": ("rioters", (("Violent demonstration", .75), ("Mob violence", .25))),
    "Strategic developments": ("", (("Looting/property destruction", .35), ("Arrests", .15), ("Agreement", .1),
                                    ("Change to group/activity", .15), ("Disrupted weapons use", .15), ("Other", .1))),
}
_SOURCE_SCALES = ("National", "Subnational", "International", "New media", "Local partner-Other")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
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

    ``events``: ACLED older-layout export (:data:`ACLED_OLDER_COLUMNS`), sorted by date.
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


# --------------------------------------------------------------------------------------- event attributes

@dataclass
class _Names:
    """Interning table: every string of a categorical column is stored once and referenced by index."""

    values: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def id(self, name: str) -> int:
        if name not in self.index:
            self.index[name] = len(self.values)
            self.values.append(name)
        return self.index[name]


def _actor_catalogue(country: str) -> dict[str, list[list[tuple[str, str]]]]:
    """family -> members -> [(valid from ISO date or "", ACLED actor name)], eras sorted by date."""
    mali = country == "Mali"
    communal = ([[("", "Dogon Ethnic Militia (Mali)"), ("2016-12-01", "Dan Na Ambassagou")],
                 [("", "Fulani Ethnic Militia (Mali)")], [("", "Dozo Militia")]] if mali else
                [[("", f"Communal Militia ({country})")], [("", f"Ethnic Militia ({country})")]])
    state = ([[("", "Military Forces of Mali (2002-2012)"), ("2012-03-22", "Military Forces of Mali (2012-2013)"),
               ("2013-09-04", "Military Forces of Mali (2013-2020)"), ("2020-08-18", "Military Forces of Mali (2020-2021)"),
               ("2021-05-24", "Military Forces of Mali (2021-)")]] if mali else [[("", f"Military Forces of {country}")]])
    return {
        "jnim": [[("", "AQIM: Al Qaeda in the Islamic Maghreb"),
                  ("2017-03-02", "JNIM: Group for Support of Islam and Muslims")]],
        "islamic_state": [[("", "MUJAO: Movement for Unity and Jihad in West Africa"),
                           ("2015-05-15", "Islamic State (Greater Sahara)"), ("2022-03-21", "Islamic State (Sahel)")]],
        "communal": communal,
        "state": state,
        "unidentified": [[("", f"Unidentified Armed Group ({country})")]],
        "civilians": [[("", f"Civilians ({country})")]],
        "protesters": [[("", f"Protesters ({country})")]],
        "rioters": [[("", f"Rioters ({country})")]],
    }


def _actor_ids(catalogue: dict, names: _Names, family: np.ndarray, family_names: tuple[str, ...],
               member: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Name index of each (family, member, day), −1 where family_names[family] is "none" or "foreign"."""
    out = np.full(len(family), -1, dtype=np.int64)
    for f, fname in enumerate(family_names):
        for m, eras in enumerate(catalogue.get(fname, [])):
            mask = (family == f) & (member == m)
            if not mask.any():
                continue
            starts = np.array([np.iinfo(np.int64).min if s == "" else np.datetime64(s, "D").astype(np.int64)
                               for s, _ in eras])
            ids = np.array([names.id(n) for _, n in eras])
            out[mask] = ids[np.searchsorted(starts, day[mask], side="right") - 1]
    return out


def _draw_rows(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Category index per row: cum (n, K) cumulative probabilities, u (n,) uniforms."""
    return np.minimum((cum < u[:, None]).sum(axis=1), cum.shape[1] - 1)


def _draw_fixed(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    cum = np.cumsum(probs) / np.sum(probs)
    return np.minimum(np.searchsorted(cum, u, side="right"), len(probs) - 1)


def _fatalities(n: int, zero_share: np.ndarray, params: SimulationParams, rng: np.random.Generator) -> np.ndarray:
    """0 with probability zero_share (per event), else 1 + floor(LogNormal(m, s)), capped at fatality_max."""
    positive = 1 + np.floor(rng.lognormal(params.fatality_log_mean, params.fatality_log_sd, n))
    deaths = np.where(rng.random(n) < zero_share, 0, np.minimum(positive, params.fatality_max))
    return deaths.astype(np.int64)


def _violent_events(y: np.ndarray, force: np.ndarray, force_actors: list, day0: int,
                    catalogue: dict, names: _Names, params: SimulationParams, rng: np.random.Generator) -> dict:
    """Attributes of all violent events; y and force are (n_districts, n_weeks) on the output weeks.

    ``force_actors``: the ACLED actor-name eras of each deployment (:func:`_actor_eras`); an attack on a
    deployment names it as ACLED did on the event's day.
    """
    n_d, n_w = y.shape
    cell = np.repeat(np.arange(n_d * n_w), y.ravel())
    n = len(cell)
    d, w = cell // n_w, cell % n_w
    day = day0 + 7 * w + rng.integers(0, 7, n)
    type_mix = rng.dirichlet(params.type_mix_concentration * np.asarray(params.type_mix) / sum(params.type_mix), n_d)
    perp_mix = rng.dirichlet(params.perpetrator_mix_concentration * np.asarray(params.perpetrator_mix)
                             / sum(params.perpetrator_mix), n_d)
    etype = _draw_rows(np.cumsum(type_mix, axis=1)[d], rng.random(n))
    perp = _draw_rows(np.cumsum(perp_mix, axis=1)[d], rng.random(n))
    target = np.empty(n, dtype=np.int64)
    u = rng.random(n)
    for t in range(len(VIOLENT_EVENT_TYPES)):
        for f in range(len(FAMILIES)):
            mask = (etype == t) & (perp == f)
            target[mask] = _draw_fixed(_TARGET_TABLE[t, f], u[mask])
    event_force = force.ravel()[cell]
    target = np.where((target == TARGETS.index("foreign")) & (event_force < 0), TARGETS.index("state"), target)

    sub_names = [[[s for s, _ in _SUB_EVENTS[t][st]] for st in (0, 1)] for t in VIOLENT_EVENT_TYPES]
    sub = np.empty(n, dtype=np.int64)
    u = rng.random(n)
    for t, tname in enumerate(VIOLENT_EVENT_TYPES):
        for st in (0, 1):
            mask = (etype == t) & ((perp == _STATE) == bool(st))
            options = _SUB_EVENTS[tname][st]
            pick = _draw_fixed(np.array([p for _, p in options]), u[mask])
            sub[mask] = np.array([names.id(s) for s in sub_names[t][st]])[pick]

    n_members = np.array([len(catalogue[f]) for f in FAMILIES])
    member1 = (rng.random(n) * n_members[perp]).astype(np.int64)
    target_family = np.array([FAMILIES.index(t) if t in FAMILIES else -1 for t in TARGETS])[target]
    n_members2 = np.where(target_family >= 0, n_members[np.maximum(target_family, 0)], 1)
    member2 = (rng.random(n) * n_members2).astype(np.int64)
    same = (target_family == perp) & (n_members2 > 1)  # rival member of the same family (communal militias)
    member2 = np.where(same, (member1 + 1 + (rng.random(n) * (n_members2 - 1)).astype(np.int64)) % n_members2, member2)
    actor1 = _actor_ids(catalogue, names, perp, FAMILIES, member1, day)
    actor2 = _actor_ids(catalogue, names, target, TARGETS, member2, day)
    is_foreign = target == TARGETS.index("foreign")
    actor2[is_foreign] = _actor_ids({"forces": force_actors}, names, np.zeros(int(is_foreign.sum()), np.int64),
                                    ("forces",), event_force[is_foreign], day[is_foreign])

    inter_f = np.array([_INTER[f] for f in FAMILIES])
    inter_t = np.array([_INTER[t] for t in TARGETS])
    zero_share = np.asarray(params.fatality_zero_share)[etype]
    zero_share = np.where(sub == names.id("Abduction/forced disappearance"), 1.0, zero_share)
    all_types = [names.id(t) for t in VIOLENT_EVENT_TYPES]
    return {"district": d, "day": day, "event_type": np.array(all_types)[etype], "sub_event_type": sub,
            "actor1": actor1, "actor2": actor2, "inter1": inter_f[perp], "inter2": inter_t[target],
            "fatalities": _fatalities(n, zero_share, params, rng)}


def _nonviolent_events(population: np.ndarray, n_w: int, day0: int, catalogue: dict, names: _Names,
                       params: SimulationParams, rng: np.random.Generator) -> dict:
    """Protests, riots and strategic developments: independent Poisson counts per district-week."""
    rel = np.maximum(population.astype(np.float64), 1.0) / np.median(np.maximum(population, 1.0))
    rel = rel ** params.nonviolent_population_elasticity
    parts = []
    for etype, rate in (("Protests", params.protest_rate), ("Riots", params.riot_rate),
                        ("Strategic developments", params.strategic_rate)):
        counts = rng.poisson(np.broadcast_to((rate * rel)[:, None], (len(population), n_w)))
        cell = np.repeat(np.arange(counts.size), counts.ravel())
        n = len(cell)
        d, w = cell // n_w, cell % n_w
        day = day0 + 7 * w + rng.integers(0, 7, n)
        family_name, options = _NONVIOLENT[etype]
        sub = np.array([names.id(s) for s, _ in options])[_draw_fixed(np.array([p for _, p in options]), rng.random(n))]
        if family_name:
            fam = np.zeros(n, dtype=np.int64)
            actor1 = _actor_ids(catalogue, names, fam, (family_name,), np.zeros(n, dtype=np.int64), day)
            inter1 = np.full(n, _INTER[family_name])
        else:  # strategic developments: an armed actor
            perp = _draw_fixed(np.asarray(params.perpetrator_mix), rng.random(n))
            member = (rng.random(n) * np.array([len(catalogue[f]) for f in FAMILIES])[perp]).astype(np.int64)
            actor1 = _actor_ids(catalogue, names, perp, FAMILIES, member, day)
            inter1 = np.array([_INTER[f] for f in FAMILIES])[perp]
        looting = sub == names.id("Looting/property destruction")
        actor2 = np.where(looting, names.id(catalogue["civilians"][0][0][1]), -1)
        inter2 = np.where(looting, _INTER["civilians"], 0)
        deaths = _fatalities(n, np.full(n, 0.95 if etype == "Riots" else 1.0), params, rng)
        parts.append({"district": d, "day": day, "event_type": np.full(n, names.id(etype)), "sub_event_type": sub,
                      "actor1": actor1, "actor2": actor2, "inter1": inter1, "inter2": inter2, "fatalities": deaths})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _join(*parts, sep: str = "") -> pa.Array:
    """Element-wise concatenation of large-string arrays and str literals (null if any part is null)."""
    parts = [pa.scalar(x, _STR) if isinstance(x, str) else x for x in parts]
    return pc.binary_join_element_wise(*parts, pa.scalar(sep, _STR))


def _constant(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, _STR), n)


def _string_column(names: _Names, ids: np.ndarray) -> pa.Array:
    """Materialise interned strings: ids −1 become null."""
    return pa.array(names.values, type=_STR).take(pa.array(ids, mask=ids < 0, type=pa.int64()))


def _acled_table(ev: dict, names: _Names, districts: pd.DataFrame, lon_pts: np.ndarray, lat_pts: np.ndarray,
                 country_names: np.ndarray, country_codes: np.ndarray, rng: np.random.Generator) -> pa.Table:
    """Assemble the events (already in export order) into ACLED's older 31-column layout, strings built by Arrow.

    ``country_names`` / ``country_codes``: the country name and ISO3 of each district (row of ``districts``)."""
    n = len(ev["day"])
    iso_num = np.array([COUNTRY_CODES.get(c, UNKNOWN_COUNTRY_CODE)[0] for c in country_codes], dtype=np.int64)
    region = np.array([COUNTRY_CODES.get(c, UNKNOWN_COUNTRY_CODE)[1] for c in country_codes], dtype=object)
    ids = np.arange(1, n + 1, dtype=np.int64)
    width = max(6, len(str(n)))
    d = ev["district"]
    k = rng.integers(0, lon_pts.shape[1], n)
    dates = pa.array(ev["day"].astype("int32"), type=pa.int32()).cast(pa.date32())
    day64 = ev["day"].astype("datetime64[D]")
    year = day64.astype("datetime64[Y]").astype(np.int64) + 1970
    month = day64.astype("datetime64[M]").astype(np.int64) % 12
    dom = (day64 - day64.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    admin1 = pa.array(districts["admin1_name"].astype(str).to_numpy(dtype=object), _STR).take(pa.array(d))
    admin2 = pa.array(districts["district_name"].astype(str).to_numpy(dtype=object), _STR).take(pa.array(d))
    place = _join(admin2, pc.cast(pa.array(k + 1), _STR), sep=" site ")
    actor1, actor2 = _string_column(names, ev["actor1"]), _string_column(names, ev["actor2"])
    etype, sub = _string_column(names, ev["event_type"]), _string_column(names, ev["sub_event_type"])
    deaths = ev["fatalities"]
    long_date = _join(pc.cast(pa.array(dom), _STR), pa.array(_MONTHS, _STR).take(pa.array(month)),
                      pc.cast(pa.array(year), _STR), sep=" ")
    against = pc.if_else(pc.is_null(actor2), pa.scalar("", _STR), _join(" against ", actor2))
    notes = _join(
        f"{NOTES_PREFIX} On ", long_date, ", ", sub, " (", etype, ") by ", actor1, against, " in ", place, " (",
        admin2, ", ", admin1, "); fatalities: ", pc.cast(pa.array(deaths), _STR), ".")
    inter1, inter2 = ev["inter1"], ev["inter2"]
    interaction = np.where(inter2 == 0, 10 * inter1, 10 * np.minimum(inter1, inter2) + np.maximum(inter1, inter2))
    timestamp = (ev["day"].astype(np.int64) + rng.integers(1, 11, n)) * 86400 + rng.integers(0, 86400, n)
    null_str = pa.nulls(n, _STR)
    columns = {
        "data_id": pa.array(ids), "iso": pa.array(iso_num[d]),
        "event_id_cnty": _join(EVENT_ID_PREFIX, pc.utf8_lpad(pc.cast(pa.array(ids), _STR), width, "0")),
        "event_id_no_cnty": pa.array(ids), "event_date": pc.cast(dates, _STR), "year": pa.array(year),
        "time_precision": pa.array(np.where(rng.random(n) < 0.92, 1, 2).astype(np.int64)),
        "event_type": etype, "sub_event_type": sub, "actor1": actor1, "assoc_actor_1": null_str,
        "inter1": pa.array(inter1.astype(np.int64)), "actor2": actor2, "assoc_actor_2": null_str,
        "inter2": pa.array(inter2.astype(np.int64)), "interaction": pa.array(interaction.astype(np.int64)),
        "region": pa.array(region, _STR).take(pa.array(d)),
        "country": pa.array(np.asarray(country_names, dtype=object), _STR).take(pa.array(d)),
        "admin1": admin1, "admin2": admin2, "admin3": null_str, "location": place,
        "latitude": pa.array(lat_pts[d, k]), "longitude": pa.array(lon_pts[d, k]),
        "geo_precision": pa.array(np.where(rng.random(n) < 0.75, 1, 2).astype(np.int64)),
        "source": _constant(SOURCE_NAME, n),
        "source_scale": pa.array(np.asarray(_SOURCE_SCALES, dtype=object)[rng.integers(0, len(_SOURCE_SCALES), n)],
                                 _STR),
        "notes": notes, "fatalities": pa.array(deaths.astype(np.int64)), "timestamp": pa.array(timestamp),
        "iso3": pa.array(np.asarray(country_codes, dtype=object), _STR).take(pa.array(d)),
    }
    return pa.table([columns[c] for c in ACLED_OLDER_COLUMNS], names=list(ACLED_OLDER_COLUMNS))


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

    names = _Names()
    force_actors = _actor_eras(forces)
    day0 = int(first.astype(np.int64))
    parts = []
    for g, country in enumerate(countries.values()):
        mine = np.flatnonzero(groups == g)
        catalogue = _actor_catalogue(country.name)
        violent = _violent_events(y[mine], force[mine], force_actors, day0, catalogue, names, params, r_violent)
        other = _nonviolent_events(population[mine], n_w, day0, catalogue, names, params, r_nonviolent)
        parts += [{**part, "district": mine[part["district"]]} for part in (violent, other)]
    days = np.concatenate([part["day"] for part in parts])
    order = np.argsort(days, kind="stable")
    ev = {k: np.concatenate([part[k] for part in parts])[order] for k in parts[0]}
    del parts, order
    lon_pts, lat_pts = sample_points_in_polygons(gdf.geometry.to_numpy(), params.points_per_district, r_points)
    country_names = np.array([countries[iso3].name for iso3 in owner], dtype=object)
    table = _acled_table(ev, names, gdf, lon_pts, lat_pts, country_names, owner, r_export)
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
