"""Hand-curated registries the feature builders read: foreign deployments, the political calendar and
the grouping of ACLED actor names.

The registries are data, versioned with the code (``features/data/registries``): a country folder
``<ISO3>/`` holds ``foreign_forces.csv`` (one row per deployment, base by base) and
``political_calendar.csv`` (national events); ``actor_families.csv`` and ``foreign_force_actors.csv``
map ACLED actor names, which are the same in every country, to perpetrator families and to forces.
Every row carries its own source note and can be corrected as better sources turn up; this module
holds no fact, only the loaders, their validation and the generic matching functions.

Point-in-time rules for the feature builders (the registries record what is known *today*, so a
feature for week ``t`` must only use what was knowable in week ``t``):

* a deployment counts only from its ``start`` date, and up to its ``end`` date (``NaT`` = ongoing);
* a scheduled political event (``scheduled`` true: elections, referendums) counts as *upcoming* only
  from its ``announced_on`` date; an unscheduled event (a coup, an attack) is known only from its own
  ``date``.

Dates marked ``date_precision`` "month" or "approx" are the first or middle of the month, or a
best-known day: the month is what matters. Validation failures raise
:class:`features.schema.SourceFileError` naming the file, its line (header = line 1) and the column.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from features.schema import SourceFileError

#: Root folder of the shipped registries.
REGISTRY_DIR = Path(__file__).resolve().parent / "data" / "registries"
FOREIGN_FORCES_FILE = "foreign_forces.csv"
POLITICAL_CALENDAR_FILE = "political_calendar.csv"
ACTOR_FAMILIES_FILE = "actor_families.csv"
FOREIGN_FORCE_ACTORS_FILE = "foreign_force_actors.csv"

#: Kinds of foreign or external forces (the "any" of the force features aggregates these).
FOREIGN_KINDS: tuple[str, ...] = ("foreign combat", "peacekeeping", "training", "private military", "regional")
#: The country's own army, listed base by base only where a withdrawal is on record (Boulikessi, 2025-06).
NATIONAL_ARMY = "national army"
FORCE_KINDS: tuple[str, ...] = (*FOREIGN_KINDS, NATIONAL_ARMY)
#: A handover (``replaced_by``) must start within this many days of the replaced deployment's end.
HANDOVER_MAX_GAP_DAYS = 62
DATE_PRECISIONS: tuple[str, ...] = ("day", "month", "approx")
CALENDAR_KINDS: tuple[str, ...] = (
    "coup",
    "election",
    "referendum",
    "sanctions",
    "sanctions lifted",
    "peace accord",
    "accord ended",
    "party ban / repression",
    "alliance",
    "armed rebellion",
    "secession",
    "foreign intervention",
    "protest movement",
    "territorial change",
    "major attack",
    "foreign force change",
    "regime change",
    "economic warfare",
)
OTHER_FAMILY = "other"
ACTOR_FAMILIES: tuple[str, ...] = (
    "jnim_aq",
    "islamic_state",
    "communal_militia",
    "state_forces",
    "northern_armed",
    "foreign_forces",
    "civilians",
    OTHER_FAMILY,
)

FOREIGN_FORCE_COLUMNS = (
    "deployment_id", "force", "kind", "location", "latitude", "longitude",
    "admin2_hint", "start", "end", "date_precision", "replaced_by", "source_note",
)  # fmt: skip
#: Optional columns of foreign_forces.csv: a file without them reads as if they were empty.
OPTIONAL_FOREIGN_FORCE_COLUMNS = ("replaced_by",)
CALENDAR_COLUMNS = ("date", "event", "kind", "scheduled", "announced_on", "source_note")
ACTOR_FAMILY_COLUMNS = ("pattern", "family", "priority", "note")
FOREIGN_FORCE_ACTOR_COLUMNS = ("pattern", "force", "kind", "note")

_DATE_FORMAT = "%Y-%m-%d"


# ---------------------------------------------------------------------- validation schemas
#
# Registries are read as text (``string`` columns, empty cell = NA) and validated as text, so that a
# bad value is reported as written in the file; they are typed only once valid.


def _as_date(values: pd.Series) -> pd.Series:
    """ISO dates (YYYY-MM-DD) as datetime64[s]; anything else, and NA, becomes NaT."""
    return pd.to_datetime(values, format=_DATE_FORMAT, errors="coerce").astype("datetime64[s]")


def _is_date(values: pd.Series) -> pd.Series:
    return _as_date(values).notna()


def _is_number_between(low: float, high: float) -> Callable[[pd.Series], pd.Series]:
    def check(values: pd.Series) -> pd.Series:
        return pd.to_numeric(values, errors="coerce").between(low, high).fillna(False).astype(bool)

    return check


def _regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used as an actor-name pattern, or None when it can."""
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        return f"invalid regular expression ({exc})"
    if compiled.groups:
        return "regular expression has capturing groups; use (?:...)"
    return None


def _is_usable_regex(values: pd.Series) -> pd.Series:
    return values.map(_regex_problem, na_action="ignore").isna()


def _is_integer(values: pd.Series) -> pd.Series:
    return values.str.fullmatch(r"-?\d+").fillna(False).astype(bool)


def _end_not_before_start(frame: pd.DataFrame) -> pd.Series:
    end, start = _as_date(frame["end"]), _as_date(frame["start"])
    return ~(end < start).fillna(False).astype(bool)


def _replacements(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (record, named replacement) of ``replaced_by`` (";"-separated deployment_ids)."""
    named = frame["replaced_by"].str.split(";").explode().str.strip()
    named = named[named.notna() & (named != "")]
    return pd.DataFrame({"record": named.index, "replacement": named.to_numpy()})


def _replacement_is_known(frame: pd.DataFrame) -> pd.Series:
    pairs = _replacements(frame)
    ids = set(frame["deployment_id"].dropna())
    bad = pairs.loc[~pairs["replacement"].isin(ids) | (pairs["replacement"].to_numpy()
                                                        == frame["deployment_id"].reindex(pairs["record"]).to_numpy()),
                    "record"]
    return pd.Series(~frame.index.isin(bad), index=frame.index)


def _replaced_has_end(frame: pd.DataFrame) -> pd.Series:
    named = _replacements(frame)["record"]
    return pd.Series(~(frame.index.isin(named) & frame["end"].isna()), index=frame.index)


def _replacement_starts_at_end(frame: pd.DataFrame) -> pd.Series:
    pairs = _replacements(frame)
    start = pd.Series(_as_date(frame["start"]).to_numpy(), index=frame["deployment_id"])
    start = start[~start.index.duplicated()]
    gap = (start.reindex(pairs["replacement"]).to_numpy()
           - _as_date(frame["end"]).reindex(pairs["record"]).to_numpy()) / np.timedelta64(1, "D")
    bad = pairs.loc[np.abs(np.nan_to_num(gap, nan=0.0)) > HANDOVER_MAX_GAP_DAYS, "record"]
    return pd.Series(~frame.index.isin(bad), index=frame.index)


def _is_scheduled(frame: pd.DataFrame) -> pd.Series:
    return frame["scheduled"].eq("true").fillna(False).astype(bool)


def _scheduled_has_announcement(frame: pd.DataFrame) -> pd.Series:
    return ~_is_scheduled(frame) | frame["announced_on"].notna()


def _unscheduled_has_no_announcement(frame: pd.DataFrame) -> pd.Series:
    return _is_scheduled(frame) | frame["announced_on"].isna()


def _announced_not_after_date(frame: pd.DataFrame) -> pd.Series:
    announced, date = _as_date(frame["announced_on"]), _as_date(frame["date"])
    return ~(announced > date).fillna(False).astype(bool)


#: Frame-wide checks report every column of a failing row; this says which column a person should fix.
_REPLACEMENT_UNKNOWN = "replaced_by names no other deployment_id of the file"
_REPLACED_WITHOUT_END = "replaced_by is set but the deployment has no end"
_REPLACEMENT_GAP = f"replaced_by names a deployment starting more than {HANDOVER_MAX_GAP_DAYS} days from this end"
_WIDE_CHECK_COLUMN = {
    "end is before start": "end",
    _REPLACEMENT_UNKNOWN: "replaced_by",
    _REPLACED_WITHOUT_END: "replaced_by",
    _REPLACEMENT_GAP: "replaced_by",
    "scheduled event needs the date it was announced": "announced_on",
    "unscheduled event must leave announced_on empty": "announced_on",
    "announced_on is after the event date": "announced_on",
}


def _text(required: bool = True, checks: list[pa.Check] | None = None, unique: bool = False) -> pa.Column:
    return pa.Column("string", nullable=not required, checks=checks or [], unique=unique)


def _date(required: bool = True) -> pa.Column:
    return _text(required, [pa.Check(_is_date, error="not an ISO date (YYYY-MM-DD)")])


def _one_of(allowed: Iterable[str]) -> pa.Check:
    allowed = tuple(allowed)
    return pa.Check.isin(allowed, error=f"not one of {', '.join(repr(a) for a in allowed)}")


def _regex_column() -> pa.Column:
    return _text(checks=[pa.Check(_is_usable_regex, error="not a usable regular expression")])


_FOREIGN_FORCES_SCHEMA = pa.DataFrameSchema(
    {
        "deployment_id": _text(unique=True),
        "force": _text(),
        "kind": _text(checks=[_one_of(FORCE_KINDS)]),
        "location": _text(),
        "latitude": _text(checks=[pa.Check(_is_number_between(-90, 90), error="not a latitude in [-90, 90]")]),
        "longitude": _text(
            checks=[pa.Check(_is_number_between(-180, 180), error="not a longitude in [-180, 180]")]
        ),
        "admin2_hint": _text(),
        "start": _date(),
        "end": _date(required=False),
        "date_precision": _text(checks=[_one_of(DATE_PRECISIONS)]),
        "replaced_by": _text(required=False),
        "source_note": _text(),
    },
    checks=[pa.Check(_end_not_before_start, error="end is before start"),
            pa.Check(_replacement_is_known, error=_REPLACEMENT_UNKNOWN),
            pa.Check(_replaced_has_end, error=_REPLACED_WITHOUT_END),
            pa.Check(_replacement_starts_at_end, error=_REPLACEMENT_GAP)],
    strict=True,
    ordered=True,
)

_CALENDAR_SCHEMA = pa.DataFrameSchema(
    {
        "date": _date(),
        "event": _text(),
        "kind": _text(checks=[_one_of(CALENDAR_KINDS)]),
        "scheduled": _text(checks=[_one_of(("true", "false"))]),
        "announced_on": _date(required=False),
        "source_note": _text(),
    },
    checks=[
        pa.Check(_scheduled_has_announcement, error="scheduled event needs the date it was announced"),
        pa.Check(_unscheduled_has_no_announcement, error="unscheduled event must leave announced_on empty"),
        pa.Check(_announced_not_after_date, error="announced_on is after the event date"),
    ],
    strict=True,
    ordered=True,
)

_ACTOR_FAMILIES_SCHEMA = pa.DataFrameSchema(
    {
        "pattern": _regex_column(),
        "family": _text(checks=[_one_of(ACTOR_FAMILIES)]),
        "priority": _text(checks=[pa.Check(_is_integer, error="not an integer")]),
        "note": _text(required=False),
    },
    strict=True,
    ordered=True,
)

_FOREIGN_FORCE_ACTORS_SCHEMA = pa.DataFrameSchema(
    {
        "pattern": _regex_column(),
        "force": _text(),
        "kind": _text(checks=[_one_of(FORCE_KINDS)]),
        "note": _text(required=False),
    },
    strict=True,
    ordered=True,
)


def _validate(raw: pd.DataFrame, schema: pa.DataFrameSchema, file: str, lines: np.ndarray) -> None:
    """Raise SourceFileError for the first problem (by line) that ``schema`` finds in ``raw``.

    ``lines[i]`` is the file line on which record ``i`` starts. The message counts further problems.
    """
    missing = [c for c in schema.columns if c not in raw.columns]
    unexpected = [c for c in raw.columns if c not in schema.columns]
    if missing or unexpected:
        column = (missing or unexpected)[0]
        problem = "missing column" if missing else "unexpected column"
        raise SourceFileError(file, None, column, f"{problem} (expected columns: {', '.join(schema.columns)})")
    if list(raw.columns) != list(schema.columns):
        raise SourceFileError(file, 1, None, f"columns out of order (expected: {', '.join(schema.columns)})")
    try:
        schema.validate(raw, lazy=True)
    except SchemaErrors as exc:
        raise _first_failure(exc.failure_cases, file, lines) from None


def _first_failure(cases: pd.DataFrame, file: str, lines: np.ndarray) -> SourceFileError:
    """The SourceFileError for the earliest failing cell of a pandera failure-case table."""
    problems = cases["check"].astype("string")
    problems = problems.replace({"not_nullable": "empty value (required)", "field_uniqueness": "duplicate value"})
    wide = problems.isin(list(_WIDE_CHECK_COLUMN))
    columns = cases["column"].astype("string").mask(wide, problems.map(_WIDE_CHECK_COLUMN))
    table = pd.DataFrame(
        {"index": pd.to_numeric(cases["index"], errors="coerce"), "column": columns, "problem": problems}
    ).drop_duplicates()
    table = table.dropna(subset=["index"]).sort_values(["index", "column"], kind="stable")
    if table.empty:
        return SourceFileError(file, None, None, "; ".join(problems.dropna().unique()))
    first = table.iloc[0]
    more = len(table) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''} in this file)" if more else ""
    value_problem = first["problem"]
    return SourceFileError(file, int(lines[int(first["index"])]), str(first["column"]), f"{value_problem}{suffix}")


# ---------------------------------------------------------------------- typing (valid text -> frames)


def _typed_foreign_forces(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.assign(
        latitude=pd.to_numeric(raw["latitude"]).astype("Float64"),
        longitude=pd.to_numeric(raw["longitude"]).astype("Float64"),
        start=_as_date(raw["start"]),
        end=_as_date(raw["end"]),
    )


def empty_foreign_forces() -> pd.DataFrame:
    """A foreign-force registry with no row, typed as :func:`load_foreign_forces` returns one."""
    columns = list(_FOREIGN_FORCES_SCHEMA.columns)
    return _typed_foreign_forces(pd.DataFrame({c: pd.Series(dtype="string") for c in columns}))


def _typed_calendar(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.assign(
        date=_as_date(raw["date"]),
        scheduled=raw["scheduled"].eq("true").astype("boolean"),
        announced_on=_as_date(raw["announced_on"]),
    )


def _typed_actor_families(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.assign(priority=pd.to_numeric(raw["priority"]).astype("Int64"))


# ---------------------------------------------------------------------- loaders


def _country_file(path: Path | str | None, country_iso3: str, name: str) -> Path:
    if path is not None:
        return Path(path)
    if not re.fullmatch(r"[A-Za-z]{3}", country_iso3):
        raise ValueError(f"country_iso3 must be a three-letter code, got {country_iso3!r}")
    return REGISTRY_DIR / country_iso3.upper() / name


def load_foreign_forces(path: Path | str | None = None, country_iso3: str = "MLI") -> pd.DataFrame:
    """Foreign and external force deployments of a country, one row per force and base.

    Columns: deployment_id, force, kind (one of :data:`FORCE_KINDS`), location, latitude, longitude
    (Float64, WGS84 degrees of the town or camp), admin2_hint (district name, a fallback for the
    gazetteer), start, end (datetime64[s]; ``end`` NaT = ongoing), date_precision (one of
    :data:`DATE_PRECISIONS`, the worse of the two dates), replaced_by (the deployment_ids, ";"-separated,
    that took the base over at its end: a handover, not a vacuum; optional column, empty = nobody),
    source_note. File order is kept.

    Point in time: a deployment counts only from its ``start`` date (and not after ``end``); a handover
    is known from the replacement's ``start``.
    ``path`` overrides the shipped file of ``country_iso3``. Raises SourceFileError on bad content.
    """
    file = _country_file(path, country_iso3, FOREIGN_FORCES_FILE)
    raw, lines = _read_registry_file(file)
    for column in (c for c in OPTIONAL_FOREIGN_FORCE_COLUMNS if c not in raw.columns):  # read as empty
        at = raw.columns.get_loc("source_note") if "source_note" in raw.columns else len(raw.columns)
        raw.insert(at, column, pd.Series(pd.NA, index=raw.index, dtype="string"))
    _validate(raw, _FOREIGN_FORCES_SCHEMA, str(file), lines)
    return _typed_foreign_forces(raw)


def load_political_calendar(path: Path | str | None = None, country_iso3: str = "MLI") -> pd.DataFrame:
    """National political calendar of a country, one row per event (a two-round vote is two rows).

    Columns: date (datetime64[s]), event, kind (one of :data:`CALENDAR_KINDS`), scheduled (boolean:
    elections and referendums whose date was fixed in advance), announced_on (datetime64[s], the day
    the date was made public; NaT for unscheduled events), source_note. File order is kept.

    Point in time: a scheduled event counts as *upcoming* only from ``announced_on``; an unscheduled
    event is known only from its own ``date``. Raises SourceFileError on bad content.
    """
    file = _country_file(path, country_iso3, POLITICAL_CALENDAR_FILE)
    raw, lines = _read_registry_file(file)
    _validate(raw, _CALENDAR_SCHEMA, str(file), lines)
    return _typed_calendar(raw)


#: Placeholder of the shared actor registries for the country where the events happen (its ``actor_names``).
COUNTRY_PLACEHOLDER = "{country}"


def _for_country(raw: pd.DataFrame, country) -> pd.DataFrame:
    """``raw`` with ``{country}`` in its patterns replaced by the country's actor-name pattern (a file without a
    pattern column is left for validation to refuse)."""
    if country is None or "pattern" not in raw.columns:
        return raw
    return raw.assign(pattern=raw["pattern"].str.replace(COUNTRY_PLACEHOLDER, country.actor_pattern(), regex=False))


def _shipped_country(country):
    """``country`` (a :class:`features.country.Country`), the shipped country of that ISO3 code, or the shipped
    Mali when None."""
    if country is not None and not isinstance(country, str):
        return country
    from features.country import load_country

    return load_country(country or "MLI")


def load_actor_families(path: Path | str | None = None, country=None) -> pd.DataFrame:
    """Regular expressions that group ACLED actor names into perpetrator families, for events in ``country``.

    Columns: pattern (case-insensitive regular expression, searched anywhere in the name; no
    capturing groups), family (one of :data:`ACTOR_FAMILIES`), priority (Int64, lower wins when
    several patterns match; file order breaks ties), note. See :func:`classify_actors`.

    The shared file (``path``, default the shipped ``actor_families.csv``) writes the country where the events
    happen as ``{country}``: ``^(?:military|police) forces of {country}\b`` are its state forces, any other
    state's are foreign forces. ``country`` (a :class:`features.country.Country`; default the shipped Mali)
    fills it with its ``actor_names`` and adds the rows of its own ``actor_families.csv`` when it has one
    (its allies, auxiliaries and local groups; same columns; ranked with the shared rows by priority).
    Raises SourceFileError on bad content.
    """
    country = _shipped_country(country)
    file = Path(path) if path is not None else REGISTRY_DIR / ACTOR_FAMILIES_FILE
    frames = [_read_actor_families(file, country)]
    own = country.registry_file(ACTOR_FAMILIES_FILE)
    if own is not None and own.resolve() != file.resolve():
        frames.append(_read_actor_families(own, country))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _read_actor_families(file: Path, country) -> pd.DataFrame:
    raw, lines = _read_registry_file(file)
    raw = _for_country(raw, country)
    _validate(raw, _ACTOR_FAMILIES_SCHEMA, str(file), lines)
    return _typed_actor_families(raw)


def load_foreign_force_actors(path: Path | str | None = None, country=None) -> pd.DataFrame:
    """Regular expressions mapping ACLED actor names to foreign forces, for events in ``country``.

    Columns: pattern (case-insensitive regular expression; the first row that matches wins), force,
    kind (one of :data:`FORCE_KINDS`), note. Forces named as in ``foreign_forces.csv`` where one actor
    name is one force; "France" covers both French operations (tell Serval from Barkhane by date).
    ``{country}`` is filled as in :func:`load_actor_families`, and a row that would match the country's own
    army or police ("Military Forces of Burkina Faso" for events in Burkina Faso) is dropped: a country's own
    forces are never foreign there. See :func:`match_foreign_force`. Raises SourceFileError on bad content.
    """
    country = _shipped_country(country)
    file = Path(path) if path is not None else REGISTRY_DIR / FOREIGN_FORCE_ACTORS_FILE
    raw, lines = _read_registry_file(file)
    raw = _for_country(raw, country)
    _validate(raw, _FOREIGN_FORCE_ACTORS_SCHEMA, str(file), lines)
    own = pd.Series([f"{body} forces of {name}" for body in ("military", "police") for name in country.actor_names],
                    dtype="string")
    names_own = raw["pattern"].map(lambda pattern: bool(own.str.contains(pattern, flags=re.IGNORECASE).any()))
    return raw[~names_own.to_numpy(dtype=bool)].reset_index(drop=True)


def default_registry_paths(country="MLI") -> list[Path]:
    """The registry files a model of ``country`` (a :class:`features.country.Country` or a shipped ISO3 code)
    reads: the shared actor registries and the country's own files that exist (input of :func:`registry_version`)."""
    country = _shipped_country(country)
    own = (country.registry_file(name) for name in (FOREIGN_FORCES_FILE, POLITICAL_CALENDAR_FILE, ACTOR_FAMILIES_FILE))
    return [*(path for path in own if path is not None), REGISTRY_DIR / ACTOR_FAMILIES_FILE,
            REGISTRY_DIR / FOREIGN_FORCE_ACTORS_FILE]


# ---------------------------------------------------------------------- matching


def _first_match(unique_names: pd.Series, patterns: pd.Series) -> np.ndarray:
    """For each name, the position in ``patterns`` of the first pattern it contains; -1 if none.

    Each pattern is searched once, case-insensitively, over the names not yet matched.
    """
    position = np.full(len(unique_names), -1)
    for i, pattern in enumerate(patterns):
        undecided = position < 0
        if not undecided.any():
            break
        hit = unique_names.str.contains(pattern, flags=re.IGNORECASE, regex=True).fillna(False)
        position[undecided & hit.to_numpy(dtype=bool)] = i
    return position


def _match_positions(names: pd.Series, patterns: pd.Series) -> pd.Series:
    """Position in ``patterns`` of the first pattern each name contains (Int64; NA when none or NA name).

    Matches the distinct names only, then spreads the result back to the index of ``names``.
    """
    unique = pd.unique(names.dropna().astype("string"))
    position = _first_match(pd.Series(unique, dtype="string"), patterns)
    per_name = pd.Series(pd.array(position, dtype="Int64"), index=pd.Index(unique, dtype="string"))
    per_name = per_name.mask(per_name < 0)
    return names.astype("string").map(per_name).astype("Int64")


def _take(values: pd.Series, positions: pd.Series) -> pd.Series:
    """``values`` at ``positions`` (NA where the position is NA), as ``string`` with the positions' index."""
    candidates = np.append(values.astype("string").to_numpy(dtype=object, na_value=None), None)  # last: no match
    taken = candidates[positions.fillna(len(values)).to_numpy(dtype=int)]
    return pd.Series(pd.array(taken, dtype="string"), index=positions.index)


def classify_actors(names: pd.Series, families: pd.DataFrame) -> pd.Series:
    """Perpetrator family of each actor name.

    ``families`` is a frame as returned by :func:`load_actor_families`. Patterns are tried in
    ascending ``priority`` (file order breaks ties), each once over the distinct names; the first
    that matches gives the family. Names no pattern matches get "other"; NA names stay NA.
    Returns a ``string`` Series named "family" with the index of ``names``; inputs are not modified.
    """
    ordered = families.sort_values("priority", kind="stable")
    family = _take(ordered["family"], _match_positions(names, ordered["pattern"]))
    return family.mask(family.isna() & names.notna(), OTHER_FAMILY).rename("family")


def match_foreign_force(names: pd.Series, mapping: pd.DataFrame) -> pd.DataFrame:
    """Foreign force and kind of each actor name (NA for both when no pattern matches or the name is NA).

    ``mapping`` is a frame as returned by :func:`load_foreign_force_actors`; the first row (in file
    order) whose pattern the name contains wins. Returns a frame with the index of ``names`` and
    ``string`` columns force, kind; inputs are not modified.
    """
    positions = _match_positions(names, mapping["pattern"])
    return pd.DataFrame({column: _take(mapping[column], positions) for column in ("force", "kind")})


# ---------------------------------------------------------------------- districts


class UnassignedDeploymentError(ValueError):
    """One or more deployments could not be placed in a district."""


def assign_deployments(
    forces: pd.DataFrame, assign: Callable[[pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """``forces`` with a district_code column, placed by a gazetteer's ``assign`` method.

    ``assign`` receives latitude, longitude, admin1 (all NA) and admin2 (= ``admin2_hint``, the
    fallback when a point falls outside every polygon), with the index of ``forces``, and returns
    same-index columns district_code, assignment, unassigned_reason (see
    ``features.gazetteer.Gazetteer.assign``). Raises UnassignedDeploymentError listing every
    deployment left without a district. Returns a new frame; ``forces`` is not modified.
    """
    query = pd.DataFrame(
        {
            "latitude": forces["latitude"],
            "longitude": forces["longitude"],
            "admin1": pd.Series(pd.NA, index=forces.index, dtype="string"),
            "admin2": forces["admin2_hint"].astype("string"),
        },
        index=forces.index,
    )
    placed = assign(query)
    codes = placed["district_code"].reindex(forces.index).astype("string")
    missing = codes.isna()
    if missing.any():
        reasons = placed.get("unassigned_reason", pd.Series(pd.NA, index=placed.index)).reindex(forces.index)
        listing = "; ".join(
            f"{dep} ({loc}, {lat}, {lon}, hint {hint!r}): {reason if pd.notna(reason) else 'no district'}"
            for dep, loc, lat, lon, hint, reason in zip(
                forces.loc[missing, "deployment_id"],
                forces.loc[missing, "location"],
                forces.loc[missing, "latitude"],
                forces.loc[missing, "longitude"],
                forces.loc[missing, "admin2_hint"],
                reasons[missing],
                strict=True,
            )
        )
        raise UnassignedDeploymentError(f"{int(missing.sum())} deployment(s) not in any district: {listing}")
    return forces.assign(district_code=codes)


# ---------------------------------------------------------------------- versioning


def registry_version(paths: Iterable[Path | str] | None = None) -> str:
    """Short content hash (12 hex digits) of registry files, to record which data a model used.

    Depends on each file's bytes, name and parent folder name (the country code), not on where the
    checkout lives or on the order of ``paths``; None means :func:`default_registry_paths` for Mali.
    """
    files = [Path(p) for p in (paths if paths is not None else default_registry_paths())]
    entries = sorted(f"{f.parent.name}/{f.name}:{_file_digest(f)}" for f in files)
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------- I/O (the only file access)


def _read_registry_file(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a registry CSV as text and the file line on which each record starts.

    Cells are ``string`` (surrounding spaces stripped, empty = NA; "NA" and "null" stay text), so
    validation sees what was written. Blank lines are skipped, as pandas does. Raises SourceFileError
    for a file with no header.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        starts: list[int] = []
        previous_end = 0
        for record in reader:
            if record:
                starts.append(previous_end + 1)
            previous_end = reader.line_num
    if not starts:
        raise SourceFileError(str(path), None, None, "empty file: no header line")
    raw = pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""], encoding="utf-8")
    raw = raw.apply(lambda column: column.str.strip().mask(lambda s: s == ""))
    return raw, np.asarray(starts[1:], dtype=int)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
