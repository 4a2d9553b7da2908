"""UCDP Georeferenced Event Dataset (GED, event-level CSV, versions 22.1 and later) -> the normalized event table.

Mapping to ACLED's vocabulary: type_of_violence 1 (state-based) -> Battles / "State-based conflict",
2 (non-state) -> Battles / "Non-state conflict", 3 (one-sided) -> Violence against civilians /
"One-sided violence". actor1 = side_a, actor2 = side_b ("Civilians" for one-sided events),
fatalities = best (UCDP's best estimate), event_date = date_start (the first possible day of the
event; date_prec says how certain it is), admin1/admin2 = adm_1/adm_2 as UCDP writes them
(e.g. "Mopti region"), location = where_coordinates, geo_precision = where_prec (1-7),
time_precision = date_prec (1-5), notes = source_headline. The country code comes from the country
name (gwnoa is a Gleditsch-Ward number, not ISO). UCDP publishes no revision time, so
source_timestamp is null; interaction and assoc_actors are null too.

**Both shapes of the CSV.** UCDP's own CSV (``best,high,low``; dates ``2020-03-01`` or
``2020-03-01 00:00:00.000``) and the download-tool export (``best_est,high_est,low_est``; dates
``MM/DD/YYYY 00:00:00``, read month first as that tool writes them; every data row ending with one extra
empty field; line breaks inside quoted text fields) are both read. When a file has both ``best`` and
``best_est``, ``best`` is used. Row numbers in errors are the file line where the event's record
*starts* (a record whose quoted text holds line breaks spans several lines; see
features.sources.text_tables.read_text_records).

**Events that span days** (``date_start`` < ``date_end``, ``date_prec`` 2-5: within a week, a month,
a year or more): counted once, on ``date_start`` (so in the week of ``date_start``), with
``time_precision`` = ``date_prec`` kept so a consumer can tell them apart; they are never spread over
the weeks they span nor dropped. ``date_end`` is not stored.

**Events located only to a region or the country** (``where_prec`` 4-7): their coordinates are the
centroid of a region, of a wider area or of the country, not of the place, so the gazetteer never places
them by their point (features.gazetteer.Gazetteer.assign, which reads source and geo_precision). They are
stored, with their coordinates, and left unassigned with a reason the ingest report lists:
``located only to the region 'Mopti region' (where_prec 4)``; ``located only to the country 'MLI'
(where_prec 6)``; ``located only to the country or international waters/airspace (where_prec 7)``;
``where_prec`` 5 (a wider area: a road between two towns, a commune, a forest, "northern Mali") is placed
by its ``adm_2`` name when UCDP gives one (UCDP puts the area inside that cercle), else unassigned
``located only to a wider area in the region 'Mopti region' (where_prec 5, no adm_2)`` or ``located only
to a wider area of the country (where_prec 5, no adm_2)`` (the area's name stays in ``location``). ``where_prec`` 1-3 (exact place, within 25 km, the cercle) are placed by their
point as before, whether or not ``adm_2`` is filled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import SourceFileError, conform
from features.sources.cell_parsing import (
    DATE_FORMATS,
    as_day,
    as_float,
    as_int,
    as_text,
    lowercase_columns,
    require_columns,
    required_present,
)
from features.sources.countries import iso3_from_country_names
from features.sources.text_tables import read_text_records
from features.validation import validate_events

REQUIRED_COLUMNS: tuple[str, ...] = (
    "id",
    "type_of_violence",
    "side_a",
    "side_b",
    "date_start",
    "best",
    "country",
    "latitude",
    "longitude",
)

#: Column names of UCDP's download-tool export -> UCDP's own names (used when the own name is absent).
DOWNLOAD_TOOL_NAMES: dict[str, str] = {"best_est": "best", "high_est": "high", "low_est": "low"}

#: Date forms of date_start / date_end: UCDP's CSV (ISO, with or without time), the download tool's, and the API's (ISO with T).
UCDP_DATE_FORMATS: tuple[str, ...] = DATE_FORMATS + ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%Y-%m-%dT%H:%M:%S")

#: type_of_violence -> (event_type, sub_event_type)
VIOLENCE_TYPES: dict[int, tuple[str, str]] = {
    1: ("Battles", "State-based conflict"),
    2: ("Battles", "Non-state conflict"),
    3: ("Violence against civilians", "One-sided violence"),
}


def _optional(raw: pd.DataFrame, column: str) -> pd.Series:
    return raw[column] if column in raw.columns else pd.Series(pd.NA, index=raw.index, dtype="string")


def normalize_ucdp_frame(
    raw: pd.DataFrame, *, file: str, first_line: int = 2, lines: np.ndarray | None = None
) -> pd.DataFrame:
    """Normalize UCDP GED rows (columns as UCDP or its download tool name them) into the validated event table.

    ``file`` names the source in error messages; ``lines`` is the file line where each row of raw starts
    (when not given, rows are taken as one line each from ``first_line``, the file line of raw's first row).
    Returns exactly features.schema.EVENT_COLUMNS, one row per GED event, in file order; event_date is
    date_start's day (midnight, no time zone). Raises SourceFileError naming file, line and column for
    a missing column, an unreadable cell, a type_of_violence other than 1-3, an unknown country name
    or a failed validation.
    """
    frame = lowercase_columns(raw).reset_index(drop=True)
    renames = {tool: own for tool, own in DOWNLOAD_TOOL_NAMES.items() if tool in frame.columns and own not in frame.columns}
    frame = frame.rename(columns=renames)
    require_columns(frame, REQUIRED_COLUMNS, file=file)
    if lines is None:
        lines = np.arange(len(frame), dtype="int64") + first_line
    lines = np.asarray(lines, dtype="int64")

    ids = as_int(frame["id"], lines, file=file, column="id")
    required_present(ids, lines, file=file, column="id")
    violence = as_int(frame["type_of_violence"], lines, file=file, column="type_of_violence", low=1, high=3)
    required_present(violence, lines, file=file, column="type_of_violence")
    event_date = as_day(frame["date_start"], lines, file=file, column="date_start", formats=UCDP_DATE_FORMATS,
                        expected="a date such as 2020-07-31, 2020-07-31 00:00:00.000 or 07/31/2020 00:00:00")
    required_present(event_date, lines, file=file, column="date_start")
    fatalities = as_int(frame["best"], lines, file=file, column="best")
    required_present(fatalities, lines, file=file, column="best")

    names = as_text(frame["country"])
    iso3 = iso3_from_country_names(names)
    unknown = iso3.isna().to_numpy()
    if unknown.any():
        position = int(np.flatnonzero(unknown)[0])
        name = names.iloc[position]
        problem = "empty country" if pd.isna(name) else f"unknown country name {name!r}"
        raise SourceFileError(file, int(lines[position]), "country", problem)

    kinds = pd.DataFrame.from_dict(VIOLENCE_TYPES, orient="index", columns=["event_type", "sub_event_type"])
    events = pd.DataFrame(
        {
            "event_id": ids.astype("string"),
            "source": "ucdp",
            "event_date": event_date,
            "country_iso3": iso3,
            "admin1": as_text(_optional(frame, "adm_1")),
            "admin2": as_text(_optional(frame, "adm_2")),
            "location": as_text(_optional(frame, "where_coordinates")),
            "latitude": as_float(frame["latitude"], lines, file=file, column="latitude"),
            "longitude": as_float(frame["longitude"], lines, file=file, column="longitude"),
            "geo_precision": as_int(_optional(frame, "where_prec"), lines, file=file, column="where_prec", low=0, high=127),
            "time_precision": as_int(_optional(frame, "date_prec"), lines, file=file, column="date_prec", low=0, high=127),
            "event_type": violence.map(kinds["event_type"]),
            "sub_event_type": violence.map(kinds["sub_event_type"]),
            "actor1": as_text(frame["side_a"]),
            "actor2": as_text(frame["side_b"]),
            "fatalities": fatalities,
            "notes": as_text(_optional(frame, "source_headline")),
        }
    )
    return validate_events(conform(events), file=file, line_numbers=pd.Series(lines))


def read_ucdp_ged(path: str | Path) -> pd.DataFrame:
    """Read a UCDP GED event file (CSV, or the same table as xlsx; UCDP's own CSV or a download-tool
    export) into the validated event table."""
    table, lines = read_text_records(path)
    return normalize_ucdp_frame(table, file=str(path), lines=lines)
