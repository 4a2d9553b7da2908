"""kill -9 of a real `vigie run` at named points: earlier weeks identical, never a partial week, no orphaned
Prefect server, and the next run recovers cleanly."""

from __future__ import annotations

import time

import pytest
from runs import (
    alive,
    children,
    complete_weeks,
    files_of,
    kill,
    run,
    same_scores,
    start,
    store_state,
    vigie_env,
    wait_for,
)

pytestmark = pytest.mark.integration


def _kill_at(point, home, tmp_path, *, api_url, score_store=None):
    env = vigie_env(home, api_url=api_url, score_store=score_store, pause_at=point, pause_dir=tmp_path)
    proc = start(["run", "--simulated", "--json"], env, tmp_path / f"{point}.log")
    wait_for(tmp_path / f"{point}.paused", proc, tmp_path / f"{point}.log")
    descendants = children(proc.pid)
    kill(proc)
    return env, descendants


def test_killed_runs_leave_whole_weeks_and_the_next_run_recovers(home, tmp_path, api_url):
    """kill -9 at three points of re-publishing the week, then one clean run."""
    import mlflow

    url = f"duckdb:///{home / 'scores.duckdb'}"
    before, week_files = store_state(url), files_of(home / "exports" / "MLI")
    (week,) = before["weeks"]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    training = [client.get_experiment_by_name("vigie-mli-training").experiment_id]
    runs_before = {r.info.run_id for r in client.search_runs(training)}
    for point in ("lease-held", "publish-transaction", "after-publish"):
        env, _ = _kill_at(point, home, tmp_path, api_url=api_url)
        after = store_state(url)
        assert complete_weeks(after) and list(after["weeks"]) == [week], point
        if point == "after-publish":  # the publish committed: the week is the new run's, whole; files the old ones
            assert after["publications"]["run_id"].iloc[0] != before["publications"]["run_id"].iloc[0]
            assert after["weeks"][week]["risk_score"].equals(before["weeks"][week]["risk_score"])
        else:
            assert same_scores(after, before), point
        assert files_of(home / "exports" / "MLI") == week_files, point  # staged files never reached it
    killed = [r for r in client.search_runs(training) if r.info.run_id not in runs_before
              and "mlflow.parentRunId" not in r.data.tags]  # a weekly run, not a model's nested backtest run
    assert len(killed) == 2 and {r.info.status for r in killed} == {"RUNNING"}  # never FINISHED (lease-held: no run yet)

    env.pop("VIGIE_PAUSE_AT")
    again = run(["run", "--simulated", "--json"], env)
    assert again.code == 0, again.stderr[-3000:]
    final = store_state(url)
    assert complete_weeks(final) and final["publications"]["run_id"].iloc[0] == again.last_json["run_id"]
    assert final["leases"].empty  # the killed runs' leases were taken over, and the new one released
    assert not list((home / "exports" / ".staging").glob("*/MLI"))  # what they staged was cleaned
    assert set(files_of(home / "exports" / "MLI")) == set(week_files)


@pytest.mark.postgres
def test_a_run_killed_inside_the_publish_transaction_on_postgresql(home, tmp_path, api_url, postgres_url):
    first = run(["run", "--simulated", "--json"], vigie_env(home, api_url=api_url, score_store=postgres_url))
    assert first.code == 0, first.stderr[-3000:]
    before = store_state(postgres_url)
    env, _ = _kill_at("publish-transaction", home, tmp_path, api_url=api_url, score_store=postgres_url)
    time.sleep(0.5)  # the server notices the dead client and rolls its transaction back
    assert same_scores(store_state(postgres_url), before)
    env.pop("VIGIE_PAUSE_AT")
    again = run(["run", "--simulated", "--json"], env)
    assert again.code == 0, again.stderr[-3000:]
    assert complete_weeks(store_state(postgres_url))


def test_a_killed_run_leaves_no_temporary_prefect_server_behind(home, tmp_path):
    """Without PREFECT_API_URL the run starts its own temporary server, which must die with it."""
    env, descendants = _kill_at("lease-held", home, tmp_path, api_url=None)
    assert descendants, "the run should have started a temporary Prefect server"
    deadline = time.monotonic() + 30
    while alive(descendants) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(descendants)
