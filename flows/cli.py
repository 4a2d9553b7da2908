"""The ``vigie`` command. Wiring only: parse options, call flows and stores, print what publish.console renders.

Every subcommand that reports something takes ``--json`` and then prints one JSON object as the last line.
Errors in input files exit with status 2 and a message naming the file, row and column.
"""

from __future__ import annotations

import sys
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from features.schema import SourceFileError
from flows.settings import Settings, configure_prefect_home
from publish import console as views
from publish.progress import file_progress

app = typer.Typer(help="Vigie: weekly district conflict-risk scores.", no_args_is_help=True, add_completion=False)
console = Console(stderr=False)
err = Console(stderr=True)


class Retrain(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class ScoreFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Vigie home folder (env VIGIE_HOME, default ./.vigie).")]
CountriesOpt = Annotated[Optional[str], typer.Option("--countries", help="Several countries in one run (comma-separated ISO3 codes, e.g. MLI,BFA,NER; env VIGIE_COUNTRIES): one panel with neighbours across the borders, one pooled model per slot, scores published per country.", show_default=False)]
CountryOpt = Annotated[Optional[str], typer.Option("--country", help="The country's ISO3 code (env VIGIE_COUNTRY_ISO3; default: the only country there is; folders of your own in VIGIE_COUNTRIES_DIR).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object as the last line.")]
RetrainOpt = Annotated[Retrain, typer.Option("--retrain", help="When to retrain the models: auto (when due), always or never.")]


class Source(str, Enum):
    acled = "acled"
    ucdp = "ucdp"


SourceOpt = Annotated[Optional[Source], typer.Option("--source", help="The one source to model when events of several are given (never mixed).")]


def _settings(home: Path | None, *, as_json: bool = False, **overrides) -> Settings:
    """The settings of a command; a country that cannot be used is one line and exit 2."""
    from features.country import CountryError

    try:
        settings = Settings.from_options(home, **overrides)
    except (CountryError, SourceFileError) as exc:
        _fail(exc, as_json)
    configure_prefect_home(settings)
    return settings


def _emit_json(payload: dict) -> None:
    sys.stdout.write(views.json_line(payload))


def _show(renderables: list) -> None:
    """Print tables and lines; a line is never broken (a command or path in it must stay copyable in a log)."""
    console.print(*renderables, sep="\n", soft_wrap=True)


#: Exit codes (README, *Failure modes*): 0 done; 2 the input or the state refuses the run (bad file, stale
#: data, failed gate, no input, a champion that may not score, another run publishing the week); 3 a store,
#: MLflow or Prefect is unavailable; 1 only for an unexpected error (a bug: the traceback is printed).
EXIT_REFUSED, EXIT_UNAVAILABLE = 2, 3


def _fail(exc: Exception, as_json: bool, code: int = EXIT_REFUSED) -> None:
    err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
    if as_json:
        _emit_json(views.error_payload(exc))
    raise typer.Exit(code=code)


def _expected_errors():
    from features.ingest import (
        FutureSimulation,
        MixedSources,
        NoInput,
        NothingToScore,
        NoUcdpToken,
    )
    from features.scenario import ScenarioError
    from features.sources.ucdp_api import UcdpVersionError
    from features.table import MissingRegistry
    from models.selection import ChampionRefused
    from models.training import TooFewMajorAttacks
    from models.whatif import ScenarioInvisible
    from publish.api import StoreNotReady
    from publish.quality import QualityGateError
    from publish.schema import ScoreValidationError
    from publish.score_store import PublishConflict

    return (SourceFileError, FutureSimulation, NothingToScore, NoInput, NoUcdpToken, UcdpVersionError, MixedSources, MissingRegistry,
            ChampionRefused, TooFewMajorAttacks,
            QualityGateError, PublishConflict, ScoreValidationError, ScenarioError, ScenarioInvisible, StoreNotReady)


def _unavailable_errors():
    from features.event_store import EventStoreUnavailable
    from features.sources.ucdp_api import UcdpApiError
    from flows.prefect_api import PrefectUnavailable
    from publish.score_store import StoreUnavailable
    from publish.tracking import TrackingUnavailable

    return (EventStoreUnavailable, StoreUnavailable, TrackingUnavailable, PrefectUnavailable, UcdpApiError)


def _call(target, as_json: bool, **kwargs):
    """``target(**kwargs)``, with refusals (exit 2) and unavailable infrastructure (exit 3) as one clear line."""
    try:
        return target(**kwargs)
    except _expected_errors() as exc:
        _fail(exc, as_json)
    except _unavailable_errors() as exc:
        _fail(exc, as_json, EXIT_UNAVAILABLE)


def _in_prefect(settings: Settings, fn, *, services: bool = False, server=None, **kwargs):
    """``fn(settings=settings, **kwargs)`` against the configured Prefect API, the temporary ``server`` this
    command already started (:func:`_prefect_started`), or a temporary server started for it."""
    from flows.prefect_api import prefect_api

    with prefect_api(settings.prefect_home_dir(), settings.prefect_startup_timeout_seconds, services=services,
                     server=server):
        return fn(settings=settings, **kwargs)


def _prefect_started(settings: Settings):
    """The temporary Prefect server of a flow command, started before the flow's modules are imported (the
    imports then overlap its start-up); None when an API is configured."""
    from flows.prefect_api import temporary_server

    return temporary_server(settings.prefect_home_dir())


def _day(value: datetime | None):
    return value.date() if value else None


def _value(choice: Enum | None) -> str | None:
    return choice.value if choice else None


def _paths(values: list[Path] | None) -> list[str] | None:
    return list(map(str, values)) if values else None


@app.command()
def ingest(
    files: Annotated[Optional[list[Path]], typer.Argument(help="ACLED export (CSV/xlsx) or UCDP GED CSV files.", show_default=False)] = None,
    ucdp_api: Annotated[bool, typer.Option("--ucdp-api", help="Download the country's UCDP GED events from UCDP's API (token in UCDP_ACCESS_TOKEN) instead of reading files.")] = False,
    start: Annotated[datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="With --ucdp-api: first event date.")] = datetime(1989, 1, 1),
    end: Annotated[Optional[datetime], typer.Option("--end", formats=["%Y-%m-%d"], help="With --ucdp-api: last event date (default: today).", show_default=False)] = None,
    ucdp_version: Annotated[str, typer.Option("--ucdp-version", help="With --ucdp-api: the GED version to ask for.")] = "25.1",
    country: CountryOpt = None,
    countries: CountriesOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Parse, validate, assign to districts and store events (idempotent; revisions replace older copies)."""

    settings = _settings(home, country_iso3=country, countries=countries, as_json=as_json)
    settings.ensure_dirs()
    gazetteer = settings.gazetteer()
    if ucdp_api:
        reports = [_pull_ucdp(settings, gazetteer, as_json, start.date(), (end or datetime.now()).date(), ucdp_version)]
    else:
        reports = _ingest_paths(settings, gazetteer, as_json, files)
    _show(views.ingest_view(reports, settings.event_store))
    if as_json:
        _emit_json(views.ingest_json(reports, settings.event_store))


def _ingest_paths(settings: Settings, gazetteer, as_json: bool, files: list[Path] | None) -> list:
    from features.sources.detect import check_input_files
    from flows.tasks import ingest_files

    # Existence is checked here, not by Typer, so that a missing path or a folder is a bad input like any
    # other: exit 2 and, with --json, one JSON line.
    paths = _call(check_input_files, as_json, paths=files)
    with file_progress(err, len(paths)) as on_step:
        return _call(ingest_files.fn, as_json, paths=paths, settings=settings, gazetteer=gazetteer, on_step=on_step)


def _pull_ucdp(settings: Settings, gazetteer, as_json: bool, start, end, version: str):
    from features.ingest import ucdp_credentials
    from flows.tasks import pull_ucdp

    credentials = _call(ucdp_credentials, as_json)
    return _call(pull_ucdp.fn, as_json, settings=settings, gazetteer=gazetteer, credentials=credentials, start=start,
                 end=end, version=version)


def _preflight(settings: Settings, as_json: bool) -> None:
    """The stores and MLflow answer (checked again inside the flow, for runs that a worker starts), before a
    Prefect server is even started: an outage is one line and exit 3."""
    from flows.tasks import check_infrastructure

    _call(check_infrastructure.fn, as_json, settings=settings)


def _run_weekly(settings: Settings, as_json: bool, **kwargs) -> None:
    with _prefect_started(settings) as server:
        from flows.prefect_api import step_progress, with_task_runner
        from flows.weekly import weekly_flow

        _preflight(settings, as_json)
        with step_progress(err, f"vigie {settings.region_code}: starting"):
            summary = _call(_in_prefect, as_json, settings=settings, fn=with_task_runner(weekly_flow, settings),
                            server=server, **kwargs)
    _show(views.weekly_view(summary))
    if as_json:
        _emit_json({"ok": True, **summary})


@app.command()
def run(
    events: Annotated[Optional[list[Path]], typer.Option("--events", help="Event files to use (default: the real events shipped for the country: UCDP GED for Mali).", exists=True, dir_okay=False)] = None,
    simulated: Annotated[bool, typer.Option("--simulated", help="Use the simulated country instead (labelled simulated everywhere).")] = False,
    source: SourceOpt = None,
    as_of: Annotated[Optional[datetime], typer.Option("--as-of", formats=["%Y-%m-%d"], help="Forecast the week of this date (Monday on or before); only events dated before that Monday are used.")] = None,
    respect_timestamps: Annotated[bool, typer.Option("--respect-timestamps", help="Also drop events the source published on or after the cutoff.")] = False,
    retrain: RetrainOpt = Retrain.auto,
    country: CountryOpt = None,
    countries: CountriesOpt = None,
    home: HomeOpt = None,
    tracking_uri: Annotated[Optional[str], typer.Option("--tracking-uri", help="MLflow tracking URI.")] = None,
    score_store: Annotated[Optional[str], typer.Option("--score-store", help="Score store URL (duckdb:///... or postgresql+psycopg://...).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest, build features, train (when due) and track models, and publish one week's scores for every district."""
    from features.ingest import shipped_events

    settings = _settings(home, tracking_uri=tracking_uri, score_store_url=score_store, country_iso3=country,
                         countries=countries, as_json=as_json)
    given = None if simulated else (_paths(events) or _paths(shipped_events(settings.country_iso3)))
    _run_weekly(settings, as_json, events=given, as_of=_day(as_of), respect_timestamps=respect_timestamps,
                retrain=retrain.value, allow_simulated=True, source=_value(source))


@app.command()
def weekly(
    as_of: Annotated[Optional[datetime], typer.Option("--as-of", formats=["%Y-%m-%d"], help="Forecast week (default: this week).")] = None,
    retrain: RetrainOpt = Retrain.auto,
    source: SourceOpt = None,
    country: CountryOpt = None,
    countries: CountriesOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The scheduled job: new data from the ACLED API (when ACLED_USERNAME/ACLED_PASSWORD are set) or the drop
    folder; with neither it fails (exit 2) and publishes nothing, never simulated data."""
    _run_weekly(_settings(home, country_iso3=country, countries=countries, as_json=as_json), as_json,
                as_of=_day(as_of), retrain=retrain.value, allow_simulated=False, source=_value(source))


@app.command()
def backtest(
    events: Annotated[Optional[list[Path]], typer.Option("--events", help="Event files (default: the simulated data set).", exists=True, dir_okay=False)] = None,
    start: Annotated[Optional[datetime], typer.Option("--start", formats=["%Y-%m-%d"], help="First forecast origin (default: two years before --end).")] = None,
    end: Annotated[Optional[datetime], typer.Option("--end", formats=["%Y-%m-%d"], help="Last target week (default: the last full week of data).")] = None,
    horizons: Annotated[str, typer.Option("--horizons", help="Comma-separated horizons in weeks.")] = "1,4,13",
    origin_every: Annotated[int, typer.Option("--origin-every", min=1, help="Weeks between origins.")] = 1,
    refit_every: Annotated[int, typer.Option("--refit-every", min=1, help="Refit the models every N origins.")] = 13,
    models: Annotated[Optional[str], typer.Option("--models", help="Comma-separated count candidates (default from settings).")] = None,
    country: CountryOpt = None,
    countries: CountriesOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Walk-forward backtest of the candidates against the baselines; writes metrics (CSV, JSON) and logs to MLflow."""
    settings = _settings(home, country_iso3=country, countries=countries, as_json=as_json)
    try:
        hs = views.parse_horizons(horizons)
    except ValueError as exc:
        _fail(exc, as_json)
    with _prefect_started(settings) as server:
        from flows.backtest import backtest_flow
        from flows.prefect_api import step_progress

        _preflight(settings, as_json)
        with step_progress(err, f"vigie backtest {settings.region_code}: starting"):
            summary = _call(_in_prefect, as_json, settings=settings, fn=backtest_flow, server=server,
                            events=_paths(events), start=_day(start), end=_day(end), horizons=hs,
                            origin_every=origin_every, refit_every=refit_every,
                            count_candidates=views.split_names(models))
    _show(views.backtest_view(summary))
    if as_json:
        _emit_json(summary)


EventsOpt = Annotated[Optional[list[Path]], typer.Option("--events", help="Event files to use (default: the real events shipped for the country: UCDP GED for Mali).", exists=True, dir_okay=False)]
AsOfOpt = Annotated[Optional[datetime], typer.Option("--as-of", formats=["%Y-%m-%d"], help="The week of this date (Monday on or before; default: the week after the newest event).")]


def _events_or_shipped(settings: Settings, events: list[Path] | None) -> list[str]:
    from features.ingest import shipped_events

    return _paths(events) or _paths(shipped_events(settings.country_iso3)) or []


@app.command()
def withdrawals(
    events: EventsOpt = None,
    as_of: AsOfOpt = None,
    source: SourceOpt = None,
    country: CountryOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The evidence on withdrawals: how violence changed after each force left a district (and next door), with intervals."""
    from flows.scenario import withdrawals_flow

    settings = _settings(home, country_iso3=country, as_json=as_json)
    summary = _call(_in_prefect, as_json, settings=settings, fn=withdrawals_flow,
                    events=_events_or_shipped(settings, events), as_of=_day(as_of), source=_value(source))
    _show(views.withdrawals_view(summary))
    if as_json:
        _emit_json({"ok": True, **summary})


@app.command()
def scenario(
    scenario_file: Annotated[Path, typer.Argument(help="The scenario TOML file (see scenarios/).", exists=True, dir_okay=False)],
    events: EventsOpt = None,
    as_of: AsOfOpt = None,
    source: SourceOpt = None,
    country: CountryOpt = None,
    home: HomeOpt = None,
    score_store: Annotated[Optional[str], typer.Option("--score-store", help="Score store URL (duckdb:///... or postgresql+psycopg://...).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a week under a what-if change of the force registry; writes scenario_scores (never the published scores) and its report."""
    from flows.scenario import scenario_flow

    settings = _settings(home, score_store_url=score_store, country_iso3=country, as_json=as_json)
    _preflight(settings, as_json)
    summary = _call(_in_prefect, as_json, settings=settings, fn=scenario_flow, scenario_file=str(scenario_file),
                    events=_events_or_shipped(settings, events), as_of=_day(as_of), source=_value(source))
    _show(views.scenario_view(summary))
    if as_json:
        _emit_json({"ok": True, **summary})


@app.command()
def features(
    list_: Annotated[bool, typer.Option("--list", help="List every feature with its family, unit, window and alignment.")] = False,
    family: Annotated[Optional[str], typer.Option("--family", help="Only this family.")] = None,
    country: CountryOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The feature catalog, generated from the feature specs (the same catalog every MLflow run logs)."""
    from features.table import feature_catalog

    settings = _settings(home, country_iso3=country, as_json=as_json)
    if not list_:
        console.print("nothing to do: pass --list (features are built by `vigie run` and `vigie weekly`)")
        raise typer.Exit(code=0)
    catalog = views.of_family(feature_catalog(settings.gazetteer(), settings.country(),
                                              settings.feature_config(), settings.panel_start), family)
    if as_json:
        _emit_json(views.catalog_json(catalog))
        return
    console.print(views.catalog_view(catalog))


@app.command()
def serve(country: CountryOpt = None, countries: CountriesOpt = None, home: HomeOpt = None) -> None:
    """Serve the weekly flow on its cron schedule (Monday 06:00 UTC by default) until stopped."""
    from prefect import serve as prefect_serve

    from flows.weekly import weekly_deployment

    settings = _settings(home, country_iso3=country, countries=countries)
    console.print(f"serving vigie-weekly on '{settings.schedule.cron}' ({settings.schedule.timezone}); Ctrl-C stops")
    _call(_in_prefect, False, settings=settings, fn=_serve, services=True, deployment=weekly_deployment, prefect_serve=prefect_serve)


def _serve(settings: Settings, deployment, prefect_serve) -> None:
    prefect_serve(deployment(settings))


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Output folder (events.csv, truth.parquet, simulation.json).")],
    start: Annotated[Optional[datetime], typer.Option("--start", formats=["%Y-%m-%d"], help="First day simulated (default: --weeks before this week, so the simulation ends last week; events are never dated in the future).", show_default=False)] = None,
    weeks: Annotated[int, typer.Option("--weeks", min=1)] = 520,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    districts: Annotated[Optional[int], typer.Option("--districts", help="Simulate a synthetic grid country of this many districts instead of the country's own districts.")] = None,
    country: CountryOpt = None,
    countries: Annotated[Optional[str], typer.Option("--countries", help="Several countries at once (comma-separated ISO3 codes, e.g. MLI,BFA,NER): one process over all their districts, violence spilling over the borders.", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write an ACLED-format export (and the true expected counts) from Vigie's generative model, on the
    country's districts (its registries when it has them), on several countries' (--countries) or on a
    synthetic grid (--districts)."""
    from features.ingest import simulate_to

    settings = _settings(None, country_iso3=country, countries=countries, as_json=as_json)
    result, paths, n_districts = _call(simulate_to, as_json, out=out, start=_day(start), weeks=weeks, seed=seed,
                                       districts=districts, country=None if districts else settings.country(),
                                       countries=settings.members())
    console.print(views.simulate_view(len(result.events), n_districts, weeks, out))
    if as_json:
        _emit_json(views.simulate_json(len(result.events), n_districts, weeks, seed, paths))


gazetteer_app = typer.Typer(help="The country's districts, as Vigie reads them from its data files.", no_args_is_help=True)
app.add_typer(gazetteer_app, name="gazetteer")


@gazetteer_app.command("check")
def gazetteer_check(
    country: CountryOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read the country's files as a run does and show what came out: districts, regions, neighbours, the
    population join, the registries found, problems, and a map page (HTML) to check the boundaries by eye."""
    from features.table import Registries
    from publish import exports
    from publish import gazetteer_check as check

    settings = _settings(home, country_iso3=country, as_json=as_json)
    gazetteer = _call(settings.gazetteer, as_json)
    chosen = settings.country()
    summary = check.gazetteer_summary(gazetteer, chosen, _call(Registries.load, as_json, country=chosen))
    page = exports.write_gazetteer_check(check.gazetteer_check_html(summary, gazetteer), settings.exports_dir,
                                         settings.country_iso3)
    console.print("\n".join([*check.gazetteer_check_lines(summary), f"map and table: {page}"]), soft_wrap=True)
    if as_json:
        _emit_json({"ok": True, **summary, "page": str(page)})


@app.command()
def api(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default; put a reverse proxy in front to expose it).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    home: HomeOpt = None,
    score_store: Annotated[Optional[str], typer.Option("--score-store", help="Score store URL (duckdb:///... or postgresql+psycopg://...).")] = None,
) -> None:
    """Serve the read-only HTTP API over the score store (latest scores, a week, a district's history,
    publications, scenarios; OpenAPI schema at /openapi.json, docs at /docs) until stopped."""
    import uvicorn

    from publish.api import create_app, readable_store

    settings = _settings(home, score_store_url=score_store)
    store = _call(readable_store, False, url=settings.score_store_url)
    err.print(f"serving the Vigie API over {settings.public_dict()['score_store_url']} on http://{host}:{port} "
              "(docs at /docs); Ctrl-C stops", soft_wrap=True)
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")


def _print_csv(frame, horizon) -> None:
    sys.stdout.write(frame.to_csv(index=False))


def _print_json(frame, horizon) -> None:
    _emit_json(views.scores_json(frame))


def _print_table(frame, horizon) -> None:
    console.print(views.scores_view(frame, horizon))


_PRINTERS = {ScoreFormat.csv: _print_csv, ScoreFormat.json: _print_json, ScoreFormat.table: _print_table}
_AS_JSON = {ScoreFormat.json: True}


@app.command()
def scores(
    week: Annotated[Optional[datetime], typer.Option("--week", formats=["%Y-%m-%d"], help="Week to show (any day of it: its Monday is used); default the latest published.")] = None,
    fmt: Annotated[ScoreFormat, typer.Option("--format", help="Output format.")] = ScoreFormat.table,
    horizon: Annotated[Optional[int], typer.Option("--horizon", help="Only this horizon (1, 4 or 13).")] = None,
    country: CountryOpt = None,
    home: HomeOpt = None,
    score_store: Annotated[Optional[str], typer.Option("--score-store", help="Score store URL.")] = None,
) -> None:
    """Print published scores: the latest week, or --week DATE. --format json prints one JSON object."""
    from features.panel import monday_on_or_before
    from publish.score_store import ScoreStore

    settings = _settings(home, score_store_url=score_store, country_iso3=country)
    store = ScoreStore(settings.score_store_url).migrated()
    monday = monday_on_or_before(week).date() if week else None
    frame = views.select_scores(store.week(monday, settings.country_iso3) if monday else store.latest(settings.country_iso3),
                                horizon)
    if frame.empty:
        _fail(LookupError(views.no_scores_message(monday, horizon)), _AS_JSON.get(fmt, False))
    _PRINTERS[fmt](frame, horizon)


def main() -> None:  # pragma: no cover
    app()
