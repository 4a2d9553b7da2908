"""The ``vigie`` command. Wiring only: parse options, call flows and stores, print for people or as JSON.

Every subcommand that reports something takes ``--json`` and then prints one JSON object as the last line.
Errors in input files exit with status 2 and a message naming the file, row and column.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from features.schema import SourceFileError
from flows.settings import Settings, configure_prefect_home

app = typer.Typer(help="Vigie: weekly district conflict-risk scores.", no_args_is_help=True, add_completion=False)
console = Console(stderr=False)
err = Console(stderr=True)

HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Vigie home folder (env VIGIE_HOME, default ./.vigie).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object as the last line.")]


def _settings(home: Path | None, **overrides) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        values["home"] = home
    settings = Settings(**values)
    configure_prefect_home(settings)
    return settings


def _emit_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _fail(exc: Exception, as_json: bool) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    if as_json:
        _emit_json({"ok": False, "error": str(exc), "error_type": type(exc).__name__})
    raise typer.Exit(code=2)


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="ACLED export (CSV/xlsx) or UCDP GED CSV files.", exists=True, dir_okay=False)],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Parse, validate, assign to districts and store events (idempotent; revisions replace older copies)."""
    from features.gazetteer import Gazetteer
    from flows.tasks import ingest_files

    settings = _settings(home)
    settings.ensure_dirs()
    try:
        reports = ingest_files.fn(files, settings, Gazetteer.load(settings.country_iso3))
    except SourceFileError as exc:
        _fail(exc, as_json)
    table = Table("file", "events", "added", "updated", "unchanged", "stale", "assigned", "unassigned", title="Ingest")
    for r in reports:
        table.add_row(Path(r.source_file).name, *(str(x) for x in (r.rows, r.added, r.updated, r.unchanged, r.stale, r.assigned, r.unassigned)))
    console.print(table)
    for r in reports:
        for ev in r.unassigned_events:
            console.print(f"  unassigned {ev['event_id']}: {ev['unassigned_reason']}")
    totals = {k: sum(getattr(r, k) for r in reports) for k in ("rows", "added", "updated", "unchanged", "stale", "assigned", "unassigned")}
    rate = totals["assigned"] / totals["rows"] if totals["rows"] else 1.0
    console.print(f"assigned {rate:.2%} of {totals['rows']} events to a district; store: {settings.event_store}")
    if as_json:
        _emit_json({"ok": True, **totals, "assigned_share": rate, "event_store": str(settings.event_store),
                    "files": [r.as_dict() for r in reports]})


RetrainOpt = Annotated[str, typer.Option("--retrain", help="auto (when due), always or never.")]


def _expected_errors():
    from features.schema import SourceFileError
    from flows.weekly import NothingToScore
    from models.quality import QualityGateError
    from models.score_store import PublishConflict, ScoreValidationError

    return (SourceFileError, NothingToScore, QualityGateError, PublishConflict, ScoreValidationError)


def _run_weekly(settings: Settings, as_json: bool, **kwargs) -> None:
    from flows.weekly import weekly_flow

    try:
        summary = weekly_flow(settings=settings, **kwargs)
    except _expected_errors() as exc:
        _fail(exc, as_json)
    label = " (SIMULATED DATA)" if summary["is_simulated"] else ""
    table = Table("rank", "district", "region", "risk score", "tier", "expected events (1 wk)", "P(major attack, 4 wk)",
                  title=f"Highest-risk districts, week of {summary['week_start']}{label}")
    for row in summary["top_districts"]:
        table.add_row(str(row["rank"]), row["district_name"], row["admin1_name"], f"{row['risk_score']:.1f}", row["tier"],
                      f"{row['expected_events']:.2f}", f"{row['p_major_attack_4w']:.1%}")
    console.print(table)
    console.print(f"Published {summary['rows_published']} rows ({summary['districts']} districts x horizons) for the week of "
                  f"{summary['week_start']}, data cutoff {summary['data_cutoff']}, run {summary['run_id']}"
                  + (f" (replaced {summary['rows_replaced']} rows published before)" if summary["rows_replaced"] else ""))
    console.print(f"Models: {'retrained (' + summary['retrain_reason'] + ')' if summary['retrained'] else 'champions reused'}; "
                  + "; ".join(f"{k}: {v}" for k, v in summary["champions"].items()))
    console.print(f"Scores table: district_risk_scores (view latest_district_risk) in {summary['score_store']}")
    console.print(f"Report:       {summary['outputs'].get('report')}")
    console.print(f"Exports:      {Path(summary['outputs'].get('parquet', '')).parent}")
    console.print(f"MLflow runs:  {summary['mlflow_ui']}")
    if as_json:
        _emit_json({"ok": True, **summary})


@app.command()
def run(
    events: Annotated[Optional[list[Path]], typer.Option("--events", help="Event files to use (default: the simulated data set).", exists=True, dir_okay=False)] = None,
    as_of: Annotated[Optional[datetime], typer.Option("--as-of", formats=["%Y-%m-%d"], help="Forecast the week of this date (Monday on or before); only events dated before that Monday are used.")] = None,
    respect_timestamps: Annotated[bool, typer.Option("--respect-timestamps", help="Also drop events the source published on or after the cutoff.")] = False,
    retrain: RetrainOpt = "auto",
    home: HomeOpt = None,
    tracking_uri: Annotated[Optional[str], typer.Option("--tracking-uri", help="MLflow tracking URI.")] = None,
    score_store: Annotated[Optional[str], typer.Option("--score-store", help="Score store URL (duckdb:///... or postgresql+psycopg://...).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest, build features, train (when due) and track models, and publish one week's scores for every district."""
    settings = _settings(home, tracking_uri=tracking_uri, score_store_url=score_store)
    _run_weekly(settings, as_json, events=[str(p) for p in events] if events else None,
                as_of=as_of.date() if as_of else None, respect_timestamps=respect_timestamps, retrain=retrain)


@app.command()
def weekly(
    as_of: Annotated[Optional[datetime], typer.Option("--as-of", formats=["%Y-%m-%d"], help="Forecast week (default: this week).")] = None,
    retrain: RetrainOpt = "auto",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The scheduled job: new data from the ACLED API (when ACLED_USERNAME/ACLED_PASSWORD are set) or the drop folder."""
    settings = _settings(home)
    _run_weekly(settings, as_json, as_of=as_of.date() if as_of else None, retrain=retrain)


@app.command()
def backtest(
    events: Annotated[Optional[list[Path]], typer.Option("--events", help="Event files (default: the simulated data set).", exists=True, dir_okay=False)] = None,
    start: Annotated[Optional[datetime], typer.Option("--start", formats=["%Y-%m-%d"], help="First forecast origin (default: two years before --end).")] = None,
    end: Annotated[Optional[datetime], typer.Option("--end", formats=["%Y-%m-%d"], help="Last target week (default: the last full week of data).")] = None,
    horizons: Annotated[str, typer.Option("--horizons", help="Comma-separated horizons in weeks.")] = "1,4,13",
    origin_every: Annotated[int, typer.Option("--origin-every", min=1, help="Weeks between origins.")] = 1,
    refit_every: Annotated[int, typer.Option("--refit-every", min=1, help="Refit the models every N origins.")] = 13,
    models: Annotated[Optional[str], typer.Option("--models", help="Comma-separated count candidates (default from settings).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Walk-forward backtest of the candidates against the baselines; writes metrics (CSV, JSON) and logs to MLflow."""
    from flows.backtest import backtest_flow

    settings = _settings(home)
    try:
        hs = tuple(int(h) for h in horizons.split(","))
    except ValueError:
        _fail(ValueError(f"--horizons must be comma-separated integers, not {horizons!r}"), as_json)
    try:
        summary = backtest_flow(events=[str(p) for p in events] if events else None, start=start.date() if start else None,
                                end=end.date() if end else None, horizons=hs, origin_every=origin_every, refit_every=refit_every,
                                count_candidates=tuple(models.split(",")) if models else None, settings=settings)
    except _expected_errors() as exc:
        _fail(exc, as_json)
    table = Table("horizon", "model", "CRPS", "best baseline", "baseline CRPS", "skill", "90% interval",
                  title=f"Backtest {summary['start']} .. {summary['end']} ({summary['origins']} origins)")
    for r in sorted(summary["skill"], key=lambda r: (r["horizon"], r["score"])):
        table.add_row(str(r["horizon"]), r["model"], f"{r['score']:.4f}", r["baseline"], f"{r['baseline_score']:.4f}",
                      f"{r['skill']:+.1%}", f"[{r['skill_lower']:+.1%}, {r['skill_upper']:+.1%}]")
    console.print(table)
    console.print(f"metrics: {summary['metrics_csv']} (and .json); MLflow run {summary['run_id']}")
    if as_json:
        _emit_json(summary)


@app.command()
def features(
    list_: Annotated[bool, typer.Option("--list", help="List every feature with its family, unit, window and alignment.")] = False,
    family: Annotated[Optional[str], typer.Option("--family", help="Only this family.")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The feature catalog, generated from the feature specs (the same catalog every MLflow run logs)."""
    from features.gazetteer import Gazetteer
    from flows.tasks import feature_catalog

    settings = _settings(home)
    if not list_:
        console.print("nothing to do: pass --list (features are built by `vigie run` and `vigie weekly`)")
        raise typer.Exit(code=0)
    catalog = feature_catalog(settings, Gazetteer.load(settings.country_iso3))
    if family:
        catalog = catalog[catalog["family"] == family]
    if as_json:
        _emit_json({"ok": True, "n_features": len(catalog), "families": catalog["family"].value_counts().to_dict(),
                    "features": json.loads(catalog.to_json(orient="records"))})
        return
    table = Table("name", "family", "unit", "window", "description", title=f"{len(catalog)} features")
    for r in catalog.itertuples():
        table.add_row(r.name, r.family, r.unit, "" if r.window_weeks != r.window_weeks or r.window_weeks is None else str(int(r.window_weeks)), r.description)
    console.print(table)


@app.command()
def serve(home: HomeOpt = None) -> None:
    """Serve the weekly flow on its cron schedule (Monday 06:00 UTC by default) until stopped."""
    from prefect import serve as prefect_serve

    from flows.weekly import weekly_deployment

    settings = _settings(home)
    console.print(f"serving vigie-weekly on '{settings.schedule.cron}' ({settings.schedule.timezone}); Ctrl-C stops")
    prefect_serve(weekly_deployment(settings))


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Output folder (events.csv, truth.parquet, simulation.json).")],
    start: Annotated[datetime, typer.Option("--start", formats=["%Y-%m-%d"])] = datetime(2012, 1, 2),
    weeks: Annotated[int, typer.Option("--weeks", min=1)] = 520,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    districts: Annotated[Optional[int], typer.Option("--districts", help="Simulate a synthetic grid country of this many districts instead of Mali.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write an ACLED-format export (and the true expected counts) from Vigie's generative model."""
    import pandas as pd

    from features.gazetteer import Gazetteer
    from features.sources.simulator import simulate as run_simulation, write_simulation

    gazetteer = Gazetteer.synthetic(districts) if districts else Gazetteer.load("MLI")
    end = (pd.Timestamp(start) + pd.Timedelta(weeks=weeks) - pd.Timedelta(days=1)).date()
    kwargs = {} if not districts else {"country_name": "Simulania", "country_iso3": gazetteer.country_iso3}
    result = run_simulation(gazetteer.districts, gazetteer.neighbours, start=start.date(), end=end, seed=seed, **kwargs)
    paths = write_simulation(result, out)
    console.print(f"simulated {len(result.events)} events in {len(gazetteer.districts)} districts over {weeks} weeks -> {out}")
    if as_json:
        _emit_json({"ok": True, "events": len(result.events), "districts": len(gazetteer.districts), "weeks": weeks,
                    "seed": seed, "files": {k: str(v) for k, v in paths.items()}})


def main() -> None:  # pragma: no cover
    app()


@app.command()
def scores(
    week: Annotated[Optional[datetime], typer.Option("--week", formats=["%Y-%m-%d"], help="Week (its Monday) to show; default the latest published.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    horizon: Annotated[Optional[int], typer.Option("--horizon", help="Only this horizon (1, 4 or 13).")] = None,
    home: HomeOpt = None,
    score_store: Annotated[Optional[str], typer.Option("--score-store", help="Score store URL.")] = None,
) -> None:
    """Print published scores: the latest week, or --week DATE. --format json prints one JSON object."""
    from models.score_store import ScoreStore

    if fmt not in ("table", "csv", "json"):
        _fail(ValueError(f"--format must be table, csv or json, not {fmt!r}"), fmt == "json")
    settings = _settings(home, score_store_url=score_store)
    store = ScoreStore(settings.score_store_url)
    store.migrate()
    frame = store.week(week.date(), settings.country_iso3) if week else store.latest(settings.country_iso3)
    if horizon is not None:
        frame = frame[frame["horizon_weeks"] == horizon]
    frame = frame.sort_values(["horizon_weeks", "rank", "district_code"]).reset_index(drop=True)
    if frame.empty:
        msg = f"no scores published for the week of {week.date()}" if week else "no scores published yet: run `vigie run` first"
        _fail(LookupError(msg), fmt == "json")
    if fmt == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    elif fmt == "json":
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        _emit_json({"ok": True, "week_start": str(frame["week_start"].iloc[0])[:10], "rows": len(frame), "scores": records})
    else:
        shown = frame[frame["horizon_weeks"] == (horizon or frame["horizon_weeks"].min())]
        table = Table("rank", "district", "region", "score", "tier", "change", "expected events", "80% interval",
                      title=f"Week of {str(frame['week_start'].iloc[0])[:10]}" + (" (SIMULATED)" if frame["is_simulated"].any() else ""))
        for r in shown.itertuples():
            change = "" if r.score_change is None or r.score_change != r.score_change else f"{r.score_change:+.1f}"
            table.add_row(str(r.rank), r.district_name, r.admin1_name, f"{r.risk_score:.1f}", r.tier, change,
                          f"{r.expected_events:.2f}", f"{r.events_lo80:.0f}-{r.events_hi80:.0f}")
        console.print(table)
