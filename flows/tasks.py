"""Prefect tasks: each is a thin wrapper that calls pure functions of features/, models/ and publish/ and at
most one I/O door (event store, feature store, MLflow, score store, files).

Tasks return in-process objects (no result persistence) and never cache (``NO_CACHE``: Prefect's default
policy hashes every input, frames included, which cost seconds a run): a flow run is one process on one machine.
Tasks that log to MLflow resume the flow's MLflow run by id.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from functools import partial
from pathlib import Path

import pandas as pd
from prefect import get_run_logger
from prefect import task as prefect_task
from prefect.cache_policies import NO_CACHE

from features import ingest
from features.event_store import EventStore, IngestReport
from features.feature_store import write_feature_table
from features.gazetteer import Gazetteer
from features.scenario import Scenario, apply_scenario, read_scenario
from features.table import FeatureTable, Registries, build_feature_table
from flows.settings import Settings
from models import whatif, withdrawals
from models.backtest import BacktestConfig, BacktestResult, run_backtest
from models.selection import (
    ChampionInfo,
    SlotDecision,
    check_champions,
    decide_slots,
    retrain_reason,
    selection_config,
)
from models.slots import HAZARD_HORIZON, HORIZONS, Slot
from models.suite import ALL_BASELINES, candidates_for, slot_specs, suite
from models.training import FittedSlot, check_major_attacks, fit_slots, hazard_ratios
from models.withdrawals import WithdrawalEvidence
from publish import exports, figures, quality, report, scenarios, summary, tracking
from publish.briefing import HISTORY_WEEKS
from publish.faults import pause_point
from publish.score_store import Lease, PublishReport, ScoreStore
from publish.scoring import Champions, score_week

#: Every task of Vigie: a Prefect task that never caches (see the module's docstring).
task = partial(prefect_task, cache_policy=NO_CACHE)


def _logger():
    try:
        return get_run_logger()
    except Exception:  # called outside a flow run (unit tests call .fn())
        return logging.getLogger("vigie")


# --- infrastructure ---------------------------------------------------------------------------------------

@task(name="check-infrastructure")
def check_infrastructure(settings: Settings) -> None:
    """Fail fast, before any work, when the score store or the tracking store does not answer (one line each)."""
    ScoreStore(settings.score_store_url).migrated().close()
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    tracking.check_tracking(settings.tracking_uri)


@task(name="acquire-lease")
def acquire_lease(settings: Settings, forecast_week: pd.Timestamp) -> tuple[Lease, ...]:
    """This run's claim on publishing its (country, week), one per country of a region: a second run of the same
    week stops here (exit 2)."""
    lease = ScoreStore(settings.score_store_url).acquire_leases(settings.region_countries, forecast_week.date(),
                                                                ttl=pd.Timedelta(hours=settings.lease_hours))
    pause_point("lease-held")
    return lease


@task(name="release-lease")
def release_lease(settings: Settings, lease: tuple[Lease, ...]) -> None:
    ScoreStore(settings.score_store_url).release_lease(lease)


# --- data -------------------------------------------------------------------------------------------------

@task(name="simulate-default-data")
def simulate_default(settings: Settings, gazetteer: Gazetteer) -> Path:
    """The simulated ACLED-format export used when no data is given (written once per seed and length)."""
    return ingest.simulated_export(settings.home, gazetteer, seed=settings.simulation_seed,
                                   start=pd.Timestamp(settings.simulation_start).date(), weeks=settings.simulation_weeks,
                                   country=settings.country())


@task(name="ingest")
def ingest_files(paths: list[Path], settings: Settings, gazetteer: Gazetteer, on_step=None) -> list[IngestReport]:
    """Parse, validate, assign and upsert each file; a file that fails leaves the store untouched (``on_step``:
    see :func:`features.ingest.ingest_files`)."""
    return ingest.ingest_files(paths, gazetteer, EventStore(settings.event_store), _logger(), on_step)


@task(name="pull-acled-api", retries=2, retry_delay_seconds=60)
def pull_acled(settings: Settings, gazetteer: Gazetteer, credentials) -> list[IngestReport]:
    """Incremental ACLED API pull of the run's country (or of each country of a region: changed since the last
    pull, deletions applied); state kept in the store."""
    from features.sources.acled_api import AcledClient

    with AcledClient(credentials) as client:
        return ingest.pull_acled_countries(client, gazetteer, EventStore(settings.event_store),
                                           country_names=settings.acled_country_names(),
                                           initial_start=settings.history_start().date(), logger=_logger())


@task(name="pull-ucdp-api")
def pull_ucdp(settings: Settings, gazetteer: Gazetteer, credentials, *, start: date, end: date,
              version: str) -> IngestReport:
    """The UCDP GED events of the country dated start..end from UCDP's API (only when the user asks)."""
    from features.sources.ucdp_api import UcdpClient

    with UcdpClient(credentials, version=version) as client:
        return ingest.pull_ucdp(client, gazetteer, EventStore(settings.event_store), start=start, end=end,
                                logger=_logger())


@task(name="event-store-summary")
def store_summary(settings: Settings) -> dict:
    return EventStore(settings.event_store).summary()


@task(name="load-events")
def load_events(settings: Settings, *, as_of: date, sources: tuple[str, ...], respect_timestamps: bool = False) -> pd.DataFrame:
    """The events dated before ``as_of`` (raises NothingToScore when there are none)."""
    events = EventStore(settings.event_store).events(as_of=as_of, respect_timestamps=respect_timestamps,
                                                     country_iso3=settings.region_countries, sources=sources)
    return ingest.require_events(events, sources, as_of, settings.event_store)


@task(name="build-features")
def build_features(events: pd.DataFrame, gazetteer: Gazetteer, settings: Settings, forecast_week: pd.Timestamp) -> FeatureTable:
    """The feature table up to the forecast week, stored as Parquet with its cutoff and catalog version.

    Windows are filled from ``training.history_weeks`` weeks before ``panel_start``; models train on rows
    from ``panel_start`` on.
    """
    registries = Registries.for_countries(settings.run_countries())
    table = build_feature_table(events, gazetteer, start=settings.history_start(), forecast_week=forecast_week,
                                config=settings.feature_config(), registries=registries)
    path = write_feature_table(table, settings.feature_dir, settings.region_code)
    _logger().info("feature table: %d rows x %d features -> %s", len(table.frame), len(table.specs), path)
    return table


# --- MLflow run --------------------------------------------------------------------------------------------

@task(name="start-tracking-run")
def start_tracking_run(table: FeatureTable, events: pd.DataFrame, settings: Settings, *, is_simulated: bool,
                       sources: tuple[str, ...]) -> str:
    """Open this week's MLflow run (experiment "<prefix>-<country>-training") and log what the run is made of."""
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    digest = ingest.dataset_digest(events)
    return tracking.start_run(
        tracking.experiment_name(settings.experiment_prefix, settings.region_code, "training"),
        summary.weekly_run_name(table), tags=summary.weekly_run_tags(table, settings.region_code, is_simulated, sources),
        params=summary.weekly_run_params(table, settings.public_dict(), digest, len(events)),
        frames={"feature_catalog": table.catalog}, json_tables={"settings": settings.public_dict()},
        description=summary.weekly_run_description(table, settings.region_code, sources, is_simulated, len(events)),
        datasets=summary.run_datasets(table, events, digest, sources))


@task(name="finish-tracking-run")
def finish_tracking_run(run_id: str) -> None:
    tracking.finish_run(run_id)


@task(name="fail-tracking-run")
def fail_tracking_run(run_id: str, error: BaseException) -> None:
    tracking.fail_run(run_id, summary.failure_text(error))


# --- training ---------------------------------------------------------------------------------------------

@task(name="champion-infos")
def champion_infos(settings: Settings) -> dict[Slot, ChampionInfo | None]:
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    return tracking.champion_infos(settings.registered_names())


@task(name="retrain-reason")
def why_retrain(champions: dict[Slot, ChampionInfo | None], table: FeatureTable, settings: Settings, mode: str,
                sources: tuple[str, ...]) -> str | None:
    tr = settings.training
    return retrain_reason(champions, table.forecast_week, table.feature_names, mode=mode,
                          retrain_every_weeks=tr.retrain_every_weeks, max_age_weeks=tr.max_champion_age_weeks,
                          sources=sources)


@task(name="check-champions")
def ensure_usable_champions(champions: dict[Slot, ChampionInfo | None], table: FeatureTable, settings: Settings,
                            sources: tuple[str, ...]) -> None:
    """Refuse (nothing is published) when a champion may not score the forecast week from these sources."""
    check_champions(champions, table.forecast_week, table.feature_names, settings.training.max_champion_age_weeks,
                    sources)


@task(name="selection-backtest")
def selection_backtest(table: FeatureTable, settings: Settings, slot: Slot) -> BacktestResult:
    """One slot's baselines and candidates on the last ``training.selection_weeks`` weekly origins (a unit of
    work of its own: the flow maps the slots on its task runner)."""
    tr = settings.training
    specs = suite(HORIZONS, table.specs, candidates_for(tr.count_candidates, table.specs),
                  candidates_for(tr.hazard_candidates, table.specs), HAZARD_HORIZON)
    return run_backtest(table, slot_specs(specs, slot),
                        selection_config(table.forecast_week, tr.selection_weeks, tr.selection_refit_every,
                                         pd.Timestamp(settings.panel_start)))


@task(name="combine-backtests")
def combine_backtests(parts: list[BacktestResult]) -> BacktestResult:
    return BacktestResult.combine(parts)


@task(name="check-major-attacks")
def enough_major_attacks(table: FeatureTable, settings: Settings, sources: tuple[str, ...], run_id: str) -> int:
    """Refuse to train when the hazard models would have too few major attacks; the count goes to the run."""
    found = check_major_attacks(table, pd.Timestamp(settings.panel_start), settings.training.min_major_attack_weeks,
                                ingest.source_label(sources))
    tracking.log_to_run(run_id, metrics={"major_attack_weeks": float(found)})
    return found


@task(name="decide-promotions")
def decide_promotions(result: BacktestResult, champions: dict[Slot, ChampionInfo | None], table: FeatureTable,
                      settings: Settings, sources: tuple[str, ...]) -> dict[Slot, SlotDecision]:
    tr = settings.training
    return decide_slots(result.metrics, champions, table.forecast_week, table.feature_names,
                        candidates={"count": candidates_for(tr.count_candidates, table.specs),
                                    "hazard": candidates_for(tr.hazard_candidates, table.specs)},
                        max_age_weeks=tr.max_champion_age_weeks, min_gain_vs_champion=tr.min_gain_vs_champion,
                        min_skill_vs_baseline=tr.min_skill_vs_baseline, sources=sources,
                        per_origin=result.per_origin, stability_level=tr.stability_level)


@task(name="fit-challengers")
def fit_challengers(table: FeatureTable, decisions: dict[Slot, SlotDecision], settings: Settings) -> dict[Slot, FittedSlot]:
    """Each slot's challenger fitted on every row from ``panel_start`` with a known target."""
    fitted = fit_slots(table, decisions, pd.Timestamp(settings.panel_start))
    pause_point("after-training")
    return fitted


@task(name="register-models")
def register_models(run_id: str, fitted: dict[Slot, FittedSlot], decisions: dict[Slot, SlotDecision],
                    table: FeatureTable, settings: Settings, sources: tuple[str, ...]) -> dict[str, dict]:
    """Register every challenger (``@challenger``; ``@champion`` when promoted); returns the decisions by name."""
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    versions = tracking.register_all(run_id, fitted, decisions, settings.registered_names(), tags=summary.model_tags(table, sources),
                                     descriptions=summary.model_version_descriptions(decisions, table, sources))
    decided = summary.decisions_by_name(decisions, versions, settings.registered_names())
    summary.log_decisions(decided, _logger())
    return decided


@task(name="log-training")
def log_training(run_id: str, result: BacktestResult, skill: pd.DataFrame, fitted: dict[Slot, FittedSlot],
                 decisions: dict[Slot, SlotDecision], decided: dict[str, dict],
                 table: FeatureTable, settings: Settings, reason: str) -> None:
    """The selection backtest, decisions, figures, feature importance and Cox hazard ratios, on the week's run."""
    ratios = hazard_ratios(table, pd.Timestamp(settings.panel_start))
    importance = summary.importances(fitted)
    tracking.log_to_run(run_id, **summary.training_log(
        result, skill, decisions, decided, table, reason, ratios, importance,
        figures=[figures.backtest_figures(result, ALL_BASELINES), figures.importance_figures(importance, settings.registered_names())],
        tiers=settings.tiers.thresholds()))


@task(name="write-skill")
def save_skill(result: BacktestResult, settings: Settings) -> pd.DataFrame:
    """Skill against the best baseline (bootstrap over origins), the headline probability's scores and the
    1-week walk-forward forecasts, kept for the weekly reports until the next selection backtest."""
    skill = summary.skill_table(result)
    exports.write_selection_tables({"skill": skill, "headline": summary.headline_table(result),
                                    "hindcast": summary.hindcast_table(result)},
                                   settings.exports_dir, settings.region_code)
    return skill


# --- scoring and publishing ----------------------------------------------------------------------------------

@task(name="load-champions")
def load_champions(settings: Settings) -> Champions:
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    return tracking.load_champions(settings.registered_names())


@task(name="previous-scores")
def previous_scores(settings: Settings, forecast_week: pd.Timestamp) -> pd.DataFrame | None:
    """The last published week's rows before the forecast week (None when there is none)."""
    return ScoreStore(settings.score_store_url).migrated().previous_or_none(settings.region_countries,
                                                                           forecast_week.date())


@task(name="published-forecasts")
def published_forecasts(settings: Settings, forecast_week: pd.Timestamp) -> pd.DataFrame:
    """The 1-week forecasts published for the weeks before the forecast week that the report's charts show."""
    return ScoreStore(settings.score_store_url).migrated().forecasts(settings.region_countries, forecast_week.date(),
                                                                    HISTORY_WEEKS)


@task(name="score-week")
def score(table: FeatureTable, champions: Champions, gazetteer: Gazetteer, settings: Settings, *, run_id: str,
          sources: tuple[str, ...], previous: pd.DataFrame | None) -> pd.DataFrame:
    """Score the forecast week with the champions (pure)."""
    return score_week(table, champions, gazetteer.districts, country_iso3=settings.country_iso3, run_id=run_id,
                      event_source=ingest.source_label(sources), previous=previous, tiers=settings.tiers.thresholds(),
                      published_at=pd.Timestamp.now(tz="UTC"), district_countries=gazetteer.district_countries)


@task(name="freshness-gate")
def freshness_gate(events: pd.DataFrame, table: FeatureTable, settings: Settings) -> None:
    """Stop before any training when the newest event is too old for the cutoff (stale data is not fresh)."""
    quality.check_fresh(events, table.data_cutoff, settings.quality.max_staleness_days)


@task(name="quality-gates")
def quality_gates(scores: pd.DataFrame, events: pd.DataFrame, gazetteer: Gazetteer, settings: Settings,
                  table: FeatureTable) -> list[dict]:
    """Run the gates; raise (nothing published) when an error-level gate fails."""
    results = quality.run_week_gates(scores, events, gazetteer.districts["district_code"], table.data_cutoff,
                                     max_staleness_days=settings.quality.max_staleness_days,
                                     max_jump=settings.quality.max_jump)
    summary.log_gates(results, _logger())
    quality.enforce(results)
    return quality.as_dicts(results)


@task(name="stage-outputs")
def stage_outputs(scores: pd.DataFrame, table: FeatureTable, events: pd.DataFrame, gazetteer: Gazetteer,
                  settings: Settings, champions: Champions, *, previous: pd.DataFrame | None,
                  published: pd.DataFrame, sources: tuple[str, ...], run_id: str,
                  evidence: WithdrawalEvidence | None = None) -> Path:
    """Render the week's exports and report into a staging folder before the publish (nothing is published yet);
    ``published``: the 1-week forecasts published for the weeks the report's charts show."""
    selection = exports.read_selection_tables(settings.exports_dir, settings.region_code)
    reports = report.week_reports(scores, table, events, gazetteer, settings.country_names(), previous=previous,
                                  sources=sources, skill=selection["skill"], headline=selection["headline"],
                                  hindcast=selection["hindcast"], published=published,
                                  champions=champions.recipe_labels(),
                                  max_staleness_days=settings.quality.max_staleness_days,
                                  tiers=settings.tiers.thresholds(), evidence=evidence)
    return exports.stage_region(scores, gazetteer.districts, reports, settings.exports_dir, run_id)


@task(name="discard-outputs")
def discard_outputs(staged: Path) -> None:
    exports.discard_staged(staged)


@task(name="publish")
def publish(scores: pd.DataFrame, settings: Settings, lease: tuple[Lease, ...]) -> PublishReport:
    """Atomic, idempotent publish of the week (replaces that week if it was published before), under this
    run's lease."""
    report_ = ScoreStore(settings.score_store_url).migrated().publish(scores, lease=lease)
    _logger().info("published %d rows for %s week %s (replaced %d)", report_.n_rows, report_.country_iso3,
                   report_.week_start, report_.replaced_rows)
    return report_


@task(name="commit-outputs")
def commit_outputs(staged: Path, settings: Settings) -> dict[str, str]:
    """Move the staged exports and report of a published week into place."""
    pause_point("after-publish")
    return summary.output_paths(exports.commit_staged(staged, settings.exports_dir), settings.region_code)


@task(name="log-outputs")
def log_outputs(run_id: str, scores: pd.DataFrame, gazetteer: Gazetteer, settings: Settings, outputs: dict[str, str]) -> None:
    """The tier map (the report's, as SVG), the published scores and the report, on the week's MLflow run."""
    tier_map = report.week_map_svg(scores, gazetteer.districts, settings.country_names())
    tracking.log_to_run(run_id, texts={"figures/district_risk_map.svg": tier_map},
                        frames={"published_scores": scores}, files={"report": Path(outputs["report"])},
                        description=summary.publication_description(scores))


@task(name="prefect-artifacts")
def record_artifacts(scores: pd.DataFrame, week_summary: dict) -> None:
    """A table of the top districts and a markdown summary, shown on the Prefect flow run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    week = week_summary["week_start"]
    create_table_artifact(key="top-districts", description=f"Ten highest-risk districts, week of {week}",
                          table=summary.top_table_rows(scores))
    create_markdown_artifact(key="weekly-summary", description=f"Vigie week of {week}",
                             markdown=summary.artifact_markdown(week_summary))


# --- vigie backtest ------------------------------------------------------------------------------------------

@task(name="backtest")
def backtest(table: FeatureTable, settings: Settings, *, start: pd.Timestamp, end: pd.Timestamp,
             horizons: tuple[int, ...], origin_every: int, refit_every: int, count_candidates: tuple[str, ...] | None,
             hazard_candidates: tuple[str, ...] | None) -> BacktestResult:
    """Walk-forward evaluation of baselines and candidates (pure)."""
    tr = settings.training
    specs = suite(horizons, table.specs, candidates_for(count_candidates or tr.count_candidates, table.specs),
                  candidates_for(hazard_candidates or tr.hazard_candidates, table.specs), HAZARD_HORIZON)
    return run_backtest(table, specs, BacktestConfig(start=start, end=end, origin_every=origin_every, refit_every=refit_every,
                                                     train_start=pd.Timestamp(settings.panel_start)))


@task(name="backtest-tables")
def backtest_tables(result: BacktestResult, settings: Settings) -> dict[str, pd.DataFrame]:
    return summary.backtest_tables(result, settings.tiers.thresholds())


@task(name="write-backtest-outputs")
def write_backtest_outputs(tables: dict[str, pd.DataFrame], settings: Settings, *, start: pd.Timestamp,
                           end: pd.Timestamp) -> dict[str, Path]:
    """metrics, skill and breakdowns of one `vigie backtest`, in its own folder (never the weekly report's)."""
    folder = exports.backtest_dir(settings.exports_dir, settings.region_code, start.date(), end.date())
    return exports.write_backtest_tables(tables, folder, json_too=("metrics", "skill", "targets"))


@task(name="log-backtest-run")
def log_backtest_run(result: BacktestResult, tables: dict[str, pd.DataFrame], table: FeatureTable, events: pd.DataFrame,
                     settings: Settings, *, start: pd.Timestamp, end: pd.Timestamp, horizons: tuple[int, ...],
                     origin_every: int, refit_every: int, is_simulated: bool, sources: tuple[str, ...]) -> str:
    """One MLflow parent run (figures, tables) with a nested run per model, in the backtest experiment."""
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    params = summary.backtest_params(start, end, horizons, origin_every, refit_every, table, ingest.dataset_digest(events),
                                     sources, sorted(result.metrics["model"].unique()))
    return tracking.log_backtest_run(
        tracking.experiment_name(settings.experiment_prefix, settings.region_code, "backtest"),
        f"backtest-{start.date()}-{end.date()}",
        **summary.backtest_log(result, tables, table, params, settings.region_code, is_simulated),
        figures=figures.backtest_figures(result, ALL_BASELINES))



# --- withdrawals and what-if scenarios ----------------------------------------------------------------------

@task(name="check-force-registry")
def check_force_registry(settings: Settings) -> None:
    """Withdrawals and scenarios need the foreign-force registry: refuse at once (exit 2) without one."""
    Registries.for_countries(settings.run_countries()).require_forces(settings.region_code)


@task(name="withdrawal-evidence")
def withdrawal_evidence(table: FeatureTable, gazetteer: Gazetteer, settings: Settings,
                        registries: Registries | None = None, *, required: bool = False) -> WithdrawalEvidence:
    """The event study of every registry withdrawal inside the table's observed weeks (pure); none for a country
    without a foreign-force registry (``required``: a SourceFileError saying so instead)."""
    registries = registries or Registries.load(settings.country())
    deployments = registries.placed_forces(gazetteer, required=required)
    return withdrawals.withdrawal_evidence(table, deployments, gazetteer.neighbours, pd.Timestamp(settings.panel_start))


@task(name="weekly-withdrawal-evidence")
def weekly_withdrawal_evidence(table: FeatureTable, gazetteer: Gazetteer, settings: Settings,
                               sources: tuple[str, ...], retraining: bool) -> WithdrawalEvidence:
    """The week's evidence on withdrawals: the study re-estimated when retraining (or when the kept one is not
    valid for this week), else the kept study of the last retraining (kept by :func:`keep_withdrawal_study`)."""
    deployments = Registries.load(settings.country()).placed_forces(gazetteer)
    kept = exports.read_withdrawal_study(settings.exports_dir, settings.region_code)
    return withdrawals.current_evidence(table, deployments, gazetteer.neighbours, pd.Timestamp(settings.panel_start),
                                        sources=sources, stored=kept, recompute=retraining,
                                        max_age_weeks=settings.training.retrain_every_weeks)


@task(name="keep-withdrawal-study")
def keep_withdrawal_study(evidence: WithdrawalEvidence, settings: Settings) -> None:
    """Keep the week's withdrawal study for the weeks that only score (after the publish: a refused or failed
    run leaves the kept one as it was)."""
    exports.write_withdrawal_study(evidence, settings.exports_dir, settings.region_code)


@task(name="log-withdrawal-evidence")
def log_withdrawal_evidence(run_id: str, evidence: WithdrawalEvidence) -> None:
    """The effect tables and the sentences on the week's MLflow run, and the event-study figure when the study
    is new (a kept study's figure is on the run that estimated it)."""
    drawn = {}
    if evidence.fresh:
        drawn = {"withdrawal_event_study": figures.event_study_figure(evidence.event_study)}
    tracking.log_to_run(run_id, frames=evidence.tables(), texts={"tables/withdrawal_effects.txt": evidence.text()},
                        figures=drawn, tags={"withdrawal_study_cutoff": evidence.cutoff_label()})


@task(name="read-scenario")
def read_scenario_file(path: str) -> Scenario:
    return read_scenario(path)


@task(name="scenario-features")
def scenario_features(events: pd.DataFrame, gazetteer: Gazetteer, settings: Settings, forecast_week: pd.Timestamp,
                      scenario: Scenario) -> tuple[FeatureTable, FeatureTable, list[str], Registries]:
    """The feature tables of the week with the registry as it is and under the scenario (nothing stored), the
    sentences saying what the scenario changed, and the registries as they are."""
    registries = Registries.load(settings.country())
    forces, assumptions = apply_scenario(registries.placed_forces(gazetteer, required=True, placed=False), scenario,
                                         forecast_week)
    build = partial(build_feature_table, events, gazetteer, start=settings.history_start(), forecast_week=forecast_week,
                    config=settings.feature_config())
    return build(registries=registries), build(registries=replace(registries, forces=forces)), assumptions, registries


@task(name="fit-force-models")
def fit_force_models(table: FeatureTable, settings: Settings) -> dict[Slot, FittedSlot]:
    """The force-aware recipes fitted for every slot on the rows before the forecast week."""
    return whatif.fit_force_slots(table, pd.Timestamp(settings.panel_start))


@task(name="score-scenario")
def score_scenario(baseline: FeatureTable, changed: FeatureTable, fitted: dict[Slot, FittedSlot], gazetteer: Gazetteer,
                   scenario: Scenario, settings: Settings, *, run_id: str,
                   sources: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, list[str]], list[str]]:
    """The scenario_scores rows of the week, what each model sees of the change (refuses an invisible one) and
    the force features it changes that no model reads."""
    return scenarios.score_scenario(baseline, changed, fitted, gazetteer.districts, scenario,
                                    country_iso3=settings.country_iso3, event_source=ingest.source_label(sources),
                                    run_id=run_id, published_at=pd.Timestamp.now(tz="UTC"))


@task(name="write-scenario")
def write_scenario(rows: pd.DataFrame, settings: Settings) -> int:
    """Replace the scenario's rows of the week in scenario_scores (district_risk_scores is never touched)."""
    return ScoreStore(settings.score_store_url).migrated().write_scenario(rows)


@task(name="scenario-report")
def scenario_report(rows: pd.DataFrame, gazetteer: Gazetteer, scenario: Scenario, assumptions: list[str],
                    evidence: WithdrawalEvidence, seen: dict[str, list[str]], unseen: list[str],
                    settings: Settings) -> Path:
    html = scenarios.render_scenario_report(rows, gazetteer.districts, scenario, assumptions, evidence=evidence.effects,
                                            notes=[*scenarios.unseen_note(unseen), withdrawals.CAVEAT], seen=seen,
                                            country_name=settings.country_name)
    return exports.write_scenario_report(html, settings.exports_dir, settings.country_iso3, scenario.id,
                                           rows["week_start"].iloc[0])


@task(name="start-scenario-run")
def start_scenario_run(scenario: Scenario, table: FeatureTable, settings: Settings, sources: tuple[str, ...]) -> str:
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    return tracking.start_run(tracking.experiment_name(settings.experiment_prefix, settings.country_iso3, "scenarios"),
                              f"{scenario.id}-{table.forecast_week.date()}", tags=scenarios.run_tags(scenario, sources),
                              params=scenarios.run_params(scenario, table))


@task(name="log-scenario")
def log_scenario(run_id: str, rows: pd.DataFrame, evidence: WithdrawalEvidence, report_path: Path,
                 scenario: Scenario) -> None:
    tracking.log_to_run(run_id, metrics=scenarios.run_metrics(rows), frames={"scenario_scores": rows,
                                                                             **evidence.tables()},
                        texts={"scenario.toml": scenario.text}, files={"report": report_path},
                        figures={"withdrawal_event_study": figures.event_study_figure(evidence.event_study)})
    tracking.finish_run(run_id)
