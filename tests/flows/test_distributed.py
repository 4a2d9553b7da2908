"""Integration: the weekly flow's units of work (the model slots' selection backtests) on a real local Dask
cluster of two worker processes publish exactly what the in-process runner publishes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from publish.score_store import ScoreStore

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_a_regional_run_on_a_local_dask_cluster_publishes_what_the_threads_publish(tmp_path, prefect_harness, monkeypatch):
    monkeypatch.setenv("VIGIE_COUNTRIES_DIR", str(REPO / "tests" / "fixtures" / "countries"))
    monkeypatch.setenv("VIGIE_TRAINING__MIN_MAJOR_ATTACK_WEEKS", "30")
    sim = tmp_path / "sim"
    made = runner.invoke(app, ["simulate", "--countries", "XAA,XAB", "--out", str(sim), "--start", "2014-01-06",
                               "--weeks", "365", "--seed", "3", "--json"])
    assert made.exit_code == 0, made.output
    import flows.tasks

    in_this_process = []
    original = flows.tasks.run_backtest
    monkeypatch.setattr(flows.tasks, "run_backtest", lambda *a, **k: in_this_process.append(1) or original(*a, **k))
    published, calls = {}, {}
    for choice in ("threads", "dask"):
        env = {"VIGIE_PANEL_START": "2015-01-05", "VIGIE_TASK_RUNNER": choice, "VIGIE_DASK_WORKERS": "2"}
        result = runner.invoke(app, ["run", "--countries", "XAA,XAB", "--events", str(sim / "events.csv"), "--home",
                                     str(tmp_path / choice), "--json"], env=env)
        assert result.exit_code == 0, result.output[-3000:]
        summary = _last_json(result.stdout)
        assert summary["retrained"] and summary["districts"] == 10
        store = ScoreStore(summary["score_store"])
        published[choice] = store.latest().drop(columns=["run_id", "published_at"])
        store.close()
        calls[choice], in_this_process[:] = len(in_this_process), []
    assert calls == {"threads": 4, "dask": 0}  # with Dask every slot's backtest ran in a worker process
    assert len(published["dask"]) == 30
    # same champions, same scores: the slots' backtests ran in two other processes and came back whole
    assert published["dask"].equals(published["threads"])
