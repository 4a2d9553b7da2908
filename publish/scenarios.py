"""What-if scenarios, publishing side: the rows of ``scenario_scores`` and the scenario's HTML report.

Pure (the report is written by :func:`publish.exports.write_scenario_report`). The report, like the weekly one, is one
self-contained page (inline CSS and SVG, no script, no external resource): the registry as it is and the
scenario side by side on two maps of the expected violent events over 4 weeks, a map of the change, the
districts that change most with the interval of the change, the assumptions written out, and the evidence on
withdrawals (:mod:`models.event_study`) with its intervals.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd

from features.forces import FAMILY_EVENTS, FAMILY_PRESENCE
from models import whatif
from publish.report import (
    SOURCE_ATTRIBUTION,
    country_label,
    district_svg_paths,
    template_environment,
    template_records,
)
from publish.schema import SCENARIO_COLUMNS, validate_scenario_scores

#: Sequential fills of the two forecast maps (light to dark), by shared quantile bins.
LEVEL_COLOURS = ("#fff5eb", "#fdd0a2", "#fdae6b", "#f16913", "#a63603")
#: Diverging fills of the change map: fewer events (blue), no change, more events (red).
CHANGE_COLOURS = ("#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b")
MAP_HORIZON = 4
TOP_CHANGES = 10
#: |change| below this many expected events over 4 weeks is drawn as "no change".
NO_CHANGE_EVENTS = 0.01


def scenario_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scenario_rows(forecasts: pd.DataFrame, districts: pd.DataFrame, *, scenario, week_start: pd.Timestamp,
                  country_iso3: str, event_source: str, run_id: str, count_model: str, hazard_model: str,
                  published_at: datetime) -> pd.DataFrame:
    """The ``scenario_scores`` rows (SCENARIO_COLUMNS, validated) of :func:`models.whatif.scenario_forecasts`'s
    frame ``forecasts`` for ``scenario`` (a :class:`features.scenario.Scenario`); ``districts``: the
    gazetteer's district_code, district_name, admin1_name."""
    names = districts[["district_code", "district_name", "admin1_name"]].astype("string")
    rows = forecasts.merge(names, on="district_code", how="left", validate="many_to_one")
    rows = rows.assign(scenario_id=scenario.id, scenario_title=scenario.title,
                       scenario_sha256=scenario_sha256(scenario.text), country_iso3=country_iso3,
                       week_start=pd.Timestamp(week_start), event_source=event_source, run_id=run_id,
                       count_model=count_model, hazard_model=hazard_model,
                       published_at=pd.Timestamp(published_at).tz_convert("UTC"))
    return validate_scenario_scores(rows[list(SCENARIO_COLUMNS)])


def _bins(values: pd.Series, colours: tuple[str, ...]) -> tuple[np.ndarray, list[float]]:
    """Quantile bin edges shared by the two forecast maps, and each value's bin."""
    edges = sorted(set(np.quantile(values, np.linspace(0, 1, len(colours) + 1)[1:-1]).round(3)))
    return np.searchsorted(edges, values.to_numpy(), side="right"), edges


def maps_view(rows: pd.DataFrame, districts: gpd.GeoDataFrame, horizon: int = MAP_HORIZON) -> dict:
    """The three maps of the report (baseline, scenario, change) at ``horizon``, sharing one set of paths."""
    paths, width, height = district_svg_paths(districts)
    part = paths.merge(rows[rows["horizon_weeks"] == horizon], on="district_code", how="left")
    both = pd.concat([part["expected_events_baseline"], part["expected_events_scenario"]]).dropna()
    _, edges = _bins(both, LEVEL_COLOURS)
    view = {"width": width, "height": height, "horizon": horizon}
    for key in ("baseline", "scenario"):
        values = part[f"expected_events_{key}"]
        idx = np.searchsorted(edges, values.fillna(0).to_numpy(), side="right")
        fills = np.asarray(LEVEL_COLOURS, dtype=object)[np.minimum(idx, len(LEVEL_COLOURS) - 1)]
        tips = part["district_name"].astype(object) + ": " + values.map("{:.2f}".format) + " expected events"
        view[key] = template_records(pd.DataFrame({"path": part["path"], "fill": fills, "tooltip": tips}))
    change = part["expected_events_change"].fillna(0.0)
    scale = max(float(change.abs().max()), NO_CHANGE_EVENTS)
    level = np.where(change.abs() < NO_CHANGE_EVENTS, 2,
                     np.where(change < 0, np.where(change < -scale / 2, 0, 1), np.where(change > scale / 2, 4, 3)))
    tips = (part["district_name"].astype(object) + ": " + change.map("{:+.2f}".format) + " events (90% CI "
            + part["change_lo90"].map("{:+.2f}".format) + " to " + part["change_hi90"].map("{:+.2f}".format) + ")")
    view["change"] = template_records(pd.DataFrame({"path": part["path"], "fill": np.asarray(CHANGE_COLOURS, dtype=object)[level],
                                            "tooltip": tips}))
    lows = [0.0, *edges]
    view["level_legend"] = [{"colour": c, "label": f"≥ {lo:.2f}"} for c, lo in zip(LEVEL_COLOURS, lows)]
    view["change_legend"] = [
        {"colour": CHANGE_COLOURS[0], "label": f"fewer (< −{scale / 2:.2f})"},
        {"colour": CHANGE_COLOURS[1], "label": "fewer"},
        {"colour": CHANGE_COLOURS[2], "label": f"no change (|Δ| < {NO_CHANGE_EVENTS:g})"},
        {"colour": CHANGE_COLOURS[3], "label": "more"},
        {"colour": CHANGE_COLOURS[4], "label": f"more (> +{scale / 2:.2f})"}]
    return view


def top_changes(rows: pd.DataFrame, horizon: int = MAP_HORIZON, n: int = TOP_CHANGES) -> list[dict]:
    """The ``n`` districts whose expected events at ``horizon`` change most (by absolute change)."""
    part = rows[rows["horizon_weeks"] == horizon].copy()
    part = part.reindex(part["expected_events_change"].abs().sort_values(ascending=False, kind="stable").index)
    part = part[part["expected_events_change"].abs() >= NO_CHANGE_EVENTS].head(n)
    return template_records(pd.DataFrame({
        "district": part["district_name"] + " (" + part["admin1_name"] + ")",
        "baseline": part["expected_events_baseline"].map("{:.2f}".format),
        "scenario": part["expected_events_scenario"].map("{:.2f}".format),
        "change": part["expected_events_change"].map("{:+.2f}".format),
        "interval": part["change_lo90"].map("{:+.2f}".format) + " to " + part["change_hi90"].map("{:+.2f}".format),
        "p_baseline": (100 * part["p_major_attack_4w_baseline"]).map("{:.1f}%".format),
        "p_scenario": (100 * part["p_major_attack_4w_scenario"]).map("{:.1f}%".format),
    }))


def evidence_view(evidence: pd.DataFrame | None) -> list[dict]:
    """The pooled rows of the withdrawal evidence (:func:`models.event_study.window_effects`) as text."""
    if evidence is None or evidence.empty:
        return []
    pooled = evidence[evidence["group"] == "pooled"]
    return template_records(pd.DataFrame({
        "scope": pooled["scope"], "window": pooled["window_weeks"].astype(int).astype(str) + " weeks",
        "irr": pooled["irr"].map("{:.2f}".format),
        "interval": pooled["ci_low"].map("{:.2f}".format) + "–" + pooled["ci_high"].map("{:.2f}".format),
        "n": pooled["n_withdrawals"].astype(int).astype(str),
    }))


def render_scenario_report(rows: pd.DataFrame, districts: gpd.GeoDataFrame, scenario, assumptions: list[str],
                           *, evidence: pd.DataFrame | None, notes: list[str], seen: dict[str, list[str]],
                           country_name: str | None = None) -> str:
    """The self-contained HTML report of one scenario's rows (all horizons; maps at 4 weeks)."""
    first = rows.iloc[0]
    source = str(first["event_source"])
    context = {
        "scenario": scenario, "assumptions": assumptions, "notes": notes,
        "country_name": country_label(str(first["country_iso3"]), country_name),
        "week_start": pd.Timestamp(first["week_start"]).date().isoformat(),
        "maps": maps_view(rows, districts), "top": top_changes(rows), "evidence": evidence_view(evidence),
        "seen": [{"model": k, "features": ", ".join(v) or "none"} for k, v in seen.items()],
        "count_model": str(first["count_model"]), "hazard_model": str(first["hazard_model"]),
        "run_id": str(first["run_id"]), "sha256": str(first["scenario_sha256"]),
        "attribution": SOURCE_ATTRIBUTION.get(source, source), "simulated": source == "simulated",
        "n_districts": int(rows["district_code"].nunique()),
    }
    return template_environment().get_template("scenario.html.j2").render(**context)



def _model_label(fitted) -> str:
    return (f"{fitted.recipe} (fitted on {fitted.n_rows} district-weeks, {fitted.first_week.date()} "
            f"to {fitted.last_week.date()})")


def score_scenario(baseline, changed, fitted: dict, districts: pd.DataFrame, scenario, *, country_iso3: str,
                   event_source: str, run_id: str, published_at) -> tuple[pd.DataFrame, dict[str, list[str]], list[str]]:
    """The validated scenario_scores rows of the forecast week of ``baseline`` / ``changed`` (two FeatureTables of
    the same events, the registry as it is and under ``scenario``) scored by the ``fitted`` force-aware slots
    (:func:`models.whatif.fit_force_slots`), what each model sees of the change (input columns that move), and
    the force features that change but no model reads. Raises :class:`models.whatif.ScenarioInvisible` when no
    model sees any change."""
    from models.training import model_rows

    counts = {slot: f for slot, f in fitted.items() if slot.kind == "count"}
    hazard_slot, hazard = next((slot, f) for slot, f in fitted.items() if slot.kind == "hazard")
    b = model_rows(hazard.model, baseline, baseline.forecast_rows())
    c = model_rows(hazard.model, changed, changed.forecast_rows())
    force = [s.name for s in baseline.specs if s.family in (FAMILY_PRESENCE, FAMILY_EVENTS)]
    seen = whatif.visibility(b, c, {slot.label: f.model for slot, f in fitted.items()}, force)
    forecasts = whatif.scenario_forecasts(b, c, {slot.horizon: f.model for slot, f in counts.items()}, hazard.model,
                                          hazard_horizon=hazard_slot.horizon)
    rows = scenario_rows(forecasts, districts, scenario=scenario, week_start=baseline.forecast_week,
                         country_iso3=country_iso3, event_source=event_source, run_id=run_id,
                         count_model=_model_label(next(iter(counts.values()))), hazard_model=_model_label(hazard),
                         published_at=published_at)
    return rows, seen, whatif.unseen_changes(b, c, seen, force)


def unseen_note(unseen: list[str]) -> list[str]:
    """The report's note on what the scenario changes that no model reads (empty when there is none)."""
    if not unseen:
        return []
    return [f"The scenario also changes {', '.join(unseen)}, which no fitted model reads (no model term for it, or "
            "no history to estimate one): their effect is not in these forecasts."]


def run_tags(scenario, sources: tuple[str, ...]) -> dict[str, str]:
    return {"scenario_id": scenario.id, "event_source": ",".join(sources), "kind": "scenario"}


def run_params(scenario, table) -> dict[str, object]:
    return {"scenario_id": scenario.id, "scenario_title": scenario.title[:250],
            "scenario_sha256": scenario_sha256(scenario.text), "forecast_week": str(table.forecast_week.date()),
            "changes": len(scenario.changes), "count_recipe": whatif.COUNT_RECIPE, "hazard_recipe": whatif.HAZARD_RECIPE}


def run_metrics(rows: pd.DataFrame) -> dict[str, float]:
    """Per horizon: the country's total change of expected events and the largest change in one district."""
    by = rows.groupby("horizon_weeks")["expected_events_change"]
    out = {f"total_change_h{h}": float(v) for h, v in by.sum().items()}
    out |= {f"max_abs_change_h{h}": float(v) for h, v in by.apply(lambda s: s.abs().max()).items()}
    out["max_abs_p_major_attack_4w_change"] = float(rows["p_major_attack_4w_change"].abs().max())
    return out
