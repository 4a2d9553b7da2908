"""The HTTP API over the score store, on DuckDB and on the real PostgreSQL server: its endpoints, paging and
validation by hand, then schemathesis against the API's own OpenAPI schema."""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from test_score_store import W1, W2, make_scenario_rows, make_scores

from publish.api import create_app
from publish.score_store import SCHEMA_VERSION, ScoreStore


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    url = f"duckdb:///{tmp_path / 'scores.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("postgres_url")
    store = ScoreStore(url).migrated()
    store.publish(make_scores(W1, run_id="run-1"))
    store.publish(make_scores(W2, run_id="run-2", score=30.0))
    store.publish(make_scores(W1, districts=("NER-01", "NER-02"), country="NER", run_id="run-n"))
    store.write_scenario(make_scenario_rows())
    yield store
    store.close()


@pytest.fixture
def client(store):
    return TestClient(create_app(store))


def test_health_and_publications_with_paging(client):
    assert client.get("/health").json() == {"ok": True, "schema_version": SCHEMA_VERSION}
    everything = client.get("/publications").json()
    assert everything["total"] == 3 and [p["run_id"] for p in everything["items"]] == ["run-1", "run-2", "run-n"]
    second = client.get("/publications", params={"limit": 1, "offset": 1}).json()
    assert second == {"total": 3, "limit": 1, "offset": 1, "items": [everything["items"][1]]}
    assert client.get("/publications", params={"country": "NER"}).json()["total"] == 1


def test_latest_scores_per_country_filtered_by_horizon_with_one_date_format(client):
    latest = client.get("/scores/latest").json()
    assert latest["total"] == 3 * 3 + 2 * 3  # MLI's latest week (W2) and NER's (W1)
    weeks = {(r["country_iso3"], r["week_start"]) for r in latest["items"]}
    assert weeks == {("MLI", W2.isoformat()), ("NER", W1.isoformat())}
    mli = client.get("/scores/latest", params={"country": "MLI", "horizon": 4}).json()
    assert mli["total"] == 3 and {r["horizon_weeks"] for r in mli["items"]} == {4}
    row = mli["items"][0]
    assert row["data_cutoff"] == "2024-01-07" and row["published_at"] == "2024-01-02T06:30:00+00:00"
    assert row["driver_3"] is None and row["risk_score"] >= 30


def test_a_week_by_any_of_its_days_and_what_is_not_published(client):
    wednesday = date(2024, 1, 10)
    week = client.get(f"/scores/{wednesday}", params={"country": "MLI"}).json()
    assert week["total"] == 9 and {r["week_start"] for r in week["items"]} == {W2.isoformat()}
    missing = client.get("/scores/2023-06-05")
    assert missing.status_code == 404 and "2023-06-05" in missing.json()["detail"]
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"country": "mli"}, {"horizon": 0}):
        assert client.get("/scores/latest", params=bad).status_code == 422, bad
    assert client.get("/scores/2024-13-01").status_code == 422


def test_a_district_history_oldest_week_first_and_a_scenario(client):
    history = client.get("/districts/MLI-0101/history", params={"horizon": 1}).json()
    assert [r["week_start"] for r in history["items"]] == [W1.isoformat(), W2.isoformat()]
    assert client.get("/districts/NOPE/history").status_code == 404
    scenario = client.get("/scenarios/wagner-leaves", params={"week": "2024-01-03", "horizon": 4}).json()
    assert scenario["total"] == 2 and all(r["scenario_id"] == "wagner-leaves" for r in scenario["items"])
    assert client.get("/scenarios/wagner-leaves", params={"week": "2024-01-08"}).status_code == 404
    assert client.get("/scenarios/unknown").status_code == 404


def test_the_schema_documents_every_endpoint_and_column(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {"/health", "/publications", "/scores/latest", "/scores/{week}",
                                  "/districts/{district_code}/history", "/scenarios/{scenario_id}"}
    row = spec["components"]["schemas"]["ScoreRow"]["properties"]
    assert "Admin-2 (district) code" in row["district_code"]["description"] and row["week_start"]["format"] == "date"


def test_every_answer_conforms_to_the_schema(tmp_path):
    """Requests generated from the API's own OpenAPI schema (valid and not) for every operation: no server error,
    and every answer matches the documented schema (schemathesis' checks)."""
    store = ScoreStore(f"duckdb:///{tmp_path / 'scores.duckdb'}").migrated()
    store.publish(make_scores(W1))
    store.write_scenario(make_scenario_rows())
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(store))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.call_and_validate()

        check()
    store.close()


def test_the_api_never_creates_or_migrates_the_tables(tmp_path):
    from publish.api import StoreNotReady, readable_store

    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    with pytest.raises(StoreNotReady, match="has no score tables yet: run `vigie run`"):
        readable_store(url)
    assert ScoreStore(url).schema_version() == 0  # nothing was created


def test_vigie_api_serves_the_store_on_loopback(tmp_path):
    """`vigie api` as a user starts it: a real process and a real HTTP server on a free loopback port."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    url = f"duckdb:///{tmp_path / 'scores.duckdb'}"
    store = ScoreStore(url).migrated()
    store.publish(make_scores(W1))
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "api.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", "from flows.cli import app; app()", "api", "--port", str(port),
                             "--score-store", url, "--home", str(tmp_path / "home")], stdout=log, stderr=subprocess.STDOUT,
                            env={k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")})
    try:
        deadline = time.monotonic() + 600  # a busy machine may take long to import; a dead server fails at once
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/scores/latest", params={"horizon": 1}, timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail(f"vigie api did not answer: {(tmp_path / 'api.log').read_text()[-2000:]}")
        assert answer.status_code == 200 and answer.json()["total"] == 3
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()["info"]["title"] == "Vigie scores"
    finally:
        proc.terminate()
        proc.wait(timeout=60)
