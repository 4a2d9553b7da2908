"""Two real runs of one week on one score store: exactly one publishes, the other exits 2 at its start."""

from __future__ import annotations

import pytest
from runs import copy_home, run, start, store_state, vigie_env, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_store(request, tmp_path) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'shared-scores.duckdb'}"
    return request.getfixturevalue("postgres_url")


def test_one_publisher_per_week(shared_store, trained_home, tmp_path, api_url):
    first_home, second_home = copy_home(trained_home, tmp_path / "a"), copy_home(trained_home, tmp_path / "b")
    env_a = vigie_env(first_home, api_url=api_url, score_store=shared_store, pause_at="lease-held", pause_dir=tmp_path)
    a = start(["run", "--simulated", "--json"], env_a, tmp_path / "a.log")
    wait_for(tmp_path / "lease-held.paused", a, tmp_path / "a.log")

    b = run(["run", "--simulated", "--json"], vigie_env(second_home, api_url=api_url, score_store=shared_store))
    assert b.code == 2, b.stderr[-3000:]
    assert not b.last_json["ok"] and "is being published by another run" in b.last_json["error"]
    assert b.last_json["error_type"] == "LeaseHeld" and b.seconds < 120
    assert "MLI week" in b.stderr

    (tmp_path / "lease-held.go").touch()
    assert a.wait(timeout=600) == 0, (tmp_path / "a.log").read_text()[-3000:]
    state = store_state(shared_store)
    assert len(state["publications"]) == 1 and state["rows"] == 150 and state["leases"].empty
    assert state["publications"]["run_id"].iloc[0] in (tmp_path / "a.log").read_text()
