"""`vigie scenario` and `vigie withdrawals`: what-if forecasts under another force registry, and the evidence on
withdrawals (wiring only).

The scenario flow ingests the given events (default: the shipped ones), builds the forecast week's features twice
(the registry as it is and under the scenario file), fits the force-aware recipes on the rows before the week,
scores both, writes ``scenario_scores`` (never ``district_risk_scores``), renders the scenario report and logs one
MLflow run in the "<prefix>-<country>-scenarios" experiment. A scenario that no fitted model can see, or one
dated after the forecast week, is refused (exit 2) before anything is written.
"""

from __future__ import annotations

from datetime import date

from prefect import flow

from features.gazetteer import Gazetteer
from features.ingest import choose_source, sources_of, week_after_newest
from features.panel import monday_on_or_before
from flows.settings import Settings
from flows.tasks import (
    check_force_registry,
    check_infrastructure,
    fail_tracking_run,
    fit_force_models,
    ingest_files,
    load_events,
    log_scenario,
    read_scenario_file,
    scenario_features,
    scenario_report,
    score_scenario,
    start_scenario_run,
    store_summary,
    withdrawal_evidence,
    write_scenario,
)
from flows.weekly import week_features
from publish.summary import scenario_summary, withdrawals_summary


def _week(events: list[str], as_of: date | None, source: str | None, settings: Settings, gazetteer: Gazetteer):
    reports = ingest_files(events, settings, gazetteer)
    sources = choose_source(sources_of(reports), source)
    return sources, monday_on_or_before(as_of or week_after_newest(store_summary(settings), sources))


@flow(name="vigie-scenario", log_prints=True, persist_result=False)
def scenario_flow(scenario_file: str, events: list[str], as_of: date | None = None, source: str | None = None,
                  settings: Settings | None = None) -> dict:
    """Score the forecast week (the Monday on or before ``as_of``; default the week after the newest event)
    under the registry as it is and under ``scenario_file``, and write scenario_scores and the report."""
    settings = settings or Settings()
    settings.ensure_dirs()
    check_infrastructure(settings)
    check_force_registry(settings)
    scenario = read_scenario_file(scenario_file)
    gazetteer = settings.gazetteer()
    sources, forecast_week = _week(events, as_of, source, settings, gazetteer)
    known = load_events(settings, as_of=forecast_week.date(), sources=sources)
    baseline, changed, assumptions, registries = scenario_features(known, gazetteer, settings, forecast_week, scenario)
    fitted = fit_force_models(baseline, settings)
    run_id = start_scenario_run(scenario, baseline, settings, sources)
    try:
        rows, seen, unseen = score_scenario(baseline, changed, fitted, gazetteer, scenario, settings, run_id=run_id,
                                    sources=sources)
        evidence = withdrawal_evidence(baseline, gazetteer, settings, registries, required=True)
        replaced = write_scenario(rows, settings)
        report_path = scenario_report(rows, gazetteer, scenario, assumptions, evidence, seen, unseen, settings)
        log_scenario(run_id, rows, evidence, report_path, scenario)
    except BaseException as exc:
        fail_tracking_run(run_id, exc)
        raise
    return scenario_summary(scenario, rows, assumptions, seen, unseen, evidence, report_path, run_id, replaced)


@flow(name="vigie-withdrawals", log_prints=True, persist_result=False)
def withdrawals_flow(events: list[str], as_of: date | None = None, source: str | None = None,
                     settings: Settings | None = None) -> dict:
    """The event study of every registry withdrawal inside the events' weeks (up to the forecast week)."""
    settings = settings or Settings()
    settings.ensure_dirs()
    check_force_registry(settings)
    gazetteer = settings.gazetteer()
    sources, forecast_week = _week(events, as_of, source, settings, gazetteer)
    _, table = week_features(settings, gazetteer, forecast_week, sources)
    return withdrawals_summary(withdrawal_evidence(table, gazetteer, settings, required=True), table, sources)
