"""Integration: the production path. A real `prefect server` on loopback, the process work pool and the
deployment of prefect.yaml (`prefect deploy --all`), one flow run triggered and executed by a real
`prefect worker` (each a process of its own, as on a worker machine); the run publishes its week."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.prefect_api import temporary_server, using
from publish.score_store import ScoreStore

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]


def _run(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


def test_the_deployment_runs_once_through_a_process_worker(tmp_path):
    home = tmp_path / "vigie"
    with temporary_server(tmp_path / "prefect-server") as server, using(server, 600) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIE_", "PREFECT_"))}
        env |= {"PREFECT_API_URL": url, "PREFECT_HOME": str(tmp_path / "prefect-client"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "VIGIE_REPO_DIR": str(REPO), "VIGIE_HOME": str(home),
                # a small country of the test fixtures, simulated: the worker's run is about 20 s of work
                "VIGIE_COUNTRIES_DIR": str(REPO / "tests" / "fixtures" / "countries"), "VIGIE_COUNTRY_ISO3": "XAA",
                "VIGIE_SIMULATION_WEEKS": "300", "VIGIE_PANEL_START": "2013-01-07",
                "VIGIE_TRAINING__MIN_MAJOR_ATTACK_WEEKS": "10"}
        _run([*PREFECT, "work-pool", "create", "vigie-pool", "--type", "process"], env)
        _run([*PREFECT, "--no-prompt", "deploy", "--all"], env)
        _run([*PREFECT, "deployment", "run", "vigie-weekly/vigie-weekly", "--param", "allow_simulated=true"], env)
        # --limit: only a worker with a limit waits for its run before it stops after --run-once (Prefect 3.9's
        # ProcessWorker); without one, its teardown can cancel the flow run's process (CRASHED in CI once)
        worker = _run([*PREFECT, "worker", "start", "--pool", "vigie-pool", "--run-once", "--limit", "1"], env,
                      timeout=900)
        runs = json.loads(_run([sys.executable, "-c", FLOW_RUNS], env).stdout)
    # on failure: the state's message, the run's last log lines and the worker's output say why
    assert [r["state"] for r in runs] == ["COMPLETED"], f"{runs}\nworker:\n{worker.stdout[-1500:]}\n{worker.stderr[-3000:]}"
    store = ScoreStore(f"duckdb:///{home / 'scores.duckdb'}")
    published = store.publications()
    store.close()
    assert published["country_iso3"].tolist() == ["XAA"] and published["is_simulated"].all()


FLOW_RUNS = """
import asyncio, json
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter

async def main():
    async with get_client() as client:
        runs = [r for r in await client.read_flow_runs() if r.deployment_id]  # not subflows
        logs = {r.id: await client.read_logs(LogFilter(flow_run_id={"any_": [r.id]})) for r in runs}
    print(json.dumps([{"name": r.name, "state": r.state_type.value, "message": r.state.message,
                       "logs": [log.message[-500:] for log in logs[r.id][-15:]]} for r in runs]))

asyncio.run(main())
"""
