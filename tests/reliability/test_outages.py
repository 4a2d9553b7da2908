"""A store or MLflow that does not answer: one clear line, exit 3, within seconds, nothing trained or published."""

from __future__ import annotations

import socket

import pytest
from runs import run, store_state, vigie_env

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mlflow_runs(home) -> int:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    return sum(len(client.search_runs([e.experiment_id])) for e in client.search_experiments())


@pytest.mark.parametrize("what", ["score store", "MLflow"])
def test_an_outage_fails_fast_in_one_line_and_changes_nothing(what, home, api_url):
    port = _closed_port()
    extra = ({"VIGIE_SCORE_STORE_URL": f"postgresql+psycopg://postgres:SECRETpw1@127.0.0.1:{port}/test"}
             if what == "score store" else {"VIGIE_TRACKING_URI": f"http://u:SECRETpw1@127.0.0.1:{port}"})
    duckdb_url = f"duckdb:///{home / 'scores.duckdb'}"
    before, runs_before = store_state(duckdb_url), _mlflow_runs(home)
    result = run(["run", "--simulated", "--json"], vigie_env(home, api_url=api_url, extra=extra), timeout=120)
    assert result.code == 3, result.stderr[-3000:]
    error = result.last_json
    assert not error["ok"] and str(port) in error["error"] and "\n" not in error["error"]
    assert ("unavailable" in error["error"]) if what == "score store" else ("does not answer" in error["error"])
    assert "SECRETpw1" not in result.stdout + result.stderr
    assert result.seconds < 30 and "Traceback" not in result.stderr
    assert store_state(duckdb_url)["publications"].equals(before["publications"]) and _mlflow_runs(home) == runs_before


def test_an_event_store_held_by_another_process_is_one_clear_line(home, api_url, tmp_path):
    import subprocess
    import sys
    import time

    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
                               " open(sys.argv[2], 'w').close(); time.sleep(120)", str(home / "events.duckdb"),
                               str(tmp_path / "held")])
    try:
        while not (tmp_path / "held").exists():
            time.sleep(0.05)
        result = run(["ingest", str(next((home / "simulated").glob("*/events.csv"))), "--json"],
                     vigie_env(home, api_url=api_url), timeout=120)
    finally:
        holder.kill()
    assert result.code == 3 and "is in use by" in result.last_json["error"] and "Traceback" not in result.stderr
