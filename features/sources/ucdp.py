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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import SourceFileError, conform
from features.sources.cell_parsing import (
    as_day,
    as_float,
    as_int,
    as_text,
    lowercase_columns,
    require_columns,
    required_present,
)
from features.sources.countries import iso3_from_country_names
from features.sources.text_tables import read_text_table
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

#: type_of_violence -> (event_type, sub_event_type)
VIOLENCE_TYPES: dict[int, tuple[str, str]] = {
    1: ("Battles", "State-based conflict"),
    2: ("Battles", "Non-state conflict"),
    3: ("Violence against civilians", "One-sided violence"),
}


def _optional(raw: pd.DataFrame, column: str) -> pd.Series:
    return raw[column] if column in raw.columns else pd.Series(pd.NA, index=raw.index, dtype="string")


def normalize_ucdp_frame(raw: pd.DataFrame, *, file: str, first_line: int = 2) -> pd.DataFrame:
    """Normalize UCDP GED rows (columns as UCDP names them) into the validated event table.

    ``file`` names the source in error messages; ``first_line`` is the file line of raw's first row.
    Returns exactly features.schema.EVENT_COLUMNS, one row per GED event, in file order; event_date is
    date_start's day (midnight, no time zone). Raises SourceFileError naming file, line and column for
    a missing column, an unreadable cell, a type_of_violence other than 1-3, an unknown country name
    or a failed validation.
    """
    frame = lowercase_columns(raw).reset_index(drop=True)
    require_columns(frame, REQUIRED_COLUMNS, file=file)
    lines = np.arange(len(frame), dtype="int64") + first_line

    ids = as_int(frame["id"], lines, file=file, column="id")
    required_present(ids, lines, file=file, column="id")
    violence = as_int(frame["type_of_violence"], lines, file=file, column="type_of_violence", low=1, high=3)
    required_present(violence, lines, file=file, column="type_of_violence")
    event_date = as_day(frame["date_start"], lines, file=file, column="date_start")
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
    """Read a UCDP GED event file (CSV, or the same table as xlsx) into the validated event table."""
    return normalize_ucdp_frame(read_text_table(path), file=str(path), first_line=2)
