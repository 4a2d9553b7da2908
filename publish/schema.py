"""The published score schema and its validation (pure: no database).

:data:`SCORE_COLUMNS` and :data:`PUBLICATION_COLUMNS` are the documented contract of the tables that
:mod:`publish.score_store` keeps (``district_risk_scores``, ``score_publications``); exports use the same
columns and types. :func:`validate_scores` checks and converts a score frame before anything is written,
and its errors name the column and the offending district and week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from models.slots import HORIZONS

#: What the ``event_source`` columns hold (schema version 3 on).
EVENT_SOURCE_MEANING = (
    "Event data the week was scored from: 'acled', 'ucdp' or 'simulated'; the features and both champions come "
    "from this one source. 'unrecorded' for real-data rows published before schema version 3 (simulated ones "
    "were set to 'simulated')."
)
#: Values a publish may write to ``event_source`` ('unrecorded' only ever comes from the migration).
EVENT_SOURCES: tuple[str, ...] = ("acled", "ucdp", "simulated")

#: name -> (SQL type description, meaning). Order is the column order of ``district_risk_scores``.
SCORE_COLUMNS: dict[str, tuple[str, str]] = {
    "country_iso3": ("TEXT NOT NULL", "ISO 3166-1 alpha-3 code of the country."),
    "district_code": ("TEXT NOT NULL", "Admin-2 (district) code from the gazetteer; stable across publications."),
    "district_name": ("TEXT NOT NULL", "District name as the gazetteer spells it."),
    "admin1_name": ("TEXT NOT NULL", "Name of the first-level unit (region) the district belongs to."),
    "week_start": ("DATE NOT NULL", "Monday of the first week the forecast is for."),
    "horizon_weeks": ("INTEGER NOT NULL", "Forecast horizon in weeks: 1, 4 or 13."),
    "expected_events": ("DOUBLE PRECISION NOT NULL", "Expected number of violent events over the horizon (>= 0)."),
    "events_lo80": ("DOUBLE PRECISION NOT NULL", "Lower end of the central 80% predictive interval of the event count."),
    "events_hi80": ("DOUBLE PRECISION NOT NULL", "Upper end of the central 80% predictive interval of the event count."),
    "events_lo90": ("DOUBLE PRECISION NOT NULL", "Lower end of the central 90% predictive interval of the event count."),
    "events_hi90": ("DOUBLE PRECISION NOT NULL", "Upper end of the central 90% predictive interval of the event count."),
    "p_any_violence_4w": ("DOUBLE PRECISION NOT NULL", "Probability of at least one violent event in the 4 weeks from week_start."),
    "p_major_attack_4w": ("DOUBLE PRECISION NOT NULL", "Probability of at least one major attack in the 4 weeks from week_start."),
    "risk_score": ("DOUBLE PRECISION NOT NULL", "Risk score from 0 to 100: p_major_attack_4w x 100 (the hazard champion's probability of a major attack within 4 weeks)."),
    "tier": ("TEXT NOT NULL", "Risk tier: low, elevated, high or severe."),
    "rank": ("INTEGER NOT NULL", "Rank of the district's risk among the country's districts that week and horizon (1 = highest)."),
    "score_change": ("DOUBLE PRECISION", "risk_score minus the district's score in the previous published week; null if none."),
    "driver_1": ("TEXT", "Feature that moves the district's hazard most, as '+ description' (raises risk) or '- description' (lowers it); SHAP values for LightGBM, linear terms for GLMs; null when the champion offers none."),
    "driver_2": ("TEXT", "Second contributing feature (null if none)."),
    "driver_3": ("TEXT", "Third contributing feature (null if none)."),
    "data_cutoff": ("DATE NOT NULL", "Data cutoff: only events dated before this day were used (equals week_start: nothing of the forecast week itself is known)."),
    "count_model": ("TEXT NOT NULL", "Name and version of the event-count model."),
    "hazard_model": ("TEXT NOT NULL", "Name and version of the hazard (probability) model."),
    "run_id": ("TEXT NOT NULL", "Id of the pipeline run that produced the scores (the MLflow run id)."),
    "published_at": ("TIMESTAMP WITH TIME ZONE NOT NULL", "When the scores were published."),
    "is_simulated": ("BOOLEAN NOT NULL", "True when the scores come from simulated events, not real data."),
    "event_source": ("TEXT NOT NULL", EVENT_SOURCE_MEANING),
    "driver_1_feature": ("TEXT", "Catalog name of driver_1's feature (`vigie features --list`), for machines; null when driver_1 is null or on rows published before schema version 5."),
    "driver_2_feature": ("TEXT", "Catalog name of driver_2's feature (null likewise)."),
    "driver_3_feature": ("TEXT", "Catalog name of driver_3's feature (null likewise)."),
}

#: name -> (SQL type description, meaning) of ``score_publications``.
PUBLICATION_COLUMNS: dict[str, tuple[str, str]] = {
    "country_iso3": ("TEXT NOT NULL", "ISO 3166-1 alpha-3 code of the country."),
    "week_start": ("DATE NOT NULL", "The published week (Monday)."),
    "run_id": ("TEXT NOT NULL", "Run that produced the latest publish of this week."),
    "published_at": ("TIMESTAMP WITH TIME ZONE NOT NULL", "When the latest publish of this week happened."),
    "n_rows": ("INTEGER NOT NULL", "Number of district_risk_scores rows of this week."),
    "is_simulated": ("BOOLEAN NOT NULL", "True when the scores come from simulated events."),
    "data_cutoff": ("DATE NOT NULL", "Data cutoff: only events dated before this day were used (equals week_start: nothing of the forecast week itself is known)."),
    "event_source": ("TEXT NOT NULL", EVENT_SOURCE_MEANING),
}


TIERS: tuple[str, ...] = ("low", "elevated", "high", "severe")
#: Closed bounds of the bounded columns (the quality gate, the validation and the database's CHECKs agree).
RANGES: dict[str, tuple[float, float]] = {"risk_score": (0.0, 100.0), "p_any_violence_4w": (0.0, 1.0),
                                          "p_major_attack_4w": (0.0, 1.0), "score_change": (-100.0, 100.0)}
#: Interval ends, each at most the next: lo90 <= lo80 <= hi80 <= hi90 (and lo90 >= 0).
INTERVAL_ORDER: tuple[str, ...] = ("events_lo90", "events_lo80", "events_hi80", "events_hi90")

_PANDAS_DTYPES = {
    "TEXT": "string",
    "DATE": "datetime64[s]",
    "INTEGER": "Int64",
    "DOUBLE PRECISION": "Float64",
    "TIMESTAMP WITH TIME ZONE": "datetime64[us, UTC]",
    "BOOLEAN": "boolean",
}
ARROW_TYPES = {
    "TEXT": pa.string(),
    "DATE": pa.date32(),
    "INTEGER": pa.int32(),
    "DOUBLE PRECISION": pa.float64(),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
    "BOOLEAN": pa.bool_(),
}
# Columns that describe the publish as a whole: every row of one publish carries the same value.
_PUBLICATION_LEVEL = ("run_id", "published_at", "is_simulated", "data_cutoff", "event_source")


@dataclass(frozen=True)
class ScoreValidationError(ValueError):
    """A score frame that cannot be published, pinned to the column and, when one is at fault, the row."""

    column: str | None
    district_code: str | None
    week_start: str | None
    problem: str

    def __str__(self) -> str:
        where = []
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.district_code is not None or self.week_start is not None:
            where.append(f"district {self.district_code}, week {self.week_start}")
        return f"{', '.join(where)}: {self.problem}" if where else self.problem




def _sql_type(description: str) -> str:
    return description.removesuffix(" NOT NULL")


def score_dtypes() -> dict[str, str]:
    """Column name -> pandas dtype of a score frame (what the readers return and publish accepts best)."""
    return {name: _PANDAS_DTYPES[_sql_type(kind)] for name, (kind, _) in SCORE_COLUMNS.items()}


def empty_scores() -> pd.DataFrame:
    """A zero-row score frame with the right columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in score_dtypes().items()})


def required_columns() -> tuple[str, ...]:
    """The score columns that may not be null."""
    return tuple(name for name, (kind, _) in SCORE_COLUMNS.items() if kind.endswith("NOT NULL"))


def _as_date(value: date | datetime | pd.Timestamp | str) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date, got {type(value).__name__}")



# --------------------------------------------------------------------------------------------------
# Validation (pure)
# --------------------------------------------------------------------------------------------------


def _describe(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.date().isoformat() if not pd.isna(value) else None
    return str(value)


def _fail(raw: pd.DataFrame, column: str | None, bad: np.ndarray | pd.Series | None, problem) -> None:
    """Raise a ScoreValidationError for the first row flagged in ``bad`` (or for the frame when None).

    ``problem`` is a string, or a function of the offending raw value returning one.
    """
    if bad is None:
        raise ScoreValidationError(column, None, None, problem)
    flags = np.asarray(bad, dtype=bool)
    if not flags.any():
        return
    i = int(np.argmax(flags))
    district = _describe(raw["district_code"].iloc[i]) if "district_code" in raw.columns else None
    week = _describe(raw["week_start"].iloc[i]) if "week_start" in raw.columns else None
    value = raw[column].iloc[i] if column in raw.columns else None
    message = problem(value) if callable(problem) else problem
    raise ScoreValidationError(column, district, week, message)


def _type_mask(values: pd.Series, accept) -> np.ndarray:
    """True where a non-null value fails ``accept`` (elementwise; used for object columns only)."""
    notna = values.notna().to_numpy()
    return np.fromiter((n and not accept(v) for v, n in zip(values.tolist(), notna)), bool, len(values))


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _is_date_like(v: object) -> bool:
    if isinstance(v, datetime):
        return v.tzinfo is None
    return isinstance(v, (date, str, np.datetime64))


def _is_aware(v: object) -> bool:
    return isinstance(v, datetime) and v.tzinfo is not None and v.utcoffset() is not None


def _to_text(raw: pd.DataFrame, name: str) -> pd.Series:
    col = raw[name]
    if not isinstance(col.dtype, pd.StringDtype) and not col.isna().all():
        if col.dtype != object:
            _fail(raw, name, col.notna(), f"expected text, got a column of dtype {col.dtype}")
        _fail(raw, name, _type_mask(col, lambda v: isinstance(v, str)), lambda v: f"expected text, got {v!r}")
    return col.astype("string")


def _to_float(raw: pd.DataFrame, name: str) -> pd.Series:
    col = raw[name]
    if col.isna().all():
        return pd.Series(pd.NA, index=col.index, dtype="Float64")
    if pd.api.types.is_bool_dtype(col.dtype) or not (pd.api.types.is_numeric_dtype(col.dtype) or col.dtype == object):
        _fail(raw, name, col.notna(), f"expected a number, got a column of dtype {col.dtype}")
    if col.dtype == object:
        _fail(raw, name, _type_mask(col, _is_number), lambda v: f"expected a number, got {v!r}")
        col = pd.to_numeric(col)
    out = col.astype("Float64")
    _fail(raw, name, out.isin([np.inf, -np.inf]).fillna(False), lambda v: f"{v!r} is not finite")
    return out


def _to_int(raw: pd.DataFrame, name: str) -> pd.Series:
    out = _to_float(raw, name)
    _fail(raw, name, (out % 1 != 0).fillna(False), lambda v: f"expected a whole number, got {v!r}")
    return out.astype("Int64")


def _parse_dates(col: pd.Series) -> pd.Series:
    """Parse a column of date-like objects or ISO strings; unparseable values become NaT."""
    try:
        parsed = pd.to_datetime(col, errors="coerce", format="ISO8601")
    except (TypeError, ValueError):
        # Mixed kinds pandas refuses to parse in one go: fall back to one value at a time.
        parsed = pd.Series([pd.to_datetime(v, errors="coerce") for v in col.tolist()], index=col.index)
    return pd.Series(parsed, index=col.index)


def _to_date(raw: pd.DataFrame, name: str) -> pd.Series:
    col = raw[name]
    if col.isna().all():
        return pd.Series(pd.NaT, index=col.index, dtype="datetime64[s]")
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        _fail(raw, name, col.notna(), "expected a date, got a time-zone-aware timestamp")
    if not pd.api.types.is_datetime64_dtype(col.dtype):
        if not (col.dtype == object or isinstance(col.dtype, pd.StringDtype)):
            _fail(raw, name, col.notna(), f"expected a date, got a column of dtype {col.dtype}")
        if col.dtype == object:
            _fail(raw, name, _type_mask(col, _is_date_like), lambda v: f"expected a date, got {v!r}")
        parsed = _parse_dates(col)
        if not pd.api.types.is_datetime64_dtype(parsed.dtype):
            _fail(raw, name, col.notna(), "expected dates without a time zone")
        _fail(raw, name, (parsed.isna() & col.notna()).to_numpy(), lambda v: f"{v!r} is not a valid date")
        col = parsed
    _fail(raw, name, ((col != col.dt.normalize()) & col.notna()).to_numpy(),
          lambda v: f"expected a date, {v!r} has a time of day")
    return col.astype("datetime64[s]")


def _to_timestamp(raw: pd.DataFrame, name: str) -> pd.Series:
    col = raw[name]
    if col.isna().all():
        return pd.Series(pd.NaT, index=col.index, dtype="datetime64[us, UTC]")
    if pd.api.types.is_datetime64_dtype(col.dtype):
        _fail(raw, name, col.notna(), "expected a time-zone-aware timestamp, got naive ones")
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        if col.dtype != object:
            _fail(raw, name, col.notna(), f"expected a timestamp, got a column of dtype {col.dtype}")
        _fail(raw, name, _type_mask(col, _is_aware), lambda v: f"expected a time-zone-aware timestamp, got {v!r}")
        col = pd.to_datetime(col, utc=True)
    return col.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def _to_bool(raw: pd.DataFrame, name: str) -> pd.Series:
    col = raw[name]
    if not pd.api.types.is_bool_dtype(col.dtype) and not col.isna().all():
        if col.dtype != object:
            _fail(raw, name, col.notna(), f"expected true/false, got a column of dtype {col.dtype}")
        _fail(raw, name, _type_mask(col, lambda v: isinstance(v, (bool, np.bool_))),
              lambda v: f"expected true/false, got {v!r}")
    return col.astype("boolean")


_CONVERTERS = {
    "TEXT": _to_text,
    "DATE": _to_date,
    "INTEGER": _to_int,
    "DOUBLE PRECISION": _to_float,
    "TIMESTAMP WITH TIME ZONE": _to_timestamp,
    "BOOLEAN": _to_bool,
}


def _check_ranges(raw: pd.DataFrame, out: pd.DataFrame) -> None:
    def outside(name: str, lo: float, hi: float) -> None:
        _fail(raw, name, ~out[name].between(lo, hi).fillna(True), lambda v: f"{v!r} is outside [{lo:g}, {hi:g}]")

    _fail(raw, "country_iso3", ~out["country_iso3"].str.fullmatch(r"[A-Z]{3}").fillna(True),
          lambda v: f"{v!r} is not an ISO 3166-1 alpha-3 code")
    _fail(raw, "horizon_weeks", ~out["horizon_weeks"].isin(HORIZONS), lambda v: f"{v!r} is not one of {HORIZONS}")
    _fail(raw, "tier", ~out["tier"].isin(TIERS), lambda v: f"{v!r} is not one of {TIERS}")
    _fail(raw, "event_source", ~out["event_source"].isin(EVENT_SOURCES),
          lambda v: f"{v!r} is not one of {EVENT_SOURCES}")
    _fail(raw, "is_simulated", out["is_simulated"] != (out["event_source"] == "simulated"),
          lambda v: f"is_simulated {v!r} contradicts event_source (true exactly when the source is 'simulated')")
    _fail(raw, "week_start", out["week_start"].dt.dayofweek != 0, lambda v: f"{_describe(v)} is not a Monday")
    _fail(raw, "rank", out["rank"] < 1, lambda v: f"rank {v!r} is below 1")
    _fail(raw, "expected_events", out["expected_events"] < 0, lambda v: f"{v!r} is negative")
    _fail(raw, "events_lo90", out["events_lo90"] < 0, lambda v: f"{v!r} is negative")
    for lower, upper in zip(INTERVAL_ORDER, INTERVAL_ORDER[1:]):
        _fail(raw, upper, out[upper] < out[lower], lambda v, lower=lower: f"{v!r} is below {lower}")
    for name, (lo, hi) in RANGES.items():
        outside(name, lo, hi)


def _check_one_publication(raw: pd.DataFrame, out: pd.DataFrame) -> None:
    for name in ("country_iso3", "week_start") + _PUBLICATION_LEVEL:
        values = out[name].unique()
        if len(values) > 1:
            shown = ", ".join(sorted(str(v) for v in values[:5]))
            _fail(raw, name, None, f"one publish holds exactly one value, found {len(values)} ({shown})")
    dup = out.duplicated(["district_code", "horizon_weeks"]).to_numpy()
    _fail(raw, "district_code", dup, "duplicate (district_code, horizon_weeks) in the frame")


def _typed(frame: pd.DataFrame, columns: dict[str, tuple[str, str]], schema: str,
           empty: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frame`` (index reset) and its ``columns``, in order, cast to their types; refuses missing, unknown or
    duplicate columns, no rows (``empty``), values of the wrong type and nulls in NOT NULL columns."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        _fail(frame, missing[0], None, f"missing column (missing: {', '.join(missing)})")
    unknown = [str(name) for name in frame.columns if name not in columns]
    if unknown:
        _fail(frame, unknown[0], None, f"unknown column (not in the {schema} schema: {', '.join(unknown)})")
    if frame.columns.duplicated().any():
        _fail(frame, None, None, "duplicate column names")
    if len(frame) == 0:
        _fail(frame, None, None, f"{empty}: the frame has no rows")
    raw = frame.reset_index(drop=True)
    out = pd.DataFrame({name: _CONVERTERS[_sql_type(kind)](raw, name) for name, (kind, _) in columns.items()},
                       index=raw.index)
    for name, (kind, _) in columns.items():
        if kind.endswith("NOT NULL"):
            _fail(raw, name, out[name].isna(), "null in a required column")
    return raw, out


def validate_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Check a frame of one (country, week) publish and return it with SCORE_COLUMNS, in order, cast to their dtypes.

    Raises :class:`ScoreValidationError` naming the column and, when one row is at fault, its district and week:
    missing or unknown columns, values of the wrong type, nulls in required columns, out-of-range values,
    more than one country/week/run in the frame, or duplicate districts.
    """
    raw, out = _typed(scores, SCORE_COLUMNS, "score", "nothing to publish")
    _check_ranges(raw, out)
    _check_one_publication(raw, out)
    return out


# --------------------------------------------------------------------------------------------------
# What-if scenarios (schema version 4 on)
# --------------------------------------------------------------------------------------------------

#: name -> (SQL type description, meaning) of ``scenario_scores``: one row per (scenario, country, week,
#: district, horizon); never mixed with ``district_risk_scores``.
SCENARIO_COLUMNS: dict[str, tuple[str, str]] = {
    "scenario_id": ("TEXT NOT NULL", "Id of the scenario file (its 'id' key)."),
    "scenario_title": ("TEXT NOT NULL", "Title of the scenario file."),
    "scenario_sha256": ("TEXT NOT NULL", "SHA-256 of the scenario file's text: which version of the file was scored."),
    "country_iso3": ("TEXT NOT NULL", "ISO 3166-1 alpha-3 code of the country."),
    "district_code": ("TEXT NOT NULL", "Admin-2 (district) code from the gazetteer."),
    "district_name": ("TEXT NOT NULL", "District name as the gazetteer spells it."),
    "admin1_name": ("TEXT NOT NULL", "Name of the region the district belongs to."),
    "week_start": ("DATE NOT NULL", "Monday of the first week the forecasts are for; the scenario's changes take effect by then."),
    "horizon_weeks": ("INTEGER NOT NULL", "Forecast horizon in weeks: 1, 4 or 13."),
    "expected_events_baseline": ("DOUBLE PRECISION NOT NULL", "Expected violent events over the horizon with the registry as it is (the force-aware count model)."),
    "expected_events_scenario": ("DOUBLE PRECISION NOT NULL", "Expected violent events over the horizon under the scenario (same model, same data)."),
    "expected_events_change": ("DOUBLE PRECISION NOT NULL", "expected_events_scenario minus expected_events_baseline."),
    "change_lo90": ("DOUBLE PRECISION NOT NULL", "Lower end of the 90% interval of the change, from the uncertainty of the estimated force effects (district-clustered, delta method)."),
    "change_hi90": ("DOUBLE PRECISION NOT NULL", "Upper end of that interval."),
    "events_lo80_baseline": ("DOUBLE PRECISION NOT NULL", "Lower end of the central 80% predictive interval of the count, registry as it is."),
    "events_hi80_baseline": ("DOUBLE PRECISION NOT NULL", "Upper end of the central 80% predictive interval, registry as it is."),
    "events_lo80_scenario": ("DOUBLE PRECISION NOT NULL", "Lower end of the central 80% predictive interval under the scenario."),
    "events_hi80_scenario": ("DOUBLE PRECISION NOT NULL", "Upper end of the central 80% predictive interval under the scenario."),
    "p_major_attack_4w_baseline": ("DOUBLE PRECISION NOT NULL", "P(at least one major attack in the 4 weeks from week_start), registry as it is (the force-aware hazard model)."),
    "p_major_attack_4w_scenario": ("DOUBLE PRECISION NOT NULL", "The same probability under the scenario."),
    "p_major_attack_4w_change": ("DOUBLE PRECISION NOT NULL", "p_major_attack_4w_scenario minus p_major_attack_4w_baseline."),
    "count_model": ("TEXT NOT NULL", "The force-aware count recipe and the rows it was fitted on."),
    "hazard_model": ("TEXT NOT NULL", "The force-aware hazard recipe and the rows it was fitted on."),
    "event_source": ("TEXT NOT NULL", EVENT_SOURCE_MEANING),
    "run_id": ("TEXT NOT NULL", "Id of the MLflow run of the scenario."),
    "published_at": ("TIMESTAMP WITH TIME ZONE NOT NULL", "When the scenario rows were written."),
}
SCENARIO_KEY = ("scenario_id", "country_iso3", "week_start", "district_code", "horizon_weeks")
_PROBABILITIES = ("p_major_attack_4w_baseline", "p_major_attack_4w_scenario")


def validate_scenario_scores(rows: pd.DataFrame) -> pd.DataFrame:
    """Check a frame of one (scenario, country, week) and return it with SCENARIO_COLUMNS, in order, typed.

    Raises :class:`ScoreValidationError` naming the column (and district and week when one row is at fault):
    missing or unknown columns, wrong types, nulls, horizons, probabilities outside [0, 1], negative expected
    counts, an interval of the change that does not hold the change, several scenarios or weeks, duplicate rows.
    """
    raw, out = _typed(rows, SCENARIO_COLUMNS, "scenario", "nothing to write")
    _fail(raw, "horizon_weeks", ~out["horizon_weeks"].isin(HORIZONS), lambda v: f"{v!r} is not one of {HORIZONS}")
    _fail(raw, "event_source", ~out["event_source"].isin(EVENT_SOURCES), lambda v: f"{v!r} is not one of {EVENT_SOURCES}")
    _fail(raw, "week_start", out["week_start"].dt.dayofweek != 0, lambda v: f"{_describe(v)} is not a Monday")
    for name in ("expected_events_baseline", "expected_events_scenario", "events_lo80_baseline", "events_lo80_scenario"):
        _fail(raw, name, out[name] < 0, lambda v: f"{v!r} is negative")
    for name in _PROBABILITIES:
        _fail(raw, name, ~out[name].between(0.0, 1.0), lambda v: f"{v!r} is outside [0, 1]")
    slack = 1e-9 * (1.0 + out["expected_events_change"].abs())
    _fail(raw, "change_lo90", out["change_lo90"] > out["expected_events_change"] + slack,
          lambda v: f"{v!r} is above expected_events_change")
    _fail(raw, "change_hi90", out["change_hi90"] < out["expected_events_change"] - slack,
          lambda v: f"{v!r} is below expected_events_change")
    for name in ("scenario_id", "scenario_sha256", "country_iso3", "week_start", "run_id", "published_at"):
        if out[name].nunique() > 1:
            _fail(raw, name, None, f"one write holds exactly one value, found {out[name].nunique()}")
    _fail(raw, "district_code", out.duplicated(["district_code", "horizon_weeks"]).to_numpy(),
          "duplicate (district_code, horizon_weeks) in the frame")
    return out
