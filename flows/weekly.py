"""The weekly flow: ingest, features, (re)train when due, score with the champions, gate, publish, report.

Wiring only: every step is a task of flows/tasks.py, every decision a pure function it calls. The week's
exports and report are written to a staging folder before the publish commits and moved into place right
after it; any failure before the commit publishes nothing and discards them, marks the Prefect run and
the MLflow run failed, and raises, so `vigie` exits non-zero.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import flow, unmapped

from features.gazetteer import Gazetteer
from features.ingest import (
    choose_source,
    dropped_files,
    is_simulated,
    no_input,
    sources_of,
    week_after_newest,
)
from features.panel import monday_on_or_before
from flows.prefect_api import with_task_runner
from flows.settings import Settings
from flows.tasks import (
    acquire_lease,
    build_features,
    champion_infos,
    check_infrastructure,
    combine_backtests,
    commit_outputs,
    decide_promotions,
    discard_outputs,
    enough_major_attacks,
    ensure_usable_champions,
    fail_tracking_run,
    finish_tracking_run,
    fit_challengers,
    freshness_gate,
    ingest_files,
    keep_withdrawal_study,
    load_champions,
    load_events,
    log_outputs,
    log_training,
    log_withdrawal_evidence,
    previous_scores,
    publish,
    published_forecasts,
    pull_acled,
    quality_gates,
    record_artifacts,
    register_models,
    release_lease,
    save_skill,
    score,
    selection_backtest,
    simulate_default,
    stage_outputs,
    start_tracking_run,
    store_summary,
    weekly_withdrawal_evidence,
    why_retrain,
)
from models.selection import check_retrain_mode
from models.slots import SLOTS
from publish.summary import weekly_summary


@flow(name="vigie-weekly", log_prints=True, persist_result=False)
def weekly_flow(
    events: list[str] | None = None,
    as_of: date | None = None,
    respect_timestamps: bool = False,
    retrain: str = "auto",
    allow_simulated: bool = False,
    source: str | None = None,
    settings: Settings | None = None,
) -> dict:
    """Publish the scores of one week for every district.

    Inputs, first that applies: the ``events`` files; else the ACLED API when ACLED_USERNAME/ACLED_PASSWORD
    are set; else every file in the drop folder; else, only when ``allow_simulated`` (``vigie run``), the
    simulated default data set (everything then labelled simulated): the scheduled run fails instead
    (:class:`features.ingest.NoInput`). ``as_of``: the forecast week is the Monday on or before it and only
    events dated before that Monday are used; by default the Monday after the newest event for files and
    simulated data, and today for the API and the drop folder. ``retrain``: "auto" (when due), "always" or
    "never". ``source``: the one source to model when events of several were given (they are never mixed).
    ``settings`` travel in-process; serialised (Prefect's record of the run's parameters), their
    passwords are masked.
    """
    settings = settings or Settings()
    settings.ensure_dirs()
    mode = check_retrain_mode(retrain)
    check_infrastructure(settings)
    gazetteer = settings.gazetteer()
    reports, given, default_as_of = _ingest(events, settings, gazetteer, allow_simulated)
    sources = choose_source(given, source)
    forecast_week = monday_on_or_before(as_of or default_as_of or week_after_newest(store_summary(settings), sources))
    lease = acquire_lease(settings, forecast_week)
    try:
        return _publish_week(settings, gazetteer, forecast_week, reports, sources, respect_timestamps, mode, lease)
    finally:
        release_lease(settings, lease)


def _publish_week(settings: Settings, gazetteer: Gazetteer, forecast_week: pd.Timestamp, reports: list,
                  sources: tuple[str, ...], respect_timestamps: bool, mode: str, lease) -> dict:
    """Everything after the lease: features, training when due, scoring, gates, publish, outputs."""
    known, table = week_features(settings, gazetteer, forecast_week, sources, respect_timestamps)
    simulated = is_simulated(sources)
    run_id = start_tracking_run(table, known, settings, is_simulated=simulated, sources=sources)
    try:
        freshness_gate(known, table, settings)
        champions_known = champion_infos(settings)
        reason = why_retrain(champions_known, table, settings, mode, sources)
        evidence = weekly_withdrawal_evidence(table, gazetteer, settings, sources, bool(reason))
        log_withdrawal_evidence(run_id, evidence)
        decided = None
        if reason:
            enough_major_attacks(table, settings, sources, run_id)
            # .result(): a slot that failed raises its own error here (Prefect would hand None to the next task)
            result = combine_backtests(selection_backtest.map(unmapped(table), unmapped(settings), SLOTS).result())
            decisions = decide_promotions(result, champions_known, table, settings, sources)
            fitted = fit_challengers(table, decisions, settings)
            decided = register_models(run_id, fitted, decisions, table, settings, sources)
            skill = save_skill(result, settings)
            log_training(run_id, result, skill, fitted, decisions, decided, table, settings, reason)
            champions_known = champion_infos(settings)
        ensure_usable_champions(champions_known, table, settings, sources)
        champions = load_champions(settings)
        previous = previous_scores(settings, forecast_week)
        scores = score(table, champions, gazetteer, settings, run_id=run_id, sources=sources, previous=previous)
        gates = quality_gates(scores, known, gazetteer, settings, table)
        published_before = published_forecasts(settings, forecast_week)
        staged = stage_outputs(scores, table, known, gazetteer, settings, champions, previous=previous,
                               published=published_before, sources=sources, run_id=run_id, evidence=evidence)
        try:
            published = publish(scores, settings, lease)
        except BaseException:
            discard_outputs(staged)
            raise
        outputs = commit_outputs(staged, settings)
        keep_withdrawal_study(evidence, settings)
        log_outputs(run_id, scores, gazetteer, settings, outputs)
        finish_tracking_run(run_id)
    except BaseException as exc:
        fail_tracking_run(run_id, exc)
        raise
    public = settings.public_dict()
    summary = weekly_summary(settings=settings, table=table, events=known, scores=scores, published=published,
                             run_id=run_id, reason=reason, decided=decided, champion_labels=champions.labels,
                             gates=gates, outputs=outputs, reports=reports, sources=sources, is_simulated=simulated,
                             score_store=public["score_store_url"], tracking_uri=public["tracking_uri"])
    record_artifacts(scores, summary)
    return summary


def week_features(settings: Settings, gazetteer: Gazetteer, forecast_week: pd.Timestamp, sources: tuple[str, ...],
                  respect_timestamps: bool = False):
    """The events known before the forecast week, and the feature table built from them (stored as Parquet):
    two tasks of the calling flow (a subflow of their own cost a second of Prefect's bookkeeping a run)."""
    known = load_events(settings, as_of=forecast_week.date(), sources=sources, respect_timestamps=respect_timestamps)
    return known, build_features(known, gazetteer, settings, forecast_week)


def _ingest(events: list[str] | None, settings: Settings, gazetteer: Gazetteer, allow_simulated: bool = False):
    """Ingest the inputs the flow was given or finds; returns (reports, sources, default as_of or None)."""
    from features.sources.acled_api import AcledCredentials

    if events:
        reports = ingest_files(events, settings, gazetteer)
        return reports, sources_of(reports), None
    credentials = AcledCredentials.from_env()
    if credentials:
        return pull_acled(settings, gazetteer, credentials), ("acled",), date.today()
    dropped = dropped_files(settings.drop_dir)
    if dropped:
        reports = ingest_files(dropped, settings, gazetteer)
        return reports, sources_of(reports), date.today()
    if not allow_simulated:
        raise no_input(settings.drop_dir)
    return ingest_files([simulate_default(settings, gazetteer)], settings, gazetteer), ("simulated",), None


DEPLOYMENT_NAME = "vigie-weekly"


def weekly_deployment(settings: Settings):
    """The served deployment: Monday 06:00 UTC by default (settings.schedule), one run at a time."""
    from prefect.schedules import Cron

    return with_task_runner(weekly_flow, settings).to_deployment(
        name=DEPLOYMENT_NAME,
        schedules=[Cron(settings.schedule.cron, timezone=settings.schedule.timezone)],
        concurrency_limit=1,
        tags=["vigie", "weekly"],
        description="Weekly district conflict-risk scores",
    )
