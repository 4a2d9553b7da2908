"""Tests of the score store. Store tests run against DuckDB (a file in tmp_path) and the real PostgreSQL
(a throw-away database from the shared ``postgres_url`` fixture); validation tests need no database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from publish.schema import (
    SCORE_COLUMNS,
    ScoreValidationError,
    empty_scores,
    required_columns,
    score_dtypes,
    validate_scores,
)
from publish.score_store import (
    SCHEMA_VERSION,
    LeaseHeld,
    PublishConflict,
    SchemaVersionError,
    ScoreStore,
    StoreUnavailable,
    publish_lock_key,
    this_holder,
)

REPO = Path(__file__).resolve().parents[2]
W1, W2, W3 = date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 15)
DISTRICTS = ("MLI-0101", "MLI-0102", "MLI-0201")


def make_scores(
    week: date = W1,
    districts: tuple[str, ...] | int = DISTRICTS,
    run_id: str = "run-a",
    score: float = 10.0,
    country: str = "MLI",
) -> pd.DataFrame:
    """A publishable frame: every district x horizons (1, 4, 13), with pandas 3 nullable dtypes and some NAs."""
    codes = [f"{country}-{i:06d}" for i in range(districts)] if isinstance(districts, int) else list(districts)
    n = len(codes)
    horizon = np.tile([1, 4, 13], n)
    offset = np.repeat(np.arange(n, dtype=float), 3)
    score_values = np.clip(score + offset, 0, 100)
    expected = 0.5 + offset / 10 + horizon / 4
    drivers = pd.array(np.where(offset % 2 == 0, "events_4w", None), dtype="string")
    return pd.DataFrame(
        {
            "country_iso3": pd.array([country] * 3 * n, dtype="string"),
            "district_code": pd.array(np.repeat(codes, 3), dtype="string"),
            "district_name": pd.array(np.repeat([f"District {c}" for c in codes], 3), dtype="string"),
            "admin1_name": pd.array(["Mopti"] * 3 * n, dtype="string"),
            "week_start": pd.Series([pd.Timestamp(week)] * 3 * n, dtype="datetime64[s]"),
            "horizon_weeks": pd.array(horizon, dtype="Int64"),
            "expected_events": pd.array(expected, dtype="Float64"),
            "events_lo80": pd.array(np.floor(expected * 0.5), dtype="Float64"),
            "events_hi80": pd.array(np.ceil(expected * 2), dtype="Float64"),
            "events_lo90": pd.array(np.floor(expected * 0.25), dtype="Float64"),
            "events_hi90": pd.array(np.ceil(expected * 3), dtype="Float64"),
            "p_any_violence_4w": pd.array(np.full(3 * n, 0.6), dtype="Float64"),
            "p_major_attack_4w": pd.array(np.full(3 * n, 0.1), dtype="Float64"),
            "risk_score": pd.array(score_values, dtype="Float64"),
            "tier": pd.array(np.where(score_values >= 25, "high", "low"), dtype="string"),
            "rank": pd.array(np.repeat(np.arange(n, 0, -1), 3), dtype="Int64"),
            "score_change": pd.array(np.where(offset == 0, np.nan, 1.5), dtype="Float64"),
            "driver_1": pd.array(["events_4w"] * 3 * n, dtype="string"),
            "driver_2": drivers,
            "driver_3": pd.array([pd.NA] * 3 * n, dtype="string"),
            "data_cutoff": pd.Series([pd.Timestamp(week) - pd.Timedelta(days=1)] * 3 * n, dtype="datetime64[s]"),
            "count_model": pd.array(["negbin@3"] * 3 * n, dtype="string"),
            "hazard_model": pd.array(["lgbm-hazard@7"] * 3 * n, dtype="string"),
            "run_id": pd.array([run_id] * 3 * n, dtype="string"),
            "published_at": pd.Series(
                [pd.Timestamp("2024-01-02 06:30", tz="UTC")] * 3 * n, dtype="datetime64[us, UTC]"
            ),
            "is_simulated": pd.array([True] * 3 * n, dtype="boolean"),
            "event_source": pd.array(["simulated"] * 3 * n, dtype="string"),
            "driver_1_feature": pd.array(["violent_events_sum_w4"] * 3 * n, dtype="string"),
            "driver_2_feature": pd.array([pd.NA] * 3 * n, dtype="string"),
            "driver_3_feature": pd.array([pd.NA] * 3 * n, dtype="string"),
        }
    )


def expected_rows(*frames: pd.DataFrame) -> pd.DataFrame:
    """What the readers should return for these published frames (normalized and in the readers' order)."""
    out = pd.concat([validate_scores(f) for f in frames], ignore_index=True)
    return out.sort_values(["country_iso3", "week_start", "horizon_weeks", "rank", "district_code"], ignore_index=True)


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'scores.duckdb'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_store(store_url):
    """Open stores on the test database; every store opened is closed before the database is dropped."""
    opened: list[ScoreStore] = []

    def factory() -> ScoreStore:
        opened.append(ScoreStore(store_url))
        return opened[-1]

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store) -> ScoreStore:
    store = make_store()
    store.migrate()
    return store


def is_duckdb(store_url: str) -> bool:
    return store_url.startswith("duckdb")


def snapshot(store: ScoreStore) -> dict[str, pd.DataFrame]:
    return {"w1": store.week(W1), "w2": store.week(W2), "publications": store.publications()}


def assert_same_state(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    for name in before:
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)


# --------------------------------------------------------------------------------------------------
# Migrations
# --------------------------------------------------------------------------------------------------


def test_migrate_creates_tables_view_and_records_version(make_store, store_url):
    store = make_store()
    assert store.schema_version() == 0
    assert store.migrate() == SCHEMA_VERSION
    assert store.schema_version() == SCHEMA_VERSION

    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text(
                    "SELECT table_name, table_type FROM information_schema.tables"
                    " WHERE table_schema = current_schema()"
                )
            ).all()
            columns = conn.execute(
                sa.text(
                    "SELECT column_name, is_nullable FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = 'district_risk_scores'"
                    " ORDER BY ordinal_position"
                )
            ).all()
            versions = conn.execute(sa.text("SELECT version FROM vigie_schema_version")).scalars().all()
            view = conn.execute(sa.text("SELECT * FROM latest_district_risk"))
            assert list(view.keys()) == list(SCORE_COLUMNS)
    finally:
        engine.dispose()
    assert versions == list(range(1, SCHEMA_VERSION + 1))  # one row per migration applied
    kinds = {name: kind for name, kind in tables}
    assert {"district_risk_scores", "score_publications", "vigie_schema_version"} <= set(kinds)
    assert kinds["latest_district_risk"] == "VIEW" and kinds["district_risk_scores"] == "BASE TABLE"
    assert [name for name, _ in columns] == list(SCORE_COLUMNS)
    assert {name for name, nullable in columns if nullable == "NO"} == set(required_columns())
    assert store.latest().empty and list(store.latest().columns) == list(SCORE_COLUMNS)


def test_migrate_twice_is_a_no_op(store, store_url):
    store.publish(make_scores(W1))
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            before = conn.execute(sa.text("SELECT version, applied_at FROM vigie_schema_version")).all()
        assert store.migrate() == SCHEMA_VERSION
        with engine.connect() as conn:
            after = conn.execute(sa.text("SELECT version, applied_at FROM vigie_schema_version")).all()
    finally:
        engine.dispose()
    assert after == before and len(after) == SCHEMA_VERSION
    pd.testing.assert_frame_equal(store.week(W1), expected_rows(make_scores(W1)))


def test_a_newer_database_is_refused(store, store_url):
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO vigie_schema_version VALUES (:v, :at)"),
                {"v": SCHEMA_VERSION + 1, "at": datetime.now(timezone.utc)},
            )
    finally:
        engine.dispose()
    with pytest.raises(SchemaVersionError, match="newer"):
        store.migrate()
    with pytest.raises(SchemaVersionError, match="upgrade Vigie"):
        store.publish(make_scores(W1))
    assert store.publications().empty


def test_upgrade_from_version_2_keeps_rows_and_labels_their_source(make_store, store_url):
    """A store published by schema-2 code (no event_source) is upgraded in place: rows kept, simulated ones
    labelled 'simulated', real ones 'unrecorded' (the source was not recorded then), the view sees the column."""
    from publish.score_store import _VERSION_TABLE_DDL, MIGRATIONS

    later = {"event_source", "driver_1_feature", "driver_2_feature", "driver_3_feature"}  # versions 3 and 5
    v2_columns = [name for name in SCORE_COLUMNS if name not in later]
    real = make_scores(W1).assign(is_simulated=False)
    simulated = make_scores(W2, run_id="run-b")
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(_VERSION_TABLE_DDL))
            for version, statements in MIGRATIONS[:2]:
                for statement in statements:
                    conn.execute(sa.text(statement))
                conn.execute(sa.text("INSERT INTO vigie_schema_version VALUES (:v, :at)"),
                             {"v": version, "at": datetime.now(timezone.utc)})
            for frame in (real, simulated):
                rows = frame[v2_columns].astype(object).where(frame[v2_columns].notna(), None)
                rows["week_start"] = rows["week_start"].map(lambda t: t.date())
                rows["data_cutoff"] = rows["data_cutoff"].map(lambda t: t.date())
                conn.execute(sa.text(f"INSERT INTO district_risk_scores ({', '.join(v2_columns)}) VALUES "
                                     f"({', '.join(':' + c for c in v2_columns)})"), rows.to_dict("records"))
                first = rows.iloc[0]
                conn.execute(sa.text("INSERT INTO score_publications VALUES (:c, :w, :r, :p, :n, :s, :d)"),
                             {"c": "MLI", "w": first["week_start"], "r": first["run_id"], "p": first["published_at"],
                              "n": len(rows), "s": bool(first["is_simulated"]), "d": first["data_cutoff"]})
    finally:
        engine.dispose()
    store = make_store()
    assert store.schema_version() == 2
    assert store.migrate() == SCHEMA_VERSION == 5
    assert (store.week(W1)["event_source"] == "unrecorded").all() and len(store.week(W1)) == len(real)
    assert store.week(W1)[["driver_1_feature", "driver_2_feature", "driver_3_feature"]].isna().all().all()
    assert list(store.latest("MLI").columns) == list(SCORE_COLUMNS)  # the view sees the new columns, in order
    assert (store.week(W2)["event_source"] == "simulated").all()
    assert store.publications()["event_source"].tolist() == ["unrecorded", "simulated"]
    assert (store.latest("MLI")["event_source"] == "simulated").all()
    store.publish(make_scores(W2, run_id="run-c").assign(is_simulated=False, event_source="ucdp"))
    assert (store.latest("MLI")["event_source"] == "ucdp").all()


def test_publish_before_migrate_asks_for_migrate(make_store):
    store = make_store()
    with pytest.raises(SchemaVersionError, match=r"migrate\(\)"):
        store.publish(make_scores(W1))


# --------------------------------------------------------------------------------------------------
# Publishing and reading
# --------------------------------------------------------------------------------------------------


def test_publish_then_latest_returns_the_rows(store):
    frame = make_scores(W1)
    report = store.publish(frame)

    assert (report.country_iso3, report.week_start, report.run_id) == ("MLI", W1, "run-a")
    assert (report.n_rows, report.replaced_rows, report.horizons) == (9, 0, (1, 4, 13))
    assert report.published_at == datetime(2024, 1, 2, 6, 30, tzinfo=timezone.utc)
    latest = store.latest()
    # Exact round trip, including dtypes and NA -> NULL -> NA in score_change and the drivers.
    pd.testing.assert_frame_equal(latest, expected_rows(frame))
    assert latest["driver_3"].isna().all() and latest["score_change"].isna().sum() == 3
    assert dict(latest.dtypes.astype(str)) == score_dtypes()
    pubs = store.publications()
    assert pubs[["country_iso3", "run_id", "n_rows"]].values.tolist() == [["MLI", "run-a", 9]]
    assert pubs.loc[0, "week_start"] == pd.Timestamp(W1) and pubs.loc[0, "data_cutoff"] == pd.Timestamp("2023-12-31")


def test_publishing_the_same_week_twice_replaces_it(store):
    store.publish(make_scores(W1, run_id="run-a", score=10))
    report = store.publish(make_scores(W1, districts=DISTRICTS[:2], run_id="run-b", score=40))

    assert (report.n_rows, report.replaced_rows) == (6, 9)
    second = make_scores(W1, districts=DISTRICTS[:2], run_id="run-b", score=40)
    pd.testing.assert_frame_equal(store.week(W1), expected_rows(second))
    pubs = store.publications()
    assert pubs[["run_id", "n_rows"]].values.tolist() == [["run-b", 6]]

    store.publish(second)
    pd.testing.assert_frame_equal(store.week(W1), expected_rows(second))
    assert len(store.publications()) == 1


def test_two_weeks_history_latest_and_previous(store):
    first, second = make_scores(W1, run_id="run-a", score=10), make_scores(W2, run_id="run-b", score=30)
    store.publish(first)
    store.publish(second)
    store.publish(make_scores(W1, country="NER", districts=("NER-01",), run_id="run-n"))

    history = store.history("MLI-0102")
    assert sorted(set(history["week_start"])) == [pd.Timestamp(W1), pd.Timestamp(W2)]
    assert len(history) == 6 and history["week_start"].is_monotonic_increasing
    pd.testing.assert_frame_equal(store.latest("MLI"), expected_rows(second))
    assert set(zip(store.latest()["country_iso3"], store.latest()["week_start"])) == {
        ("MLI", pd.Timestamp(W2)),
        ("NER", pd.Timestamp(W1)),
    }
    pd.testing.assert_frame_equal(store.previous_scores("MLI", W2), expected_rows(first))
    pd.testing.assert_frame_equal(store.previous_scores("MLI", W3), expected_rows(second))
    assert store.previous_scores("MLI", W1).empty
    pd.testing.assert_frame_equal(store.week(W1, "MLI"), expected_rows(first))
    assert set(store.week(W1)["country_iso3"]) == {"MLI", "NER"}

    # Re-publishing an older week does not move "latest" back.
    store.publish(make_scores(W1, run_id="run-c"))
    pd.testing.assert_frame_equal(store.latest("MLI"), expected_rows(second))


@pytest.mark.parametrize(
    "spoil, column",
    [
        (lambda f: f.assign(risk_score=f["risk_score"].mask(f.index == 4, 120.0)), "risk_score"),
        (lambda f: f.drop(columns=["tier"]), "tier"),
    ],
    ids=["risk_score_120", "missing_column"],
)
def test_invalid_frame_writes_nothing(store, spoil, column):
    store.publish(make_scores(W1))
    before = snapshot(store)

    with pytest.raises(ScoreValidationError) as info:
        store.publish(spoil(make_scores(W1, run_id="run-bad", score=50)))

    assert info.value.column == column and f"'{column}'" in str(info.value)
    if column == "risk_score":
        assert (info.value.district_code, info.value.week_start) == ("MLI-0102", "2024-01-01")
        assert "120" in str(info.value) and "MLI-0102" in str(info.value)
    assert_same_state(before, snapshot(store))


def test_a_failure_midway_leaves_the_previous_state(store, monkeypatch):
    store.publish(make_scores(W1, run_id="run-a"))
    store.publish(make_scores(W2, run_id="run-b"))
    before = snapshot(store)
    original = store._insert_rows

    def insert_half_then_fail(conn, table):
        original(conn, table.slice(0, table.num_rows // 2))
        raise RuntimeError("injected failure after the delete")

    monkeypatch.setattr(store, "_insert_rows", insert_half_then_fail)
    with pytest.raises(RuntimeError, match="injected"):
        store.publish(make_scores(W2, run_id="run-c", score=70))
    assert_same_state(before, snapshot(store))

    monkeypatch.undo()
    store.publish(make_scores(W2, run_id="run-d"))
    assert store.week(W2)["run_id"].unique().tolist() == ["run-d"]


@pytest.mark.parametrize("week_exists", [True, False], ids=["republish", "first_publish"])
def test_concurrent_publish_of_the_same_week_conflicts(store, make_store, week_exists):
    """A second store publishes the week while the first is inside its transaction: exactly one of them loses.

    PostgreSQL refuses the intruder at the advisory lock. DuckDB refuses it at the delete when the week exists;
    for a first publish the intruder commits and the first writer hits the duplicate key at commit.
    """
    if week_exists:
        store.publish(make_scores(W1, run_id="run-a"))
    other = make_store()
    conflicts: list[tuple[str, PublishConflict]] = []
    original = store._insert_rows

    def insert_then_let_another_publish(conn, table):
        original(conn, table)
        try:
            other.publish(make_scores(W1, run_id="run-intruder"))
        except PublishConflict as exc:
            conflicts.append(("run-intruder", exc))

    store._insert_rows = insert_then_let_another_publish
    try:
        store.publish(make_scores(W1, run_id="run-b"))
    except PublishConflict as exc:
        conflicts.append(("run-b", exc))

    assert len(conflicts) == 1 and "another publish of MLI week 2024-01-01" in str(conflicts[0][1])
    winner = "run-intruder" if conflicts[0][0] == "run-b" else "run-b"
    pd.testing.assert_frame_equal(store.week(W1), expected_rows(make_scores(W1, run_id=winner)))
    assert store.publications()["run_id"].tolist() == [winner]


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_postgres_publish_conflicts_while_another_connection_holds_the_lock(store, store_url):
    store.publish(make_scores(W1, run_id="run-a"))
    before = snapshot(store)
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as holder:
            holder.begin()
            schema = holder.execute(sa.text("SELECT current_schema()")).scalar()
            holder.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": publish_lock_key("MLI", W1, schema)})

            with pytest.raises(PublishConflict, match="MLI week 2024-01-01"):
                store.publish(make_scores(W1, run_id="run-b"))
            assert_same_state(before, snapshot(store))
            store.publish(make_scores(W2, run_id="run-other-week"))
            holder.rollback()
    finally:
        engine.dispose()
    store.publish(make_scores(W1, run_id="run-b"))
    assert store.week(W1)["run_id"].unique().tolist() == ["run-b"]


# --------------------------------------------------------------------------------------------------
# A publish killed inside its transaction
# --------------------------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import date
    from pathlib import Path

    sys.path.insert(0, {tests_dir!r})
    from test_score_store import make_scores
    from publish.score_store import ScoreStore

    url, ready, n_districts = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    store = ScoreStore(url)
    original = store._insert_rows

    def insert_then_wait(conn, table):
        original(conn, table)  # the old rows are deleted and the new ones inserted, nothing committed
        ready.write_text(str(table.num_rows))
        time.sleep(600)

    store._insert_rows = insert_then_wait
    store.publish(make_scores(date.fromisoformat({week!r}), districts=n_districts, run_id="run-killed", score=90))
    """
)


def _wait_for(path: Path, child: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):  # created, then written: wait for its content
        if child.poll() is not None:
            pytest.fail(f"publishing child exited early ({child.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"publishing child not ready after {timeout} s:\n{log.read_text()}")
        time.sleep(0.05)


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_a_publish_killed_midway_leaves_the_previous_state(store, store_url, tmp_path):
    store.publish(make_scores(W1, run_id="run-a"))
    store.publish(make_scores(W2, run_id="run-b"))
    before = snapshot(store)
    store.close()

    ready, log = tmp_path / "ready", tmp_path / "child.log"
    script = CHILD.format(tests_dir=str(Path(__file__).parent), week=W2.isoformat())
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", script, store_url, str(ready), "66667"],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    try:
        _wait_for(ready, child, log, timeout=180)
        assert int(ready.read_text()) == 200_001
        # While the child sits inside its transaction, another publish of the week must not get through.
        with pytest.raises(PublishConflict):
            ScoreStore(store_url).publish(make_scores(W2, run_id="run-intruder"))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    reopened = ScoreStore(store_url)
    try:
        assert_same_state(before, snapshot(reopened))
        assert "run-killed" not in set(reopened.history("MLI-000000")["run_id"])
        # The store is still writable: the server may need a moment to notice the dead client and free its lock.
        deadline = time.monotonic() + 20
        while True:
            try:
                reopened.publish(make_scores(W2, run_id="run-after"))
                break
            except PublishConflict:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert reopened.week(W2)["run_id"].unique().tolist() == ["run-after"]
        pd.testing.assert_frame_equal(reopened.week(W1), before["w1"])
    finally:
        reopened.close()


# --------------------------------------------------------------------------------------------------
# Validation (no database)
# --------------------------------------------------------------------------------------------------


def _set(column, value, row=4):
    def spoil(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: object})
        frame.loc[row, column] = value
        return frame

    return spoil


@pytest.mark.parametrize(
    "spoil, column, problem",
    [
        (_set("week_start", pd.Timestamp("2024-01-03")), "week_start", "not a Monday"),
        (_set("week_start", pd.Timestamp("2024-01-08")), "week_start", "exactly one value"),
        (_set("country_iso3", "NER"), "country_iso3", "exactly one value"),
        (_set("run_id", "other-run"), "run_id", "exactly one value"),
        (_set("district_code", "MLI-0101"), "district_code", "duplicate"),
        (_set("horizon_weeks", 2), "horizon_weeks", "not one of"),
        (_set("tier", "extreme"), "tier", "not one of"),
        (_set("district_name", None), "district_name", "null in a required column"),
        (_set("p_any_violence_4w", 1.2), "p_any_violence_4w", "outside [0, 1]"),
        (_set("events_lo80", 50.0), "events_hi80", "below events_lo80"),
        (_set("country_iso3", "mli", row=0), "country_iso3", "alpha-3"),
        (_set("rank", 1.5), "rank", "whole number"),
        (_set("expected_events", "many"), "expected_events", "expected a number"),
        (_set("expected_events", float("inf")), "expected_events", "not finite"),
        (_set("district_name", 17), "district_name", "expected text"),
        (_set("is_simulated", "yes"), "is_simulated", "true/false"),
        (lambda f: f.assign(event_source="gdelt"), "event_source", "not one of"),
        (lambda f: f.assign(is_simulated=False), "is_simulated", "contradicts event_source"),
        (_set("data_cutoff", pd.Timestamp("2023-12-31 12:00")), "data_cutoff", "time of day"),
        (lambda f: f.assign(published_at=f["published_at"].dt.tz_localize(None)), "published_at", "time-zone-aware"),
        (lambda f: f.assign(extra=1), "extra", "unknown column"),
        (lambda f: f.iloc[0:0], None, "no rows"),
    ],
)
def test_validation_rejects(spoil, column, problem):
    with pytest.raises(ScoreValidationError) as info:
        validate_scores(spoil(make_scores(W1)))
    assert info.value.column == column
    assert problem in str(info.value)


def test_validation_names_the_row():
    with pytest.raises(ScoreValidationError) as info:
        validate_scores(_set("risk_score", -3.0, row=7)(make_scores(W1)))
    assert str(info.value) == "column 'risk_score', district MLI-0201, week 2024-01-01: -3.0 is outside [0, 100]"


def test_validation_accepts_plain_python_values_and_normalizes_them():
    """Object columns of Python dates, ints, floats, None and Paris-time timestamps are accepted and cast."""
    frame = make_scores(W1).astype(object)
    frame["week_start"] = [W1] * len(frame)
    frame["data_cutoff"] = ["2023-12-31"] * len(frame)
    paris = pd.Timestamp("2024-01-02", tz="Europe/Paris").tzinfo
    frame["published_at"] = [datetime(2024, 1, 2, 7, 30, tzinfo=paris)] * len(frame)
    frame["horizon_weeks"] = [int(h) for h in frame["horizon_weeks"]]
    frame["score_change"] = [None if pd.isna(v) else float(v) for v in frame["score_change"]]
    frame["driver_2"] = [None if pd.isna(v) else v for v in frame["driver_2"]]
    frame["is_simulated"] = [True] * len(frame)

    out = validate_scores(frame)
    pd.testing.assert_frame_equal(out, validate_scores(make_scores(W1)))
    assert dict(out.dtypes.astype(str)) == score_dtypes()
    assert list(empty_scores().columns) == list(SCORE_COLUMNS)


# --------------------------------------------------------------------------------------------------
# Publish leases: one run at a time per (country, week), seen at the start of a run
# --------------------------------------------------------------------------------------------------


def _plant_lease(store: ScoreStore, holder: str, *, expires_in: timedelta) -> None:
    now = datetime.now(timezone.utc)
    with store._engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO publish_leases VALUES (:c, :w, :id, :holder, :at, :until)"),
                     {"c": "MLI", "w": W2, "id": "planted", "holder": holder, "at": now, "until": now + expires_in})


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lease_keeps_a_second_run_out_until_released(store):
    lease = store.acquire_lease("MLI", W2, ttl=timedelta(hours=1))
    assert lease.holder == this_holder() and list(store.leases()["lease_id"]) == [lease.lease_id]
    other = ScoreStore(store.url.render_as_string(hide_password=False))
    try:
        with other._engine.begin() as conn:  # another live run (our parent process) took it over
            conn.execute(sa.text("UPDATE publish_leases SET holder = :h, lease_id = 'theirs'"),
                         {"h": f"{socket.gethostname()}:{os.getppid()}"})
        with pytest.raises(LeaseHeld, match=r"MLI week 2024-01-08 is being published by another run .*nothing was done"):
            store.acquire_lease("MLI", W2, ttl=timedelta(hours=1))
        with pytest.raises(PublishConflict, match="taken over"):
            store.publish(make_scores(W2, run_id="run-late"), lease=lease)  # our lease row is gone: refuse
        store.acquire_lease("MLI", W3, ttl=timedelta(hours=1))  # other weeks are free
    finally:
        other.close()


def test_a_killed_or_expired_holder_is_taken_over_and_a_released_lease_is_free(store):
    _plant_lease(store, f"{socket.gethostname()}:{_dead_pid()}", expires_in=timedelta(hours=1))
    lease = store.acquire_lease("MLI", W2, ttl=timedelta(hours=1))
    store.publish(make_scores(W2, run_id="run-ok"), lease=lease)
    store.release_lease(lease)
    assert store.leases().empty
    _plant_lease(store, "another-host:123", expires_in=timedelta(seconds=-1))
    assert store.acquire_lease("MLI", W2, ttl=timedelta(hours=1)).holder == this_holder()


def test_a_live_holder_on_another_host_is_respected(store):
    _plant_lease(store, "another-host:123", expires_in=timedelta(hours=1))
    with pytest.raises(LeaseHeld, match="another-host:123"):
        store.acquire_lease("MLI", W2, ttl=timedelta(hours=1))


def test_a_store_that_does_not_answer_fails_in_one_line_within_seconds():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=rf"score store .*127.0.0.1:{port}.* is unavailable") as caught:
        ScoreStore(f"postgresql+psycopg://postgres:SECRETpw@127.0.0.1:{port}/test").migrate()
    assert time.monotonic() - started < 15 and "\n" not in str(caught.value) and "SECRETpw" not in str(caught.value)


# --------------------------------------------------------------------------------------------------
# What-if scenarios
# --------------------------------------------------------------------------------------------------


def make_scenario_rows(week: date = W1, scenario_id: str = "wagner-leaves", change: float = 0.5) -> pd.DataFrame:
    districts = ["ML0101", "ML0102"]
    n = len(districts) * 2
    base = np.array([1.0, 2.0, 4.0, 8.0])
    return pd.DataFrame({
        "scenario_id": scenario_id, "scenario_title": "Wagner leaves", "scenario_sha256": "ab" * 32,
        "country_iso3": "MLI", "district_code": districts * 2, "district_name": ["Kayes", "Bafoulabe"] * 2,
        "admin1_name": "Kayes", "week_start": pd.Timestamp(week), "horizon_weeks": [1, 1, 4, 4],
        "expected_events_baseline": base, "expected_events_scenario": base + change,
        "expected_events_change": np.full(n, change), "change_lo90": np.full(n, change - 0.2),
        "change_hi90": np.full(n, change + 0.3), "events_lo80_baseline": 0.0, "events_hi80_baseline": base * 2,
        "events_lo80_scenario": 0.0, "events_hi80_scenario": base * 2 + 1, "p_major_attack_4w_baseline": 0.1,
        "p_major_attack_4w_scenario": 0.15, "p_major_attack_4w_change": 0.05, "count_model": "hawkes_nb_forces",
        "hazard_model": "hazard_cloglog_forces", "event_source": "ucdp", "run_id": "run-s",
        "published_at": pd.Timestamp("2024-01-01 12:00", tz="UTC"),
    })


def test_scenario_rows_are_replaced_per_scenario_and_week_and_never_touch_the_scores(store):
    store.publish(make_scores(W1))
    before = snapshot(store)
    assert store.write_scenario(make_scenario_rows()) == 0
    assert store.write_scenario(make_scenario_rows(W2)) == 0
    assert store.write_scenario(make_scenario_rows(change=1.0)) == 4  # a re-run replaces, never duplicates
    rows = store.scenario("wagner-leaves")
    assert len(rows) == 8 and (rows.loc[rows["week_start"] == pd.Timestamp(W1), "expected_events_change"] == 1.0).all()
    assert len(store.scenario("wagner-leaves", W2)) == 4 and store.scenario("other").empty
    assert_same_state(before, snapshot(store))


def test_a_bad_scenario_frame_names_the_column_and_writes_nothing(store):
    store.write_scenario(make_scenario_rows())
    bad = make_scenario_rows(change=1.0)
    bad.loc[2, "p_major_attack_4w_scenario"] = 1.5
    with pytest.raises(ScoreValidationError) as caught:
        store.write_scenario(bad)
    assert caught.value.column == "p_major_attack_4w_scenario" and caught.value.district_code == "ML0101"
    inverted = make_scenario_rows().assign(change_hi90=0.1)
    with pytest.raises(ScoreValidationError, match="below expected_events_change"):
        store.write_scenario(inverted)
    assert (store.scenario("wagner-leaves")["expected_events_change"] == 0.5).all()
