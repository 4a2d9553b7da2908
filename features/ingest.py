"""Getting events into the event store: files, the ACLED API and the simulated default data set.

Each function parses with :mod:`features.sources`, assigns districts with the gazetteer (pure) and writes
through the one door of the event store (:class:`features.event_store.EventStore`). A file that fails
validation raises :class:`features.schema.SourceFileError` and leaves the store untouched.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.country import Country, load_country
from features.event_store import EventStore, IngestReport
from features.gazetteer import Gazetteer, write_country_folder
from features.panel import monday_on_or_before
from features.registries import FOREIGN_FORCES_FILE, POLITICAL_CALENDAR_FILE
from features.sources.detect import read_events
from features.sources.simulator import (
    SimulatedCountry,
    registry_forces,
    registry_shocks,
    simulate,
    simulate_region,
    write_simulation,
)

log = logging.getLogger("vigie")
WEEK = pd.Timedelta(days=7)
#: File types the drop folder and ``--events`` accept.
INPUT_SUFFIXES = (".csv", ".xlsx")


def ingest_files(paths: Sequence[Path], gazetteer: Gazetteer, store: EventStore,
                 logger: logging.Logger | logging.LoggerAdapter = log,
                 on_step: Callable[[Path, str, int | None], None] | None = None) -> list[IngestReport]:
    """Parse, validate, assign and upsert each file, in order; returns one report per file. ``on_step(path,
    step, n_events)`` is told each step as it starts ("reading", "assigning", "storing") and "done"."""
    def step(path: Path, name: str, n: int | None = None) -> None:
        if on_step is not None:
            on_step(Path(path), name, n)

    reports = []
    for path in paths:
        step(path, "reading")
        events = read_events(Path(path))
        step(path, "assigning", len(events))
        assigned = gazetteer.assign(events)
        step(path, "storing", len(events))
        report = store.ingest(pd.concat([events, assigned], axis=1), source_file=str(Path(path).resolve()))
        step(path, "done", len(events))
        logger.info("ingested %s: %d added, %d updated, %d unchanged, %d unassigned", path,
                 report.added, report.updated, report.unchanged, report.unassigned)
        reports.append(report)
    return reports


def pull_acled(client, gazetteer: Gazetteer, store: EventStore, *, country_name: str, initial_start: date,
               logger: logging.Logger | logging.LoggerAdapter = log, state_key: str = "acled") -> IngestReport:
    """One incremental ACLED API pull of a country (changed since the last pull, deletions applied), its state
    kept in the store under ``state_key``."""
    from features.sources.acled_api import PullState

    saved = store.get_pull_state(state_key)
    result = client.pull_incremental(country_name, PullState.from_dict(saved) if saved else None,
                                     initial_start=initial_start)
    report = store.ingest(pd.concat([result.events, gazetteer.assign(result.events)], axis=1),
                          source_file=f"ACLED API ({country_name})")
    report.deleted = store.delete("acled", result.deleted_event_ids)
    store.set_pull_state(state_key, result.state.to_dict())
    logger.info("ACLED API, %s: %d added, %d updated, %d deleted", country_name, report.added, report.updated,
                report.deleted)
    return report


def pull_acled_countries(client, gazetteer: Gazetteer, store: EventStore, *, country_names: Sequence[str],
                         initial_start: date, logger: logging.Logger | logging.LoggerAdapter = log) -> list[IngestReport]:
    """:func:`pull_acled` of every country of a run (one, or a region's), in order; a region's countries keep
    their pull states apart ("acled:<name>"), one country keeps the state "acled"."""
    keys = ["acled"] if len(country_names) == 1 else [f"acled:{name}" for name in country_names]
    return [pull_acled(client, gazetteer, store, country_name=name, initial_start=initial_start, logger=logger,
                       state_key=key) for name, key in zip(country_names, keys, strict=True)]


class NoUcdpToken(RuntimeError):
    """``--ucdp-api`` was asked for without an access token in the environment."""


def ucdp_credentials():
    """The UCDP API token from ``UCDP_ACCESS_TOKEN``, or :class:`NoUcdpToken`."""
    from features.sources.ucdp_api import TOKEN_ENV, UcdpCredentials

    credentials = UcdpCredentials.from_env()
    if credentials is None:
        raise NoUcdpToken(f"--ucdp-api needs a UCDP API access token in {TOKEN_ENV} (UCDP issues them on request: "
                          "https://ucdp.uu.se/apidocs/); nothing downloaded")
    return credentials


def pull_ucdp(client, gazetteer: Gazetteer, store: EventStore, *, start: date, end: date,
              logger: logging.Logger | logging.LoggerAdapter = log) -> IngestReport:
    """Every UCDP GED event of the gazetteer's country dated start..end from the API, upserted like a file."""
    events = client.fetch_events(gazetteer.country_iso3, start, end)
    report = store.ingest(pd.concat([events, gazetteer.assign(events)], axis=1), source_file=client.label)
    logger.info("%s: %d added, %d updated, %d unchanged, %d unassigned", client.label, report.added, report.updated,
                report.unchanged, report.unassigned)
    return report


def dropped_files(drop_dir: Path) -> list[Path]:
    """The event files waiting in the drop folder, in name order."""
    return sorted(p for p in Path(drop_dir).glob("*") if p.suffix.lower() in INPUT_SUFFIXES)


def sources_of(reports: Sequence[IngestReport]) -> tuple[str, ...]:
    """The sources the reports ingested, sorted."""
    return tuple(sorted({s for r in reports for s in r.sources}))


def week_after_newest(summary: dict, sources: Sequence[str]) -> date:
    """The Monday after the week of the newest event of ``sources`` (event-store summary in)."""
    last = max(pd.Timestamp(summary[s]["last_event"]) for s in sources if s in summary)
    return (monday_on_or_before(last) + WEEK).date()


def last_full_week(summary: dict, sources: Sequence[str]) -> pd.Timestamp:
    """The Monday of the last week that is fully before the newest event's week."""
    return pd.Timestamp(week_after_newest(summary, sources)) - 2 * WEEK


def simulated_export(home: Path, gazetteer: Gazetteer, *, seed: int, start: date, weeks: int,
                     country: Country | None = None) -> Path:
    """The simulated ACLED-format export of the country's districts (``gazetteer``; ``country`` default Mali) used
    when no data is given, written once per seed and length."""
    end = (pd.Timestamp(start) + pd.Timedelta(weeks=weeks) - pd.Timedelta(days=1)).date()
    out_dir = Path(home) / "simulated" / f"{gazetteer.country_iso3}-seed{seed}-{start}-{end}"
    events_csv = out_dir / "events.csv"
    if not events_csv.exists():
        chosen = country or load_country("MLI")
        result = simulate_region(gazetteer.districts, gazetteer.neighbours, {chosen.iso3: simulated_country(chosen)},
                                 start=start, end=end, seed=seed)
        tmp = out_dir.with_name(out_dir.name + ".partial")
        write_simulation(result, tmp)
        tmp.rename(out_dir)
    log.info("simulated data: %s", events_csv)
    return events_csv


def dataset_digest(events: pd.DataFrame) -> str:
    """Content hash of the events a run used (order-independent; notes left out)."""
    h = pd.util.hash_pandas_object(events.drop(columns=["notes"], errors="ignore"), index=False).to_numpy()
    return hashlib.sha256(np.sort(h).tobytes()).hexdigest()[:16]


class NothingToScore(RuntimeError):
    """No usable events: nothing can be published."""


def require_events(events: pd.DataFrame, sources: Sequence[str], before: date, store: Path) -> pd.DataFrame:
    """``events`` unchanged, or :class:`NothingToScore` when there are none."""
    if events.empty:
        raise NothingToScore(f"no {'/'.join(sources)} events dated before {before} in {store}")
    return events


def is_simulated(sources: Sequence[str]) -> bool:
    """True when the only source is the simulator (everything published is then labelled simulated)."""
    return tuple(sources) == ("simulated",)


def source_label(sources: Sequence[str]) -> str:
    """The ``event_source`` label of a run's scores: its one source ("acled", "ucdp" or "simulated")."""
    return "+".join(sources)


def simulated_country(country: Country) -> SimulatedCountry:
    """The simulator's view of a country: its name and the deployments and shocks of its registries (None for
    one it lacks: the simulator then draws random ones)."""
    forces_file, calendar_file = (country.registry_file(n) for n in (FOREIGN_FORCES_FILE, POLITICAL_CALENDAR_FILE))
    return SimulatedCountry(country.name, registry_forces(path=forces_file) if forces_file else None,
                            registry_shocks(path=calendar_file) if calendar_file else None)


class FutureSimulation(ValueError):
    """A simulation would date events after today (which ingest refuses as future events)."""


def simulation_window(start: date | None, weeks: int, today: date) -> tuple[date, date]:
    """(first day, last day) of a simulation of ``weeks`` weeks: from ``start`` or, by default, ending with the
    week before ``today``'s; refused when it would date an event on or after ``today``."""
    first = monday_on_or_before(today) - pd.Timedelta(weeks=weeks) if start is None else pd.Timestamp(start)
    end = (first + pd.Timedelta(weeks=weeks) - pd.Timedelta(days=1)).date()
    if end >= today:
        latest = (monday_on_or_before(today) - pd.Timedelta(weeks=weeks)).date()
        raise FutureSimulation(f"--start {first.date()} with --weeks {weeks} would simulate events up to {end}, after "
                               f"today ({today}), and ingest refuses events dated in the future: start on or before "
                               f"{latest}, or leave --start out (the simulation then ends last week)")
    return first.date(), end


#: The name of the synthetic grid country (``vigie simulate --districts N``).
SYNTHETIC_NAME = "Simulania"


def simulate_to(out: Path, *, start: date | None, weeks: int, seed: int, districts: int | None = None,
                country: Country | None = None, countries: Sequence[Country] = (), today: date | None = None):
    """Simulate ``weeks`` weeks from ``start`` (default: ending last week; never past ``today``, see
    :func:`simulation_window`) on the districts of ``country`` (default Mali; its foreign-force registry and
    political calendar drive the simulated forces and shocks when it has them, random ones otherwise), of
    several ``countries`` at once (one process over all their districts: violence spills over the borders), or
    on a synthetic grid country of ``districts`` districts (its country folder written to ``out/countries``, for
    ``VIGIE_COUNTRIES_DIR``), and write the export to ``out``; returns (result,
    paths, number of districts)."""
    start, end = simulation_window(start, weeks, today or date.today())
    if districts:
        gazetteer = Gazetteer.synthetic(districts)
        result = simulate(gazetteer.districts, gazetteer.neighbours, start=start, end=end, seed=seed,
                          country_name=SYNTHETIC_NAME, country_iso3=gazetteer.country_iso3)
        paths = write_simulation(result, out)
        paths["country"] = write_country_folder(gazetteer, Path(out) / "countries", name=SYNTHETIC_NAME)
        return result, paths, len(gazetteer.districts)
    else:
        members = list(countries) or [country or load_country("MLI")]
        gazetteer = Gazetteer.combine([Gazetteer.load(c.iso3, c.root) for c in members])
        result = simulate_region(gazetteer.districts, gazetteer.neighbours,
                                 {c.iso3: simulated_country(c) for c in members}, start=start, end=end, seed=seed,
                                 district_countries=gazetteer.district_countries)
    return result, write_simulation(result, out), len(gazetteer.districts)


class NoInput(RuntimeError):
    """The scheduled run found nothing to ingest (no API credentials, an empty drop folder): nothing published."""


def no_input(drop_dir: Path) -> NoInput:
    return NoInput(f"no input: ACLED_USERNAME/ACLED_PASSWORD are not set and the drop folder {drop_dir} holds no "
                   f"{'/'.join(INPUT_SUFFIXES)} file; the scheduled run never falls back to simulated data "
                   "(use `vigie run` for the simulated demonstration); nothing published")


class MixedSources(RuntimeError):
    """A run was given events of several sources for one country and no choice among them."""


def choose_source(sources: Sequence[str], choice: str | None = None) -> tuple[str, ...]:
    """The one source a run models: ``choice`` (``--source``) or the only one given.

    ACLED and UCDP describe many of the same events under different ids and count very differently (UCDP only
    deadly organised violence): they are never added up, and a model of one is never used on the other."""
    if choice:
        if choice not in sources:
            raise MixedSources(f"--source {choice}: no {choice} events were given (given: {', '.join(sources) or 'none'})")
        return (choice,)
    if len(sources) > 1:
        raise MixedSources(f"events of several sources were given for one country ({', '.join(sources)}): they describe "
                           "many of the same events under different ids and are never added up; choose one with "
                           f"--source {' or --source '.join(sources)}")
    return tuple(sources)


def shipped_events(country_iso3: str) -> list[Path]:
    """The real event files shipped with Vigie for a country (UCDP GED for Mali: CC BY 4.0), if any."""
    return sorted((Path(__file__).resolve().parent / "data" / "events" / country_iso3).glob("*.csv"))
