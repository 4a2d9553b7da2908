"""Integration: the whole run through a real Prefect flow run, a real MLflow store and a real score store."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from flows.run import run_flow
from flows.settings import Settings
from models.score_store import ScoreStore

pytestmark = pytest.mark.integration


def _settings(tmp_path, **kw) -> Settings:
    settings = Settings(home=tmp_path / "vigie", simulation_weeks=160, simulation_start="2016-01-04", panel_start="2016-01-04", **kw)
    settings.ensure_dirs()
    return settings


def test_run_flow_on_simulated_country_into_duckdb(tmp_path, prefect_harness):
    settings = _settings(tmp_path)
    summary = run_flow(settings=settings)
    assert summary["is_simulated"] and summary["districts"] == 50
    week = pd.Timestamp(summary["week_start"])
    assert week.dayofweek == 0 and week == pd.Timestamp("2016-01-04") + pd.Timedelta(weeks=160)

    store = ScoreStore(settings.score_store_url)
    latest = store.latest("MLI")
    assert len(latest) == 50 * len(settings.horizons)
    assert latest["is_simulated"].all() and (latest["run_id"] == summary["run_id"]).all()
    assert latest["risk_score"].between(0, 100).all() and latest["expected_events"].ge(0).all()
    assert set(latest["rank"]) <= set(range(1, 51))

    mlflow.set_tracking_uri(settings.tracking_uri)
    run = mlflow.get_run(summary["run_id"])
    assert run.data.tags["simulated"] == "true"
    assert run.data.params["data_cutoff"] == summary["week_start"]
    assert "holdout_crps_h1" in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(summary["run_id"], "tables")}
    assert "tables/feature_catalog.csv" in artifacts
    champion = mlflow.MlflowClient().get_model_version_by_alias("vigie-mli-count-h1", "champion")
    assert champion.run_id == summary["run_id"]

    # Re-running the same week is safe: same rows, no duplicates.
    again = run_flow(settings=settings)
    assert again["week_start"] == summary["week_start"]
    latest = store.latest("MLI")
    assert len(latest) == 50 * len(settings.horizons) and (latest["run_id"] == again["run_id"]).all()


def test_run_flow_into_postgresql(tmp_path, prefect_harness, postgres_url):
    settings = _settings(tmp_path, score_store_url=postgres_url)
    summary = run_flow(settings=settings)
    latest = ScoreStore(postgres_url).latest("MLI")
    assert len(latest) == 50 * len(settings.horizons)
    assert (latest["week_start"].astype(str) == summary["week_start"]).all()
