"""All of Vigie's settings in one place.

Every location lives under one home folder (``./.vigie`` by default, env ``VIGIE_HOME``) and each can be
overridden by its own environment variable (``VIGIE_<NAME>``) or by a command-line flag. Modelling choices
(major-attack definition, tiers, promotion rules, quality limits) live here too, so a run's configuration is
one object that is logged to MLflow as a whole. The published horizons (1, 4 and 13 weeks, and the 4-week
hazard) are not settings: they are part of the score tables' schema (see models/slots.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import pandas as pd
from pydantic import (
    BaseModel,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from features.country import (
    Country,
    CountryError,
    country_roots,
    load_country,
    resolve_iso3,
)
from features.schema import SourceFileError
from models.slots import HORIZONS, SLOTS, Slot
from publish.secrets import redact_url


class MajorAttack(BaseModel):
    """What counts as a "major attack" for the hazard targets."""

    min_fatalities: int = Field(5, description="A violent event with at least this many fatalities is major.")
    military_targets: bool = Field(
        False, description="Also count any attack on security forces or their positions, whatever its toll."
    )


class Tiers(BaseModel):
    """Risk-score (0-100) thresholds: a score at or above a threshold takes that tier."""

    elevated: float = 10.0
    high: float = 25.0
    severe: float = 50.0

    def thresholds(self) -> tuple[float, float, float]:
        return (self.elevated, self.high, self.severe)


class Training(BaseModel):
    """When and how models are (re)trained, selected and promoted."""

    retrain_every_weeks: int = Field(4, description="Retrain when the champion's data cutoff is this many weeks old or more.")
    max_champion_age_weeks: int = Field(13, description="Never score with a champion whose data ended this many weeks or more before the forecast week: retrain (auto) or refuse (--retrain never).")
    selection_weeks: int = Field(26, description="Walk-forward origins (weekly) used to pick the challenger and decide promotion.")
    selection_refit_every: int = Field(13, description="Refit cadence (in origins) inside the selection backtest.")
    count_candidates: tuple[str, ...] = Field(("pool_hawkes_forces_imapa", "hawkes_nb", "lgbm_boost"), description="Count recipes of models/suite.py the selection backtest compares.")
    hazard_candidates: tuple[str, ...] = Field(("blend_hawkes_hazard_history", "hawkes_hazard", "hazard_cloglog", "hazard_cloglog_forces"), description="Hazard recipes of models/suite.py.")
    min_gain_vs_champion: float = Field(0.0, description="Relative CRPS/Brier gain a challenger needs over the champion.")
    min_skill_vs_baseline: float = Field(0.0, description="Relative skill a challenger needs over the best baseline.")
    stability_level: float = Field(0.90, gt=0.0, lt=1.0, description="Stable champions: a recipe other than the champion's is chosen only when the lower end of this bootstrap interval (over the selection origins) of its gain on the champion's recipe is above min_gain_vs_champion; otherwise the champion's recipe is retrained.")
    history_weeks: int = Field(52, description="Weeks of events before panel_start used only to fill feature windows.")
    min_major_attack_weeks: int = Field(100, description="Refuse to train when the training rows hold fewer district-weeks with a major attack (about ten per hazard covariate).")


class Quality(BaseModel):
    """Gates a week's scores must pass before they are published."""

    max_staleness_days: int = Field(14, description="The newest event may be at most this many days before the cutoff.")
    max_jump: float = Field(40.0, description="Warn when a district's risk score moves more points than this in a week.")


class Schedule(BaseModel):
    cron: str = "0 6 * * 1"
    timezone: str = "UTC"


#: Settings that may carry a password (``scheme://user:password@host``).
URL_FIELDS = ("score_store_url", "tracking_uri")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_", env_nested_delimiter="__", extra="ignore")

    home: Path = Field(Path(".vigie"), description="Folder holding every store Vigie writes.")
    event_store: Path | None = Field(None, description="DuckDB event store (default <home>/events.duckdb).")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI (default sqlite:///<home>/mlflow.db).")
    artifact_root: Path | None = Field(None, description="MLflow artifact folder (default <home>/mlartifacts).")
    prefect_home: Path | None = Field(None, description="PREFECT_HOME (default <home>/prefect).")
    score_store_url: str | None = Field(None, description="Score store URL (default duckdb:///<home>/scores.duckdb).")
    exports_dir: Path | None = Field(None, description="Exports and reports (default <home>/exports).")
    feature_dir: Path | None = Field(None, description="Stored feature tables (default <home>/features).")
    drop_dir: Path | None = Field(None, description="Folder the weekly run ingests new files from (default <home>/drop).")

    countries_dir: Path | None = Field(None, description="A folder of your own country folders (<ISO3>/gazetteer.toml, ...), searched before the shipped ones (README, 'Adding a country').")
    country_iso3: str | None = Field(None, description="The country (ISO3) of every command; default: the only country there is (Mali when only the shipped one is).")
    country_name: str | None = Field(None, description="Country name as the ACLED API expects it (default: the country's [country] name).")
    countries: Annotated[tuple[str, ...], NoDecode] = Field((), description="Several countries at once (ISO3 codes, comma-separated in VIGIE_COUNTRIES or --countries): the first is the default country_iso3.")
    panel_start: str = Field("2012-01-02", description="First week (Monday) of the modelling panel.")
    major_attack: MajorAttack = MajorAttack()
    tiers: Tiers = Tiers()
    training: Training = Training()
    quality: Quality = Quality()
    schedule: Schedule = Schedule()
    prefect_startup_timeout_seconds: float = Field(
        600.0, description="How long a command waits for its temporary Prefect server (none is started when PREFECT_API_URL is set).")
    task_runner: str = Field(
        "threads", description="Where the model slots' selection backtests and fits run: 'threads' (in this "
        "process), 'dask' (a local Dask cluster of dask_workers processes) or the address of a Dask scheduler "
        "(tcp://host:8786).")
    dask_workers: int = Field(2, ge=1, description="Worker processes of the local Dask cluster (task_runner 'dask').")
    task_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1,
        description="Slots the 'threads' task runner runs at once (default: the machine's cores). Each slot's "
        "backtest holds its own copy of the feature frame: more threads than cores cost memory, not time.")
    lease_hours: float = Field(
        6.0, description="A run's publish lease on its (country, week) lasts this long; a killed run's lease is taken over at once.")
    simulation_seed: int = 20130111
    simulation_start: str = "2012-01-02"
    simulation_weeks: int = 520
    experiment_prefix: str = "vigie"

    @model_validator(mode="after")
    def _fill_locations(self) -> "Settings":
        home = self.home.resolve()
        self.home = home
        self.event_store = (self.event_store or home / "events.duckdb").resolve()
        self.artifact_root = (self.artifact_root or home / "mlartifacts").resolve()
        self.tracking_uri = self.tracking_uri or f"sqlite:///{home / 'mlflow.db'}"
        self.prefect_home = (self.prefect_home or home / "prefect").resolve()
        self.score_store_url = self.score_store_url or f"duckdb:///{home / 'scores.duckdb'}"
        self.exports_dir = (self.exports_dir or home / "exports").resolve()
        self.feature_dir = (self.feature_dir or home / "features").resolve()
        self.drop_dir = (self.drop_dir or home / "drop").resolve()
        if self.countries_dir is not None:
            self.countries_dir = self.countries_dir.resolve()
        try:
            self.countries = tuple(resolve_iso3(code, self.country_roots()) for code in self.countries)
            self.country_iso3 = resolve_iso3(self.country_iso3 or next(iter(self.countries), None), self.country_roots())
            self.country_name = self.country_name or self.country().name
        except SourceFileError as exc:  # a ValueError, which pydantic would bury in a ValidationError
            raise CountryError(str(exc)) from None
        return self

    def country_roots(self) -> tuple[Path, ...]:
        """Where country folders are looked for: ``countries_dir`` (when set), then the shipped ones."""
        return country_roots(self.countries_dir)

    def country(self) -> Country:
        """The country of these settings (its folder, name, actor names, rainy season)."""
        return load_country(self.country_iso3, self.country_roots())

    def members(self) -> tuple[Country, ...]:
        """The countries of a regional command (``countries``; empty for one country)."""
        return tuple(load_country(code, self.country_roots()) for code in self.countries)

    @property
    def is_regional(self) -> bool:
        """True when the run covers several countries (``countries`` names two or more)."""
        return len(self.countries) > 1

    @property
    def region_code(self) -> str:
        """What a run is about: the country's ISO3, or the countries' joined by "+" for a regional run ("MLI+BFA"),
        in the names of its feature table, MLflow experiments, registered models, skill file and regional report."""
        return "+".join(self.countries) if self.is_regional else self.country_iso3

    @property
    def region_countries(self) -> tuple[str, ...]:
        """The ISO3 codes of the countries a run publishes (one, or a region's)."""
        return self.countries if self.is_regional else (self.country_iso3,)

    def run_countries(self) -> tuple[Country, ...]:
        """The :class:`Country` of each country a run covers."""
        return self.members() if self.is_regional else (self.country(),)

    def country_names(self) -> dict[str, str]:
        """ISO3 -> name of each country a run covers."""
        return {c.iso3: c.name for c in self.run_countries()}

    def acled_country_names(self) -> tuple[str, ...]:
        """The names the ACLED API is asked for: ``country_name`` for one country, each member's for a region."""
        return tuple(c.name for c in self.run_countries()) if self.is_regional else (self.country_name,)

    def gazetteer(self):
        """The :class:`features.gazetteer.Gazetteer` of the run: the country's (read from its folder), or for a
        regional run the countries' combined (neighbours across their borders)."""
        from features.gazetteer import Gazetteer

        return Gazetteer.combine([Gazetteer.load(c.iso3, c.root) for c in self.run_countries()])

    @field_validator("task_runner")
    @classmethod
    def _known_task_runner(cls, value: str) -> str:
        if value in ("threads", "dask") or value.startswith(("tcp://", "tls://")):
            return value
        raise ValueError(f"task_runner must be 'threads', 'dask' or a Dask scheduler address (tcp://host:8786), not {value!r}")

    @field_validator("countries", mode="before")
    @classmethod
    def _split_countries(cls, value):
        return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else value

    @classmethod
    def from_options(cls, home: Path | None = None, **overrides) -> "Settings":
        """Settings from the environment, overridden by the command-line options that were given (not None)."""
        values = {k: v for k, v in overrides.items() if v is not None}
        if home is not None:
            values["home"] = home
        return cls(**values)

    @property
    def horizons(self) -> tuple[int, ...]:
        """The published count horizons (fixed by the schema: :data:`models.slots.HORIZONS`)."""
        return HORIZONS

    def history_start(self) -> pd.Timestamp:
        """First week of the feature panel: ``training.history_weeks`` before ``panel_start`` (windows only)."""
        return pd.Timestamp(self.panel_start) - pd.Timedelta(weeks=self.training.history_weeks)

    def feature_config(self):
        """The :class:`features.table.FeatureConfig` these settings build (published horizons, major-attack rule)."""
        from features.table import FeatureConfig

        return FeatureConfig(horizons=HORIZONS, major_min_fatalities=self.major_attack.min_fatalities,
                             major_military_targets=self.major_attack.military_targets,
                             rainy_season_months=self.country().rainy_season_months)

    def registered_names(self) -> dict[Slot, str]:
        """The registered MLflow model of every published slot: ``<prefix>-<country>-<kind>-h<h>``."""
        code = self.region_code.lower().replace("+", "-")
        return {s: f"{self.experiment_prefix}-{code}-{s.label}" for s in SLOTS}

    def prefect_home_dir(self) -> Path:
        """PREFECT_HOME as this process uses it (the environment's, else the settings')."""
        return Path(os.environ.get("PREFECT_HOME", self.prefect_home))

    def ensure_dirs(self) -> None:
        """Create the folders the settings point at (idempotent)."""
        for path in (self.home, self.artifact_root, self.prefect_home, self.exports_dir, self.feature_dir, self.drop_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.event_store.parent.mkdir(parents=True, exist_ok=True)

    # The one redaction point of settings: whatever serialises them as JSON (Prefect storing a flow run's
    # parameters, MLflow params, logs, summaries) or prints them sees the URLs with their passwords masked;
    # only the in-process object holds the real URL (API credentials are never part of the settings).
    @field_serializer(*URL_FIELDS, when_used="json")
    def _masked(self, value: str | None) -> str | None:
        return None if value is None else redact_url(value)

    def __repr_args__(self):
        for key, value in super().__repr_args__():
            yield key, (redact_url(value) if key in URL_FIELDS and isinstance(value, str) else value)

    def public_dict(self) -> dict:
        """Settings as plain values, safe to log: passwords inside URLs are masked."""
        return self.model_dump(mode="json")


def configure_prefect_home(settings: Settings) -> None:
    """Point Prefect at the project's home unless the user already chose a PREFECT_HOME or an API server."""
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # its API database lives there
    # `vigie` starts its own temporary server (flows/prefect_api.py); a flow called directly may still get
    # Prefect's, which needs more than the default 20 s on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(int(settings.prefect_startup_timeout_seconds)))
    # Nothing leaves the machine; the telemetry heartbeat also races the temporary server's SQLite database.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
