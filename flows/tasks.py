"""Prefect tasks: each wraps pure functions from features/ and models/ with the I/O they need.

Tasks return in-process objects (no result persistence): a flow run is one process on one machine.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from prefect import get_run_logger, task

from features.event_store import EventStore, IngestReport
from features.gazetteer import Gazetteer
from features.schema import SourceFileError
from features.sources.detect import read_events
from features.sources.simulator import simulate, write_simulation
from features.table import FeatureConfig, FeatureTable, build_feature_table
from flows.settings import Settings
from models import tracking
from models.count import NegativeBinomialGLM
from models.hazard import DiscreteTimeHazard
from models.scoring import ScoreContext, describe_drivers, score_rows
from models.score_store import ScoreStore


def _logger():
    try:
        return get_run_logger()
    except Exception:  # called outside a flow run (unit tests call .fn())
        return logging.getLogger("vigie")


def feature_config(settings: Settings) -> FeatureConfig:
    return FeatureConfig(horizons=tuple(settings.horizons), major_min_fatalities=settings.major_attack.min_fatalities)


@task(name="simulate-default-data")
def simulate_default(settings: Settings, gazetteer: Gazetteer) -> Path:
    """Write (once per seed and length) the simulated ACLED-format export used when no data is given."""
    start = pd.Timestamp(settings.simulation_start).date()
    end = (pd.Timestamp(start) + pd.Timedelta(weeks=settings.simulation_weeks) - pd.Timedelta(days=1)).date()
    out_dir = settings.home / "simulated" / f"{gazetteer.country_iso3}-seed{settings.simulation_seed}-{start}-{end}"
    events_csv = out_dir / "events.csv"
    if not events_csv.exists():
        result = simulate(gazetteer.districts, gazetteer.neighbours, start=start, end=end, seed=settings.simulation_seed)
        tmp = out_dir.with_name(out_dir.name + ".partial")
        write_simulation(result, tmp)
        tmp.rename(out_dir)
    _logger().info("simulated data: %s", events_csv)
    return events_csv


@task(name="ingest")
def ingest_files(paths: list[Path], settings: Settings, gazetteer: Gazetteer) -> list[IngestReport]:
    """Parse, validate, assign and upsert each file; a file that fails leaves the store untouched."""
    store = EventStore(settings.event_store)
    reports = []
    for path in paths:
        events = read_events(Path(path))
        assigned = pd.concat([events, gazetteer.assign(events)], axis=1)
        report = store.ingest(assigned, source_file=str(Path(path).resolve()))
        _logger().info("ingested %s: %d added, %d updated, %d unchanged, %d unassigned", path,
                       report.added, report.updated, report.unchanged, report.unassigned)
        reports.append(report)
    return reports


@task(name="load-events")
def load_events(settings: Settings, *, as_of: date, sources: tuple[str, ...], respect_timestamps: bool = False) -> pd.DataFrame:
    store = EventStore(settings.event_store)
    return store.events(as_of=as_of, respect_timestamps=respect_timestamps, country_iso3=settings.country_iso3, sources=sources)


@task(name="build-features")
def build_features(events: pd.DataFrame, gazetteer: Gazetteer, settings: Settings, forecast_week: pd.Timestamp) -> FeatureTable:
    return build_feature_table(events, gazetteer.districts["district_code"], start=settings.panel_start,
                               forecast_week=forecast_week, config=feature_config(settings))


def dataset_digest(events: pd.DataFrame) -> str:
    """Content hash of the events a run used (order-independent)."""
    h = pd.util.hash_pandas_object(events.drop(columns=["notes"], errors="ignore"), index=False).to_numpy()
    return hashlib.sha256(np.sort(h).tobytes()).hexdigest()[:16]


@dataclass
class TrainedModels:
    run_id: str
    count: dict[int, NegativeBinomialGLM]
    hazard: DiscreteTimeHazard
    versions: dict[str, str]
    metrics: dict[str, float]


@task(name="train-and-track")
def train_models(table: FeatureTable, events: pd.DataFrame, settings: Settings, *, is_simulated: bool) -> TrainedModels:
    """Fit one NB count model per horizon and the discrete-time hazard model; log everything to MLflow.

    Metrics: the mean CRPS of each count model on the last 26 fully observed weeks when refitted without
    them (a quick holdout; the walk-forward backtest is ``vigie backtest``), next to a 13-week rolling-mean
    Poisson baseline on the same rows.
    """
    log = _logger()
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    exp = tracking.experiment(f"{settings.experiment_prefix}-{settings.country_iso3.lower()}-training")
    cutoff = table.data_cutoff
    with mlflow.start_run(experiment_id=exp, run_name=f"weekly-{cutoff.date()}") as run:
        mlflow.set_tags({"data_cutoff": str(cutoff.date()), "simulated": str(is_simulated).lower(),
                         "country": settings.country_iso3, "purpose": "training"})
        mlflow.log_params(tracking.flatten("", settings.public_dict()) | {
            "data_cutoff": str(cutoff.date()), "dataset_digest": dataset_digest(events), "n_events": len(events),
            "feature_catalog_version": table.catalog_version, "n_features": len(table.specs)})
        tracking.log_frame(table.catalog, "feature_catalog")
        train_mask = table.frame["week_start"] >= pd.Timestamp(settings.panel_start)
        count_models, metrics, versions = {}, {}, {}
        for h in settings.horizons:
            target = f"target_violent_events_h{h}"
            rows = table.frame[train_mask & table.frame[target].notna()]
            model = NegativeBinomialGLM(h).fit(rows, rows[target].to_numpy())
            metrics |= _holdout_metrics(model, rows, target, h)
            metrics[f"count_h{h}_alpha"] = model.alpha_
            metrics[f"count_h{h}_aic"] = model.aic_
            tracking.log_frame(model.coefficients(), f"count_h{h}_coefficients")
            count_models[h] = model
            name = f"{settings.experiment_prefix}-{settings.country_iso3.lower()}-count-h{h}"
            versions[name] = tracking.log_model(model, kind="count", registered_name=name, example=rows[model.features].head(5))
        hz_rows = table.frame[train_mask & table.frame["target_major_attack_h1"].notna()]
        hazard = DiscreteTimeHazard(4).fit(hz_rows, hz_rows["target_major_attack_h1"].to_numpy())
        tracking.log_frame(hazard.coefficients(), "hazard_coefficients")
        metrics["hazard_base_rate_weekly"] = float(hz_rows["target_major_attack_h1"].mean())
        name = f"{settings.experiment_prefix}-{settings.country_iso3.lower()}-hazard-h4"
        versions[name] = tracking.log_model(hazard, kind="hazard", registered_name=name, example=hz_rows[hazard.features].head(5))
        mlflow.log_metrics(metrics)
        for reg_name, version in versions.items():
            if tracking.champion_version(reg_name) is None:
                tracking.set_alias(reg_name, tracking.CHAMPION, version)
                log.info("%s v%s is the first model: it becomes champion", reg_name, version)
        return TrainedModels(run.info.run_id, count_models, hazard, versions, metrics)


def _holdout_metrics(model: NegativeBinomialGLM, rows: pd.DataFrame, target: str, h: int, weeks: int = 26) -> dict[str, float]:
    last = rows["week_start"].max()
    split = last - pd.Timedelta(weeks=weeks - 1)
    train, test = rows[rows["week_start"] < split - pd.Timedelta(weeks=h - 1)], rows[rows["week_start"] >= split]
    if len(train) == 0 or len(test) == 0:
        return {}
    refit = NegativeBinomialGLM(h, model.features).fit(train, train[target].to_numpy())
    y = test[target].to_numpy()
    from models.distributions import NegativeBinomial

    baseline = NegativeBinomial(test["violent_events_sum_w13"].to_numpy() / 13.0 * h, 0.0)
    return {f"holdout_crps_h{h}": float(refit.predict(test).crps(y).mean()),
            f"holdout_crps_h{h}_baseline_mean13": float(baseline.crps(y).mean())}


@task(name="score-and-publish")
def publish_scores(table: FeatureTable, trained: TrainedModels, gazetteer: Gazetteer, settings: Settings,
                   *, is_simulated: bool) -> pd.DataFrame:
    """Score the forecast week with the models just trained and publish it atomically."""
    rows = table.forecast_rows().reset_index(drop=True)
    districts = gazetteer.districts[["district_code", "district_name", "admin1_name"]].set_index("district_code")
    districts = districts.loc[rows["district_code"]].reset_index()
    counts = {h: m.predict(rows) for h, m in trained.count.items()}
    p_major = trained.hazard.predict_proba(rows)
    descriptions = {s.name: s.description for s in table.specs}
    drivers = describe_drivers(trained.hazard.contributions(rows), descriptions)
    store = ScoreStore(settings.score_store_url)
    store.migrate()
    previous = store.previous_scores(settings.country_iso3, table.forecast_week.date())
    versions = trained.versions
    count_names = ",".join(f"{n}:v{v}" for n, v in versions.items() if "-count-" in n)
    hazard_names = ",".join(f"{n}:v{v}" for n, v in versions.items() if "-hazard-" in n)
    context = ScoreContext(settings.country_iso3, table.forecast_week, table.data_cutoff, trained.run_id,
                           count_names, hazard_names, pd.Timestamp.now(tz="UTC"), is_simulated)
    scores = score_rows(districts, counts, p_major, drivers, previous, context,
                        (settings.tiers.elevated, settings.tiers.high, settings.tiers.severe))
    store.publish(scores)
    return scores
