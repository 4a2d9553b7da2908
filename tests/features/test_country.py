"""A country is data: found in the country roots, its [country] table read with defaults, errors in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.country import (
    SHIPPED_ROOT,
    CountryError,
    available_countries,
    country_roots,
    load_country,
    resolve_iso3,
)
from features.schema import SourceFileError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "countries"


def _country_dir(root: Path, iso3: str, table: str = "") -> Path:
    folder = root / iso3
    folder.mkdir(parents=True)
    (folder / "gazetteer.toml").write_text(f'country_iso3 = "{iso3}"\n{table}')
    return folder


def test_the_only_country_is_the_default_and_a_user_root_comes_first(tmp_path):
    assert resolve_iso3(None, (SHIPPED_ROOT,)) == "MLI"
    assert country_roots(tmp_path) == (tmp_path, SHIPPED_ROOT) and country_roots(None) == (SHIPPED_ROOT,)
    _country_dir(tmp_path, "BFA")
    with pytest.raises(CountryError, match=r"several countries are available \(BFA, MLI\).*--country"):
        resolve_iso3(None, country_roots(tmp_path))
    assert resolve_iso3("bfa", country_roots(tmp_path)) == "BFA"
    mine = _country_dir(tmp_path / "other", "MLI", '[country]\nname = "Mali (mine)"\n')
    assert available_countries(country_roots(tmp_path / "other"))["MLI"] == mine
    assert load_country("MLI", country_roots(tmp_path / "other")).name == "Mali (mine)"


def test_an_unknown_or_malformed_code_says_what_there_is():
    with pytest.raises(CountryError, match=r"no country NER: .*available: MLI.*Adding a country"):
        resolve_iso3("NER", (SHIPPED_ROOT,))
    with pytest.raises(CountryError, match="three-letter ISO3 code, got 'Mali'"):
        resolve_iso3("Mali", (SHIPPED_ROOT,))
    with pytest.raises(CountryError, match="no country folder"):
        resolve_iso3(None, ())


def test_the_country_table_and_its_defaults(tmp_path):
    mali = load_country("MLI")
    assert (mali.name, mali.actor_names, mali.rainy_season_months) == ("Mali", ("Mali",), (7, 8, 9))
    assert mali.registry_file("foreign_forces.csv") == SHIPPED_ROOT.parent / "registries" / "MLI" / "foreign_forces.csv"
    assert mali.registry_file("no_such.csv") is None

    arcadia = load_country("XAA", country_roots(FIXTURES))
    assert (arcadia.name, arcadia.rainy_season_months) == ("Arcadia", (6, 7, 8, 9))
    assert arcadia.registry_file("political_calendar.csv") == FIXTURES / "XAA" / "political_calendar.csv"
    assert arcadia.registry_file("foreign_forces.csv") is None

    _country_dir(tmp_path, "NER")  # no [country] table: Vigie's table of names gives it
    niger = load_country("NER", (tmp_path,))
    assert (niger.name, niger.actor_names, niger.rainy_season_months) == ("Niger", ("Niger",), (7, 8, 9))
    assert niger.actor_pattern() == "(?:niger)"


@pytest.mark.parametrize("table, key", [
    ("", "country.name"),  # XZZ is in no table of names
    ('[country]\nname = "Zed"\nrainy_season_months = [13]\n', "country.rainy_season_months"),
    ('[country]\nname = "Zed"\nactor_names = []\n', "country.actor_names"),
])
def test_a_bad_country_table_names_the_file_and_key(tmp_path, table, key):
    _country_dir(tmp_path, "XZZ", table)
    with pytest.raises(SourceFileError) as caught:
        load_country("XZZ", (tmp_path,))
    assert caught.value.column == key and "gazetteer.toml" in str(caught.value)
