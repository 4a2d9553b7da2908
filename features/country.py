"""What Vigie knows of a country, as data: where its files are, its name, how event data name its own forces,
its rainy season.

A country is one folder ``<ISO3>/`` under a *country root*: the shipped ``features/data/gazetteers/`` and, when
set, the user's own root (setting ``countries_dir``, env ``VIGIE_COUNTRIES_DIR``), which is searched first so a
user's folder can also replace a shipped country. The folder holds ``gazetteer.toml`` (boundaries, population,
aliases: :mod:`features.gazetteer`) with an optional ``[country]`` table::

    [country]
    name = "Mali"                      # as ACLED's API and the reports write it (default: the ISO3 table's)
    actor_names = ["Mali"]             # as event data write the country in actor names: "Military Forces of Mali"
    rainy_season_months = [7, 8, 9]    # months of the rainy season (the ``rainy_season`` feature); [] for none

and, optionally, the country's registries (``foreign_forces.csv``, ``political_calendar.csv``,
``actor_families.csv``). A shipped country's registries may also live in ``features/data/registries/<ISO3>/``;
the country's own folder wins. Nothing here reads a boundary or a table: this module only finds files and
reads the small ``[country]`` table.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from features.schema import SourceFileError
from features.sources.countries import COUNTRY_NAMES

DATA_DIR = Path(__file__).resolve().parent / "data"
#: Root of the shipped country folders (one ``<ISO3>/`` per country, each with a ``gazetteer.toml``).
SHIPPED_ROOT = DATA_DIR / "gazetteers"
#: Root of the shipped registries of a country (``<ISO3>/foreign_forces.csv``, ...).
SHIPPED_REGISTRIES = DATA_DIR / "registries"
CONFIG_FILE = "gazetteer.toml"
#: Months of the rainy season when a country's ``[country]`` table does not say (the Sahel's: July-September).
DEFAULT_RAINY_SEASON: tuple[int, ...] = (7, 8, 9)


class CountryError(Exception):
    """The country asked for (or left to the default) cannot be used: unknown, ambiguous or badly described.

    Not a ValueError on purpose: it passes through pydantic's validators unchanged, so the command line
    reports it in one line (exit 2)."""


@dataclass(frozen=True)
class Country:
    """A country's facts and where its files are.

    ``folder``: the ``<ISO3>/`` folder holding ``gazetteer.toml``; ``registry_folders``: where its registries
    are looked for, first match wins; ``actor_names``: how event data write the country inside actor names
    ("Military Forces of Mali (2021-)"), used to tell its own forces from other states'."""

    iso3: str
    name: str
    folder: Path
    actor_names: tuple[str, ...]
    rainy_season_months: tuple[int, ...] = DEFAULT_RAINY_SEASON
    registry_folders: tuple[Path, ...] = ()

    @property
    def root(self) -> Path:
        """The country root the folder sits in (``Gazetteer.load(iso3, root)``)."""
        return self.folder.parent

    def registry_file(self, name: str) -> Path | None:
        """The country's registry file ``name`` (e.g. ``foreign_forces.csv``), or None when it has none."""
        return next((folder / name for folder in self.registry_folders if (folder / name).is_file()), None)

    def actor_pattern(self) -> str:
        """A regular expression (no capturing group) matching any of the country's ``actor_names``."""
        return "(?:" + "|".join(re.escape(n.lower()) for n in self.actor_names) + ")"


def country_roots(countries_dir: Path | str | None = None) -> tuple[Path, ...]:
    """The country roots, searched in order: the user's (when given) then the shipped one."""
    return (*((Path(countries_dir),) if countries_dir else ()), SHIPPED_ROOT)


def available_countries(roots: Iterable[Path]) -> dict[str, Path]:
    """ISO3 -> folder of every country of ``roots`` (a folder named by three letters holding a gazetteer.toml);
    the first root holding a country wins."""
    found: dict[str, Path] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if re.fullmatch(r"[A-Za-z]{3}", folder.name) and (folder / CONFIG_FILE).is_file():
                found.setdefault(folder.name.upper(), folder)
    return found


def resolve_iso3(requested: str | None, roots: Sequence[Path]) -> str:
    """The ISO3 code to use: ``requested`` (checked) or, when None, the only country there is."""
    found = available_countries(roots)
    where = " or ".join(str(r) for r in roots)
    if requested is None:
        if len(found) == 1:
            return next(iter(found))
        if not found:
            raise CountryError(f"no country folder (<ISO3>/{CONFIG_FILE}) in {where}")
        raise CountryError(f"several countries are available ({', '.join(sorted(found))}): choose one with --country "
                           "(or VIGIE_COUNTRY_ISO3)")
    iso3 = requested.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", iso3):
        raise CountryError(f"--country must be a three-letter ISO3 code, got {requested!r}")
    if iso3 not in found:
        known = ", ".join(sorted(found)) or "none"
        raise CountryError(f"no country {iso3}: no folder {iso3}/ with a {CONFIG_FILE} in {where} (available: {known}); "
                           "see README, 'Adding a country'")
    return iso3


def load_country(iso3: str, roots: Sequence[Path] = (SHIPPED_ROOT,)) -> Country:
    """The country ``iso3`` of ``roots`` with its ``[country]`` table (defaults where it says nothing).

    Raises :class:`CountryError` when there is no such country, SourceFileError when the table is malformed."""
    iso3 = resolve_iso3(iso3, roots)
    folder = available_countries(roots)[iso3]
    config_path = folder / CONFIG_FILE
    try:
        with config_path.open("rb") as handle:
            table = tomllib.load(handle).get("country", {})
    except tomllib.TOMLDecodeError as exc:
        raise SourceFileError(str(config_path), None, None, f"not valid TOML: {exc}") from None
    if not isinstance(table, dict):
        raise SourceFileError(str(config_path), None, "country", "must be a table ([country])")
    known_names = COUNTRY_NAMES.get(iso3, ())
    name = table.get("name", known_names[0] if known_names else None)
    if not isinstance(name, str) or not name.strip():
        raise SourceFileError(str(config_path), None, "country.name",
                              f"missing: {iso3} is not in Vigie's table of country names, so [country] must give its name")
    actor_names = _strings(table.get("actor_names", [name, *known_names]), config_path, "country.actor_names")
    months = table.get("rainy_season_months", list(DEFAULT_RAINY_SEASON))
    if not isinstance(months, list) or not all(isinstance(m, int) and 1 <= m <= 12 for m in months):
        raise SourceFileError(str(config_path), None, "country.rainy_season_months",
                              f"must be a list of month numbers 1-12, got {months!r}")
    registry_folders = (folder, SHIPPED_REGISTRIES / iso3)
    return Country(iso3, name.strip(), folder, actor_names, tuple(sorted(set(months))), registry_folders)


def _strings(value, path: Path, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise SourceFileError(str(path), None, key, f"must be a non-empty list of names, got {value!r}")
    return tuple(dict.fromkeys(v.strip() for v in value))
