"""Vectorised readers for the cells of a source file, raising SourceFileError on the first bad cell.

Each reader takes one raw column (text, numbers or datetimes, as CSV, xlsx or JSON deliver them) and
``lines``, the file line number of every row (same length and order as the column), so that an
unreadable cell is reported with its file, line and column. None of them mutates its input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from features.schema import SourceFileError

#: Day formats tried in turn on a whole date column: ISO, ACLED export tool (31 July 2020 and its
#: dashed / abbreviated variants), and date-times as xlsx cells and UCDP GED write them.
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%d %B %Y",
    "%d-%B-%Y",
    "%d %b %Y",
    "%d-%b-%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, file: str) -> None:
    """Raise SourceFileError for the first of ``columns`` that the frame lacks."""
    for column in columns:
        if column not in frame.columns:
            raise SourceFileError(file, None, column, f"missing required column '{column}'")


def lowercase_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy with column names stripped and lower-cased (older ACLED exports wrote EVENT_DATE, ...)."""
    return frame.rename(columns=lambda name: str(name).strip().lower())


def as_text(values: pd.Series) -> pd.Series:
    """Cells as stripped nullable strings; blank cells become NA. Integral floats lose their '.0'."""
    text = values.astype("string").str.strip()
    if pd.api.types.is_float_dtype(values.dtype):
        text = text.str.replace(r"\.0$", "", regex=True)
    return text.mask(text == "")


def _first_bad(bad: np.ndarray, values: pd.Series, lines: Sequence[int] | np.ndarray, *, file: str, column: str, expected: str) -> None:
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise SourceFileError(file, int(lines[position]), column, f"expected {expected}, found {values.iloc[position]!r}")


def required_present(values: pd.Series, lines: Sequence[int] | np.ndarray, *, file: str, column: str) -> None:
    """Raise SourceFileError at the first empty cell of a column that must always be filled."""
    missing = values.isna().to_numpy()
    if missing.any():
        position = int(np.flatnonzero(missing)[0])
        raise SourceFileError(file, int(lines[position]), column, "empty cell; a value is required")


def as_float(values: pd.Series, lines: Sequence[int] | np.ndarray, *, file: str, column: str) -> pd.Series:
    """Cells as Float64; blank -> NA; anything that is not a number is an error."""
    return _numbers(values, lines, file=file, column=column, expected="a finite number")


def _numbers(values: pd.Series, lines: Sequence[int] | np.ndarray, *, file: str, column: str, expected: str) -> pd.Series:
    """Cells as Float64; blank -> NA; a cell that is not a finite number is an error saying ``expected``."""
    text = as_text(values)
    try:
        numbers = text.astype("Float64")
    except (TypeError, ValueError):
        # Slow path, only for a column holding some non-number: find which cell it is.
        numbers = pd.to_numeric(text, errors="coerce").astype("Float64")
    unreadable = text.notna() & ~(numbers.abs() < np.inf).fillna(False)
    _first_bad(unreadable.to_numpy(), text, lines, file=file, column=column, expected=expected)
    return numbers


def as_int(
    values: pd.Series,
    lines: Sequence[int] | np.ndarray,
    *,
    file: str,
    column: str,
    low: int | None = None,
    high: int | None = None,
) -> pd.Series:
    """Cells as Int64 ('3' and '3.0' both read as 3); blank -> NA; non-integers and values outside
    [low, high] (when given) are errors."""
    span = "" if low is None and high is None else f" in [{low if low is not None else ''}, {high if high is not None else ''}]"
    numbers = _numbers(values, lines, file=file, column=column, expected=f"a whole number{span}")
    bad = numbers.notna() & (numbers != numbers.round())
    if low is not None:
        bad |= numbers < low
    if high is not None:
        bad |= numbers > high
    _first_bad(bad.fillna(False).to_numpy(), as_text(values), lines, file=file, column=column, expected=f"a whole number{span}")
    return numbers.astype("Int64")


def as_day(
    values: pd.Series,
    lines: Sequence[int] | np.ndarray,
    *,
    file: str,
    column: str,
    formats: Sequence[str] = DATE_FORMATS,
    expected: str = "a date such as 2020-07-31 or 31 July 2020",
) -> pd.Series:
    """Cells as calendar days, datetime64[s] at midnight (no time zone); blank -> NaT.

    Text is tried against each of ``formats`` (default :data:`DATE_FORMATS`) in turn, each format
    applied at once to every cell still unread; a cell no format reads is an error saying ``expected``.
    Datetime columns are floored to the day.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        return stamps.dt.floor("D").astype("datetime64[s]")
    text = as_text(values)
    days = pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]")
    unread = text.notna()
    for fmt in _formats_first_matching(text, formats):
        if not unread.any():
            break
        parsed = pd.to_datetime(text[unread], format=fmt, errors="coerce")
        days = days.mask(unread, parsed.dt.floor("D").astype("datetime64[s]").reindex(text.index))
        unread &= days.isna()
    _first_bad(unread.to_numpy(), text, lines, file=file, column=column, expected=expected)
    return days


def _formats_first_matching(text: pd.Series, formats: Sequence[str] = DATE_FORMATS) -> list[str]:
    """``formats`` with those that read the column's first filled cell first (a file uses one format)."""
    sample = text.dropna().head(1)
    reads = [fmt for fmt in formats if pd.to_datetime(sample, format=fmt, errors="coerce").notna().all()]
    return reads + [fmt for fmt in formats if fmt not in reads]


def as_utc_timestamp(values: pd.Series, lines: Sequence[int] | np.ndarray, *, file: str, column: str) -> pd.Series:
    """Cells as datetime64[s, UTC]: unix seconds (integer text or number) or ISO 8601 date-times
    (naive ones are taken as UTC); blank -> NaT."""
    text = as_text(values)
    seconds = pd.to_numeric(text, errors="coerce")
    stamps = pd.to_datetime(seconds, unit="s", utc=True, errors="coerce").astype("datetime64[s, UTC]")
    iso = text.notna() & seconds.isna()
    if iso.any():
        parsed = pd.to_datetime(text[iso], utc=True, format="ISO8601", errors="coerce")
        stamps = stamps.mask(iso, parsed.astype("datetime64[s, UTC]").reindex(text.index))
    bad = (text.notna() & stamps.isna()).to_numpy()
    _first_bad(bad, text, lines, file=file, column=column, expected="unix seconds or an ISO 8601 date-time")
    return stamps
