"""What runs report about themselves: MLflow tags, params, metrics and tables, the weekly and backtest
summaries the command prints, and the Prefect artifacts (pure: results in, dicts and text out)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

from features.table import FeatureTable
from models.backtest import BacktestResult
from models.selection import SlotDecision
from models.slots import HAZARD_HORIZON, HORIZONS, Slot
from models.suite import BASELINES, HAZARD_BASELINES
from models.targets import targets_table, targets_text
from models.training import FittedSlot
from publish.console import json_records
from publish.exports import EXPORT_FILES, REPORT_FILE

#: Metrics of the backtest shown in the `vigie backtest` summary.
SUMMARY_METRICS = ("crps", "brier", "average_precision", "coverage90_active")


def flatten(prefix: str, value) -> dict[str, str]:
    """Nested settings as flat MLflow params ({'major_attack.min_fatalities': '5', ...})."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else k, v))
        return out
    return {prefix: json.dumps(value) if isinstance(value, (list, tuple)) else str(value)}


def failure_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------------------------------
# The weekly run
# --------------------------------------------------------------------------------------------------


def weekly_run_name(table: FeatureTable) -> str:
    return f"weekly-{table.data_cutoff.date()}"


def weekly_run_tags(table: FeatureTable, country: str, is_simulated: bool, sources: tuple[str, ...]) -> dict[str, str]:
    return {"data_cutoff": str(table.data_cutoff.date()), "simulated": str(is_simulated).lower(),
            "sources": ",".join(sources), "country": country, "purpose": "weekly",
            "major_attack_definition": table.config.major.definition(",".join(sources))}


def weekly_run_description(table: FeatureTable, country: str, sources: tuple[str, ...], is_simulated: bool,
                           n_events: int) -> str:
    """The first paragraph of a weekly run's MLflow description: which week, from what data."""
    data = "SIMULATED events" if is_simulated else f"{', '.join(sources)} events"
    return (f"Weekly run of {country} for the week of {table.forecast_week.date()}: {n_events:,} {data} dated before "
            f"{table.data_cutoff.date()} (the data cutoff), {len(table.specs)} features (catalog "
            f"{table.catalog_version}). Major attack: {table.config.major.definition(','.join(sources))}.")


def run_datasets(table: FeatureTable, events: pd.DataFrame, digest: str,
                 sources: tuple[str, ...]) -> dict[str, tuple[pd.DataFrame, str, dict[str, str]]]:
    """The inputs of a weekly run as MLflow datasets: the events known before the cutoff (``digest``: their
    dataset digest) and the feature table built from them (digest: of the events' digest, the catalog version
    and the forecast week)."""
    cutoff = str(table.data_cutoff.date())
    features = hashlib.sha256(f"{digest}|{table.catalog_version}|{table.forecast_week.date()}".encode()).hexdigest()
    common = {"data_cutoff": cutoff, "sources": ",".join(sources)}
    return {"events": (events, digest, common | {"rows": str(len(events))}),
            "feature_table": (table.frame, features[:16], common | {"catalog_version": str(table.catalog_version),
                                                                    "forecast_week": str(table.forecast_week.date())})}


def _is_local_path(value: str) -> bool:
    """An absolute path of this machine, or a URL naming one (sqlite:////..., duckdb:////..., file:...)."""
    return value.startswith(("/", "file:")) or ":////" in value


def portable_params(public_settings: dict) -> dict[str, str]:
    """Flat settings without the values that name this machine's paths (the home, the stores' files): those
    differ between machines and say nothing about the run; each local store is named by its kind instead
    (``<key>_kind``: sqlite, duckdb...). The full settings go to the run's ``tables/settings.json``."""
    out = {}
    for key, value in flatten("", public_settings).items():
        if not _is_local_path(value):
            out[key] = value
        elif "://" in value:
            out[f"{key}_kind"] = value.split(":", 1)[0].split("+", 1)[0]
    return out


def weekly_run_params(table: FeatureTable, public_settings: dict, digest: str, n_events: int) -> dict[str, object]:
    return portable_params(public_settings) | {
        "data_cutoff": str(table.data_cutoff.date()), "dataset_digest": digest, "n_events": n_events,
        "feature_catalog_version": table.catalog_version, "n_features": len(table.specs)}


def model_tags(table: FeatureTable, sources: tuple[str, ...]) -> dict[str, str]:
    """Tags every registered model version carries besides its recipe and features: its data cutoff, feature
    catalog version and the event sources it was trained on (checked before it scores)."""
    return {"data_cutoff": str(table.data_cutoff.date()), "catalog_version": table.catalog_version,
            "sources": ",".join(sources)}


def decisions_by_name(decisions: dict[Slot, SlotDecision], versions: dict[Slot, str],
                      names: dict[Slot, str]) -> dict[str, dict]:
    """The promotion decisions keyed by registered model name (the ``promotion_decisions`` table)."""
    return {names[slot]: {"slot": slot.label, "challenger": d.challenger, "version": versions[slot], "promote": d.promote,
                          "reasons": d.reasons, "numbers": d.numbers, "scores": d.scores}
            for slot, d in decisions.items()}


def importances(fitted: dict[Slot, FittedSlot]) -> dict[Slot, tuple[str, pd.Series]]:
    """{slot: (recipe, mean |contribution| per feature)} of the explainable fitted models."""
    out = {}
    for slot, f in fitted.items():
        values = f.importance()
        if values is not None:
            out[slot] = (f.recipe, values)
    return out


def training_log(result: BacktestResult, skill: pd.DataFrame, decisions: dict[Slot, SlotDecision], decided: dict[str, dict],
                 table: FeatureTable, reason: str,
                 ratios: pd.DataFrame | None, importance: dict[Slot, tuple[str, pd.Series]],
                 figures: list[dict[str, object]], tiers: tuple[float, ...]) -> dict:
    """Keyword arguments of :func:`publish.tracking.log_to_run` for a retraining week (``skill``: the result's
    :func:`skill_table`, computed once; ``figures``: dicts of figures by name, merged; ``tiers``: the risk-tier
    thresholds whose calibration is logged)."""
    descriptions = {s.name: s.description for s in table.specs}
    metrics = {}
    for slot, d in decisions.items():
        metrics |= {f"{slot.kind}_{k}": v for k, v in d.numbers.items()}
        metrics[f"{slot.kind}_h{slot.horizon}_promoted"] = float(d.promote)
    hazard = hazard_skill_table(result)
    targets = targets_table(skill, hazard, result.metrics, BASELINES, HAZARD_BASELINES)
    metrics["targets_met"] = float(targets["met"].sum())
    frames = {"selection_backtest_metrics": result.metrics, "selection_by_district": result.breakdown("district_code"),
              "selection_hazard_skill": hazard, "selection_tier_calibration": result.tiers(tiers),
              "selection_targets": targets}
    for slot, (_, values) in importance.items():
        frames[f"feature_importance_{slot.kind}_h{slot.horizon}"] = values.rename_axis("feature").reset_index().assign(
            description=lambda d: d["feature"].map(descriptions))
    texts = {"tables/selection_targets.txt": targets_text(targets)}
    if ratios is not None:
        frames["hazard_ratios"] = ratios
        texts["tables/hazard_ratios.txt"] = "\n".join(s for s in ratios["sentence"].dropna())
    return {"tags": {"retrained": "true", "retrain_reason": reason, "targets_met": _met(targets)}, "metrics": metrics,
            "frames": frames, "description": training_description(decided, reason, targets),
            "json_tables": {"promotion_decisions": decided}, "nested": nested_model_runs(result, skill, hazard, "selection"),
            "figures": {k: v for drawn in figures for k, v in drawn.items()}, "texts": texts}


def training_description(decided: dict[str, dict], reason: str, targets: pd.DataFrame) -> str:
    """The retraining paragraph of a weekly run's description: why it retrained, what each slot's challenger
    is and why it was or was not promoted (the rule's reasons with their numbers), and the targets."""
    lines = [f"Retrained: {reason}."]
    for name, d in decided.items():
        verdict = "promoted to champion" if d["promote"] else "not promoted"
        lines.append(f"- {d['slot']}: challenger {d['challenger']} ({name} v{d['version']}) {verdict}: "
                     f"{'; '.join(d['reasons'])}.")
    return "\n".join(lines) + "\n\nSelection backtest targets: " + targets_text(targets)


def model_version_descriptions(decisions: dict[Slot, SlotDecision], table: FeatureTable,
                               sources: tuple[str, ...]) -> dict[Slot, str]:
    return {slot: model_version_description(slot, d, table, sources) for slot, d in decisions.items()}


def model_version_description(slot: Slot, decision: SlotDecision, table: FeatureTable, sources: tuple[str, ...]) -> str:
    """A registered model version's description: what it forecasts, trained on what, why promoted or not."""
    what = (f"P(major attack within {slot.horizon} weeks)" if slot.kind == "hazard"
            else f"violent events in the next {slot.horizon} week(s), as a predictive distribution")
    verdict = "Promoted to champion" if decision.promote else "Not promoted"
    return (f"{decision.challenger}: {what}, for each district. Trained on {', '.join(sources)} events up to "
            f"{table.data_cutoff.date()} (forecast week {table.forecast_week.date()}), feature catalog "
            f"{table.catalog_version}. {verdict}: {'; '.join(decision.reasons)}.")


def publication_description(scores: pd.DataFrame) -> str:
    """The last paragraph of a weekly run's description: what was published, the highest risks."""
    top = top_rows(scores, HAZARD_HORIZON, 3)
    names = ", ".join(f"{r.district_name} ({float(r.risk_score):.0f}, {r.tier})" for r in top.itertuples())
    return (f"Published {len(scores)} rows for {scores['district_code'].nunique()} districts. Highest risk scores "
            f"(P(major attack within {HAZARD_HORIZON} weeks), 0-100): {names}.")


def _met(targets: pd.DataFrame) -> str:
    return f"{int(targets['met'].sum())} of {len(targets)}"


def skill_table(result: BacktestResult) -> pd.DataFrame:
    """CRPS skill against the best count baseline per horizon, 90% bootstrap interval over origins."""
    return result.skill(list(BASELINES), "crps", n_boot=500)


def headline_table(result: BacktestResult) -> pd.DataFrame:
    """The headline probability (P(major attack within :data:`HAZARD_HORIZON` weeks)) of every hazard model on
    the backtest's rows: model, brier, average_precision, base_rate (the share of rows with a major attack) and
    the Brier skill against the naive district-history rule and against the base rate (1 - Brier / theirs;
    positive is better). Rows sorted by Brier, best first; the two rules are rows too."""
    m = result.metrics
    hazard = m[(m["kind"] == "hazard") & (m["horizon"] == HAZARD_HORIZON)
               & m["metric"].isin(["brier", "average_precision"])]
    wide = hazard.pivot_table(index="model", columns="metric", values="value").reset_index()
    if wide.empty or not set(HAZARD_BASELINES) <= set(wide["model"]):
        return pd.DataFrame(columns=["model", "brier", "average_precision", "base_rate", "skill_vs_history",
                                     "skill_vs_base_rate"])
    brier = wide.set_index("model")["brier"]
    events = result.predictions.loc[(result.predictions["kind"] == "hazard")
                                    & (result.predictions["horizon"] == HAZARD_HORIZON)
                                    & (result.predictions["model"] == "base_rate"), "event"]
    return wide.assign(base_rate=float(events.mean()),
                       skill_vs_history=1.0 - wide["brier"] / brier["district_history"],
                       skill_vs_base_rate=1.0 - wide["brier"] / brier["base_rate"]).sort_values(
        ["brier", "model"]).reset_index(drop=True)[["model", "brier", "average_precision", "base_rate",
                                                     "skill_vs_history", "skill_vs_base_rate"]]


def hindcast_table(result: BacktestResult, horizon: int = 1) -> pd.DataFrame:
    """The count models' walk-forward forecasts at ``horizon`` (each origin's model fitted on data before its
    refit origin): model, origin (the forecast week's Monday), district_code, mean, q10, q90 (the central 80%
    interval), y (the events observed). The weekly report draws its champion's as the district's recent forecasts."""
    p = result.predictions
    return p.loc[(p["kind"] == "count") & (p["horizon"] == horizon),
                 ["model", "origin", "district_code", "mean", "q10", "q90", "y"]].reset_index(drop=True)


def log_decisions(decided: dict[str, dict], logger) -> None:
    for name, d in decided.items():
        logger.info("%s: challenger %s v%s %s (%s)", name, d["challenger"], d["version"],
                    "promoted to champion" if d["promote"] else "not promoted", "; ".join(d["reasons"]))


def log_gates(results, logger) -> None:
    for r in results:
        (logger.info if r.passed else logger.warning)("gate %s: %s", r.name, r.message)


def output_paths(moved: dict[str, object], main: str) -> dict:
    """{"parquet", "csv", "geojson", "report"} -> path of a committed week's files in the folder ``main`` (the
    country's, or a region's "XAA+XAB", which holds its report); for a region also "countries": {ISO3: {kind:
    path}}. ``moved``: :func:`publish.exports.commit_staged`'s {relative path: final path}."""
    kinds = {name: kind for kind, name in EXPORT_FILES.items()} | {REPORT_FILE: "report"}
    by_folder: dict[str, dict[str, str]] = {}
    for relative, path in moved.items():
        folder, name = Path(relative).parts[0], Path(relative).name
        if name in kinds:
            by_folder.setdefault(folder, {})[kinds[name]] = str(path)
    out: dict = dict(by_folder.get(main, {}))
    others = {folder: files for folder, files in by_folder.items() if folder != main}
    return out | {"countries": others} if others else out


def top_rows(scores: pd.DataFrame, horizon: int, n: int = 10) -> pd.DataFrame:
    """The ``n`` highest risk scores at ``horizon`` (of the country, or of the whole region)."""
    return scores[scores["horizon_weeks"] == horizon].sort_values(["risk_score", "district_code"],
                                                                   ascending=[False, True]).head(n)


def weekly_summary(*, settings, table: FeatureTable, events: pd.DataFrame, scores: pd.DataFrame, published,
                   run_id: str, reason: str | None, decided: dict[str, dict] | None, champion_labels: dict[Slot, str],
                   gates: list[dict], outputs: dict[str, str], reports: list, sources: tuple[str, ...],
                   is_simulated: bool, score_store: str, tracking_uri: str) -> dict:
    """The summary a weekly run returns (and ``vigie run --json`` prints): what was published, from what.
    ``score_store`` and ``tracking_uri`` come with any password masked."""
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    top = top_rows(scores, min(HORIZONS))
    return {
        "country": settings.region_code,
        "countries": list(settings.region_countries),
        "week_start": str(table.forecast_week.date()),
        "data_cutoff": str(table.data_cutoff.date()),
        "is_simulated": is_simulated,
        "sources": list(sources),
        "events_used": int(len(events)),
        "districts": int(scores["district_code"].nunique()),
        "rows_published": int(published.n_rows),
        "rows_replaced": int(published.replaced_rows),
        "run_id": run_id,
        "retrained": decided is not None,
        "retrain_reason": reason,
        "promotions": {k: {"challenger": v["challenger"], "version": v["version"], "promoted": v["promote"]}
                       for k, v in (decided or {}).items()},
        "champions": {slot.label: label for slot, label in champion_labels.items()},
        "gates": gates,
        "score_store": score_store,
        "tracking_uri": tracking_uri,
        "mlflow_ui": f"{mlflow_bin} ui --backend-store-uri {tracking_uri}",
        "outputs": outputs,
        "ingest": [r.as_dict() | {"unassigned_events": r.unassigned_events[:20]} for r in reports],
        "top_districts": top[["rank", "country_iso3", "district_name", "admin1_name", "risk_score", "tier",
                              "expected_events", "p_major_attack_4w"]].to_dict(orient="records"),
    }


def top_table_rows(scores: pd.DataFrame) -> list[dict]:
    """The Prefect table artifact: the ten highest-risk districts at the hazard horizon."""
    return [{"rank": int(r.rank), "district": r.district_name, "region": r.admin1_name,
             "risk_score": float(r.risk_score), "tier": r.tier, "expected_events_4w": round(float(r.expected_events), 2)}
            for r in top_rows(scores, HAZARD_HORIZON).itertuples()]


def artifact_markdown(summary: dict) -> str:
    """The Prefect markdown artifact of a weekly run."""
    week = summary["week_start"]
    marks = {True: "✅", False: "❌"}
    gates = "\n".join(f"- {'⚠️' if not g['passed'] and g['severity'] == 'warning' else marks[g['passed']]} "
                      f"{g['name']}: {g['message']}" for g in summary.get("gates", []))
    return (
        f"# Vigie {summary['country']} — week of {week}{' (SIMULATED DATA)' if summary['is_simulated'] else ''}\n\n"
        f"- data cutoff: {summary['data_cutoff']}; events used: {summary['events_used']}; sources: {', '.join(summary['sources'])}\n"
        f"- published {summary['rows_published']} rows for {summary['districts']} districts to `{summary['score_store']}`\n"
        f"- report: `{summary['outputs'].get('report')}`\n- MLflow run: `{summary['run_id']}`; "
        f"retrained: {summary['retrained']} ({summary['retrain_reason'] or 'champions fresh'})\n\n## Quality gates\n{gates}\n")


# --------------------------------------------------------------------------------------------------
# vigie backtest
# --------------------------------------------------------------------------------------------------


def hazard_skill_table(result: BacktestResult) -> pd.DataFrame:
    """Brier skill of the hazard models against the best hazard baseline (the district's rate or the naive
    district-history rule), 90% bootstrap interval over origins."""
    return result.hazard_skill(list(HAZARD_BASELINES), n_boot=500)


def backtest_tables(result: BacktestResult, tiers: tuple[float, ...]) -> dict[str, pd.DataFrame]:
    """The tables of one `vigie backtest`: metrics, count and hazard skill with bootstrap intervals, the risk
    tiers' calibration (``tiers``: thresholds on the 0-100 scale), and where models fail."""
    skill, hazard = skill_table(result), hazard_skill_table(result)
    return {"metrics": result.metrics, "skill": skill, "hazard_skill": hazard,
            "targets": targets_table(skill, hazard, result.metrics, BASELINES, HAZARD_BASELINES),
            "tier_calibration": result.tiers(tiers), "by_district": result.breakdown("district_code"),
            "by_year": result.breakdown("year")}


def backtest_params(start: pd.Timestamp, end: pd.Timestamp, horizons: tuple[int, ...], origin_every: int,
                    refit_every: int, table: FeatureTable, digest: str, sources: tuple[str, ...],
                    models: list[str]) -> dict[str, object]:
    return {"start": str(start.date()), "end": str(end.date()), "horizons": json.dumps(list(horizons)),
            "origin_every": origin_every, "refit_every": refit_every, "dataset_digest": digest,
            "feature_catalog_version": table.catalog_version, "sources": ",".join(sources), "models": ",".join(models)}


def backtest_log(result: BacktestResult, tables: dict[str, pd.DataFrame], table: FeatureTable, params: dict,
                 country: str, is_simulated: bool) -> dict:
    """Keyword arguments of :func:`publish.tracking.log_backtest_run`: tags, params, tables, a nested run per model."""
    nested = nested_model_runs(result, tables["skill"], tables["hazard_skill"], "backtest")
    return {"tags": {"purpose": "backtest", "simulated": str(is_simulated).lower(), "country": country,
                     "data_cutoff": str(table.forecast_week.date()), "targets_met": _met(tables["targets"])},
            "description": backtest_description(params, tables["targets"], country),
            "params": params, "frames": {"feature_catalog": table.catalog, **tables}, "nested": nested}


def nested_model_runs(result: BacktestResult, skill: pd.DataFrame, hazard: pd.DataFrame,
                      purpose: str) -> dict[str, tuple[dict[str, str], dict[str, float]]]:
    """{model: (tags, metrics)} of one nested MLflow run per backtested model: its metrics by horizon
    (``<metric>_h<h>``) and its skill against the best baseline (``skill_crps_h<h>``, ``skill_brier_h<h>``), so
    that the UI compares models metric by metric instead of drawing hundreds of one-point charts on one run."""
    nested = {}
    for model, rows in result.metrics.groupby("model"):
        metrics = {f"{r.metric}_h{r.horizon}": float(r.value) for r in rows.itertuples()}
        metrics |= {f"skill_crps_h{r.horizon}": float(r.skill) for r in skill[skill["model"] == model].itertuples()}
        metrics |= {f"skill_brier_h{r.horizon}": float(r.skill) for r in hazard[hazard["model"] == model].itertuples()}
        baseline = model in BASELINES or model in HAZARD_BASELINES
        nested[str(model)] = ({"purpose": purpose, "model": str(model), "baseline": str(baseline).lower()}, metrics)
    return nested


def backtest_description(params: dict, targets: pd.DataFrame, country: str) -> str:
    """The run's description (MLflow shows it at the top of the run page): what was backtested, on what, and
    the targets met or not."""
    return (f"Walk-forward backtest of {country}, origins {params['start']} .. {params['end']} every "
            f"{params['origin_every']} week(s), refit every {params['refit_every']}, on {params['sources']} events "
            f"(dataset digest {params['dataset_digest']}). One nested run per model.\n\n" + targets_text(targets))


def backtest_summary(result: BacktestResult, tables: dict[str, pd.DataFrame], paths: dict, run_id: str,
                     start: pd.Timestamp, end: pd.Timestamp, is_simulated: bool, country_iso3: str) -> dict:
    """What `vigie backtest --json` prints."""
    m = result.metrics
    return {
        "ok": True, "country": country_iso3, "run_id": run_id, "start": str(start.date()), "end": str(end.date()),
        "origins": int(result.predictions["origin"].nunique()), "is_simulated": is_simulated,
        "metrics_csv": str(paths["metrics_csv"]), "metrics_json": str(paths["metrics_json"]),
        "skill_csv": str(paths["skill_csv"]),
        "skill": json.loads(tables["skill"].to_json(orient="records")),
        "targets": json.loads(tables["targets"].drop(columns="statement").to_json(orient="records")),
        "summary": json.loads(m[m["metric"].isin(SUMMARY_METRICS)].to_json(orient="records")),
    }


# --- what-if scenarios and withdrawals --------------------------------------------------------------------


def _records_json(frame: pd.DataFrame) -> list[dict]:
    return json_records(frame)


def scenario_summary(scenario, rows: pd.DataFrame, assumptions: list[str], seen: dict[str, list[str]],
                     unseen: list[str], evidence,
                     report_path: Path, run_id: str, replaced: int) -> dict:
    """What `vigie scenario` prints and returns as JSON: the scenario, what changed, the rows written, the
    districts that change most at 4 weeks, the report and the MLflow run."""
    h4 = rows[rows["horizon_weeks"] == HAZARD_HORIZON]
    top = h4.reindex(h4["expected_events_change"].abs().sort_values(ascending=False, kind="stable").index).head(10)
    return {
        "scenario_id": scenario.id, "title": scenario.title,
        "week_start": str(pd.Timestamp(rows["week_start"].iloc[0]).date()), "assumptions": assumptions,
        "models_see": seen, "changed_but_unseen": unseen, "rows": len(rows), "districts": int(rows["district_code"].nunique()),
        "horizons": sorted(int(h) for h in rows["horizon_weeks"].unique()), "replaced_rows": replaced,
        "total_change_h4": float(h4["expected_events_change"].sum()),
        "top_changes_h4": _records_json(top[["district_code", "district_name", "expected_events_baseline",
                                             "expected_events_scenario", "expected_events_change", "change_lo90",
                                             "change_hi90", "p_major_attack_4w_baseline",
                                             "p_major_attack_4w_scenario"]]),
        "evidence": evidence.sentences, "report": str(report_path), "run_id": run_id,
    }


def withdrawals_summary(evidence, table: FeatureTable, sources: tuple[str, ...]) -> dict:
    """What `vigie withdrawals` prints and returns as JSON: every withdrawal studied, the window effects with
    their intervals (pooled, by kind, per withdrawal), the hazard ratios, the sentences and the notes."""
    from models.withdrawals import CAVEAT

    observed = table.frame.loc[table.frame["target_violent_events_h1"].notna(), "week_start"]
    return {
        "sources": list(sources), "first_week": str(observed.min().date()), "last_week": str(observed.max().date()),
        "withdrawals": _records_json(evidence.withdrawals), "effects": _records_json(evidence.effects),
        "hazard_ratios": _records_json(evidence.hazard_ratios), "event_study": _records_json(evidence.event_study),
        "sentences": evidence.sentences, "caveat": CAVEAT, "notes": evidence.notes,
    }
