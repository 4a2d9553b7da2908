"""The normalized conflict-event table every source is parsed into.

One row per event. Every source parser (ACLED export files, the ACLED API, UCDP GED, the simulator)
returns a frame with exactly :data:`EVENT_COLUMNS`, in that order, with those dtypes; the event store,
the gazetteer and the feature builders read nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

#: name -> (pandas dtype, meaning). Order is the column order of the table.
EVENT_COLUMNS: dict[str, tuple[str, str]] = {
    "event_id": ("string", "The source's own event id (ACLED event_id_cnty, UCDP id); unique within a source."),
    "source": ("string", "Which source the event came from: 'acled', 'ucdp' or 'simulated'."),
    "event_date": ("datetime64[s]", "Day the event happened (midnight, no time zone)."),
    "country_iso3": ("string", "ISO 3166-1 alpha-3 country code."),
    "admin1": ("string", "First-level unit as the source names it (may be null)."),
    "admin2": ("string", "Second-level unit (district) as the source names it (may be null)."),
    "location": ("string", "Place name as the source writes it (may be null)."),
    "latitude": ("Float64", "WGS84 latitude in degrees (null when not geocoded)."),
    "longitude": ("Float64", "WGS84 longitude in degrees (null when not geocoded)."),
    "geo_precision": ("Int8", "Source's spatial precision code (ACLED 1=town, 2=near/part of region, 3=province; UCDP where_prec 1-7)."),
    "time_precision": ("Int8", "Source's date precision code (ACLED 1=day, 2=week, 3=month; UCDP date_prec 1-5)."),
    "event_type": ("string", "ACLED event type vocabulary: Battles, Explosions/Remote violence, Violence against civilians, Protests, Riots, Strategic developments."),
    "sub_event_type": ("string", "Source's sub-event type (may be null)."),
    "actor1": ("string", "Primary actor (perpetrator / side A)."),
    "actor2": ("string", "Second actor (target / side B); null when none."),
    "assoc_actors": ("string", "Associated actors of both sides, '; '-separated, null when none."),
    "interaction": ("string", "Source's interaction code or label (ACLED numeric code as text)."),
    "fatalities": ("Int64", "Reported fatalities (ACLED fatalities, UCDP best estimate); >= 0."),
    "notes": ("string", "Free-text description (may be null)."),
    "source_timestamp": ("datetime64[s, UTC]", "When the source last added or changed the event (ACLED timestamp); null when unknown."),
}

VIOLENT_EVENT_TYPES: tuple[str, ...] = ("Battles", "Explosions/Remote violence", "Violence against civilians")
ALL_EVENT_TYPES: tuple[str, ...] = VIOLENT_EVENT_TYPES + ("Protests", "Riots", "Strategic developments")
SOURCES: tuple[str, ...] = ("acled", "ucdp", "simulated")


def event_dtypes() -> dict[str, str]:
    """Column name -> pandas dtype of the normalized event table."""
    return {name: dtype for name, (dtype, _) in EVENT_COLUMNS.items()}


def empty_events() -> pd.DataFrame:
    """A zero-row normalized event table with the right columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in event_dtypes().items()})


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with exactly EVENT_COLUMNS in order, cast to their dtypes (missing columns become null)."""
    out = pd.DataFrame(index=frame.index)
    for name, dtype in event_dtypes().items():
        col = frame[name] if name in frame.columns else pd.Series(pd.NA, index=frame.index)
        out[name] = col.astype(dtype)
    return out.reset_index(drop=True)


def plain_value(value: object) -> str:
    """A cell value as a person would write it in a message: 200 (not ``np.float64(200.0)``), 16.27,
    2020-01-06 (not ``Timestamp('2020-01-06 00:00:00')``), 2020-01-06T10:15:00+00:00, 'text' (quoted,
    with control characters escaped), or "an empty cell"."""
    if isinstance(value, str):
        return repr(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return "an empty cell"
    if isinstance(value, (pd.Timestamp, datetime)):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() and stamp.tz is None else stamp.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return "an empty cell"
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    return str(value)


def newest_event(events: pd.DataFrame) -> pd.Timestamp | None:
    """The date of the newest event of a normalized event table (None when it has none)."""
    return pd.to_datetime(events["event_date"]).max() if len(events) else None


@dataclass(frozen=True)
class SourceFileError(ValueError):
    """A problem in an input file, pinned to the file, the row and the column.

    ``row`` is the 1-based line number in the file as a person sees it in an editor (header = line 1);
    ``None`` when the problem concerns the whole file (a missing column, an unknown format).
    """

    file: str
    row: int | None
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.problem}"
