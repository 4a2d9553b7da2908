"""The end-to-end run: ingest, panel and features, train and track, score and publish (wiring only)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from prefect import flow

from features.gazetteer import Gazetteer
from features.panel import monday_on_or_before
from flows.settings import Settings
from flows.tasks import build_features, ingest_files, load_events, publish_scores, simulate_default, train_models


@flow(name="vigie-run", log_prints=True, persist_result=False)
def run_flow(
    events: list[str] | None = None,
    as_of: date | None = None,
    respect_timestamps: bool = False,
    settings: Settings | None = None,
) -> dict:
    """Publish next-week scores for every district.

    With ``events`` the given export files are ingested and only their sources are used; without, the
    simulated default data set is generated (once) and used, and everything is labelled simulated.
    ``as_of``: the forecast week is the Monday on or before it; only events dated before that Monday are used.
    """
    settings = settings or Settings()
    settings.ensure_dirs()
    gazetteer = Gazetteer.load(settings.country_iso3)
    paths = [Path(p) for p in events] if events else [simulate_default(settings, gazetteer)]
    reports = ingest_files(paths, settings, gazetteer)
    sources = ("simulated",) if not events else _sources_of(reports)
    is_simulated = sources == ("simulated",)
    if as_of is None:
        last = pd.Timestamp(max(r["last_event"] for s, r in _summary(settings).items() if s in sources))
        as_of = (monday_on_or_before(last) + pd.Timedelta(days=7)).date()
    forecast_week = monday_on_or_before(as_of)
    known = load_events(settings, as_of=forecast_week.date(), sources=sources, respect_timestamps=respect_timestamps)
    table = build_features(known, gazetteer, settings, forecast_week)
    trained = train_models(table, known, settings, is_simulated=is_simulated)
    scores = publish_scores(table, trained, gazetteer, settings, is_simulated=is_simulated)
    top = (scores[scores["horizon_weeks"] == min(settings.horizons)]
           .sort_values("rank").head(10)[["rank", "district_name", "admin1_name", "risk_score", "tier",
                                          "expected_events", "p_major_attack_4w"]])
    return {
        "week_start": str(forecast_week.date()),
        "data_cutoff": str(table.data_cutoff.date()),
        "is_simulated": is_simulated,
        "sources": list(sources),
        "events_used": int(len(known)),
        "districts": int(scores["district_code"].nunique()),
        "rows_published": int(len(scores)),
        "run_id": trained.run_id,
        "score_store": settings.score_store_url,
        "tracking_uri": settings.tracking_uri,
        "mlflow_ui": f"mlflow ui --backend-store-uri {settings.tracking_uri}",
        "ingest": [r.as_dict() | {"unassigned_events": r.unassigned_events[:20]} for r in reports],
        "top_districts": top.to_dict(orient="records"),
    }


def _summary(settings: Settings) -> dict:
    from features.event_store import EventStore

    return EventStore(settings.event_store).summary()


def _sources_of(reports) -> tuple[str, ...]:
    return tuple(sorted({s for r in reports for s in r.sources}))
