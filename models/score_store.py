"""The score store: the published weekly district risk scores, in DuckDB or PostgreSQL.

Downstream systems read three objects whose shape is a documented contract (:data:`SCORE_COLUMNS`):

* ``district_risk_scores`` - the history, one row per (country, district, week, horizon);
* ``score_publications`` - one row per published (country, week): the latest publish of that week;
* ``latest_district_risk`` - a view of the rows of each country's most recent published week;

plus ``vigie_schema_version``, the migrations applied so far.

One code path serves both databases through SQLAlchemy; the few things that differ (locking,
bulk insert, recognising a concurrent writer) live in the two ``_Backend`` classes at the bottom.
A publish replaces one (country, week) in a single transaction, so a failure or a killed process
leaves the previous state untouched and a re-publish never duplicates rows.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

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
}

TIERS: tuple[str, ...] = ("low", "elevated", "high", "severe")
HORIZONS: tuple[int, ...] = (1, 4, 13)

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
_PUBLICATION_LEVEL = ("run_id", "published_at", "is_simulated", "data_cutoff")


# --------------------------------------------------------------------------------------------------
# Migrations. A migration's text is frozen once released: change the schema by appending a new one.
# --------------------------------------------------------------------------------------------------

_MIGRATION_1 = (
    """
    CREATE TABLE district_risk_scores (
        country_iso3 TEXT NOT NULL,
        district_code TEXT NOT NULL,
        district_name TEXT NOT NULL,
        admin1_name TEXT NOT NULL,
        week_start DATE NOT NULL,
        horizon_weeks INTEGER NOT NULL,
        expected_events DOUBLE PRECISION NOT NULL,
        events_lo80 DOUBLE PRECISION NOT NULL,
        events_hi80 DOUBLE PRECISION NOT NULL,
        events_lo90 DOUBLE PRECISION NOT NULL,
        events_hi90 DOUBLE PRECISION NOT NULL,
        p_any_violence_4w DOUBLE PRECISION NOT NULL,
        p_major_attack_4w DOUBLE PRECISION NOT NULL,
        risk_score DOUBLE PRECISION NOT NULL,
        tier TEXT NOT NULL,
        rank INTEGER NOT NULL,
        score_change DOUBLE PRECISION,
        driver_1 TEXT,
        driver_2 TEXT,
        driver_3 TEXT,
        data_cutoff DATE NOT NULL,
        count_model TEXT NOT NULL,
        hazard_model TEXT NOT NULL,
        run_id TEXT NOT NULL,
        published_at TIMESTAMP WITH TIME ZONE NOT NULL,
        is_simulated BOOLEAN NOT NULL,
        CONSTRAINT district_risk_scores_pk PRIMARY KEY (country_iso3, district_code, week_start, horizon_weeks),
        CONSTRAINT drs_country_iso3 CHECK (length(country_iso3) = 3),
        CONSTRAINT drs_horizon CHECK (horizon_weeks IN (1, 4, 13)),
        CONSTRAINT drs_expected_events CHECK (expected_events >= 0),
        CONSTRAINT drs_intervals CHECK (
            events_lo90 >= 0 AND events_lo90 <= events_lo80 AND events_lo80 <= events_hi80
            AND events_hi80 <= events_hi90
        ),
        CONSTRAINT drs_p_any CHECK (p_any_violence_4w BETWEEN 0 AND 1),
        CONSTRAINT drs_p_major CHECK (p_major_attack_4w BETWEEN 0 AND 1),
        CONSTRAINT drs_risk_score CHECK (risk_score BETWEEN 0 AND 100),
        CONSTRAINT drs_tier CHECK (tier IN ('low', 'elevated', 'high', 'severe')),
        CONSTRAINT drs_rank CHECK (rank >= 1),
        CONSTRAINT drs_score_change CHECK (score_change BETWEEN -100 AND 100)
    )
    """,
    "CREATE INDEX district_risk_scores_week ON district_risk_scores (country_iso3, week_start)",
    "CREATE INDEX district_risk_scores_district ON district_risk_scores (district_code, week_start)",
    """
    CREATE TABLE score_publications (
        country_iso3 TEXT NOT NULL,
        week_start DATE NOT NULL,
        run_id TEXT NOT NULL,
        published_at TIMESTAMP WITH TIME ZONE NOT NULL,
        n_rows INTEGER NOT NULL,
        is_simulated BOOLEAN NOT NULL,
        data_cutoff DATE NOT NULL,
        CONSTRAINT score_publications_pk PRIMARY KEY (country_iso3, week_start),
        CONSTRAINT sp_n_rows CHECK (n_rows > 0)
    )
    """,
    """
    CREATE VIEW latest_district_risk AS
    SELECT s.*
    FROM district_risk_scores AS s
    JOIN (
        SELECT country_iso3, MAX(week_start) AS week_start FROM score_publications GROUP BY country_iso3
    ) AS latest
      ON s.country_iso3 = latest.country_iso3 AND s.week_start = latest.week_start
    """,
)

#: (version, statements), in the order they apply.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, _MIGRATION_1),)
SCHEMA_VERSION: int = MIGRATIONS[-1][0]

_VERSION_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS vigie_schema_version ("
    " version INTEGER NOT NULL PRIMARY KEY, applied_at TIMESTAMP WITH TIME ZONE NOT NULL)"
)


# --------------------------------------------------------------------------------------------------
# Errors and results
# --------------------------------------------------------------------------------------------------


class PublishConflict(RuntimeError):
    """Another publish of the same country/week (or, on DuckDB, another writer of the file) is in progress."""


class SchemaVersionError(RuntimeError):
    """The database's schema version does not match the code's (newer, or not migrated yet)."""


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


@dataclass(frozen=True)
class PublishReport:
    """What one publish did."""

    country_iso3: str
    week_start: date
    run_id: str
    n_rows: int
    replaced_rows: int
    horizons: tuple[int, ...]
    published_at: datetime
    is_simulated: bool


# --------------------------------------------------------------------------------------------------
# Schema helpers
# --------------------------------------------------------------------------------------------------


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


def publish_lock_key(country_iso3: str, week_start: date, namespace: str = "") -> int:
    """The signed 64-bit PostgreSQL advisory-lock key guarding publishes of one (country, week).

    ``namespace`` is the database schema, so stores in different schemas of one database don't block each other.
    """
    return _lock_key(f"publish|{namespace}|{country_iso3}|{_as_date(week_start).isoformat()}")


def _lock_key(text: str) -> int:
    digest = hashlib.blake2b(f"vigie.score_store|{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


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
    _fail(raw, "week_start", out["week_start"].dt.dayofweek != 0, lambda v: f"{_describe(v)} is not a Monday")
    _fail(raw, "rank", out["rank"] < 1, lambda v: f"rank {v!r} is below 1")
    _fail(raw, "expected_events", out["expected_events"] < 0, lambda v: f"{v!r} is negative")
    _fail(raw, "events_lo90", out["events_lo90"] < 0, lambda v: f"{v!r} is negative")
    bounds = ("events_lo90", "events_lo80", "events_hi80", "events_hi90")
    for lower, upper in zip(bounds, bounds[1:]):
        _fail(raw, upper, out[upper] < out[lower], lambda v, lower=lower: f"{v!r} is below {lower}")
    outside("risk_score", 0, 100)
    outside("p_any_violence_4w", 0, 1)
    outside("p_major_attack_4w", 0, 1)
    outside("score_change", -100, 100)


def _check_one_publication(raw: pd.DataFrame, out: pd.DataFrame) -> None:
    for name in ("country_iso3", "week_start") + _PUBLICATION_LEVEL:
        values = out[name].unique()
        if len(values) > 1:
            shown = ", ".join(sorted(str(v) for v in values[:5]))
            _fail(raw, name, None, f"one publish holds exactly one value, found {len(values)} ({shown})")
    dup = out.duplicated(["district_code", "horizon_weeks"]).to_numpy()
    _fail(raw, "district_code", dup, "duplicate (district_code, horizon_weeks) in the frame")


def validate_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Check a frame of one (country, week) publish and return it with SCORE_COLUMNS, in order, cast to their dtypes.

    Raises :class:`ScoreValidationError` naming the column and, when one row is at fault, its district and week:
    missing or unknown columns, values of the wrong type, nulls in required columns, out-of-range values,
    more than one country/week/run in the frame, or duplicate districts.
    """
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(scores).__name__}")
    missing = [name for name in SCORE_COLUMNS if name not in scores.columns]
    if missing:
        _fail(scores, missing[0], None, f"missing column (missing: {', '.join(missing)})")
    unknown = [str(name) for name in scores.columns if name not in SCORE_COLUMNS]
    if unknown:
        _fail(scores, unknown[0], None, f"unknown column (not in the score schema: {', '.join(unknown)})")
    if scores.columns.duplicated().any():
        _fail(scores, None, None, "duplicate column names")
    if len(scores) == 0:
        _fail(scores, None, None, "nothing to publish: the frame has no rows")
    raw = scores.reset_index(drop=True)
    out = pd.DataFrame(
        {name: _CONVERTERS[_sql_type(kind)](raw, name) for name, (kind, _) in SCORE_COLUMNS.items()}, index=raw.index
    )
    for name in required_columns():
        _fail(raw, name, out[name].isna(), "null in a required column")
    _check_ranges(raw, out)
    _check_one_publication(raw, out)
    return out


# --------------------------------------------------------------------------------------------------
# Frame <-> database conversions
# --------------------------------------------------------------------------------------------------


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A validated score frame as an Arrow table with the store's column types (NA -> null)."""
    arrays = []
    for name, (kind, _) in SCORE_COLUMNS.items():
        col = frame[name]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind == "M":
            # datetime64[s] -> date32 directly; via timestamp would need a truncating cast.
            array = pa.array(col.dt.date, type=pa.date32(), from_pandas=True)
        else:
            array = pa.array(col, from_pandas=True).cast(ARROW_TYPES[_sql_type(kind)])
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=list(SCORE_COLUMNS))


def _conform(rows: list, names: list[str], columns: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Rows fetched from the database as a frame with the schema's pandas dtypes."""
    frame = pd.DataFrame([tuple(row) for row in rows], columns=names)
    out = {}
    for name, (kind, _) in columns.items():
        dtype = _PANDAS_DTYPES[_sql_type(kind)]
        col = frame[name]
        if dtype == "datetime64[s]":
            out[name] = pd.to_datetime(col).astype(dtype)
        elif dtype.startswith("datetime64"):
            out[name] = pd.to_datetime(col, utc=True).astype(dtype)
        else:
            out[name] = col.astype(dtype)
    return pd.DataFrame(out, index=frame.index)


def _has_version_table(conn: Connection) -> bool:
    # information_schema rather than SQLAlchemy reflection: duckdb-engine's reflection runs PostgreSQL catalog queries.
    found = conn.execute(
        sa.text(
            "SELECT COUNT(*) FROM information_schema.tables"
            " WHERE table_name = 'vigie_schema_version' AND table_schema = current_schema()"
        )
    ).scalar()
    return bool(found)


_SCORE_SELECT = ", ".join(SCORE_COLUMNS)
_SCORE_ORDER = "ORDER BY country_iso3, week_start, horizon_weeks, rank, district_code"


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------


class ScoreStore:
    """Published district risk scores in DuckDB (``duckdb:///path``) or PostgreSQL (``postgresql+psycopg://...``).

    On PostgreSQL the tables live in the connection's current schema; pick another with the libpq
    ``options=-csearch_path=<schema>`` URL parameter.
    """

    def __init__(self, url: str):
        self.url = sa.make_url(url)
        backend = _BACKENDS.get(self.url.get_backend_name())
        if backend is None:
            raise ValueError(f"unsupported score store URL {self}: use duckdb:/// or postgresql+psycopg://")
        self._backend = backend()
        self._engine: Engine = self._backend.create_engine(self.url)

    def __repr__(self) -> str:
        return f"ScoreStore({self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Release the store's connections (and, for DuckDB, the file)."""
        self._engine.dispose()

    # -- schema ------------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the schema in one transaction and return the schema version; safe to call every run.

        Raises :class:`SchemaVersionError` when the database was migrated by newer code than this one.
        """
        with self._engine.begin() as conn:
            self._backend.lock_migrations(conn)
            conn.execute(sa.text(_VERSION_TABLE_DDL))
            current = self._recorded_version(conn)
            if current > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{self} has schema version {current}, newer than this code's {SCHEMA_VERSION}: upgrade Vigie"
                )
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    conn.execute(sa.text(statement))
                conn.execute(
                    sa.text("INSERT INTO vigie_schema_version (version, applied_at) VALUES (:v, :at)"),
                    {"v": version, "at": datetime.now(timezone.utc)},
                )
        return SCHEMA_VERSION

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 when never migrated)."""
        with self._engine.connect() as conn:
            return self._recorded_version(conn) if _has_version_table(conn) else 0

    @staticmethod
    def _recorded_version(conn: Connection) -> int:
        return int(conn.execute(sa.text("SELECT COALESCE(MAX(version), 0) FROM vigie_schema_version")).scalar())

    def _require_current_schema(self, conn: Connection) -> None:
        found = self._recorded_version(conn) if _has_version_table(conn) else 0
        if found != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self} has schema version {found}, this code writes version {SCHEMA_VERSION}: "
                + ("upgrade Vigie" if found > SCHEMA_VERSION else "call ScoreStore.migrate() first")
            )

    # -- writing -----------------------------------------------------------------------------------

    def publish(self, scores: pd.DataFrame) -> PublishReport:
        """Replace one (country, week)'s scores with ``scores`` atomically; see the module docstring.

        Validates first (:class:`ScoreValidationError`, nothing written). Raises :class:`PublishConflict`
        when another publish of the same week holds it (on DuckDB: when another process holds the file).
        """
        frame = validate_scores(scores)
        first = frame.iloc[0]
        country, week = str(first["country_iso3"]), first["week_start"].date()
        meta = {
            "country": country,
            "week": week,
            "run_id": str(first["run_id"]),
            "published_at": first["published_at"].to_pydatetime(),
            "n_rows": len(frame),
            "is_simulated": bool(first["is_simulated"]),
            "data_cutoff": first["data_cutoff"].date(),
        }
        table = _to_arrow(frame)
        try:
            with self._engine.connect() as conn, conn.begin():
                self._backend.lock_publication(conn, country, week)
                self._require_current_schema(conn)
                where = {"country": country, "week": week}
                replaced = conn.execute(
                    sa.text("DELETE FROM district_risk_scores WHERE country_iso3 = :country AND week_start = :week"),
                    where,
                ).rowcount
                self._insert_rows(conn, table)
                conn.execute(
                    sa.text(
                        "INSERT INTO score_publications"
                        " (country_iso3, week_start, run_id, published_at, n_rows, is_simulated, data_cutoff)"
                        " VALUES (:country, :week, :run_id, :published_at, :n_rows, :is_simulated, :data_cutoff)"
                        " ON CONFLICT (country_iso3, week_start) DO UPDATE SET run_id = excluded.run_id,"
                        " published_at = excluded.published_at, n_rows = excluded.n_rows,"
                        " is_simulated = excluded.is_simulated, data_cutoff = excluded.data_cutoff"
                    ),
                    meta,
                )
        except sa.exc.DBAPIError as exc:
            if self._backend.is_conflict(exc):
                raise PublishConflict(
                    f"another publish of {country} week {week.isoformat()} is in progress in {self}: {exc.orig}"
                ) from exc
            raise
        return PublishReport(
            country_iso3=country,
            week_start=week,
            run_id=meta["run_id"],
            n_rows=len(frame),
            replaced_rows=max(int(replaced), 0),
            horizons=tuple(sorted(int(h) for h in frame["horizon_weeks"].unique())),
            published_at=meta["published_at"],
            is_simulated=meta["is_simulated"],
        )

    def _insert_rows(self, conn: Connection, table: pa.Table) -> None:
        """Bulk-insert validated rows inside the publish transaction (a seam the tests use to inject failures)."""
        self._backend.insert_scores(conn, table)

    # -- reading -----------------------------------------------------------------------------------

    def _read(self, sql: str, params: dict, columns: dict[str, tuple[str, str]] = SCORE_COLUMNS) -> pd.DataFrame:
        with self._engine.connect() as conn:
            result = conn.execute(sa.text(sql), params)
            return _conform(result.fetchall(), list(result.keys()), columns)

    def latest(self, country_iso3: str | None = None) -> pd.DataFrame:
        """The rows of each country's most recent published week (or of one country's)."""
        where = "WHERE country_iso3 = :country" if country_iso3 is not None else ""
        return self._read(
            f"SELECT {_SCORE_SELECT} FROM latest_district_risk {where} {_SCORE_ORDER}", {"country": country_iso3}
        )

    def week(self, week_start: date, country_iso3: str | None = None) -> pd.DataFrame:
        """The rows published for one week (of every country, or of one)."""
        where = "AND country_iso3 = :country" if country_iso3 is not None else ""
        return self._read(
            f"SELECT {_SCORE_SELECT} FROM district_risk_scores WHERE week_start = :week {where} {_SCORE_ORDER}",
            {"week": _as_date(week_start), "country": country_iso3},
        )

    def history(self, district_code: str) -> pd.DataFrame:
        """Every published row of one district, oldest week first."""
        return self._read(
            f"SELECT {_SCORE_SELECT} FROM district_risk_scores WHERE district_code = :district {_SCORE_ORDER}",
            {"district": district_code},
        )

    def previous_scores(self, country_iso3: str, before_week: date) -> pd.DataFrame:
        """The rows of the country's latest published week strictly before ``before_week`` (empty if none)."""
        return self._read(
            f"SELECT {_SCORE_SELECT} FROM district_risk_scores WHERE country_iso3 = :country AND week_start = ("
            " SELECT MAX(week_start) FROM score_publications WHERE country_iso3 = :country AND week_start < :week"
            f") {_SCORE_ORDER}",
            {"country": country_iso3, "week": _as_date(before_week)},
        )

    def publications(self) -> pd.DataFrame:
        """One row per published (country, week): the latest publish of it."""
        return self._read(
            f"SELECT {', '.join(PUBLICATION_COLUMNS)} FROM score_publications ORDER BY country_iso3, week_start",
            {},
            PUBLICATION_COLUMNS,
        )


# --------------------------------------------------------------------------------------------------
# Dialect-specific parts
# --------------------------------------------------------------------------------------------------


class _DuckDBBackend:
    """DuckDB: one writer process per file; concurrent writers in one process conflict at the row level."""

    def create_engine(self, url: sa.URL) -> Engine:
        database = url.database or ":memory:"
        if database == ":memory:":
            return sa.create_engine(url, poolclass=StaticPool)
        if not database.startswith("md:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # No pooling: an idle pooled connection would keep the file locked against other processes.
        return sa.create_engine(url, poolclass=NullPool)

    def lock_migrations(self, conn: Connection) -> None:
        """Nothing to do: DuckDB's file lock already admits one writing process."""

    def lock_publication(self, conn: Connection, country_iso3: str, week_start: date) -> None:
        """Nothing to do: a concurrent publish of the same week fails with a transaction conflict."""

    def insert_scores(self, conn: Connection, table: pa.Table) -> None:
        raw = conn.connection.driver_connection
        name = f"vigie_incoming_{uuid.uuid4().hex}"
        raw.register(name, table)
        try:
            conn.execute(
                sa.text(f"INSERT INTO district_risk_scores ({_SCORE_SELECT}) SELECT {_SCORE_SELECT} FROM {name}")
            )
        finally:
            raw.unregister(name)

    def is_conflict(self, exc: sa.exc.DBAPIError) -> bool:
        import duckdb

        message = str(exc.orig).lower()
        if isinstance(exc.orig, duckdb.IOException):
            return "could not set lock" in message  # another process has the file open
        if isinstance(exc.orig, duckdb.TransactionException):
            return True  # write-write conflict, or a duplicate key found at commit
        # A duplicate key while our own week's rows are deleted and the frame's keys are unique (validated) can only
        # be rows another transaction committed meanwhile: DuckDB reports those as constraint errors.
        return isinstance(exc.orig, duckdb.ConstraintException) and "duplicate key" in message


class _PostgresBackend:
    """PostgreSQL: publishes of one (country, week) are serialised by a transaction-scoped advisory lock."""

    def create_engine(self, url: sa.URL) -> Engine:
        return sa.create_engine(url, pool_pre_ping=True)

    def lock_migrations(self, conn: Connection) -> None:
        namespace = conn.execute(sa.text("SELECT current_schema()")).scalar() or ""
        # Blocking: a second migrate waits for the first and then finds nothing left to do.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(f"migrate|{namespace}")})

    def lock_publication(self, conn: Connection, country_iso3: str, week_start: date) -> None:
        namespace = conn.execute(sa.text("SELECT current_schema()")).scalar() or ""
        key = publish_lock_key(country_iso3, week_start, namespace)
        if not conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}).scalar():
            raise PublishConflict(
                f"another publish of {country_iso3} week {week_start.isoformat()} holds the lock (schema {namespace})"
            )

    def insert_scores(self, conn: Connection, table: pa.Table) -> None:
        raw = conn.connection.driver_connection
        rows = zip(*(column.to_pylist() for column in table.columns))
        with raw.cursor() as cursor, cursor.copy(f"COPY district_risk_scores ({_SCORE_SELECT}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def is_conflict(self, exc: sa.exc.DBAPIError) -> bool:
        return False


_BACKENDS = {"duckdb": _DuckDBBackend, "postgresql": _PostgresBackend}
