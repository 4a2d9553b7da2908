"""The local event store: one DuckDB file holding every ingested event, keyed by (source, event_id).

This module is the only place that reads or writes the store. Ingest is incremental and idempotent:
an event whose content is unchanged is left alone, a revised event (a newer export or API pull that
changes any normalized column) replaces the stored one, and an *older* copy of an event that the store
already holds in a newer revision (by the source's own timestamp) is ignored rather than rolling it back.
Every ingest runs in one transaction: a file that fails leaves the store as it was.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from features.schema import EVENT_COLUMNS, conform

ASSIGNMENT_COLUMNS = ("district_code", "assignment", "unassigned_reason")
_SQL_TYPES = {
    "string": "VARCHAR",
    "datetime64[s]": "DATE",
    "Float64": "DOUBLE",
    "Int8": "TINYINT",
    "Int64": "BIGINT",
    "datetime64[s, UTC]": "TIMESTAMPTZ",
}


def _events_ddl() -> str:
    cols = [f"{name} {_SQL_TYPES[dtype]}" for name, (dtype, _) in EVENT_COLUMNS.items()]
    cols += [
        "district_code VARCHAR",
        "assignment VARCHAR NOT NULL",
        "unassigned_reason VARCHAR",
        "content_hash VARCHAR NOT NULL",
        "source_file VARCHAR",
        "ingested_at TIMESTAMPTZ NOT NULL",
        "PRIMARY KEY (source, event_id)",
    ]
    return "CREATE TABLE IF NOT EXISTS events (\n  " + ",\n  ".join(cols) + "\n)"


_HASH_EXPR = "md5(concat_ws('|', " + ", ".join(
    f"coalesce(CAST({name} AS VARCHAR), '<NA>')" for name in list(EVENT_COLUMNS) + ["district_code"]
) + "))"


@dataclass
class IngestReport:
    """What one ingest did. Counts are events (after folding monadic rows)."""

    source_file: str
    rows: int = 0
    sources: list[str] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    deleted: int = 0
    assigned: int = 0
    unassigned: int = 0
    unassigned_events: list[dict] = field(default_factory=list)
    #: Unassigned events counted by their reason (e.g. "located only to the region 'Mopti region' (where_prec 4)").
    unassigned_by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


#: How long opening the event store waits for another process that holds the file.
LOCK_WAIT_SECONDS = 10.0


class EventStoreUnavailable(RuntimeError):
    """The event store file cannot be opened (another process holds it, or it is not a DuckDB file)."""


class EventStore:
    """A DuckDB file of normalized, district-assigned events."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(_events_ddl())
            con.execute(
                "CREATE TABLE IF NOT EXISTS ingest_log (source_file VARCHAR, ingested_at TIMESTAMPTZ, report JSON)"
            )
            con.execute("CREATE TABLE IF NOT EXISTS pull_state (source VARCHAR PRIMARY KEY, state JSON)")

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """A connection to the file; another process holding it is waited for up to :data:`LOCK_WAIT_SECONDS`,
        then :class:`EventStoreUnavailable` says so in one line."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise EventStoreUnavailable(f"event store {self.path} cannot be opened: {exc}") from None
                if time.monotonic() > deadline:
                    holder = str(exc).split("(", 1)[-1].split(")", 1)[0] if "PID" in str(exc) else "another process"
                    raise EventStoreUnavailable(
                        f"event store {self.path} is in use by {holder} (waited {LOCK_WAIT_SECONDS:g} s): "
                        "wait for that run to finish, then run again") from None
                time.sleep(0.25)

    def ingest(self, events: pd.DataFrame, *, source_file: str) -> IngestReport:
        """Upsert normalized events that carry the gazetteer's assignment columns.

        ``events`` holds EVENT_COLUMNS plus district_code, assignment and unassigned_reason.
        Returns counts of added / updated / unchanged / stale (older revision than stored) events, and
        the assigned / unassigned split of the events in this batch with the reason for each unassigned one.
        """
        missing = [c for c in ASSIGNMENT_COLUMNS if c not in events.columns]
        if missing:
            raise ValueError(f"events for {source_file} lack assignment columns {missing}: assign them first")
        batch = conform(events)
        for col in ASSIGNMENT_COLUMNS:
            batch[col] = events[col].astype("string").to_numpy()
        report = IngestReport(source_file=source_file, rows=len(batch), sources=sorted(batch["source"].dropna().unique()))
        report.assigned = int(batch["district_code"].notna().sum())
        report.unassigned = len(batch) - report.assigned
        unassigned = batch.loc[
            batch["district_code"].isna(), ["event_id", "event_date", "admin1", "admin2", "latitude", "longitude", "unassigned_reason"]
        ]
        report.unassigned_events = json.loads(unassigned.to_json(orient="records", date_format="iso"))
        reasons = unassigned["unassigned_reason"].fillna("no reason recorded").value_counts()
        report.unassigned_by_reason = {str(k): int(v) for k, v in reasons.items()}
        now = datetime.now(timezone.utc)
        with self._connect() as con:
            con.register("batch", batch)
            con.execute("BEGIN")
            try:
                con.execute(
                    f"""CREATE TEMP TABLE incoming AS
                    WITH hashed AS (SELECT *, {_HASH_EXPR} AS content_hash FROM batch)
                    SELECT b.*,
                           CASE WHEN e.event_id IS NULL THEN 'added'
                                WHEN e.content_hash = b.content_hash THEN 'unchanged'
                                WHEN b.source_timestamp < e.source_timestamp THEN 'stale'
                                ELSE 'updated' END AS status
                    FROM hashed b LEFT JOIN events e USING (source, event_id)"""
                )
                counts = dict(con.execute("SELECT status, count(*) FROM incoming GROUP BY status").fetchall())
                con.execute(
                    "DELETE FROM events WHERE (source, event_id) IN "
                    "(SELECT source, event_id FROM incoming WHERE status = 'updated')"
                )
                cols = ", ".join(list(EVENT_COLUMNS) + list(ASSIGNMENT_COLUMNS) + ["content_hash"])
                con.execute(
                    f"INSERT INTO events ({cols}, source_file, ingested_at) "
                    f"SELECT {cols}, ?, ? FROM incoming WHERE status IN ('added', 'updated')",
                    [source_file, now],
                )
                for status in ("added", "updated", "unchanged", "stale"):
                    setattr(report, status, int(counts.get(status, 0)))
                con.execute("INSERT INTO ingest_log VALUES (?, ?, ?)", [source_file, now, json.dumps(report.as_dict())])
                con.execute("DROP TABLE incoming")
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        return report

    def delete(self, source: str, event_ids: list[str] | pd.Series) -> int:
        """Remove events the source has deleted; returns how many were stored."""
        ids = pd.DataFrame({"event_id": pd.Series(list(event_ids), dtype="string")})
        with self._connect() as con:
            con.register("gone", ids)
            (n,) = con.execute(
                "SELECT count(*) FROM events WHERE source = ? AND event_id IN (SELECT event_id FROM gone)", [source]
            ).fetchone()
            con.execute("DELETE FROM events WHERE source = ? AND event_id IN (SELECT event_id FROM gone)", [source])
        return int(n)

    def events(
        self,
        *,
        as_of: date | None = None,
        respect_timestamps: bool = False,
        country_iso3: str | tuple[str, ...] | None = None,
        sources: tuple[str, ...] | None = None,
    ) -> pd.DataFrame:
        """Stored events with their district assignment, sorted by date then id.

        ``country_iso3``: one country's events, or (a tuple) those of every country of a regional run.

        ``as_of``: keep only events dated strictly before that day. With ``respect_timestamps`` also drop
        events whose source timestamp (when the source published or last changed them) is not before
        ``as_of``, i.e. return what was actually known at ``as_of``.
        """
        where, params = ["TRUE"], []
        if as_of is not None:
            where.append("event_date < ?")
            params.append(pd.Timestamp(as_of).date())
            if respect_timestamps:
                where.append("(source_timestamp IS NULL OR source_timestamp < ?)")
                params.append(pd.Timestamp(as_of, tz="UTC").to_pydatetime())
        if country_iso3 is not None:
            countries = (country_iso3,) if isinstance(country_iso3, str) else tuple(country_iso3)
            where.append(f"country_iso3 IN ({', '.join('?' * len(countries))})")
            params.extend(countries)
        if sources:
            where.append(f"source IN ({', '.join('?' * len(sources))})")
            params.extend(sources)
        cols = ", ".join(list(EVENT_COLUMNS) + list(ASSIGNMENT_COLUMNS))
        with self._connect() as con:
            frame = con.execute(
                f"SELECT {cols} FROM events WHERE {' AND '.join(where)} ORDER BY event_date, event_id", params
            ).df()
        out = conform(frame)
        for col in ASSIGNMENT_COLUMNS:
            out[col] = frame[col].astype("string").to_numpy()
        return out

    def summary(self) -> dict:
        """Counts per source, date range and the simulated flag, for reports and freshness checks."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT source, count(*), min(event_date), max(event_date), max(source_timestamp), "
                "count(*) FILTER (WHERE district_code IS NULL) FROM events GROUP BY source ORDER BY source"
            ).fetchall()
        return {
            r[0]: {
                "events": r[1],
                "first_event": str(r[2]),
                "last_event": str(r[3]),
                "last_source_timestamp": None if r[4] is None else r[4].isoformat(),
                "unassigned": r[5],
            }
            for r in rows
        }

    def get_pull_state(self, source: str) -> dict | None:
        with self._connect() as con:
            row = con.execute("SELECT state FROM pull_state WHERE source = ?", [source]).fetchone()
        return None if row is None else json.loads(row[0])

    def set_pull_state(self, source: str, state: dict) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO pull_state VALUES (?, ?)", [source, json.dumps(state)]
            )
