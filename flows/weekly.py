"""The weekly flow: ingest, features, (re)train when due, score with the champions, gate, publish, report.

Wiring only: every step is a task in flows/tasks.py. Any failure publishes nothing (the score store's
publish is one transaction and comes after every check), marks the Prefect run and the MLflow run failed,
and raises, so `vigie` exits non-zero.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import mlflow
import pandas as pd
from prefect import flow

from features.event_store import EventStore
from features.gazetteer import Gazetteer
from features.panel import monday_on_or_before
from flows.settings import Settings, redact_url
from flows.tasks import (
    build_features, ingest_files, load_champions, load_events, publish, pull_acled, quality_gates, record_artifacts,
    retrain_reason, save_skill, score_week, simulate_default, start_tracking_run, train_and_promote, write_outputs,
)
from models.score_store import ScoreStore

INPUT_SUFFIXES = (".csv", ".xlsx")


class NothingToScore(RuntimeError):
    """No usable events or no champion model: nothing can be published."""


@flow(name="vigie-weekly", log_prints=True, persist_result=False)
def weekly_flow(
    events: list[str] | None = None,
    as_of: date | None = None,
    respect_timestamps: bool = False,
    retrain: str = "auto",
    settings: Settings | None = None,
) -> dict:
    """Publish the scores of one week for every district.

    Inputs, first that applies: the ``events`` files; else the ACLED API when ACLED_USERNAME/ACLED_PASSWORD
    are set; else every file in the drop folder; else the simulated default data set (everything then
    labelled simulated). ``as_of``: the forecast week is the Monday on or before it and only events dated
    before that Monday are used; by default the Monday after the newest event for files and simulated data,
    and today for the API and the drop folder. ``retrain``: "auto" (when due), "always" or "never".
    """
    settings = settings or Settings()
    settings.ensure_dirs()
    if retrain not in ("auto", "always", "never"):
        raise ValueError(f"retrain must be auto, always or never, not {retrain!r}")
    gazetteer = Gazetteer.load(settings.country_iso3)
    reports, sources, default_as_of = _ingest(events, settings, gazetteer)
    is_simulated = sources == ("simulated",)
    if as_of is None:
        as_of = default_as_of or _after_newest(settings, sources)
    forecast_week = monday_on_or_before(as_of)
    known, table = build_features_flow(settings, gazetteer, forecast_week, sources, respect_timestamps)
    run_id = start_tracking_run(table, known, settings, is_simulated=is_simulated, sources=sources)
    try:
        reason = {"always": "retraining was asked for", "never": None}.get(retrain) if retrain != "auto" else \
            retrain_reason(settings, forecast_week, table.feature_names)
        outcome = None
        if reason:
            outcome = train_and_promote(table, settings, run_id, reason=reason)
            save_skill(outcome.backtest, settings)
        champions = load_champions(settings)
        store = ScoreStore(settings.score_store_url)
        store.migrate()
        previous = store.previous_scores(settings.country_iso3, forecast_week.date())
        scores = score_week(table, champions, gazetteer, settings, run_id=run_id, is_simulated=is_simulated,
                            previous=previous if len(previous) else None)
        gates = quality_gates(scores, known, gazetteer, settings, table)
        published = publish(scores, settings)
        outputs = write_outputs(scores, table, known, gazetteer, settings, previous=previous if len(previous) else None,
                                sources=sources, run_id=run_id)
    except Exception as exc:
        mlflow.MlflowClient().set_tag(run_id, "failure", f"{type(exc).__name__}: {exc}"[:5000])
        mlflow.MlflowClient().set_terminated(run_id, "FAILED")
        raise
    top = scores[scores["horizon_weeks"] == min(settings.horizons)].sort_values("rank").head(10)
    summary = {
        "country": settings.country_iso3,
        "week_start": str(forecast_week.date()),
        "data_cutoff": str(table.data_cutoff.date()),
        "is_simulated": is_simulated,
        "sources": list(sources),
        "events_used": int(len(known)),
        "districts": int(scores["district_code"].nunique()),
        "rows_published": int(published.n_rows),
        "rows_replaced": int(published.replaced_rows),
        "run_id": run_id,
        "retrained": outcome is not None,
        "retrain_reason": reason,
        "promotions": {k: {"challenger": v["challenger"], "version": v["version"], "promoted": v["promote"]}
                       for k, v in (outcome.decisions.items() if outcome else [])},
        "champions": {f"{k}-h{h}": label for (k, h), label in champions.labels.items()},
        "gates": gates,
        "score_store": redact_url(settings.score_store_url),
        "tracking_uri": redact_url(settings.tracking_uri),
        "mlflow_ui": f"mlflow ui --backend-store-uri {redact_url(settings.tracking_uri)}",
        "outputs": outputs,
        "ingest": [r.as_dict() | {"unassigned_events": r.unassigned_events[:20]} for r in reports],
        "top_districts": top[["rank", "district_name", "admin1_name", "risk_score", "tier", "expected_events",
                              "p_major_attack_4w"]].to_dict(orient="records"),
    }
    record_artifacts(scores, summary)
    return summary


@flow(name="vigie-build-features", persist_result=False)
def build_features_flow(settings: Settings, gazetteer: Gazetteer, forecast_week: pd.Timestamp, sources: tuple[str, ...],
                        respect_timestamps: bool = False):
    """The events known before the forecast week, and the feature table built from them (stored as Parquet)."""
    known = load_events(settings, as_of=forecast_week.date(), sources=sources, respect_timestamps=respect_timestamps)
    if known.empty:
        raise NothingToScore(f"no {'/'.join(sources)} events dated before {forecast_week.date()} in {settings.event_store}")
    return known, build_features(known, gazetteer, settings, forecast_week)


def _ingest(events, settings: Settings, gazetteer: Gazetteer):
    """Ingest the inputs the flow was given or finds; returns (reports, sources, default as_of or None)."""
    from features.sources.acled_api import AcledCredentials

    if events:
        reports = ingest_files([Path(p) for p in events], settings, gazetteer)
        return reports, tuple(sorted({s for r in reports for s in r.sources})), None
    credentials = AcledCredentials.from_env()
    if credentials is not None:
        return [pull_acled(settings, gazetteer, credentials)], ("acled",), date.today()
    dropped = sorted(p for p in settings.drop_dir.glob("*") if p.suffix.lower() in INPUT_SUFFIXES)
    if dropped:
        reports = ingest_files(dropped, settings, gazetteer)
        return reports, tuple(sorted({s for r in reports for s in r.sources})), date.today()
    return ingest_files([simulate_default(settings, gazetteer)], settings, gazetteer), ("simulated",), None


def _after_newest(settings: Settings, sources: tuple[str, ...]) -> date:
    summary = EventStore(settings.event_store).summary()
    last = max(pd.Timestamp(summary[s]["last_event"]) for s in sources if s in summary)
    return (monday_on_or_before(last) + pd.Timedelta(days=7)).date()


DEPLOYMENT_NAME = "vigie-weekly"


def weekly_deployment(settings: Settings):
    """The served deployment: Monday 06:00 UTC by default (settings.schedule), one run at a time."""
    from prefect.schedules import Cron

    return weekly_flow.to_deployment(
        name=DEPLOYMENT_NAME,
        schedules=[Cron(settings.schedule.cron, timezone=settings.schedule.timezone)],
        concurrency_limit=1,
        tags=["vigie", "weekly"],
        description="Weekly district conflict-risk scores",
    )
