"""What the ``vigie`` command prints for people (rich renderables) and as JSON (one line). Pure: results in,
renderables and text out; the command only prints them."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from rich.table import Table

INGEST_COUNTS = ("rows", "added", "updated", "unchanged", "stale", "assigned", "unassigned")


def json_day_or_instant(value: date | datetime) -> str:
    """The one way Vigie writes times in JSON: a day (a date, or a time-zone-naive midnight such as a
    week_start) as YYYY-MM-DD; an instant (published_at) as ISO 8601 to the second, with its offset."""
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None and value.time() == datetime.min.time():
        return value.date().isoformat()
    return value.replace(microsecond=0).isoformat()


def _json_default(value):
    if isinstance(value, (date, datetime)):
        return json_day_or_instant(value)
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: times as :func:`json_day_or_instant` writes them, NaN as null."""
    out = frame.astype(object).where(frame.notna(), None)
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            out[column] = _times_as_text(frame[column]).astype(object).where(frame[column].notna(), None)
    return json.loads(json.dumps(out.to_dict(orient="records"), default=_json_default))


def _times_as_text(times: pd.Series) -> pd.Series:
    """:func:`json_day_or_instant` on a whole datetime column at once."""
    if times.dt.tz is not None:
        text = times.dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        return text.str[:-2] + ":" + text.str[-2:]  # +0000 -> +00:00, as isoformat writes it
    midnight = times == times.dt.normalize()
    return times.dt.strftime("%Y-%m-%d").where(midnight, times.dt.strftime("%Y-%m-%dT%H:%M:%S"))


def json_line(payload: dict) -> str:
    """One JSON object on one line (dates as ISO 8601)."""
    return json.dumps(payload, default=_json_default) + "\n"


def error_payload(exc: BaseException) -> dict:
    return {"ok": False, "error": str(exc), "error_type": type(exc).__name__}


# --- ingest ---------------------------------------------------------------------------------------------------

def ingest_totals(reports) -> dict[str, int]:
    return {k: sum(r.as_dict()[k] for r in reports) for k in INGEST_COUNTS}


def ingest_view(reports, event_store: Path) -> list:
    """The ingest table, one line per unassigned event, and the assigned share."""
    table = Table("file", "events", *INGEST_COUNTS[1:], title="Ingest")
    for r in reports:
        table.add_row(Path(r.source_file).name, *(str(r.as_dict()[k]) for k in INGEST_COUNTS))
    lines = [f"  unassigned: {n} x {reason}" for reason, n in unassigned_by_reason(reports).items()]
    totals = ingest_totals(reports)
    return [table, *lines, f"assigned {assigned_share(totals):.2%} of {totals['rows']} events to a district; store: {event_store}"]


def assigned_share(totals: dict[str, int]) -> float:
    return totals["assigned"] / totals["rows"] if totals["rows"] else 1.0


def unassigned_by_reason(reports) -> dict[str, int]:
    """Unassigned events of every report counted by reason, most frequent first."""
    counts: dict[str, int] = {}
    for r in reports:
        for reason, n in r.as_dict()["unassigned_by_reason"].items():
            counts[reason] = counts.get(reason, 0) + n
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def ingest_json(reports, event_store: Path) -> dict:
    totals = ingest_totals(reports)
    return {"ok": True, **totals, "assigned_share": assigned_share(totals), "event_store": str(event_store),
            "unassigned_by_reason": unassigned_by_reason(reports), "files": [r.as_dict() for r in reports]}


# --- the weekly run -------------------------------------------------------------------------------------------

def weekly_view(summary: dict) -> list:
    """The ten highest-risk districts and where everything the run published is."""
    label = " (SIMULATED DATA)" if summary["is_simulated"] else ""
    regional = len(summary.get("countries", ())) > 1  # ranks are then within each country
    table = Table("rank", *(("country",) if regional else ()), "district", "region", "risk score", "tier",
                  "expected events (1 wk)", "P(major attack, 4 wk)",
                  title=f"Highest-risk districts of {summary['country']}, week of {summary['week_start']}{label}")
    for row in summary["top_districts"]:
        table.add_row(str(row["rank"]), *((row["country_iso3"],) if regional else ()), row["district_name"],
                      row["admin1_name"], f"{row['risk_score']:.1f}", row["tier"], f"{row['expected_events']:.2f}",
                      f"{row['p_major_attack_4w']:.1%}")
    replaced = f" (replaced {summary['rows_replaced']} rows published before)" if summary["rows_replaced"] else ""
    models = f"retrained ({summary['retrain_reason']})" if summary["retrained"] else "champions reused"
    outputs = summary["outputs"]
    lines = [
        table,
        f"Published {summary['rows_published']} rows ({summary['districts']} districts x horizons) for the week of "
        f"{summary['week_start']}, data cutoff {summary['data_cutoff']}, run {summary['run_id']}{replaced}",
        f"Models: {models}; " + "; ".join(f"{k}: {v}" for k, v in summary["champions"].items()),
        f"Scores table: district_risk_scores (view latest_district_risk) in {summary['score_store']}",
        f"Report:       {outputs.get('report')}",
    ]
    if "parquet" in outputs:
        lines.append(f"Exports:      {Path(outputs['parquet']).parent}")
    for iso3, files in outputs.get("countries", {}).items():  # a regional run: each country's own folder
        lines.append(f"  {iso3}: report {files.get('report')}, exports {Path(files.get('parquet', '')).parent}")
    return [*lines, f"MLflow runs:  {summary['mlflow_ui']}"]


# --- vigie backtest --------------------------------------------------------------------------------------------

def backtest_view(summary: dict) -> list:
    table = Table("horizon", "model", "CRPS", "best baseline", "baseline CRPS", "skill", "90% interval",
                  title=f"Backtest {summary['start']} .. {summary['end']} ({summary['origins']} origins)")
    for r in sorted(summary["skill"], key=lambda r: (r["horizon"], r["score"])):
        table.add_row(str(r["horizon"]), r["model"], f"{r['score']:.4f}", r["baseline"], f"{r['baseline_score']:.4f}",
                      f"{r['skill']:+.1%}", f"[{r['skill_lower']:+.1%}, {r['skill_upper']:+.1%}]")
    return [table, f"metrics: {summary['metrics_csv']} (and .json); MLflow run {summary['run_id']}"]


def parse_horizons(text: str) -> tuple[int, ...]:
    """'1,4,13' -> (1, 4, 13); ValueError naming the option otherwise."""
    try:
        horizons = tuple(int(h) for h in text.split(","))
    except ValueError:
        raise ValueError(f"--horizons must be comma-separated integers, not {text!r}") from None
    if any(h < 1 for h in horizons):
        raise ValueError(f"--horizons must be positive, not {text!r}")
    return horizons


def split_names(text: str | None) -> tuple[str, ...] | None:
    return tuple(n for n in text.split(",") if n) if text else None


# --- features and scores ---------------------------------------------------------------------------------------

def catalog_view(catalog: pd.DataFrame) -> Table:
    table = Table("name", "family", "unit", "window", "description", title=f"{len(catalog)} features")
    windows = catalog["window_weeks"].map(lambda w: "" if pd.isna(w) else str(int(w)))
    for r, window in zip(catalog.itertuples(), windows):
        table.add_row(r.name, r.family, r.unit, window, r.description)
    return table


def catalog_json(catalog: pd.DataFrame) -> dict:
    return {"ok": True, "n_features": len(catalog), "families": catalog["family"].value_counts().to_dict(),
            "features": json.loads(catalog.to_json(orient="records"))}


def of_family(catalog: pd.DataFrame, family: str | None) -> pd.DataFrame:
    return catalog if family is None else catalog[catalog["family"] == family]


def select_scores(frame: pd.DataFrame, horizon: int | None) -> pd.DataFrame:
    """Published rows (one horizon when given), ordered by horizon, rank and district."""
    if horizon is not None:
        frame = frame[frame["horizon_weeks"] == horizon]
    return frame.sort_values(["horizon_weeks", "rank", "district_code"]).reset_index(drop=True)


def no_scores_message(week: date | None, horizon: int | None) -> str:
    if week is not None:
        return f"no scores published for the week of {week}" + (f" at horizon {horizon}" if horizon else "")
    if horizon is not None:
        return f"no published scores at horizon {horizon} (horizons are 1, 4 and 13 weeks)"
    return "no scores published yet: run `vigie run` first"


def scores_json(frame: pd.DataFrame) -> dict:
    records = json_records(frame)
    return {"ok": True, "week_start": str(frame["week_start"].iloc[0])[:10], "rows": len(frame), "scores": records}


def _source_of(frame: pd.DataFrame) -> str:
    return "/".join(sorted(frame["event_source"].astype(str).unique()))


def scores_view(frame: pd.DataFrame, horizon: int | None) -> Table:
    shown = frame[frame["horizon_weeks"] == (horizon or frame["horizon_weeks"].min())]
    table = Table("rank", "district", "region", "score", "tier", "change", "expected events", "80% interval",
                  title=f"{frame['country_iso3'].iloc[0]}, week of {str(frame['week_start'].iloc[0])[:10]}, scored from "
                  f"{_source_of(frame)} events"
                  + (" (SIMULATED)" if frame["is_simulated"].any() else ""))
    changes = shown["score_change"].map(lambda c: "" if pd.isna(c) else f"{c:+.1f}")
    for r, change in zip(shown.itertuples(), changes):
        table.add_row(str(r.rank), r.district_name, r.admin1_name, f"{r.risk_score:.1f}", r.tier, change,
                      f"{r.expected_events:.2f}", f"{r.events_lo80:.0f}-{r.events_hi80:.0f}")
    return table


def simulate_view(n_events: int, n_districts: int, weeks: int, out: Path) -> str:
    return f"simulated {n_events} events in {n_districts} districts over {weeks} weeks -> {out}"


def simulate_json(n_events: int, n_districts: int, weeks: int, seed: int, paths: dict) -> dict:
    return {"ok": True, "events": n_events, "districts": n_districts, "weeks": weeks, "seed": seed,
            "files": {k: str(v) for k, v in paths.items()}}


# --- withdrawals and scenarios ---------------------------------------------------------------------------------

def _interval(lo: float, hi: float, fmt: str = "{:.2f}") -> str:
    return f"[{fmt.format(lo)}, {fmt.format(hi)}]" if np.isfinite(lo) and np.isfinite(hi) else "—"


def withdrawals_view(summary: dict) -> list:
    """The withdrawals studied and the pooled / by-kind window effects with their intervals."""
    listed = Table("week", "district", "kind", "withdrawal", title=f"Withdrawals inside the data ({summary['first_week']}"
                   f" .. {summary['last_week']}, {', '.join(summary['sources'])})")
    for w in summary["withdrawals"]:
        listed.add_row(str(w["week_start"])[:10], str(w["district_code"]), str(w["kind"]), str(w["label"]))
    effects = Table("where", "group", "window", "ratio after / before", "95% interval", "p", "withdrawals",
                    title="Violent events after a withdrawal against before (district and week effects)")
    for e in (e for e in summary["effects"] if e["level"] in ("pooled", "kind")):
        irr = e["irr"] if e["irr"] is not None else float("nan")
        lo = e["ci_low"] if e["ci_low"] is not None else float("nan")
        hi = e["ci_high"] if e["ci_high"] is not None else float("nan")
        p = e["p_value"] if e["p_value"] is not None else float("nan")
        effects.add_row(str(e["scope"]), str(e["group"]), f"{e['window_weeks']} weeks", f"{irr:.2f}", _interval(lo, hi),
                        f"{p:.2f}", str(e["n_withdrawals"]))
    return [listed, effects, *summary["sentences"], f"[dim]{summary['caveat']}[/dim]"]


def scenario_view(summary: dict) -> list:
    """The scenario's assumptions, what the models see, the districts that change most and where it was written."""
    top = Table("district", "as it is", "scenario", "change", "90% interval", "P(major attack 4w)",
                title=f"{summary['title']}: week of {summary['week_start']}, expected violent events over 4 weeks")
    for r in summary["top_changes_h4"]:
        top.add_row(f"{r['district_name']} ({r['district_code']})", f"{r['expected_events_baseline']:.2f}",
                    f"{r['expected_events_scenario']:.2f}", f"{r['expected_events_change']:+.2f}",
                    _interval(r["change_lo90"], r["change_hi90"], "{:+.2f}"),
                    f"{r['p_major_attack_4w_baseline']:.1%} -> {r['p_major_attack_4w_scenario']:.1%}")
    seen = "; ".join(f"{k}: {', '.join(v) or 'nothing'}" for k, v in summary["models_see"].items())
    return [*(f"- {a}" for a in summary["assumptions"]), top, f"models see: {seen}",
            f"{summary['rows']} scenario_scores rows ({summary['districts']} districts x horizons "
            f"{summary['horizons']}; replaced {summary['replaced_rows']}); report {summary['report']}; "
            f"MLflow run {summary['run_id']}"]
