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
import os
import socket
import time
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

from publish.faults import pause_point
from publish.schema import (
    _PANDAS_DTYPES,
    ARROW_TYPES,
    PUBLICATION_COLUMNS,
    SCENARIO_COLUMNS,
    SCORE_COLUMNS,
    _as_date,
    _sql_type,
    validate_scenario_scores,
    validate_scores,
)

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

_MIGRATION_2 = (
    """
    CREATE TABLE publish_leases (
        country_iso3 TEXT NOT NULL,
        week_start DATE NOT NULL,
        lease_id TEXT NOT NULL,
        holder TEXT NOT NULL,
        acquired_at TIMESTAMP WITH TIME ZONE NOT NULL,
        expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
        CONSTRAINT publish_leases_pk PRIMARY KEY (country_iso3, week_start)
    )
    """,
)

# The event source of every row and publish. DuckDB cannot alter a table that has indexes or a view on it,
# nor set NOT NULL after an UPDATE in the same transaction: hence the order (drop, add with a default,
# NOT NULL, drop the default, recreate, then backfill the simulated rows).
_LATEST_VIEW = _MIGRATION_1[-1]


def _add_event_source(table: str) -> tuple[str, ...]:
    return (
        f"ALTER TABLE {table} ADD COLUMN event_source TEXT DEFAULT 'unrecorded'",
        f"ALTER TABLE {table} ALTER COLUMN event_source SET NOT NULL",
        f"ALTER TABLE {table} ALTER COLUMN event_source DROP DEFAULT",
    )


_MIGRATION_3 = (
    "DROP VIEW latest_district_risk",
    "DROP INDEX district_risk_scores_week",
    "DROP INDEX district_risk_scores_district",
    *_add_event_source("district_risk_scores"),
    *_add_event_source("score_publications"),
    *_MIGRATION_1[1:3],
    "UPDATE district_risk_scores SET event_source = 'simulated' WHERE is_simulated",
    "UPDATE score_publications SET event_source = 'simulated' WHERE is_simulated",
    _LATEST_VIEW,
)

# What-if scenarios: their own table, never mixed with the published scores.
_MIGRATION_4 = (
    """
    CREATE TABLE scenario_scores (
        scenario_id TEXT NOT NULL,
        scenario_title TEXT NOT NULL,
        scenario_sha256 TEXT NOT NULL,
        country_iso3 TEXT NOT NULL,
        district_code TEXT NOT NULL,
        district_name TEXT NOT NULL,
        admin1_name TEXT NOT NULL,
        week_start DATE NOT NULL,
        horizon_weeks INTEGER NOT NULL,
        expected_events_baseline DOUBLE PRECISION NOT NULL,
        expected_events_scenario DOUBLE PRECISION NOT NULL,
        expected_events_change DOUBLE PRECISION NOT NULL,
        change_lo90 DOUBLE PRECISION NOT NULL,
        change_hi90 DOUBLE PRECISION NOT NULL,
        events_lo80_baseline DOUBLE PRECISION NOT NULL,
        events_hi80_baseline DOUBLE PRECISION NOT NULL,
        events_lo80_scenario DOUBLE PRECISION NOT NULL,
        events_hi80_scenario DOUBLE PRECISION NOT NULL,
        p_major_attack_4w_baseline DOUBLE PRECISION NOT NULL CHECK (p_major_attack_4w_baseline BETWEEN 0 AND 1),
        p_major_attack_4w_scenario DOUBLE PRECISION NOT NULL CHECK (p_major_attack_4w_scenario BETWEEN 0 AND 1),
        p_major_attack_4w_change DOUBLE PRECISION NOT NULL,
        count_model TEXT NOT NULL,
        hazard_model TEXT NOT NULL,
        event_source TEXT NOT NULL,
        run_id TEXT NOT NULL,
        published_at TIMESTAMP WITH TIME ZONE NOT NULL,
        CONSTRAINT scenario_scores_pk PRIMARY KEY (scenario_id, country_iso3, week_start, district_code, horizon_weeks)
    )
    """,
)

# The catalog name of each driver's feature, beside its text (null on rows published before version 5).
_MIGRATION_5 = (
    "DROP VIEW latest_district_risk",
    "DROP INDEX district_risk_scores_week",
    "DROP INDEX district_risk_scores_district",
    *(f"ALTER TABLE district_risk_scores ADD COLUMN driver_{k}_feature TEXT" for k in (1, 2, 3)),
    *_MIGRATION_1[1:3],
    _LATEST_VIEW,
)

#: (version, statements), in the order they apply.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, _MIGRATION_1), (2, _MIGRATION_2), (3, _MIGRATION_3),
                                                       (4, _MIGRATION_4), (5, _MIGRATION_5))
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


class LeaseHeld(PublishConflict):
    """Another live run holds the publish lease of the same (country, week)."""


class StoreUnavailable(RuntimeError):
    """The score store cannot be reached or opened (server down, wrong address, file held by another process)."""


@dataclass(frozen=True)
class Lease:
    """A run's claim on publishing one (country, week); ``holder`` is ``host:pid``."""

    country_iso3: str
    week_start: date
    lease_id: str
    holder: str
    expires_at: datetime


def this_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_alive(holder: str) -> bool:
    """False only when ``holder`` ran on this host and its process is gone (a killed run); other hosts' holders
    are taken as alive until their lease expires."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SchemaVersionError(RuntimeError):
    """The database's schema version does not match the code's (newer, or not migrated yet)."""


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
    event_source: str


# --------------------------------------------------------------------------------------------------
# Schema helpers
# --------------------------------------------------------------------------------------------------


def publish_lock_key(country_iso3: str, week_start: date, namespace: str = "") -> int:
    """The signed 64-bit PostgreSQL advisory-lock key guarding publishes of one (country, week).

    ``namespace`` is the database schema, so stores in different schemas of one database don't block each other.
    """
    return _lock_key(f"publish|{namespace}|{country_iso3}|{_as_date(week_start).isoformat()}")


def _lock_key(text: str) -> int:
    digest = hashlib.blake2b(f"vigie.score_store|{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)



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


#: How long a connection waits for a DuckDB file another process holds; PostgreSQL's connect timeout.
LOCK_WAIT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5

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
        with self._connection(begin=True) as conn:
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

    @contextmanager
    def _connection(self, *, begin: bool = False):
        """A connection (in a transaction when ``begin``). A DuckDB file another process holds is waited for up
        to :data:`LOCK_WAIT_SECONDS`, then :class:`PublishConflict`; a store that does not answer raises
        :class:`StoreUnavailable` in one line."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                conn = self._engine.connect()
                break
            except sa.exc.DBAPIError as exc:
                first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
                if self._backend.is_conflict(exc):
                    if time.monotonic() < deadline:
                        time.sleep(0.25)
                        continue
                    raise PublishConflict(f"score store {self} is held by another process "
                                          f"(waited {LOCK_WAIT_SECONDS:g} s): {first}") from None
                raise StoreUnavailable(f"score store {self} is unavailable: {first}") from None
        try:
            if begin:
                with conn.begin():
                    yield conn
            else:
                yield conn
        finally:
            conn.close()

    def migrated(self) -> "ScoreStore":
        """This store after :meth:`migrate` (for one-line use: ``ScoreStore(url).migrated().publish(...)``)."""
        self.migrate()
        return self

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 when never migrated)."""
        with self._connection() as conn:
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

    # -- leases ------------------------------------------------------------------------------------

    def acquire_lease(self, country_iso3: str, week_start: date, *, ttl: timedelta) -> Lease:
        """Claim publishing ``country_iso3``'s week for this process, for ``ttl``.

        Raises :class:`LeaseHeld` naming the holder when another live run holds it. A lease whose holder process
        is gone (killed on this host) or whose time ran out is taken over.
        """
        week = _as_date(week_start)
        now = datetime.now(timezone.utc)
        lease = Lease(country_iso3, week, uuid.uuid4().hex, this_holder(), now + ttl)
        key = {"country": country_iso3, "week": week}
        with self._connection(begin=True) as conn:
            self._backend.lock_lease(conn, country_iso3, week)
            self._require_current_schema(conn)
            held = conn.execute(sa.text(
                "SELECT lease_id, holder, acquired_at, expires_at FROM publish_leases"
                " WHERE country_iso3 = :country AND week_start = :week"), key).first()
            if held is not None:
                expires = pd.Timestamp(held.expires_at).tz_convert("UTC") if pd.Timestamp(held.expires_at).tzinfo \
                    else pd.Timestamp(held.expires_at).tz_localize("UTC")
                if expires > pd.Timestamp(now) and holder_alive(held.holder):
                    raise LeaseHeld(
                        f"{country_iso3} week {week.isoformat()} is being published by another run ({held.holder}, "
                        f"since {pd.Timestamp(held.acquired_at).strftime('%Y-%m-%d %H:%M:%S')} UTC, lease until "
                        f"{expires.strftime('%Y-%m-%d %H:%M:%S')} UTC) in {self}: nothing was done; run again when it "
                        "has finished")
                conn.execute(sa.text("DELETE FROM publish_leases WHERE country_iso3 = :country AND week_start = :week"), key)
            conn.execute(sa.text(
                "INSERT INTO publish_leases (country_iso3, week_start, lease_id, holder, acquired_at, expires_at)"
                " VALUES (:country, :week, :lease_id, :holder, :acquired_at, :expires_at)"),
                key | {"lease_id": lease.lease_id, "holder": lease.holder, "acquired_at": now, "expires_at": lease.expires_at})
        return lease

    def acquire_leases(self, countries: Sequence[str], week_start: date, *, ttl: timedelta) -> tuple[Lease, ...]:
        """:meth:`acquire_lease` of every country of a regional run, in order; when one is held by another run,
        the ones already taken are given back and :class:`LeaseHeld` is raised (nothing is half-claimed)."""
        taken: list[Lease] = []
        try:
            for country in countries:
                taken.append(self.acquire_lease(country, week_start, ttl=ttl))
        except BaseException:
            self.release_lease(tuple(taken))
            raise
        return tuple(taken)

    def release_lease(self, lease: Lease | Sequence[Lease]) -> None:
        """Give the lease (or each of a regional run's leases) back; nothing happens for one already taken over."""
        leases = (lease,) if isinstance(lease, Lease) else tuple(lease)
        with self._connection(begin=True) as conn:
            for one in leases:
                conn.execute(sa.text("DELETE FROM publish_leases WHERE lease_id = :lease_id"), {"lease_id": one.lease_id})

    def leases(self) -> pd.DataFrame:
        """The leases held now (one row per (country, week) being published)."""
        with self._connection() as conn:
            rows = conn.execute(sa.text(
                "SELECT country_iso3, week_start, lease_id, holder, acquired_at, expires_at FROM publish_leases"
                " ORDER BY country_iso3, week_start")).all()
        return pd.DataFrame([tuple(r) for r in rows],
                            columns=["country_iso3", "week_start", "lease_id", "holder", "acquired_at", "expires_at"])

    # -- writing -----------------------------------------------------------------------------------

    def publish(self, scores: pd.DataFrame, lease: Lease | Sequence[Lease] | None = None) -> PublishReport:
        """Replace one (country, week)'s scores with ``scores`` atomically; see the module docstring.

        A regional run's ``scores`` hold several countries of one week (and ``lease`` one lease per country):
        each country's week is replaced as its own publication, all of them in one transaction, so the region's
        week is published whole or not at all; the report then sums the countries (``country_iso3`` their codes
        joined by "+").

        Validates first (:class:`ScoreValidationError`, nothing written). Raises :class:`PublishConflict`
        when another publish of the same week holds it (on DuckDB: when another process holds the file), or
        when ``lease`` is given and is no longer this run's (another run took the week over).
        """
        countries = list(dict.fromkeys(scores["country_iso3"].astype(str))) if "country_iso3" in scores else []
        frames = [validate_scores(scores[scores["country_iso3"].astype(str) == c]) for c in countries] \
            if len(countries) > 1 else [validate_scores(scores)]
        metas = [self._publication_meta(frame) for frame in frames]
        leases = {} if lease is None or isinstance(lease, Lease) else {one.country_iso3: one for one in lease}
        replaced = 0
        try:
            with self._connection(begin=True) as conn:
                for frame, meta in zip(frames, metas, strict=True):
                    own = lease if isinstance(lease, Lease) else leases.get(meta["country"])
                    replaced += self._replace_week(conn, frame, meta, own, lease is not None)
        except sa.exc.DBAPIError as exc:
            if self._backend.is_conflict(exc):
                which = "+".join(m["country"] for m in metas)
                raise PublishConflict(
                    f"another publish of {which} week {metas[0]['week'].isoformat()} is in progress in {self}: {exc.orig}"
                ) from exc
            raise
        first = metas[0]
        return PublishReport(
            country_iso3="+".join(m["country"] for m in metas),
            week_start=first["week"],
            run_id=first["run_id"],
            n_rows=sum(m["n_rows"] for m in metas),
            replaced_rows=max(int(replaced), 0),
            horizons=tuple(sorted(int(h) for h in frames[0]["horizon_weeks"].unique())),
            published_at=first["published_at"],
            is_simulated=first["is_simulated"],
            event_source=first["event_source"],
        )

    @staticmethod
    def _publication_meta(frame: pd.DataFrame) -> dict:
        first = frame.iloc[0]
        return {
            "country": str(first["country_iso3"]),
            "week": first["week_start"].date(),
            "run_id": str(first["run_id"]),
            "published_at": first["published_at"].to_pydatetime(),
            "n_rows": len(frame),
            "is_simulated": bool(first["is_simulated"]),
            "data_cutoff": first["data_cutoff"].date(),
            "event_source": str(first["event_source"]),
        }

    def _replace_week(self, conn: Connection, frame: pd.DataFrame, meta: dict, lease: Lease | None,
                      leased: bool) -> int:
        """Inside the publish transaction: one (country, week)'s rows and publication; the rows it replaced."""
        country, week = meta["country"], meta["week"]
        self._backend.lock_publication(conn, country, week)
        self._require_current_schema(conn)
        if leased:
            if lease is None:
                raise PublishConflict(f"no publish lease for {country} week {week.isoformat()}; nothing published")
            self._require_lease(conn, lease, country, week)
        where = {"country": country, "week": week}
        replaced = conn.execute(
            sa.text("DELETE FROM district_risk_scores WHERE country_iso3 = :country AND week_start = :week"), where,
        ).rowcount
        self._insert_rows(conn, _to_arrow(frame))
        conn.execute(
            sa.text(
                "INSERT INTO score_publications"
                " (country_iso3, week_start, run_id, published_at, n_rows, is_simulated, data_cutoff,"
                " event_source)"
                " VALUES (:country, :week, :run_id, :published_at, :n_rows, :is_simulated, :data_cutoff,"
                " :event_source)"
                " ON CONFLICT (country_iso3, week_start) DO UPDATE SET run_id = excluded.run_id,"
                " published_at = excluded.published_at, n_rows = excluded.n_rows,"
                " is_simulated = excluded.is_simulated, data_cutoff = excluded.data_cutoff,"
                " event_source = excluded.event_source"
            ),
            meta,
        )
        return int(replaced)

    @staticmethod
    def _require_lease(conn: Connection, lease: Lease, country: str, week: date) -> None:
        if (lease.country_iso3, lease.week_start) != (country, week):
            raise PublishConflict(f"the lease is for {lease.country_iso3} week {lease.week_start}, not {country} week {week}")
        found = conn.execute(sa.text("SELECT holder FROM publish_leases WHERE lease_id = :lease_id"),
                             {"lease_id": lease.lease_id}).first()
        if found is None:
            raise PublishConflict(f"{country} week {week.isoformat()}: this run's publish lease was taken over by "
                                  "another run; nothing published")
        pause_point("publish-transaction")

    def _insert_rows(self, conn: Connection, table: pa.Table) -> None:
        """Bulk-insert validated rows inside the publish transaction (a seam the tests use to inject failures)."""
        self._backend.insert_scores(conn, table)

    # -- reading -----------------------------------------------------------------------------------

    def _read(self, sql: str, params: dict, columns: dict[str, tuple[str, str]] = SCORE_COLUMNS) -> pd.DataFrame:
        with self._connection() as conn:
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

    def forecasts(self, countries: Sequence[str], before_week: date, weeks: int, horizon: int = 1) -> pd.DataFrame:
        """The published rows at ``horizon`` of ``countries`` for the ``weeks`` weeks before ``before_week``
        (what was forecast for those weeks, as published), oldest week first."""
        since_week = _as_date(before_week) - timedelta(weeks=weeks)
        names = {f"c{i}": c for i, c in enumerate(countries)}
        listed = ", ".join(f":{k}" for k in names) or "NULL"
        return self._read(
            f"SELECT {_SCORE_SELECT} FROM district_risk_scores WHERE country_iso3 IN ({listed}) AND horizon_weeks = :h"
            f" AND week_start >= :since AND week_start < :before {_SCORE_ORDER}",
            {**names, "h": int(horizon), "since": since_week, "before": _as_date(before_week)},
        )

    def previous_scores(self, country_iso3: str, before_week: date) -> pd.DataFrame:
        """The rows of the country's latest published week strictly before ``before_week`` (empty if none)."""
        return self._read(
            f"SELECT {_SCORE_SELECT} FROM district_risk_scores WHERE country_iso3 = :country AND week_start = ("
            " SELECT MAX(week_start) FROM score_publications WHERE country_iso3 = :country AND week_start < :week"
            f") {_SCORE_ORDER}",
            {"country": country_iso3, "week": _as_date(before_week)},
        )

    def previous_or_none(self, country_iso3: str | Sequence[str], before_week: date) -> pd.DataFrame | None:
        """:meth:`previous_scores` (of each country of a regional run, together), or None when no week before
        ``before_week`` was published."""
        countries = (country_iso3,) if isinstance(country_iso3, str) else tuple(country_iso3)
        found = [rows for rows in (self.previous_scores(c, before_week) for c in countries) if len(rows)]
        return pd.concat(found, ignore_index=True) if found else None

    # -- what-if scenarios -------------------------------------------------------------------------

    def write_scenario(self, rows: pd.DataFrame) -> int:
        """Replace one (scenario, country, week)'s rows of ``scenario_scores`` with ``rows`` in one transaction
        (validated first: nothing written on a bad frame); ``district_risk_scores`` is never touched. Returns
        the number of rows replaced."""
        frame = validate_scenario_scores(rows)
        first = frame.iloc[0]
        key = {"scenario": str(first["scenario_id"]), "country": str(first["country_iso3"]),
               "week": first["week_start"].date()}
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        for record in records:
            record["week_start"] = record["week_start"].date()
            record["published_at"] = record["published_at"].to_pydatetime()
        names = ", ".join(SCENARIO_COLUMNS)
        values = ", ".join(f":{name}" for name in SCENARIO_COLUMNS)
        with self._connection(begin=True) as conn:
            self._require_current_schema(conn)
            replaced = conn.execute(sa.text(
                "DELETE FROM scenario_scores WHERE scenario_id = :scenario AND country_iso3 = :country"
                " AND week_start = :week"), key).rowcount
            conn.execute(sa.text(f"INSERT INTO scenario_scores ({names}) VALUES ({values})"), records)
        return max(int(replaced), 0)

    def scenario(self, scenario_id: str, week_start: date | None = None) -> pd.DataFrame:
        """The rows of one scenario (of one week, or of every week it was scored for)."""
        where = "AND week_start = :week" if week_start is not None else ""
        return self._read(
            f"SELECT {', '.join(SCENARIO_COLUMNS)} FROM scenario_scores WHERE scenario_id = :scenario {where}"
            " ORDER BY country_iso3, week_start, horizon_weeks, district_code",
            {"scenario": scenario_id, "week": None if week_start is None else _as_date(week_start)}, SCENARIO_COLUMNS)

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

    def lock_lease(self, conn: Connection, country_iso3: str, week_start: date) -> None:
        """Nothing to do: one process at a time has the file open."""

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
        # A server that does not answer fails the connection in seconds, not minutes.
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})

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

    def lock_lease(self, conn: Connection, country_iso3: str, week_start: date) -> None:
        namespace = conn.execute(sa.text("SELECT current_schema()")).scalar() or ""
        key = _lock_key(f"lease|{namespace}|{country_iso3}|{_as_date(week_start).isoformat()}")
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def insert_scores(self, conn: Connection, table: pa.Table) -> None:
        raw = conn.connection.driver_connection
        rows = zip(*(column.to_pylist() for column in table.columns))
        with raw.cursor() as cursor, cursor.copy(f"COPY district_risk_scores ({_SCORE_SELECT}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def is_conflict(self, exc: sa.exc.DBAPIError) -> bool:
        return False


_BACKENDS = {"duckdb": _DuckDBBackend, "postgresql": _PostgresBackend}
