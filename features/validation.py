"""Validation of the normalized event table (features.schema) with pandera.

:func:`events_schema` states what every parsed event must satisfy; :func:`validate_events` runs it
lazily (collecting every failure) and reports the first one as a SourceFileError that names the
file, the file line of the bad row, the column and the bad value (written plainly: 200, 2020-01-06,
'text'), so a person can open the file there. Text columns must not hold a NUL byte (``\x00``): it
is never a character of a real name or note, only the mark of a binary or mis-encoded file, and
many tools cut the text there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.schema import (
    ALL_EVENT_TYPES,
    EVENT_COLUMNS,
    SOURCES,
    SourceFileError,
    plain_value,
)

#: Earliest plausible event day: UCDP GED starts on 1989-01-01, ACLED on 1997-01-01.
EARLIEST_EVENT_DATE = pd.Timestamp("1989-01-01")

_UNIQUENESS_CHECKS = ("multiple_fields_uniqueness", "field_uniqueness")

#: Error text of the check every text column passes: no NUL byte.
NUL_IN_TEXT = "text must not contain a NUL byte (\\x00), the mark of a binary or mis-encoded file"


def _no_nul_byte(values: pd.Series) -> pd.Series:
    return ~values.str.contains("\x00", regex=False).fillna(False)


def events_schema(today: pd.Timestamp | None = None) -> pa.DataFrameSchema:
    """The pandera schema of the normalized event table.

    ``today`` (a day, default: the current UTC day) is the last allowed event_date.
    """
    last_day = (pd.Timestamp.now(tz="UTC").tz_localize(None) if today is None else pd.Timestamp(today)).normalize()
    checks: dict[str, list[pa.Check]] = {
        "source": [pa.Check.isin(SOURCES, error=f"source must be one of {', '.join(SOURCES)}")],
        "event_date": [
            pa.Check.ge(EARLIEST_EVENT_DATE, error=f"event_date must be on or after {EARLIEST_EVENT_DATE.date()}"),
            pa.Check.le(last_day, error=f"event_date must not be in the future (after {last_day.date()})"),
        ],
        "country_iso3": [pa.Check.str_matches(r"^[A-Z]{3}$", error="country_iso3 must be three capital letters")],
        "latitude": [pa.Check.in_range(-90, 90, error="latitude must be within [-90, 90]")],
        "longitude": [pa.Check.in_range(-180, 180, error="longitude must be within [-180, 180]")],
        "fatalities": [pa.Check.ge(0, error="fatalities must be >= 0")],
        "event_type": [pa.Check.isin(ALL_EVENT_TYPES, error=f"event_type must be one of: {', '.join(ALL_EVENT_TYPES)}")],
    }
    for name, (dtype, _) in EVENT_COLUMNS.items():
        if dtype == "string":
            checks.setdefault(name, []).append(pa.Check(_no_nul_byte, error=NUL_IN_TEXT))
    required = {"event_id", "source", "event_date", "country_iso3", "event_type", "fatalities"}
    columns = {
        name: pa.Column(dtype, checks=checks.get(name, []), nullable=name not in required)
        for name, (dtype, _) in EVENT_COLUMNS.items()
    }
    return pa.DataFrameSchema(columns, unique=["source", "event_id"], strict=True, ordered=True, name="events")


def _describe(failure: pd.Series) -> tuple[str | None, str]:
    """(column, problem) of one row of pandera's failure_cases."""
    check = str(failure["check"])
    value = failure["failure_case"]
    column = None if pd.isna(failure["column"]) else str(failure["column"])
    if check == "column_in_dataframe":
        return str(value), f"missing required column '{value}'"
    if check == "column_in_schema":
        return str(value), f"unexpected column '{value}' in the normalized event table"
    if check == "column_ordered":
        return str(value), "columns are not in the order of features.schema.EVENT_COLUMNS"
    if check.startswith("dtype("):
        return column, f"expected dtype {check[len('dtype('):-1].strip(chr(39))}, found {value}"
    if check == "not_nullable":
        return column, "empty value; a value is required"
    if check in _UNIQUENESS_CHECKS:
        return column, f"duplicate (source, event_id): event id {value!r} appears more than once"
    if pd.isna(failure["index"]):
        return column, f"{check}: {plain_value(value)}"
    return column, f"{check}; found {plain_value(value)}"


def validate_events(frame: pd.DataFrame, *, file: str, line_numbers: pd.Series | None = None) -> pd.DataFrame:
    """Check ``frame`` against :func:`events_schema` and return it unchanged when it passes.

    ``line_numbers`` gives, position by position, the file line each row of ``frame`` came from
    (default: position + 2, i.e. a header line then one line per row). On failure raises
    SourceFileError for the first problem: table-wide ones (a missing column, a wrong dtype) before
    row ones, rows in file order; the message ends with "(and N more problems)" when there are more.
    A duplicated (source, event_id) names both lines.
    """
    try:
        events_schema().validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise _first_problem(exc.failure_cases, frame, file, line_numbers) from exc
    return frame


def _first_problem(cases: pd.DataFrame, frame: pd.DataFrame, file: str, line_numbers: pd.Series | None) -> SourceFileError:
    lines = (
        np.arange(len(frame)) + 2 if line_numbers is None else np.asarray(line_numbers, dtype="int64")
    )
    # A duplicate pair is reported once per key column: keep one column so each bad row counts once.
    cases = cases[~(cases["check"].isin(_UNIQUENESS_CHECKS) & (cases["column"] != "event_id"))]
    positions = frame.index.get_indexer(cases["index"].where(cases["index"].notna()))
    table_wide = cases["index"].isna().to_numpy()
    cases = cases.assign(
        _line=np.where(table_wide | (positions < 0), -1, lines[np.clip(positions, 0, None)]),
        _column_order=cases["column"].map({name: i for i, name in enumerate(EVENT_COLUMNS)}).fillna(-1),
    ).sort_values(["_line", "_column_order"], kind="stable")
    first = cases.iloc[0]
    row = None if first["_line"] < 0 else int(first["_line"])
    column, problem = _describe(first)
    reported = 1
    if str(first["check"]) in _UNIQUENESS_CHECKS:
        twins = cases["check"].isin(_UNIQUENESS_CHECKS) & (cases["failure_case"] == first["failure_case"])
        others = [str(int(line)) for line in cases.loc[twins, "_line"].iloc[1:]]
        problem += f" (rows {row} and {', '.join(others)})"
        reported = int(twins.sum())
    if len(cases) > reported:
        problem += f" (and {len(cases) - reported} more problems)"
    return SourceFileError(file, row, column, problem)
