"""The simulated events as ACLED would export them: who did what to whom, with which sub-event type, actor
names of the event's period and fatalities, assembled into ACLED's older 31-column layout.

:func:`features.sources.simulator.simulate_region` draws the weekly counts; this module turns each district-week's
count into event rows (:func:`violent_events`, :func:`nonviolent_events`) and the rows into an Arrow table
(:func:`acled_table`). Names are interned once (:class:`Names`) so millions of events cost a few vectorised
passes. The tables of probabilities below are the model's event mix (see the simulator's module docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.schema import VIOLENT_EVENT_TYPES

if TYPE_CHECKING:
    from features.sources.simulator import SimulationParams

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

# --------------------------------------------------------------------------------------- event attributes

@dataclass
class Names:
    """Interning table: every string of a categorical column is stored once and referenced by index."""

    values: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def id(self, name: str) -> int:
        if name not in self.index:
            self.index[name] = len(self.values)
            self.values.append(name)
        return self.index[name]


def actor_catalogue(country: str) -> dict[str, list[list[tuple[str, str]]]]:
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


def _actor_ids(catalogue: dict, names: Names, family: np.ndarray, family_names: tuple[str, ...],
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


def violent_events(y: np.ndarray, force: np.ndarray, force_actors: list, day0: int,
                    catalogue: dict, names: Names, params: SimulationParams, rng: np.random.Generator) -> dict:
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


def nonviolent_events(population: np.ndarray, n_w: int, day0: int, catalogue: dict, names: Names,
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


def _string_column(names: Names, ids: np.ndarray) -> pa.Array:
    """Materialise interned strings: ids −1 become null."""
    return pa.array(names.values, type=_STR).take(pa.array(ids, mask=ids < 0, type=pa.int64()))


def acled_table(ev: dict, names: Names, districts: pd.DataFrame, lon_pts: np.ndarray, lat_pts: np.ndarray,
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
