"""Prefect tasks: each wraps pure functions from features/ and models/ with the I/O they need.

Tasks return in-process objects (no result persistence): a flow run is one process on one machine.
MLflow calls go through models.tracking; tasks that log resume the flow's MLflow run by id.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from prefect import get_run_logger, task

from features.event_store import EventStore, IngestReport
from features.feature_store import write_feature_table
from features.gazetteer import Gazetteer
from features.panel import monday_on_or_before
from features.sources.detect import read_events
from features.sources.simulator import simulate, write_simulation
from features.table import FeatureConfig, FeatureTable, Registries, build_feature_table
from flows.settings import Settings
from models import figures, tracking
from models.backtest import BacktestConfig, BacktestResult, run_backtest
from models.baselines import attach_history
from models.cox import CoxHazardRatios
from models.promotion import Decision, PromotionRule, decide
from models.quality import enforce, run_gates
from models.score_store import ScoreStore, required_columns
from models.scoring import ScoreContext, describe_drivers, score_rows
from models.suite import BASELINES, HAZARD_BASELINES, build, count_spec, hazard_spec, suite

WEEK = pd.Timedelta(days=7)


def _logger():
    try:
        return get_run_logger()
    except Exception:  # called outside a flow run (unit tests call .fn())
        return logging.getLogger("vigie")


def feature_config(settings: Settings) -> FeatureConfig:
    return FeatureConfig(horizons=tuple(settings.horizons), major_min_fatalities=settings.major_attack.min_fatalities,
                         major_military_targets=settings.major_attack.military_targets)


def registered_name(settings: Settings, kind: str, horizon: int) -> str:
    return f"{settings.experiment_prefix}-{settings.country_iso3.lower()}-{kind}-h{horizon}"


def model_slots(settings: Settings) -> list[tuple[str, int]]:
    """(kind, horizon) of every model the weekly scores need: one count model per horizon, one hazard model."""
    return [("count", h) for h in settings.horizons] + [("hazard", settings.training.hazard_horizon)]


# --- data -------------------------------------------------------------------------------------------------

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


@task(name="pull-acled-api", retries=2, retry_delay_seconds=60)
def pull_acled(settings: Settings, gazetteer: Gazetteer, credentials) -> IngestReport:
    """Incremental ACLED API pull (changed since the last pull, deletions applied); state kept in the store."""
    from features.sources.acled_api import AcledClient, PullState

    store = EventStore(settings.event_store)
    saved = store.get_pull_state("acled")
    with AcledClient(credentials) as client:
        result = client.pull_incremental(settings.country_name, PullState.from_dict(saved) if saved else None,
                                         initial_start=pd.Timestamp(settings.panel_start).date() - pd.Timedelta(weeks=52))
    assigned = pd.concat([result.events, gazetteer.assign(result.events)], axis=1)
    report = store.ingest(assigned, source_file="ACLED API")
    report.deleted = store.delete("acled", result.deleted_event_ids)
    store.set_pull_state("acled", result.state.to_dict())
    _logger().info("ACLED API: %d added, %d updated, %d deleted", report.added, report.updated, report.deleted)
    return report


@task(name="load-events")
def load_events(settings: Settings, *, as_of: date, sources: tuple[str, ...], respect_timestamps: bool = False) -> pd.DataFrame:
    store = EventStore(settings.event_store)
    return store.events(as_of=as_of, respect_timestamps=respect_timestamps, country_iso3=settings.country_iso3, sources=sources)


@task(name="build-features")
def build_features(events: pd.DataFrame, gazetteer: Gazetteer, settings: Settings, forecast_week: pd.Timestamp) -> FeatureTable:
    """The feature table up to the forecast week, stored as Parquet with its cutoff and catalog version.

    Windows are filled from ``training.history_weeks`` weeks before ``panel_start``; models train on rows
    from ``panel_start`` on.
    """
    start = pd.Timestamp(settings.panel_start) - pd.Timedelta(weeks=settings.training.history_weeks)
    table = build_feature_table(events, gazetteer, start=start, forecast_week=forecast_week,
                                config=feature_config(settings), registries=Registries.load(settings.country_iso3))
    path = write_feature_table(table, settings.feature_dir, settings.country_iso3)
    _logger().info("feature table: %d rows x %d features -> %s", len(table.frame), len(table.specs), path)
    return table


def feature_catalog(settings: Settings, gazetteer: Gazetteer) -> pd.DataFrame:
    """The catalog of the features the current settings build (built on an empty two-week panel)."""
    from features.schema import empty_events

    events = empty_events().assign(district_code=pd.Series(dtype="string"))
    week = monday_on_or_before(settings.panel_start) + 2 * WEEK
    table = build_feature_table(events, gazetteer, start=week - 2 * WEEK, forecast_week=week,
                                config=feature_config(settings), registries=Registries.load(settings.country_iso3))
    return table.catalog


def dataset_digest(events: pd.DataFrame) -> str:
    """Content hash of the events a run used (order-independent)."""
    h = pd.util.hash_pandas_object(events.drop(columns=["notes"], errors="ignore"), index=False).to_numpy()
    return hashlib.sha256(np.sort(h).tobytes()).hexdigest()[:16]


# --- MLflow run --------------------------------------------------------------------------------------------

@task(name="start-tracking-run")
def start_tracking_run(table: FeatureTable, events: pd.DataFrame, settings: Settings, *, is_simulated: bool,
                       sources: tuple[str, ...]) -> str:
    """Open this week's MLflow run (experiment "<prefix>-<country>-training") and log what the run is made of."""
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    exp = tracking.experiment(f"{settings.experiment_prefix}-{settings.country_iso3.lower()}-training")
    cutoff = str(table.data_cutoff.date())
    with mlflow.start_run(experiment_id=exp, run_name=f"weekly-{cutoff}") as run:
        mlflow.set_tags({"data_cutoff": cutoff, "simulated": str(is_simulated).lower(), "sources": ",".join(sources),
                         "country": settings.country_iso3, "purpose": "weekly"})
        mlflow.log_params(tracking.flatten("", settings.public_dict()) | {
            "data_cutoff": cutoff, "dataset_digest": dataset_digest(events), "n_events": len(events),
            "feature_catalog_version": table.catalog_version, "n_features": len(table.specs)})
        tracking.log_frame(table.catalog, "feature_catalog")
    return run.info.run_id


# --- training ---------------------------------------------------------------------------------------------

def retrain_reason(settings: Settings, forecast_week: pd.Timestamp, feature_names: list[str]) -> str | None:
    """Why the models must be retrained this week, or None when the champions are fresh enough."""
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    for kind, h in model_slots(settings):
        info = tracking.alias_info(registered_name(settings, kind, h))
        if info is None:
            return f"no champion for {kind} h={h}"
        cutoff = info["tags"].get("data_cutoff")
        if cutoff is None or forecast_week - pd.Timestamp(cutoff) >= settings.training.retrain_every_weeks * WEEK:
            return f"champion {kind} h={h} was trained on data up to {cutoff}: due every {settings.training.retrain_every_weeks} weeks"
        if info["tags"].get("catalog_version") not in (None, "") and not set(info["tags"].get("features", "").split(",")) <= set(feature_names) | {""}:
            return f"champion {kind} h={h} needs features the table no longer has"
    return None


@dataclass
class TrainingOutcome:
    retrained: bool
    reason: str | None
    decisions: dict[str, dict] = field(default_factory=dict)
    backtest: BacktestResult | None = None


def _training_rows(table: FeatureTable, target: str, settings: Settings) -> pd.DataFrame:
    f = table.frame
    return f[(f["week_start"] >= pd.Timestamp(settings.panel_start)) & f[target].notna()]


def _selection(result: BacktestResult, kind: str, horizon: int, metric: str, baselines: tuple[str, ...],
               candidates: tuple[str, ...]) -> tuple[str, dict[str, float]]:
    m = result.metrics
    scores = m[(m["kind"] == kind) & (m["horizon"] == horizon) & (m["metric"] == metric)].set_index("model")["value"]
    pool = [n for n in candidates if n in scores.index and np.isfinite(scores[n])]
    base = [n for n in baselines if n in scores.index and np.isfinite(scores[n])]
    best = min(pool or base, key=lambda n: scores[n])
    return best, scores.to_dict()


@task(name="train-select-promote")
def train_and_promote(table: FeatureTable, settings: Settings, run_id: str, *, reason: str) -> TrainingOutcome:
    """Backtest baselines and candidates on the last ``selection_weeks`` origins, fit the best candidate of
    each slot on all rows, register it as ``challenger``, and promote it to ``champion`` by the rule.

    Bootstrap: with no champion at all and no candidate beating the baselines, the best model of the
    selection backtest (possibly a baseline) becomes champion, so that a first week can be published.
    """
    log = _logger()
    tr = settings.training
    last_week = table.forecast_week - WEEK
    config = BacktestConfig(start=table.forecast_week - tr.selection_weeks * WEEK, end=last_week, origin_every=1,
                            refit_every=tr.selection_refit_every, train_start=pd.Timestamp(settings.panel_start))
    specs = suite(settings.horizons, tr.count_candidates, tr.hazard_candidates, tr.hazard_horizon)
    result = run_backtest(table, specs, config)
    outcome = TrainingOutcome(True, reason, backtest=result)
    descriptions = {s.name: s.description for s in table.specs}
    with mlflow.start_run(run_id=run_id):
        mlflow.set_tag("retrained", "true")
        mlflow.set_tag("retrain_reason", reason)
        tracking.log_frame(result.metrics, "selection_backtest_metrics")
        finite = result.metrics[np.isfinite(result.metrics["value"].astype(float))]
        mlflow.log_metrics({f"backtest_{r.model}_h{r.horizon}_{r.metric}": float(r.value) for r in finite.itertuples()})
        for kind, h in model_slots(settings):
            metric = "crps" if kind == "count" else "brier"
            baselines = BASELINES if kind == "count" else HAZARD_BASELINES
            candidates = tr.count_candidates if kind == "count" else tr.hazard_candidates
            best, scores = _selection(result, kind, h, metric, baselines, candidates)
            name = registered_name(settings, kind, h)
            champion = tracking.alias_info(name)
            champ_spec = champion["tags"].get("spec") if champion else None
            best_base = min(scores[b] for b in baselines if b in scores)
            champ_score = {h: scores[champ_spec]} if champ_spec in scores and champ_spec != best else None
            rule = PromotionRule(metric=metric, horizons=(h,), min_gain_vs_champion=tr.min_gain_vs_champion,
                                 min_skill_vs_baseline=tr.min_skill_vs_baseline)
            decision = decide({h: scores[best]}, champ_score, {h: best_base}, rule)
            if champion is not None and champ_spec == best:
                decision.reasons.append(f"the challenger retrains the champion's recipe {best!r} on newer data")
            if champion is None and not decision.promote:
                decision = Decision(True, decision.reasons + ["bootstrap: no champion yet, the best model of the selection backtest becomes champion"], decision.numbers)
            fit_h = (count_spec if kind == "count" else hazard_spec)(best, h).training_horizon
            target = f"target_violent_events_h{fit_h}" if kind == "count" else f"target_major_attack_h{fit_h}"
            rows = _training_rows(table, target, settings)
            model = build(best, kind, h)
            if getattr(model, "history_weeks", 0):
                rows = attach_history(table, rows, model.history_weeks)
            model.fit(rows, rows[target].to_numpy())
            features = list(getattr(model, "features", []) or [])
            example = rows[features].head(5) if features else rows.head(5).drop(columns=[c for c in rows if c.startswith("target_")])
            version = tracking.log_model(model, kind=kind, registered_name=name, example=example, tags={
                "spec": best, "data_cutoff": str(table.data_cutoff.date()), "catalog_version": table.catalog_version,
                "features": ",".join(features), "kind": kind, "horizon": h})
            tracking.set_alias(name, tracking.CHALLENGER, version)
            if decision.promote:
                tracking.set_alias(name, tracking.CHAMPION, version)
            log.info("%s: challenger %s v%s %s (%s)", name, best, version,
                     "promoted to champion" if decision.promote else "not promoted", "; ".join(decision.reasons))
            outcome.decisions[name] = {"challenger": best, "version": version, **decision.as_dict(), "scores": scores}
            mlflow.log_metrics({f"{kind}_{k}": v for k, v in decision.numbers.items()} | {f"{kind}_h{h}_promoted": float(decision.promote)})
            if hasattr(model, "contributions") and features:
                recent = rows[rows["week_start"] >= rows["week_start"].max() - 52 * WEEK]
                importance = model.contributions(recent).abs().mean().rename("mean |contribution| (last 52 weeks)")
                tracking.log_figure(figures.feature_importance(importance, title=f"{name}: {best}"),
                                    f"feature_importance_{kind}_h{h}")
                tracking.log_frame(importance.rename_axis("feature").reset_index().assign(
                    description=lambda d: d["feature"].map(descriptions)), f"feature_importance_{kind}_h{h}")
        tracking.log_json(outcome.decisions, "promotion_decisions")
        _log_backtest_figures(result)
        _log_hazard_ratios(table, settings, descriptions)
    return outcome


def _log_backtest_figures(result: BacktestResult) -> None:
    rel = result.reliability()
    tables = {f"{m} h{h}": g for (m, h), g in rel.groupby(["model", "horizon"]) if m not in ("zero",)}
    tracking.log_figure(figures.reliability_diagram(tables, "Reliability of P(event) in the selection backtest"), "reliability")
    counts = result.predictions[result.predictions["kind"] == "count"]
    pits = {f"{m} h{h}": g["pit"].to_numpy() for (m, h), g in counts.groupby(["model", "horizon"]) if m != "zero"}
    tracking.log_figure(figures.pit_histogram(pits), "pit_histogram")
    tracking.log_figure(figures.predicted_vs_observed(result.predictions), "predicted_vs_observed")
    tracking.log_frame(result.breakdown("district_code"), "selection_by_district")


def _log_hazard_ratios(table: FeatureTable, settings: Settings, descriptions: dict[str, str]) -> None:
    """Cox hazard ratios of foreign-force, withdrawal and political covariates (for interpretation)."""
    rows = _training_rows(table, "target_major_attack_h1", settings)
    try:
        cox = CoxHazardRatios(descriptions=None).fit(rows, rows["target_major_attack_h1"].to_numpy())
    except (ValueError, np.linalg.LinAlgError) as exc:  # e.g. no major attack in a small simulated country
        _logger().warning("Cox hazard ratios not estimated: %s", exc)
        return
    ratios = cox.hazard_ratio_table()
    tracking.log_frame(ratios, "hazard_ratios")
    mlflow.log_text("\n".join(s for s in ratios["sentence"].dropna()), "tables/hazard_ratios.txt")


# --- scoring and publishing ----------------------------------------------------------------------------------

@dataclass
class Champions:
    models: dict[tuple[str, int], object]
    labels: dict[tuple[str, int], str]


@task(name="load-champions")
def load_champions(settings: Settings) -> Champions:
    tracking.configure(settings.tracking_uri, settings.artifact_root)
    models, labels = {}, {}
    for kind, h in model_slots(settings):
        name = registered_name(settings, kind, h)
        model, version = tracking.load_registered(name, tracking.CHAMPION)
        models[(kind, h)] = model
        labels[(kind, h)] = f"{name}:v{version.version} ({(version.tags or {}).get('spec', '?')})"
    return Champions(models, labels)


def _prepare(model, table: FeatureTable, rows: pd.DataFrame) -> pd.DataFrame:
    weeks = getattr(model, "history_weeks", 0)
    return attach_history(table, rows, weeks) if weeks else rows


@task(name="score-week")
def score_week(table: FeatureTable, champions: Champions, gazetteer: Gazetteer, settings: Settings, *,
               run_id: str, is_simulated: bool, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Score the forecast week with the champions (pure apart from reading the models given)."""
    rows = table.forecast_rows().reset_index(drop=True)
    districts = gazetteer.districts[["district_code", "district_name", "admin1_name"]].set_index("district_code")
    districts = districts.loc[rows["district_code"]].reset_index()
    counts = {h: champions.models[("count", h)].predict(_prepare(champions.models[("count", h)], table, rows))
              for h in settings.horizons}
    hz_key = ("hazard", settings.training.hazard_horizon)
    hazard = champions.models[hz_key]
    p_major = hazard.predict_proba(_prepare(hazard, table, rows))
    descriptions = {s.name: s.description for s in table.specs}
    explainer = next((m for m in (hazard, champions.models.get(("count", 4))) if hasattr(m, "contributions")), None)
    drivers = (describe_drivers(explainer.contributions(rows), descriptions) if explainer is not None
               else pd.DataFrame({f"driver_{i}": pd.Series([pd.NA] * len(rows), dtype="string") for i in (1, 2, 3)}))
    context = ScoreContext(settings.country_iso3, table.forecast_week, table.data_cutoff, run_id,
                           ",".join(v for k, v in champions.labels.items() if k[0] == "count"), champions.labels[hz_key],
                           pd.Timestamp.now(tz="UTC"), is_simulated)
    return score_rows(districts, counts, p_major, drivers, previous, context,
                      (settings.tiers.elevated, settings.tiers.high, settings.tiers.severe))


@task(name="quality-gates")
def quality_gates(scores: pd.DataFrame, events: pd.DataFrame, gazetteer: Gazetteer, settings: Settings,
                  table: FeatureTable) -> list[dict]:
    last_event = pd.to_datetime(events["event_date"]).max() if len(events) else None
    results = run_gates(scores, district_codes=gazetteer.districts["district_code"], horizons=tuple(settings.horizons),
                        last_event=last_event, cutoff=table.data_cutoff,
                        max_staleness_days=settings.quality.max_staleness_days, max_jump=settings.quality.max_jump,
                        required=[c for c in required_columns() if c in scores.columns])
    for r in results:
        (_logger().info if r.passed else _logger().warning)("gate %s: %s", r.name, r.message)
    enforce(results)
    return [r.as_dict() for r in results]


@task(name="publish")
def publish(scores: pd.DataFrame, settings: Settings):
    """Atomic, idempotent publish of the week (replaces that week if it was published before)."""
    store = ScoreStore(settings.score_store_url)
    store.migrate()
    report = store.publish(scores)
    _logger().info("published %d rows for %s week %s (replaced %d)", report.n_rows, report.country_iso3,
                   report.week_start, report.replaced_rows)
    return report


def skill_path(settings: Settings) -> Path:
    return settings.exports_dir / settings.country_iso3 / "skill_latest.csv"


def save_skill(result: BacktestResult, settings: Settings) -> pd.DataFrame:
    """Skill against the best baseline (bootstrap over origins), kept for the weekly report."""
    skill = result.skill(list(BASELINES), "crps", n_boot=500)
    path = skill_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    skill.to_csv(tmp, index=False)
    tmp.replace(path)
    return skill


@task(name="exports-and-report")
def write_outputs(scores: pd.DataFrame, table: FeatureTable, events: pd.DataFrame, gazetteer: Gazetteer,
                  settings: Settings, *, previous: pd.DataFrame | None, sources: tuple[str, ...], run_id: str) -> dict[str, str]:
    """Parquet/CSV/GeoJSON of the week and the self-contained HTML report; the map also goes to MLflow."""
    from models.exports import write_week_exports
    from models.report import render_report, write_report

    paths = write_week_exports(scores, gazetteer.districts, settings.exports_dir)
    f = table.forecast_rows()
    names = gazetteer.districts.set_index("district_code")["district_name"]
    recent = pd.DataFrame({
        "district_name": f["district_code"].map(names).to_numpy(),
        "events_4w": f["violent_events_sum_w4"].to_numpy(), "fatalities_4w": f["fatalities_sum_w4"].to_numpy(),
        "events_13w": f["violent_events_sum_w13"].to_numpy(), "fatalities_13w": f["fatalities_sum_w13"].to_numpy(),
    })
    skill = pd.read_csv(skill_path(settings)) if skill_path(settings).exists() else None
    freshness = {"last_event_date": str(pd.to_datetime(events["event_date"]).max().date()) if len(events) else None,
                 "data_cutoff": str(table.data_cutoff.date()), "sources": ", ".join(sources),
                 "ingested_at": str(pd.Timestamp.now(tz="UTC").floor("s"))}
    html = render_report(scores, gazetteer.districts, recent_violence=recent, skill=skill, freshness=freshness, previous=previous)
    paths["report"] = write_report(html, settings.exports_dir, settings.country_iso3, table.forecast_week.date())
    with mlflow.start_run(run_id=run_id):
        h4 = scores[scores["horizon_weeks"] == 4][["district_code", "risk_score"]]
        shapes = gazetteer.districts.merge(h4, on="district_code", how="left")
        tracking.log_figure(figures.district_map(shapes, column="risk_score", title=f"Risk score, week of {table.forecast_week.date()}"),
                            "district_risk_map")
        tracking.log_frame(scores, "published_scores")
        mlflow.log_artifact(str(paths["report"]), artifact_path="report")
    return {k: str(v) for k, v in paths.items()}


@task(name="prefect-artifacts")
def record_artifacts(scores: pd.DataFrame, summary: dict) -> None:
    """A table of the top districts and a markdown summary, shown on the Prefect flow run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    week = summary["week_start"]
    top = scores[scores["horizon_weeks"] == 4].sort_values("rank").head(10)
    create_table_artifact(key="top-districts", description=f"Ten highest-risk districts, week of {week}",
                          table=[{"rank": int(r.rank), "district": r.district_name, "region": r.admin1_name,
                                  "risk_score": float(r.risk_score), "tier": r.tier,
                                  "expected_events_4w": round(float(r.expected_events), 2)} for r in top.itertuples()])
    gates = "\n".join(f"- {'✅' if g['passed'] else ('⚠️' if g['severity'] == 'warning' else '❌')} {g['name']}: {g['message']}"
                      for g in summary.get("gates", []))
    create_markdown_artifact(key="weekly-summary", description=f"Vigie week of {week}", markdown=(
        f"# Vigie {summary['country']} — week of {week}{' (SIMULATED DATA)' if summary['is_simulated'] else ''}\n\n"
        f"- data cutoff: {summary['data_cutoff']}; events used: {summary['events_used']}; sources: {', '.join(summary['sources'])}\n"
        f"- published {summary['rows_published']} rows for {summary['districts']} districts to `{summary['score_store']}`\n"
        f"- report: `{summary['outputs'].get('report')}`\n- MLflow run: `{summary['run_id']}`; "
        f"retrained: {summary['retrained']} ({summary['retrain_reason'] or 'champions fresh'})\n\n## Quality gates\n{gates}\n"))
