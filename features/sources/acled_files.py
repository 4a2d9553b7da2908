"""ACLED event exports (CSV or xlsx files, and API JSON records) -> the normalized event table.

Accepted shapes, told apart by their columns:

* **Dyadic, older schema** (HDX files up to 2023): 31 columns from ``data_id``, ``iso``,
  ``event_id_cnty``, ``event_id_no_cnty`` ... to ``timestamp``, ``iso3``.
* **Dyadic, current schema** (export tool and API since March 2023): adds ``disorder_type``,
  ``civilian_targeting``, ``tags``; may lack ``data_id``, ``event_id_no_cnty`` and ``iso3``.
* **HDX files** carry an HXL hashtag row (``#event+code``, ``#date``, ...) as line 2; it is dropped
  and the data start on line 3.
* **Monadic** (one row per actor of an event), in two spellings: the export tool writes ``actor``,
  ``assoc_actor`` and ``inter`` instead of the actor1/actor2 pairs; the API's monadic option writes
  ``actor1``, ``assoc_actor_1``, ``inter1`` and no ``actor2``. Assumption (ACLED documents the form
  but not its column list): all rows of an event share event_id_cnty and the event-level columns,
  and rows come in actor order. Rows are folded back to one event per event_id_cnty: the event's
  first row gives the event columns and actor1, its second row's actor is actor2, and the actors of
  any further rows plus every row's associated actors (in row order, exact repeats dropped) make
  assoc_actors. Rows of one event that disagree on date, type, fatalities, coordinates or country
  are an error.

Column names are matched ignoring case and surrounding blanks. Rows whose ACLED ``source`` is exactly
"Vigie simulator" (written by our simulator) get source 'simulated', all others 'acled'.

Country: ``iso3`` where filled, else the code of the ``country`` name (features.sources.countries);
a row with neither, or with an unknown name and no code, is an error. A row whose (three-letter) ``iso3``
contradicts a country name the table knows (``XYZ`` beside ``Mali``) is an error too, at column ``iso3``: the two
cannot both be right and the code would decide the district. A code alone is taken as written (ACLED
covers the world, the name table only Africa); an event whose code is not a country code at all, or
not the gazetteer's, is never placed in the gazetteer's districts by name, and one whose code is no
known country is never placed at all (features.gazetteer.Gazetteer.assign).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import SourceFileError, conform, plain_value
from features.sources.cell_parsing import (
    as_day,
    as_float,
    as_int,
    as_text,
    as_utc_timestamp,
    lowercase_columns,
    require_columns,
    required_present,
)
from features.sources.countries import iso3_from_country_names
from features.sources.text_tables import read_text_table
from features.validation import validate_events

#: ACLED ``source`` value that marks rows written by the Vigie simulator.
SIMULATOR_MARKER = "Vigie simulator"

#: Columns every ACLED shape must have (plus ``country`` or ``iso3``, plus its actor column).
REQUIRED_COLUMNS: tuple[str, ...] = ("event_id_cnty", "event_date", "event_type", "latitude", "longitude", "fatalities")

#: Event-level columns that every row of a monadic event must repeat identically.
_MONADIC_SHARED = ("event_date", "event_type", "fatalities", "latitude", "longitude", "country_iso3")

#: (actor, associated actor) columns of each monadic spelling; detected in this order.
_MONADIC_SPELLINGS = (("actor", "assoc_actor"), ("actor1", "assoc_actor_1"))


def _drop_hxl_row(raw: pd.DataFrame, first_line: int) -> tuple[pd.DataFrame, int]:
    """Drop a leading HXL hashtag row (every filled cell starts with '#'), moving first_line on by one."""
    if raw.empty:
        return raw, first_line
    cells = raw.iloc[0].dropna().astype(str).str.strip()
    if len(cells) and cells.str.startswith("#").all():
        return raw.iloc[1:].reset_index(drop=True), first_line + 1
    return raw.reset_index(drop=True), first_line


def _monadic_columns(columns: pd.Index) -> tuple[str, str] | None:
    """(actor, assoc_actor) column names when the frame is monadic, else None (dyadic)."""
    if "actor2" in columns:
        return None
    for actor, assoc in _MONADIC_SPELLINGS:
        if actor in columns:
            return actor, assoc
    return None


def _optional(raw: pd.DataFrame, column: str) -> pd.Series:
    return raw[column] if column in raw.columns else pd.Series(pd.NA, index=raw.index, dtype="string")


def _join_actor_names(first: pd.Series, second: pd.Series) -> pd.Series:
    """'first; second', or whichever one is present, or NA."""
    return (first + "; " + second).fillna(first).fillna(second)


def _join_per_key(keys: pd.Series, names: pd.Series) -> pd.Series:
    """'; '-joined names of each key, in the given order, indexed by key.

    The names are spread into one column per rank within their key, then the columns are joined
    left to right: vectorised over keys, looping only over ranks (at most the most actors of one event).
    """
    rank = names.groupby(keys.to_numpy(), sort=False).cumcount()
    wide = pd.DataFrame({"key": keys.to_numpy(), "rank": rank.to_numpy(), "name": names.to_numpy()}).pivot(
        index="key", columns="rank", values="name"
    )
    joined = wide[0].astype("string")
    for column in wide.columns[1:]:
        joined = _join_actor_names(joined, wide[column].astype("string"))
    return joined


def _country_iso3(raw: pd.DataFrame, lines: np.ndarray, file: str) -> pd.Series:
    """ISO3 from the iso3 column where filled, else from the country name; unknown names are errors."""
    given = as_text(_optional(raw, "iso3")).str.upper()
    names = as_text(_optional(raw, "country"))
    named = iso3_from_country_names(names)
    # A malformed code (not three letters) is left to the validation, which says what a code looks like.
    well_formed = given.str.fullmatch(r"[A-Z]{3}").fillna(False).to_numpy(dtype=bool)
    contradicts = well_formed & (named.notna() & (given != named)).fillna(False).to_numpy(dtype=bool)
    if contradicts.any():
        position = int(np.flatnonzero(contradicts)[0])
        raise SourceFileError(
            file, int(lines[position]), "iso3",
            f"country code {plain_value(given.iloc[position])} contradicts country {plain_value(names.iloc[position])} "
            f"({named.iloc[position]})",
        )
    iso3 = given.fillna(named)
    unknown = (iso3.isna()).to_numpy()
    if unknown.any():
        position = int(np.flatnonzero(unknown)[0])
        name = names.iloc[position]
        problem = "empty country and iso3" if pd.isna(name) else f"unknown country name {name!r} and no iso3 code"
        raise SourceFileError(file, int(lines[position]), "country", problem)
    return iso3


def _parse_rows(raw: pd.DataFrame, actor_column: str, lines: np.ndarray, file: str) -> pd.DataFrame:
    """One typed row per raw row, named as the normalized table (actor1 = the row's actor)."""
    event_id = as_text(raw["event_id_cnty"])
    required_present(event_id, lines, file=file, column="event_id_cnty")
    event_date = as_day(raw["event_date"], lines, file=file, column="event_date")
    required_present(event_date, lines, file=file, column="event_date")
    fatalities = as_int(raw["fatalities"], lines, file=file, column="fatalities")
    required_present(fatalities, lines, file=file, column="fatalities")
    source_names = _optional(raw, "source")
    return pd.DataFrame(
        {
            "event_id": event_id,
            "source": pd.Series(np.where(source_names.eq(SIMULATOR_MARKER).fillna(False), "simulated", "acled"), index=raw.index),
            "event_date": event_date,
            "country_iso3": _country_iso3(raw, lines, file),
            "admin1": as_text(_optional(raw, "admin1")),
            "admin2": as_text(_optional(raw, "admin2")),
            "location": as_text(_optional(raw, "location")),
            "latitude": as_float(raw["latitude"], lines, file=file, column="latitude"),
            "longitude": as_float(raw["longitude"], lines, file=file, column="longitude"),
            "geo_precision": as_int(_optional(raw, "geo_precision"), lines, file=file, column="geo_precision", low=0, high=127),
            "time_precision": as_int(_optional(raw, "time_precision"), lines, file=file, column="time_precision", low=0, high=127),
            "event_type": as_text(raw["event_type"]),
            "sub_event_type": as_text(_optional(raw, "sub_event_type")),
            "actor1": as_text(raw[actor_column]),
            "interaction": as_text(_optional(raw, "interaction")),
            "fatalities": fatalities,
            "notes": as_text(_optional(raw, "notes")),
            "source_timestamp": as_utc_timestamp(_optional(raw, "timestamp"), lines, file=file, column="timestamp"),
        }
    )


def _check_monadic_consistency(rows: pd.DataFrame, first_position: np.ndarray, lines: np.ndarray, file: str) -> None:
    """Every row of a monadic event must repeat its first row's event-level values."""
    for column in _MONADIC_SHARED:
        values = rows[column].reset_index(drop=True)
        reference = values.iloc[first_position].reset_index(drop=True)
        same = (values == reference).fillna(False) | (values.isna() & reference.isna())
        if not same.all():
            position = int(np.flatnonzero(~same.to_numpy())[0])
            raise SourceFileError(
                file,
                int(lines[position]),
                column,
                f"event {rows['event_id'].iloc[position]!r} has {plain_value(values.iloc[position])} here but "
                f"{plain_value(reference.iloc[position])} on its first row (row {int(lines[first_position[position]])})",
            )


def _fold_monadic(rows: pd.DataFrame, assoc: pd.Series, lines: np.ndarray, file: str) -> tuple[pd.DataFrame, np.ndarray]:
    """One event per event_id from one row per actor; returns the events and their first rows' lines."""
    by_event = pd.Series(np.arange(len(rows))).groupby(rows["event_id"].to_numpy(), sort=False)
    rank = by_event.cumcount().to_numpy()
    _check_monadic_consistency(rows, by_event.transform("first").to_numpy(), lines, file)
    events = rows[rank == 0]
    second_actor = rows[rank == 1].set_index("event_id")["actor1"]
    pieces = pd.concat(
        [
            pd.DataFrame({"event_id": rows["event_id"], "row": np.arange(len(rows)), "slot": 0, "name": rows["actor1"]})[rank >= 2],
            pd.DataFrame({"event_id": rows["event_id"], "row": np.arange(len(rows)), "slot": 1, "name": assoc}),
        ]
    )
    pieces = pieces[pieces["name"].notna()].sort_values(["row", "slot"], kind="stable").drop_duplicates(["event_id", "name"])
    assoc_actors = _join_per_key(pieces["event_id"], pieces["name"])
    events = events.assign(
        actor2=events["event_id"].map(second_actor).astype("string"),
        assoc_actors=events["event_id"].map(assoc_actors).astype("string"),
    )
    return events, lines[rank == 0]


def normalize_acled_frame(raw: pd.DataFrame, *, file: str, first_line: int = 2) -> pd.DataFrame:
    """Normalize ACLED rows (columns as ACLED names them) into the validated event table.

    ``raw`` holds the cells as a CSV, xlsx or the ACLED API JSON deliver them (text or numbers), in any
    shape the module docstring lists; ``file`` names the source in error messages and ``first_line``
    is the file line of raw's first row (2 after a header line). Returns exactly
    features.schema.EVENT_COLUMNS, one row per event, in file order of each event's first row.
    event_date is the event's day (midnight, no time zone); source_timestamp is ACLED's ``timestamp``
    (unix seconds or ISO date-time) in UTC. Raises SourceFileError naming file, line and column for
    a missing column, an unreadable cell, an unknown country or a failed validation (including a
    duplicated event id in a dyadic file, which names both lines).
    """
    frame, first_line = _drop_hxl_row(lowercase_columns(raw), first_line)
    monadic = _monadic_columns(frame.columns)
    actor_column = monadic[0] if monadic else "actor1"
    require_columns(frame, (*REQUIRED_COLUMNS, actor_column), file=file)
    if "country" not in frame.columns and "iso3" not in frame.columns:
        raise SourceFileError(file, None, "country", "missing required column 'country' (or 'iso3')")
    lines = np.arange(len(frame), dtype="int64") + first_line
    rows = _parse_rows(frame, actor_column, lines, file)
    if monadic:
        events, event_lines = _fold_monadic(rows, as_text(_optional(frame, monadic[1])), lines, file)
    else:
        assoc = _join_actor_names(as_text(_optional(frame, "assoc_actor_1")), as_text(_optional(frame, "assoc_actor_2")))
        events = rows.assign(actor2=as_text(frame["actor2"]), assoc_actors=assoc)
        event_lines = lines
    table = conform(events)
    return validate_events(table, file=file, line_numbers=pd.Series(event_lines))


def read_acled_export(path: str | Path) -> pd.DataFrame:
    """Read an ACLED export (CSV, UTF-8 with or without BOM, or xlsx) into the validated event table.

    See :func:`normalize_acled_frame` for the shapes accepted and the errors raised.
    """
    return normalize_acled_frame(read_text_table(path), file=str(path), first_line=2)
