"""`vigie backtest`: walk-forward evaluation of the model suite against the baselines (wiring only).

Writes the metrics table (CSV and JSON), the skill table with bootstrap intervals, and the breakdowns that
show where the models fail (by district, by year) to ``<exports>/<country>/backtests/<start>_<end>/``, and
logs one MLflow parent run (figures, tables) with a nested run per model in the backtest experiment.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from prefect import flow

from features.gazetteer import Gazetteer
from features.panel import monday_on_or_before
from flows.settings import Settings
from flows.tasks import (
    WEEK, _log_backtest_figures, dataset_digest, ingest_files, save_skill, simulate_default,
)
from flows.weekly import build_features_flow
from models import tracking
from models.backtest import BacktestConfig, run_backtest
from models.suite import BASELINES, suite


@flow(name="vigie-backtest", log_prints=True, persist_result=False)
def backtest_flow(
    events: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    horizons: tuple[int, ...] = (1, 4, 13),
    origin_every: int = 1,
    refit_every: int = 13,
    count_candidates: tuple[str, ...] | None = None,
    hazard_candidates: tuple[str, ...] | None = None,
    settings: Settings | None = None,
) -> dict:
    """Origins every ``origin_every`` weeks from ``start`` to ``end`` (``end`` = the last target week: a horizon-h
    forecast is scored only when its h weeks end by ``end``); refit every ``refit_every`` origins."""
    settings = settings or Settings()
    settings.ensure_dirs()
    gazetteer = Gazetteer.load(settings.country_iso3)
    paths = [Path(p) for p in events] if events else [simulate_default(settings, gazetteer)]
    reports = ingest_files(paths, settings, gazetteer)
    sources = tuple(sorted({s for r in reports for s in r.sources}))
    end_week = monday_on_or_before(end) if end else None
    if end_week is None:
        from features.event_store import EventStore

        last = max(pd.Timestamp(v["last_event"]) for k, v in EventStore(settings.event_store).summary().items() if k in sources)
        end_week = monday_on_or_before(last) - WEEK
    start_week = monday_on_or_before(start) if start else end_week - 104 * WEEK
    forecast_week = end_week + WEEK  # every target week up to end_week is observed
    known, table = build_features_flow(settings, gazetteer, forecast_week, sources)
    tr = settings.training
    specs = suite(horizons, count_candidates or tr.count_candidates, hazard_candidates or tr.hazard_candidates, tr.hazard_horizon)
    config = BacktestConfig(start=start_week, end=end_week, origin_every=origin_every, refit_every=refit_every,
                            train_start=pd.Timestamp(settings.panel_start))
    result = run_backtest(table, specs, config)
    skill = save_skill(result, settings)
    out = settings.exports_dir / settings.country_iso3 / "backtests" / f"{start_week.date()}_{end_week.date()}"
    out.mkdir(parents=True, exist_ok=True)
    result.metrics.to_csv(out / "metrics.csv", index=False)
    result.metrics.to_json(out / "metrics.json", orient="records", indent=1)
    skill.to_csv(out / "skill.csv", index=False)
    skill.to_json(out / "skill.json", orient="records", indent=1)
    by_district = result.breakdown("district_code")
    by_year = result.breakdown("year")
    by_district.to_csv(out / "by_district.csv", index=False)
    by_year.to_csv(out / "by_year.csv", index=False)

    tracking.configure(settings.tracking_uri, settings.artifact_root)
    exp = tracking.experiment(f"{settings.experiment_prefix}-{settings.country_iso3.lower()}-backtest")
    is_simulated = sources == ("simulated",)
    with mlflow.start_run(experiment_id=exp, run_name=f"backtest-{start_week.date()}-{end_week.date()}") as parent:
        mlflow.set_tags({"purpose": "backtest", "simulated": str(is_simulated).lower(), "country": settings.country_iso3,
                         "data_cutoff": str(forecast_week.date())})
        mlflow.log_params({"start": str(start_week.date()), "end": str(end_week.date()), "horizons": json.dumps(list(horizons)),
                           "origin_every": origin_every, "refit_every": refit_every, "dataset_digest": dataset_digest(known),
                           "feature_catalog_version": table.catalog_version, "sources": ",".join(sources),
                           "models": ",".join(sorted({s.name for s in specs}))})
        tracking.log_frame(table.catalog, "feature_catalog")
        for name, frame in (("metrics", result.metrics), ("skill", skill), ("by_district", by_district), ("by_year", by_year)):
            tracking.log_frame(frame, name)
        _log_backtest_figures(result)
        for model, rows in result.metrics.groupby("model"):
            with mlflow.start_run(run_name=model, nested=True, experiment_id=exp):
                mlflow.set_tags({"purpose": "backtest", "model": model, "baseline": str(model in BASELINES or model == "base_rate").lower()})
                finite = rows[np.isfinite(rows["value"].astype(float))]
                mlflow.log_metrics({f"{r.metric}_h{r.horizon}": float(r.value) for r in finite.itertuples()})
                sk = skill[skill["model"] == model]
                mlflow.log_metrics({f"skill_crps_h{r.horizon}": float(r.skill) for r in sk.itertuples()})
    return {
        "ok": True, "run_id": parent.info.run_id, "start": str(start_week.date()), "end": str(end_week.date()),
        "origins": int(result.predictions["origin"].nunique()), "is_simulated": is_simulated,
        "metrics_csv": str(out / "metrics.csv"), "metrics_json": str(out / "metrics.json"), "skill_csv": str(out / "skill.csv"),
        "skill": json.loads(skill.to_json(orient="records")),
        "summary": json.loads(result.metrics[result.metrics["metric"].isin(["crps", "brier", "average_precision", "coverage90_active"])]
                              .to_json(orient="records")),
    }
