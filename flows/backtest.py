"""`vigie backtest`: walk-forward evaluation of the model suite against the baselines (wiring only).

Writes the metrics table (CSV and JSON), the skill table with bootstrap intervals, and the breakdowns that
show where the models fail (by district, by year) to ``<exports>/<country>/backtests/<start>_<end>/`` (never
the skill table the weekly report shows), and logs one MLflow parent run (figures, tables) with a nested
run per model in the backtest experiment.
"""

from __future__ import annotations

from datetime import date

from prefect import flow

from features.ingest import is_simulated, last_full_week, sources_of
from features.panel import monday_on_or_before
from flows.settings import Settings
from flows.tasks import (
    backtest,
    backtest_tables,
    ingest_files,
    log_backtest_run,
    simulate_default,
    store_summary,
    write_backtest_outputs,
)
from flows.weekly import week_features
from models.selection import backtest_window
from models.slots import HORIZONS
from publish.summary import backtest_summary


@flow(name="vigie-backtest", log_prints=True, persist_result=False)
def backtest_flow(
    events: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    horizons: tuple[int, ...] = HORIZONS,
    origin_every: int = 1,
    refit_every: int = 13,
    count_candidates: tuple[str, ...] | None = None,
    hazard_candidates: tuple[str, ...] | None = None,
    settings: Settings | None = None,
) -> dict:
    """Origins every ``origin_every`` weeks from ``start`` to ``end`` (``end`` = the last target week: a horizon-h
    forecast is scored only when its h weeks end by ``end``; default the last full week of data; ``start``
    default two years before ``end``); refit every ``refit_every`` origins."""
    settings = settings or Settings()
    settings.ensure_dirs()
    gazetteer = settings.gazetteer()
    reports = ingest_files(events or [simulate_default(settings, gazetteer)], settings, gazetteer)
    sources = sources_of(reports)
    end_week = monday_on_or_before(end or last_full_week(store_summary(settings), sources))
    start_week, forecast_week = backtest_window(start, end_week)
    known, table = week_features(settings, gazetteer, forecast_week, sources)
    result = backtest(table, settings, start=start_week, end=end_week, horizons=horizons, origin_every=origin_every,
                      refit_every=refit_every, count_candidates=count_candidates, hazard_candidates=hazard_candidates)
    tables = backtest_tables(result, settings)
    paths = write_backtest_outputs(tables, settings, start=start_week, end=end_week)
    simulated = is_simulated(sources)
    run_id = log_backtest_run(result, tables, table, known, settings, start=start_week, end=end_week, horizons=horizons,
                              origin_every=origin_every, refit_every=refit_every, is_simulated=simulated, sources=sources)
    return backtest_summary(result, tables, paths, run_id, start_week, end_week, simulated, settings.region_code)

