"""Planted secrets never reach a file the run writes: Prefect's database, MLflow's, artifacts, exports, logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from runs import run, vigie_env

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SECRET = "Zq7SECRETxv93"


def _files_with(root, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _prefect_database() -> Path:
    from prefect.settings import get_current_settings

    url = get_current_settings().server.database.connection_url.get_secret_value()
    return Path(url.split(":///", 1)[1])


def test_a_password_in_the_score_store_url_is_stored_nowhere(home, trained_home, tmp_path, postgres_url, api_url):
    # trust authentication ignores the password, so the run works and every place it could leak to is written:
    # the Prefect API's database (flow run parameters, task runs, logs, artifacts), MLflow's, files
    url = postgres_url.replace("postgres@", f"postgres:{SECRET}@", 1)
    assert SECRET in url
    result = run(["run", "--simulated", "--score-store", url, "--json"], vigie_env(home, api_url=api_url))
    assert result.code == 0, result.stderr[-3000:]
    assert SECRET not in result.stdout + result.stderr
    database = _prefect_database()
    assert database.exists() and b"vigie-weekly" in database.read_bytes() + b"".join(
        p.read_bytes() for p in database.parent.glob(database.name + "-wal"))
    leaks = (_files_with(home, SECRET.encode()) + _files_with(trained_home, SECRET.encode())
             + _files_with(database.parent, SECRET.encode()))
    assert leaks == []
    assert result.last_json["score_store"].count("***") == 1
