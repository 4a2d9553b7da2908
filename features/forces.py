"""Foreign-force features: where foreign and external forces are based, where they recently arrived or
left, how far the nearest base is, and how often they appear as actors in the district's events.

Time alignment (the point-in-time rules of :mod:`features.registries`, made exact). Every value of the
week ``t`` (the Monday ``week_start``, 00:00) uses only what happened before that instant:

* **Presence at the Monday.** A deployment is *present* in week ``t`` when ``start < week_start <= end``
  (``end`` NaT = ongoing). A force arriving on any day of week ``t`` (the Monday included) is first
  present in week ``t + 1``; a force whose ``end`` falls in week ``t`` (the Monday included) is still
  present in week ``t`` and absent from ``t + 1``. A deployment that begins and ends between two
  Mondays (an operation of a few days) is never present.
* **Arrivals and departures** are switches of a *kind's* presence in a district between consecutive
  Mondays: kind ``k`` arrives in district ``d`` during week ``w`` when no deployment of ``k`` is
  present in ``d`` at Monday ``w`` and at least one is at Monday ``w + 1``; it leaves when the last one
  goes. A handover between two deployments of the same kind (Serval to Barkhane in Gao) is no
  departure, a second base of a kind already present is no arrival. The change is dated in week ``w``
  and so is first known in week ``w + 1``, where "weeks since" is 1 -- the same convention as
  :func:`features.windows.weeks_since`. "Any kind" arrivals and departures are the sum over kinds.
* **Events** count when dated in the ``w`` weeks before ``week_start`` (:func:`features.windows.past_sum`).

History before the panel's first week is taken into account: presence and event counts are computed on
a grid padded with enough weeks before the panel for every window and cap, then cut to the panel.

Units: bases (active deployments), kilometres (great-circle, from the district's representative point),
weeks, events. Feature names are generated from the kind names: ``ff_<kind>_bases``,
``ff_<kind>_nbr_present``, ``ff_<kind>_nearest_km``, ``ff_<kind>_weeks_since_arrival``, ...,
``ff_events_<kind>_w<w>`` (``<kind>`` = the kind with spaces as underscores, or ``any``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from features.panel import Panel, day_numbers, panel_days
from features.registries import (
    FORCE_KINDS,
    FOREIGN_KINDS,
    load_foreign_force_actors,
    match_foreign_force,
)
from features.spec import BEFORE_WEEK, FeatureBlock, FeatureSpec
from features.windows import past_sum, weeks_since

FAMILY_PRESENCE = "foreign_presence"
FAMILY_EVENTS = "foreign_force_events"

#: Nearest-base distance when no base of the kind is active (km); farther bases are also capped here.
DISTANCE_CAP_KM = 1000.0
#: Kinds that get their own arrival / departure (vacuum) features, besides "any kind".
VACUUM_KINDS: tuple[str, ...] = ("foreign combat", "peacekeeping")
#: Window (weeks) of the "a base closed recently" indicator.
BASE_CLOSED_WEEKS = 13
#: Window (weeks) of the count of presence changes.
CHANGES_WEEKS = 52
#: Window (weeks) of the vacuum and handover indicators (own district and neighbours).
VACUUM_WEEKS = 26
#: Mean Earth radius (km) for great-circle distances.
EARTH_RADIUS_KM = 6371.0088
#: Upper bound on the elements of one (districts x activity states x deployments) block of the
#: nearest-base computation; larger panels are processed in chunks of districts.
_CHUNK_ELEMENTS = 1 << 24

ALIGN_PRESENCE = "presence at week_start's Monday: deployments with start < week_start <= end"
ALIGN_CHANGES = "uses presence changes dated before week_start (first Monday with/without the kind)"
ALIGN_EVENTS = BEFORE_WEEK

_DEPLOYMENT_COLUMNS = ("district_code", "kind", "start", "end", "latitude", "longitude")
_ACTOR_COLUMNS = ("actor1", "actor2", "assoc_actors")


def kind_slug(kind: str) -> str:
    """Name fragment of a force kind: "foreign combat" -> "foreign_combat"."""
    return kind.replace(" ", "_").replace("/", "_")


def foreign_force_features(
    panel: Panel,
    gazetteer,
    deployments: pd.DataFrame,
    events: pd.DataFrame,
    *,
    kinds: Sequence[str] = FORCE_KINDS,
    vacuum_cap_weeks: int = 52,
    windows: Sequence[int] = (4, 13, 52),
    actor_mapping: pd.DataFrame | None = None,
) -> FeatureBlock:
    """Foreign-force presence, arrivals and departures, nearest base and force-involving events.

    ``gazetteer`` is a :class:`features.gazetteer.Gazetteer` holding every panel district (its
    ``centroids()`` and ``neighbours`` are used); ``deployments`` is
    ``assign_deployments(load_foreign_forces(), gazetteer.assign)`` (district_code, kind, start, end,
    latitude, longitude); ``events`` is the normalized event table with a district_code column. Only
    deployments and events of ``kinds`` count. Alignment: see the module docstring.

    Features, for each kind ``k`` of ``kinds`` and for ``any`` (all of ``kinds`` together):

    * ``ff_<k>_bases``: deployments present in the district at week_start's Monday (bases);
    * ``ff_<k>_nbr_present``: 1 when one is present in a neighbouring district (queen contiguity);
    * ``ff_<k>_nearest_km``: great-circle km from the district's representative point to the nearest
      present base, wherever it is, capped at :data:`DISTANCE_CAP_KM` (the cap also means "none");
    * ``ff_events_<k>_w<w>`` and ``ff_events_<k>_nbr_w<w>``: events dated in the ``w`` weeks before
      week_start, in the district / summed over its neighbours, with a force of kind ``k`` among
      actor1, actor2 or assoc_actors (matched with :func:`features.registries.match_foreign_force`
      against ``actor_mapping``, default :func:`features.registries.load_foreign_force_actors`); only kinds that some actor
      pattern maps to get these columns. An event involving two kinds counts once for each, and once
      for ``any``.

    and, for ``any`` and each of :data:`VACUUM_KINDS` in ``kinds``:

    * ``ff_<k>_weeks_since_arrival`` / ``ff_<k>_weeks_since_departure``: weeks since the kind's
      presence in the district switched on / off (1 = during the week just before week_start), capped
      at ``vacuum_cap_weeks`` (the cap means "not within the cap");

    and ``ff_base_closed_w13`` (1 when a kind's presence in the district ended in the 13 weeks before
    week_start: its last base there closed) and ``ff_presence_changes_w52`` (arrivals plus departures
    in the 52 weeks before week_start).

    "Any" aggregates the foreign and external kinds (:data:`features.registries.FOREIGN_KINDS`) of
    ``kinds``; the national army, when in ``kinds``, has its own columns only. Over every kind of
    ``kinds``, army included, a departure (a kind's last base in the district closing, see
    :func:`departures`) is a *vacuum* when none of the deployments that ended had a ``replaced_by``, a
    *handover* otherwise:

    * ``ff_vacuum_w26`` / ``ff_vacuum_nbr_w26``: 1 when a vacuum opened in the district / in a
      neighbouring district in the 26 weeks before week_start;
    * ``ff_handover_w26``: 1 when a kind left the district in the 26 weeks before week_start and
      another deployment took its bases over.
    """
    kinds = tuple(kinds)
    unknown = sorted(set(kinds) - set(FORCE_KINDS))
    if unknown:
        raise ValueError(f"unknown force kinds {unknown}; expected some of {FORCE_KINDS}")
    missing = [c for c in _DEPLOYMENT_COLUMNS if c not in deployments.columns]
    if missing:
        raise ValueError(f"deployments need columns {list(_DEPLOYMENT_COLUMNS)}; missing {missing}")
    if vacuum_cap_weeks < 1:
        raise ValueError(f"vacuum_cap_weeks must be >= 1, got {vacuum_cap_weeks}")
    first_day, n_w = panel_days(panel)
    universe, rows = _district_universe(panel, gazetteer)
    adjacency = _adjacency(gazetteer.neighbours, universe)[rows]  # panel district -> universe neighbours
    deployments = deployments[deployments["kind"].isin(kinds)].reset_index(drop=True)

    block = FeatureBlock()
    pad = max(vacuum_cap_weeks, CHANGES_WEEKS, BASE_CLOSED_WEEKS, VACUUM_WEEKS) + 1
    activity = _deployment_activity(deployments, first_day, pad, n_w)  # (n_dep, pad + n_w), 0/1
    dep_district = universe.get_indexer(deployments["district_code"].astype("string").fillna(""))
    distances = _deployment_distances(gazetteer, panel.districts, deployments)  # (n_d, n_dep) km
    dep_kind = deployments["kind"].to_numpy(dtype=object)

    arrivals_any = np.zeros((len(universe), pad + n_w), dtype=np.float32)
    departures_any = np.zeros_like(arrivals_any)
    vacuums = np.zeros_like(arrivals_any)  # departures of a kind, over every kind, not handed over
    handovers = np.zeros_like(arrivals_any)
    vacuum: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind in (*kinds, None):  # None: any kind
        label = "any" if kind is None else kind_slug(kind)
        name = "any foreign or external force" if kind is None else f"{kind} force"
        of_kind = np.isin(dep_kind, FOREIGN_KINDS) if kind is None else dep_kind == kind
        count = _count_by_district(dep_district[of_kind], activity[of_kind], len(universe))
        present = count[:, pad:]
        block.add(
            FeatureSpec(f"ff_{label}_bases", FAMILY_PRESENCE, f"{name} deployments (bases) in the district",
                        "bases", alignment=ALIGN_PRESENCE, measure=f"{label}_force_deployments", scope="own",
                        statistic="count"),
            present[rows],
        )
        block.add(
            FeatureSpec(f"ff_{label}_nbr_present", FAMILY_PRESENCE,
                        f"1 when a {name} deployment is in a neighbouring district", "indicator",
                        alignment=ALIGN_PRESENCE, measure=f"{label}_force_deployments", scope="neighbours",
                        statistic="any"),
            (adjacency @ (present > 0).astype(np.float32)) > 0,
        )
        block.add(
            FeatureSpec(f"ff_{label}_nearest_km", FAMILY_PRESENCE,
                        f"great-circle distance to the nearest present {name} base "
                        f"(capped at {DISTANCE_CAP_KM:g} km, the cap when there is none)", "km",
                        alignment=ALIGN_PRESENCE, measure=f"{label}_force_deployments", statistic="nearest_km"),
            _nearest_active_km(distances[:, of_kind], activity[of_kind][:, pad:] > 0, DISTANCE_CAP_KM),
        )
        if kind is not None:
            arrivals, departures = _switches(count > 0)
            handed = _handed_over(deployments[of_kind], dep_district[of_kind], first_day, pad, n_w, len(universe))
            vacuums += departures * (handed == 0)
            handovers += departures * (handed > 0)
            if kind in FOREIGN_KINDS:
                arrivals_any += arrivals
                departures_any += departures
            if kind in VACUUM_KINDS:
                vacuum[label] = (arrivals, departures)
    vacuum = {"any": (arrivals_any, departures_any), **vacuum}

    for label, (arrivals, departures) in vacuum.items():
        name = "a foreign or external force (any kind)" if label == "any" else f"a {label.replace('_', ' ')} force"
        for what, x, verb in (("arrival", arrivals, "arrived in"), ("departure", departures, "left")):
            block.add(
                FeatureSpec(f"ff_{label}_weeks_since_{what}", FAMILY_PRESENCE,
                            f"weeks since {name} last {verb} the district "
                            f"(1 = during the week before week_start; capped at {vacuum_cap_weeks} = not within)",
                            "weeks", alignment=ALIGN_CHANGES, measure=f"{label}_force_{what}s", scope="own",
                            statistic="weeks_since"),
                weeks_since(x[rows], vacuum_cap_weeks)[:, pad:],
            )
    block.add(
        FeatureSpec(f"ff_base_closed_w{BASE_CLOSED_WEEKS}", FAMILY_PRESENCE,
                    f"1 when a kind of force left the district (its last base there closed) "
                    f"in the {BASE_CLOSED_WEEKS} weeks before week_start", "indicator",
                    BASE_CLOSED_WEEKS, ALIGN_CHANGES, measure="any_force_departures", scope="own", statistic="any"),
        past_sum(departures_any[rows], BASE_CLOSED_WEEKS)[:, pad:] > 0,
    )
    block.add(
        FeatureSpec(f"ff_presence_changes_w{CHANGES_WEEKS}", FAMILY_PRESENCE,
                    f"arrivals plus departures of a kind of force in the district in the {CHANGES_WEEKS} weeks "
                    "before week_start", "changes", CHANGES_WEEKS, ALIGN_CHANGES, measure="any_force_changes",
                    scope="own", statistic="sum"),
        past_sum((arrivals_any + departures_any)[rows], CHANGES_WEEKS)[:, pad:],
    )
    w = VACUUM_WEEKS
    block.add(
        FeatureSpec(f"ff_vacuum_w{w}", FAMILY_PRESENCE,
                    f"1 when a kind of force left the district in the {w} weeks before week_start and nobody took "
                    "its bases over (no replaced_by)", "indicator", w, ALIGN_CHANGES, measure="force_vacuums",
                    scope="own", statistic="any"),
        past_sum(vacuums[rows], w)[:, pad:] > 0,
    )
    block.add(
        FeatureSpec(f"ff_vacuum_nbr_w{w}", FAMILY_PRESENCE,
                    f"1 when a kind of force left a neighbouring district in the {w} weeks before week_start and "
                    "nobody took its bases over", "indicator", w, ALIGN_CHANGES, measure="force_vacuums",
                    scope="neighbours", statistic="any"),
        (adjacency @ (past_sum(vacuums, w) > 0).astype(np.float32))[:, pad:] > 0,
    )
    block.add(
        FeatureSpec(f"ff_handover_w{w}", FAMILY_PRESENCE,
                    f"1 when a kind of force left the district in the {w} weeks before week_start and another "
                    "deployment took its bases over (replaced_by)", "indicator", w, ALIGN_CHANGES,
                    measure="force_handovers", scope="own", statistic="any"),
        past_sum(handovers[rows], w)[:, pad:] > 0,
    )
    mapping = load_foreign_force_actors() if actor_mapping is None else actor_mapping
    countries = gazetteer.country_of(events["district_code"].astype("string").fillna("")).to_numpy(dtype=object)
    return block.extend(_event_features(events, universe, rows, adjacency, first_day, n_w, kinds, windows, mapping,
                                        countries))


def departures(deployments: pd.DataFrame, first_week: pd.Timestamp, last_week: pd.Timestamp) -> pd.DataFrame:
    """Every departure of a kind of force from a district whose first week without it lies in
    [``first_week``, ``last_week``] (Mondays): one row per (district, kind, week), in week order.

    ``deployments`` as for :func:`foreign_force_features`, with deployment_id, force, and optionally
    replaced_by and location (the district code when absent). A
    departure is a kind's presence switching off (the module's presence rule): ``week_start`` is the first
    Monday without the kind in the district (the end date falls in the week before); a base closing while
    another of the same kind stays is none. Columns: withdrawal_id ("<kind>@<district>@<week>"),
    district_code, kind, week_start, forces and deployment_ids (those whose last present Monday was the
    week before, ";"-joined), handed_over (bool: one of them has a replaced_by), replaced_by, label.
    """
    first, last = pd.Timestamp(first_week), pd.Timestamp(last_week)
    first_day, n_w = int(np.datetime64(first, "D").astype(np.int64)), int((last - first).days // 7) + 1
    out = []
    deployments = deployments.reset_index(drop=True)
    codes = pd.Index(deployments["district_code"].astype("string").dropna().unique(), dtype="string")
    district = codes.get_indexer(deployments["district_code"].astype("string").fillna(""))
    activity = _deployment_activity(deployments, first_day, 1, n_w)  # column 0: the Monday before first_week
    for kind in pd.unique(deployments["kind"]):
        of_kind = (deployments["kind"] == kind).to_numpy()
        _, off = _switches(_count_by_district(district[of_kind], activity[of_kind], len(codes)) > 0)
        d, j = np.nonzero(off[:, :-1])
        out.append(pd.DataFrame({"district_code": codes[d], "kind": kind,
                                 "week_start": first + pd.to_timedelta(7 * j, unit="D")}))
    found = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["district_code", "kind", "week_start"])
    ends = deployments.assign(
        week_start=(pd.to_datetime(deployments["end"]).dt.to_period("W-SUN").dt.start_time
                    + pd.Timedelta(days=7)).astype("datetime64[us]"),
        replaced_by=deployments.get("replaced_by", pd.Series(pd.NA, index=deployments.index)).astype("string"),
        location=deployments.get("location", deployments["district_code"]).astype("string"))
    found["week_start"] = found["week_start"].astype("datetime64[us]")
    found["district_code"] = found["district_code"].astype("string")
    ends["district_code"] = ends["district_code"].astype("string")
    who = (found.merge(ends[["district_code", "kind", "week_start", "deployment_id", "force", "replaced_by",
                             "location"]], on=["district_code", "kind", "week_start"], how="left")
           .groupby(["district_code", "kind", "week_start"], sort=False)
           .agg(deployment_ids=("deployment_id", lambda x: ";".join(x.dropna())),
                forces=("force", lambda x: ";".join(pd.unique(x.dropna()))),
                location=("location", lambda x: ";".join(pd.unique(x.dropna()))),
                replaced_by=("replaced_by", lambda x: ";".join(pd.unique(x.dropna()))))
           .reset_index())
    who["handed_over"] = who["replaced_by"] != ""
    who["replaced_by"] = who["replaced_by"].mask(~who["handed_over"])
    who["withdrawal_id"] = (who["kind"] + "@" + who["district_code"] + "@"
                            + who["week_start"].dt.strftime("%Y-%m-%d"))
    who["label"] = (who["forces"] + " leaves " + who["location"]
                    + np.where(who["handed_over"], " (handed over to " + who["replaced_by"].fillna("") + ")", ""))
    columns = ["withdrawal_id", "district_code", "kind", "week_start", "forces", "deployment_ids", "location",
               "handed_over", "replaced_by", "label"]
    return who.sort_values(["week_start", "district_code", "kind"], kind="stable")[columns].reset_index(drop=True)


# ---------------------------------------------------------------------- time grid




def _deployment_activity(deployments: pd.DataFrame, first_day: int, pad: int, n_w: int) -> np.ndarray:
    """(n_deployments, pad + n_w) float32: 1 at the Mondays where the deployment is present.

    Column ``j`` is the Monday ``first_day + 7 (j - pad)``. Present when ``start < monday <= end``: from
    column ``floor((start - monday0) / 7) + 1`` to column ``floor((end - monday0) / 7)`` included, set
    with a difference array and a cumulative sum.
    """
    n_cols = pad + n_w
    start, has_start = day_numbers(deployments["start"])
    end, has_end = day_numbers(deployments["end"])
    on = np.clip(np.floor_divide(start - first_day, 7) + 1 + pad, 0, n_cols)
    off = np.where(has_end, np.clip(np.floor_divide(end - first_day, 7) + 1 + pad, 0, n_cols), n_cols)
    keep = has_start & (on < off)
    diff = np.zeros((len(deployments), n_cols + 1), dtype=np.int32)
    rows = np.flatnonzero(keep)
    np.add.at(diff, (rows, on[keep]), 1)
    np.add.at(diff, (rows, off[keep]), -1)
    return np.cumsum(diff, axis=1)[:, :n_cols].astype(np.float32)


def _handed_over(deployments: pd.DataFrame, district: np.ndarray, first_day: int, pad: int, n_w: int,
                 n_districts: int) -> np.ndarray:
    """(n_districts, pad + n_w): at column j, how many deployments with a ``replaced_by`` had their last
    present Monday at j (so that a departure dated in week j is a handover)."""
    n_cols = pad + n_w
    if "replaced_by" not in deployments.columns:
        return np.zeros((n_districts, n_cols), dtype=np.float32)
    end, has_end = day_numbers(deployments["end"])
    last = np.floor_divide(end - first_day, 7) + pad  # the last Monday with start < monday <= end
    replaced = deployments["replaced_by"].astype("string").fillna("").str.strip().ne("").to_numpy()
    keep = has_end & replaced & (district >= 0) & (last >= 0) & (last < n_cols)
    flat = district[keep] * n_cols + last[keep]
    return np.bincount(flat, minlength=n_districts * n_cols).reshape(n_districts, n_cols).astype(np.float32)


def _switches(present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arrivals and departures dated in each week: column j compares the Mondays j and j + 1."""
    arrivals = np.zeros(present.shape, dtype=np.float32)
    departures = np.zeros(present.shape, dtype=np.float32)
    arrivals[:, :-1] = present[:, 1:] & ~present[:, :-1]
    departures[:, :-1] = ~present[:, 1:] & present[:, :-1]
    return arrivals, departures


# ---------------------------------------------------------------------- districts


def _district_universe(panel: Panel, gazetteer) -> tuple[pd.Index, np.ndarray]:
    """The gazetteer's district codes and the position of each panel district among them."""
    universe = pd.Index(gazetteer.districts["district_code"].astype("string"), dtype="string")
    rows = universe.get_indexer(panel.districts.astype("string"))
    if (rows < 0).any():
        missing = panel.districts[rows < 0].tolist()
        raise ValueError(f"panel districts not in the gazetteer: {missing}")
    return universe, rows


def _adjacency(neighbours: pd.DataFrame, universe: pd.Index) -> sparse.csr_matrix:
    """(n, n) 0/1 sparse matrix of the neighbour pairs among ``universe``."""
    i = universe.get_indexer(neighbours["district_code"].astype("string"))
    j = universe.get_indexer(neighbours["neighbour_code"].astype("string"))
    keep = (i >= 0) & (j >= 0) & (i != j)
    m = sparse.coo_matrix((np.ones(int(keep.sum()), dtype=np.float32), (i[keep], j[keep])),
                          shape=(len(universe), len(universe))).tocsr()
    m.data[:] = 1.0  # duplicate pairs count once
    return m


def _count_by_district(district: np.ndarray, activity: np.ndarray, n_districts: int) -> np.ndarray:
    """Sum of deployment rows per district: (n_districts, n_cols); rows with district -1 are dropped."""
    keep = district >= 0
    membership = sparse.coo_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (district[keep], np.flatnonzero(keep))),
        shape=(n_districts, len(district)),
    ).tocsr()
    return np.asarray(membership @ activity, dtype=np.float32)


# ---------------------------------------------------------------------- distances


def _deployment_distances(gazetteer, districts: pd.Index, deployments: pd.DataFrame) -> np.ndarray:
    """(n_districts, n_deployments) great-circle km from each district's representative point to each base.

    Deployments without coordinates are infinitely far.
    """
    centroids = gazetteer.centroids().set_index("district_code")
    centroids.index = centroids.index.astype("string")
    centroids = centroids.loc[districts.astype("string")]
    lat1 = np.radians(centroids["latitude"].to_numpy(dtype=np.float64))[:, None]
    lon1 = np.radians(centroids["longitude"].to_numpy(dtype=np.float64))[:, None]
    lat2 = np.radians(pd.to_numeric(deployments["latitude"]).to_numpy(dtype=np.float64, na_value=np.nan))[None, :]
    lon2 = np.radians(pd.to_numeric(deployments["longitude"]).to_numpy(dtype=np.float64, na_value=np.nan))[None, :]
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    km = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return np.where(np.isfinite(km), km, np.inf)


def _nearest_active_km(distances: np.ndarray, active: np.ndarray, cap: float) -> np.ndarray:
    """(n_districts, n_weeks): min of ``distances[d, i]`` over the deployments ``i`` active in the week.

    ``distances`` is (n_districts, n_deployments), ``active`` (n_deployments, n_weeks) bool. The set of
    active deployments changes only when one starts or ends, so the weeks share at most
    ``2 n_deployments + 1`` distinct activity *states*: the masked minimum (np.where + min over
    deployments) is computed once per (district, state) on a (districts, states, deployments) array and
    spread back to the weeks by the state index of each week. Chunks of districts bound that array to
    :data:`_CHUNK_ELEMENTS` elements; there is no loop over weeks. Capped at ``cap`` (also when none).
    """
    n_d, n_w = distances.shape[0], active.shape[1]
    ever = active.any(axis=1)  # deployments never active in the panel cannot be the nearest
    if not ever.any():
        return np.full((n_d, n_w), cap, dtype=np.float32)
    distances = np.minimum(distances[:, ever], cap).astype(np.float32)
    states, week_state = np.unique(active[ever].T, axis=0, return_inverse=True)  # (n_states, n_dep), (n_w,)
    per_state = np.empty((n_d, len(states)), dtype=np.float32)
    chunk = max(1, _CHUNK_ELEMENTS // (states.shape[0] * states.shape[1]))
    for lo in range(0, n_d, chunk):
        masked = np.where(states[None, :, :], distances[lo:lo + chunk, None, :], np.float32(cap))
        per_state[lo:lo + chunk] = masked.min(axis=2)
    return per_state[:, np.ravel(week_state)]


# ---------------------------------------------------------------------- events


def _event_kinds(events: pd.DataFrame, kinds: tuple[str, ...], mapping, countries: np.ndarray) -> np.ndarray:
    """(n_events, n_kinds) bool: a force of each kind among the event's actor1, actor2, assoc_actors.

    assoc_actors holds several names separated by ';': each is matched on its own. ``mapping``: the actor
    mapping, or ISO3 -> the mapping of that country for events of several (``countries``: each event's).
    """
    if isinstance(mapping, Mapping):
        hit = np.zeros((len(events), len(kinds)), dtype=bool)
        for iso3, frame in mapping.items():
            mine = countries == iso3
            hit[mine] = _event_kinds(events.loc[mine], kinds, frame, countries[mine])
        return hit
    names, owners = [], []
    for column in _ACTOR_COLUMNS:
        if column not in events.columns:
            continue
        values = events[column].astype("string").reset_index(drop=True)
        if column == "assoc_actors":
            values = values.str.split(";").explode().str.strip()
        names.append(values)
        owners.append(values.index.to_numpy())
    hit = np.zeros((len(events), len(kinds)), dtype=bool)
    if not names:
        return hit
    all_names = pd.concat(names, ignore_index=True).astype("string")
    owner = np.concatenate(owners).astype(np.int64)
    kind_of_name = match_foreign_force(all_names, mapping)["kind"]
    column = pd.Index(kinds).get_indexer(kind_of_name.fillna(""))
    found = column >= 0
    hit[owner[found], column[found]] = True
    return hit


def _event_features(
    events: pd.DataFrame,
    universe: pd.Index,
    rows: np.ndarray,
    adjacency: sparse.csr_matrix,
    first_day: int,
    n_w: int,
    kinds: tuple[str, ...],
    windows: Sequence[int],
    mapping,
    countries: np.ndarray,
) -> FeatureBlock:
    """``ff_events_<k>_w<w>`` and ``ff_events_<k>_nbr_w<w>`` (see :func:`foreign_force_features`)."""
    frames = mapping.values() if isinstance(mapping, Mapping) else (mapping,)
    mapped = set().union(*(set(frame["kind"]) for frame in frames))
    event_kinds = tuple(k for k in kinds if k in mapped)
    pad = max(windows, default=0)
    n_cols = pad + n_w
    district = universe.get_indexer(events["district_code"].astype("string").fillna(""))
    day, has_day = day_numbers(events["event_date"])
    col = np.floor_divide(day - first_day, 7) + pad
    keep = (district >= 0) & has_day & (col >= 0) & (col < n_cols)
    hit = _event_kinds(events.loc[keep], event_kinds, mapping, countries[keep])
    flat = district[keep] * n_cols + col[keep]

    block = FeatureBlock()
    for k, kind in enumerate((*event_kinds, None)):
        label = "any" if kind is None else kind_slug(kind)
        name = "a foreign or external force (any kind)" if kind is None else f"a {kind} force"
        weight = hit.any(axis=1) if kind is None else hit[:, k]
        counts = np.bincount(flat, weights=weight.astype(np.float64), minlength=len(universe) * n_cols)
        counts = counts.reshape(len(universe), n_cols).astype(np.float32)
        neighbour_counts = np.asarray(adjacency @ counts, dtype=np.float32)
        for w in windows:
            block.add(
                FeatureSpec(f"ff_events_{label}_w{w}", FAMILY_EVENTS,
                            f"events with {name} among the actors, in the district, in the {w} weeks before week_start",
                            "events", w, ALIGN_EVENTS, measure=f"{label}_force_events", scope="own", statistic="sum"),
                past_sum(counts[rows], w)[:, pad:],
            )
            block.add(
                FeatureSpec(f"ff_events_{label}_nbr_w{w}", FAMILY_EVENTS,
                            f"events with {name} among the actors, summed over the neighbouring districts, "
                            f"in the {w} weeks before week_start", "events", w, ALIGN_EVENTS,
                            measure=f"{label}_force_events", scope="neighbours", statistic="sum"),
                past_sum(neighbour_counts, w)[:, pad:],
            )
    return block
