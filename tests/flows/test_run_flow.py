"""Integration: the whole run through a real Prefect flow run, a real MLflow store and a real score store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from browser import REPORT_SECTIONS, check_page, chromium

from flows.settings import Settings
from flows.weekly import weekly_flow as run_flow
from models import event_study
from publish import exports
from publish.score_store import ScoreStore

pytestmark = pytest.mark.integration


def _settings(tmp_path, **kw) -> Settings:
    settings = Settings(home=tmp_path / "vigie", simulation_weeks=160, simulation_start="2016-01-04", panel_start="2016-01-04", **kw)
    settings.ensure_dirs()
    return settings


OUTSIDE = """
import json, sys
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path_hooks[:] = [h for h in sys.path_hooks if "_Editable" not in repr(h)]
sys.path_importer_cache.clear()
try:
    import models
    raise SystemExit("the project's code is importable: the check would prove nothing")
except ImportError:
    pass
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
rows = pd.read_parquet(sys.argv[2])
out = {}
for kind, name in (("count", "vigie-mli-count-h1"), ("hazard", "vigie-mli-hazard-h4")):
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    got = model.predict(rows[model.metadata.get_input_schema().input_names()].tail(5))
    out[kind] = list(got.columns)
out["p_min"], out["p_max"] = float(got["p_major_attack"].min()), float(got["p_major_attack"].max())
print(json.dumps(out))
"""


def _load_champions_outside_the_project(tmp_path: Path, settings: Settings) -> dict:
    """Load and run the champions as `mlflow models serve` would: in a process whose path does not hold the
    project (the editable install's finder removed, the working directory elsewhere): the logged code must do."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (features,) = sorted((settings.feature_dir / "MLI").glob("features_*.parquet"))[-1:]
    done = subprocess.run([sys.executable, "-c", OUTSIDE, settings.tracking_uri, str(features)], cwd=outside,
                          capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_run_flow_on_simulated_country_into_duckdb(tmp_path, prefect_harness, monkeypatch):
    settings = _settings(tmp_path)
    summary = run_flow(settings=settings, allow_simulated=True)
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
    assert summary["retrained"] and run.data.tags["retrained"] == "true"
    for metric in ("count_h1_challenger_crps", "count_h1_best_baseline_crps", "hazard_h4_promoted", "targets_met"):
        assert metric in run.data.metrics, metric
    assert len(run.data.metrics) < 60  # headline metrics; each model's are on its nested run
    story = run.data.tags["mlflow.note.content"]
    assert story.startswith(f"Weekly run of MLI for the week of {summary['week_start']}") and "SIMULATED" in story
    assert "Retrained:" in story and "targets met" in story and "Published 150 rows for 50 districts" in story
    assert not any(v.startswith("/") or ":////" in v for v in run.data.params.values())
    assert run.data.params["score_store_url_kind"] == "duckdb"
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"events", "feature_table"} and inputs["events"].dataset.digest == run.data.params["dataset_digest"][:36]
    assert {t.key: t.value for t in inputs["feature_table"].tags}["data_cutoff"] == summary["data_cutoff"]
    nested = {r.data.tags["model"]: r for r in mlflow.search_runs(
        experiment_ids=[run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{summary['run_id']}'",
        output_format="list")}
    assert "crps_h1" in nested["mean_13"].data.metrics and nested["mean_13"].data.tags["baseline"] == "true"
    client = mlflow.MlflowClient()
    tables = {a.path for a in client.list_artifacts(summary["run_id"], "tables")}
    assert {"tables/feature_catalog.csv", "tables/promotion_decisions.json", "tables/selection_backtest_metrics.csv",
            "tables/withdrawal_effects.csv", "tables/withdrawal_hazard_ratios.csv", "tables/withdrawals.csv",
            "tables/withdrawal_effects.txt", "tables/selection_targets.csv", "tables/selection_targets.txt",
            "tables/settings.json"} <= tables
    pictures = {a.path for a in client.list_artifacts(summary["run_id"], "figures")}
    assert {"figures/reliability.png", "figures/pit_histogram.png", "figures/predicted_vs_observed.png",
            "figures/district_risk_map.svg", "figures/withdrawal_event_study.png"} <= pictures
    page = Path(summary["outputs"]["report"]).read_text()
    assert 'id="forces"' in page and "MINUSMA" in page and "G5 Sahel Joint Force" in page
    assert 'id="headline-skill"' in page and 'class="badge">champion' in page and "<svg class=\"spark\"" in page
    if chromium() is not None:  # the browser check itself is test_report's; here on a whole simulated run
        check_page(Path(summary["outputs"]["report"]), (*REPORT_SECTIONS, "forces"), tmp_path)
    for horizon in settings.horizons:
        champion = client.get_model_version_by_alias(f"vigie-mli-count-h{horizon}", "champion")
        assert champion.run_id == summary["run_id"] and champion.tags["data_cutoff"] == summary["week_start"]
        assert f"up to {summary['data_cutoff']}" in champion.description and "Promoted to champion: " in champion.description
    assert Path(summary["outputs"]["report"]).exists() and Path(summary["outputs"]["parquet"]).exists()
    served = _load_champions_outside_the_project(tmp_path, settings)
    assert served["count"] == ["mean", "p_at_least_1", "q05", "q10", "q50", "q90", "q95"]
    assert served["hazard"] == ["p_major_attack"] and 0 <= served["p_min"] and served["p_max"] <= 1

    # Re-running the same week is safe: champions are fresh (no retraining), same scores, no duplicates; and
    # the withdrawal study of the retraining is reused, not estimated again (the estimator would raise).
    def not_again(*args, **kwargs):
        raise AssertionError("the withdrawal study was estimated again on a week that only scores")

    monkeypatch.setattr(event_study, "window_effects", not_again)
    again = run_flow(settings=settings, allow_simulated=True)
    cutoff = exports.read_withdrawal_study(settings.exports_dir, "MLI").cutoff.date()
    assert f"Estimated on the weeks up to {cutoff}" in Path(again["outputs"]["report"]).read_text()
    assert again["week_start"] == summary["week_start"] and not again["retrained"]
    assert again["rows_replaced"] == 50 * len(settings.horizons)
    relatest = store.latest("MLI")
    assert len(relatest) == 50 * len(settings.horizons) and (relatest["run_id"] == again["run_id"]).all()
    key = ["district_code", "horizon_weeks"]
    assert relatest.sort_values(key)["risk_score"].tolist() == latest.sort_values(key)["risk_score"].tolist()


def test_a_slot_whose_backtest_fails_fails_the_run_with_its_own_error(tmp_path, prefect_harness, monkeypatch):
    """One slot's selection backtest running out of memory stops the run with that error and publishes nothing
    (Prefect hands a failed mapped task's downstream task None: the flow must not go on with it)."""
    import flows.tasks

    real = flows.tasks.run_backtest

    def out_of_memory_in_one_slot(table, specs, config):
        if any(spec.kind == "hazard" for spec in specs):
            raise MemoryError("the hazard slot's backtest ran out of memory")
        return real(table, specs, config)

    monkeypatch.setattr(flows.tasks, "run_backtest", out_of_memory_in_one_slot)
    settings = _settings(tmp_path)
    with pytest.raises(MemoryError, match="hazard slot"):
        run_flow(settings=settings, allow_simulated=True)
    assert ScoreStore(settings.score_store_url).latest("MLI").empty


@pytest.fixture
def mlflow_server(tmp_path, postgres_url):
    """A real MLflow tracking server on loopback, with PostgreSQL as its backend store."""
    port = _free_port()
    log = open(tmp_path / "mlflow-server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", postgres_url,
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # a loaded 2-core machine can take minutes; a dead server fails at once
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited: {(tmp_path / 'mlflow-server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not answer within 600 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_flow_into_postgresql_with_mlflow_server(tmp_path, prefect_harness, postgres_url, mlflow_server):
    """Production shape: scores in PostgreSQL, runs and models on an MLflow server backed by PostgreSQL."""
    settings = _settings(tmp_path, score_store_url=postgres_url, tracking_uri=mlflow_server)
    summary = run_flow(settings=settings, allow_simulated=True)
    latest = ScoreStore(postgres_url).latest("MLI")
    assert len(latest) == 50 * len(settings.horizons)
    assert (latest["week_start"].astype(str) == summary["week_start"]).all()
    mlflow.set_tracking_uri(mlflow_server)
    run = mlflow.get_run(summary["run_id"])
    assert run.data.tags["data_cutoff"] == summary["week_start"]
    assert mlflow.MlflowClient().get_model_version_by_alias("vigie-mli-hazard-h4", "champion").run_id == summary["run_id"]
    pictures = {a.path for a in mlflow.MlflowClient().list_artifacts(summary["run_id"], "figures")}
    assert "figures/district_risk_map.svg" in pictures


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_past_week_is_refused_with_future_champions_and_backtest_keeps_to_its_folder(tmp_path, prefect_harness):
    """Point in time: champions trained on data up to week W never score an earlier week (``--retrain never``
    refuses, naming the cutoff, and nothing changes); `vigie backtest` never touches the weekly report's files."""
    from flows.backtest import backtest_flow
    from models.selection import ChampionRefused

    settings = _settings(tmp_path)
    first = run_flow(settings=settings, allow_simulated=True)
    week = pd.Timestamp(first["week_start"])
    store = ScoreStore(settings.score_store_url)
    published, exports_before = store.latest("MLI"), _tree(settings.exports_dir)
    assert (settings.exports_dir / "MLI" / "skill_latest.csv").exists()
    assert not (settings.exports_dir / ".staging").exists() or not any((settings.exports_dir / ".staging").iterdir())

    past = (week - pd.Timedelta(weeks=30)).date()
    with pytest.raises(ChampionRefused, match=f"trained on data up to {week.date()}, after the forecast week {past}"):
        run_flow(settings=settings, as_of=past, retrain="never", allow_simulated=True)
    assert store.latest("MLI").equals(published) and list(store.publications()["week_start"].astype(str)) == [str(week.date())]
    assert _tree(settings.exports_dir) == exports_before
    mlflow.set_tracking_uri(settings.tracking_uri)
    failed = mlflow.search_runs(experiment_names=["vigie-mli-training"], filter_string="attributes.status = 'FAILED'")
    assert len(failed) == 1 and "ChampionRefused" in failed["tags.failure"].iloc[0]

    result = backtest_flow(start=(week - pd.Timedelta(weeks=8)).date(), horizons=(1, 4), refit_every=8, settings=settings)
    folder = Path(result["metrics_csv"]).parent
    assert folder == settings.exports_dir / "MLI" / "backtests" / f"{result['start']}_{result['end']}"
    assert {p.name for p in folder.iterdir()} >= {"metrics.csv", "metrics.json", "skill.csv", "skill.json", "by_district.csv",
                                                  "by_year.csv", "targets.csv", "targets.json"}
    assert {t["target"] for t in result["targets"]} >= {"bar", "aim", "brier", "coverage80"}
    parent = mlflow.get_run(result["run_id"])
    assert parent.data.tags["targets_met"].endswith(f"of {len(result['targets'])}")
    assert "targets met" in parent.data.tags["mlflow.note.content"]
    assert _tree(settings.exports_dir / "MLI" / first["week_start"]) == {
        k.split("/", 2)[2]: v for k, v in exports_before.items() if k.startswith(f"MLI/{first['week_start']}/")}
    assert (settings.exports_dir / "MLI" / "skill_latest.csv").read_bytes() == exports_before["MLI/skill_latest.csv"]
    nested = mlflow.search_runs(experiment_names=["vigie-mli-backtest"],
                                filter_string=f"tags.mlflow.parentRunId = '{result['run_id']}'")
    assert {"hawkes_nb", "mean_52", "base_rate"} <= set(nested["tags.model"])
