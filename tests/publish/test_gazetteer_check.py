"""Tests of the gazetteer check: the summary of a hand-made country, its terminal lines and its offline page."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from features.country import Country
from features.gazetteer import Gazetteer
from features.registries import load_actor_families
from features.table import Registries
from publish.gazetteer_check import (
    gazetteer_check_html,
    gazetteer_check_lines,
    gazetteer_summary,
)

NOTE = "XAA has no foreign_forces.csv (looked in nowhere): the foreign-force features are left out"

#: Layout (0.1-degree squares on the equator, about 123 km2 each), E far away:
#:   D .          A touches B and D, B touches A, C and D (corner), C touches B only.
#:   A B C                                                     E at (2, 2)
SQUARES = {
    "XAA01": ("Alpha", "North", (0.0, 0.0)),
    "XAA02": ("Bravo", "North", (0.1, 0.0)),
    "XAA03": ("Charlie", "South", (0.2, 0.0)),
    "XAA04": ("Delta", "South", (0.0, 0.1)),
    "XAA05": ("Echo Island", "Islands", (2.0, 2.0)),
}
NEIGHBOURS = {"Alpha": 2, "Bravo": 3, "Charlie": 1, "Delta": 2, "Echo Island": 0}


def districts_frame(squares=SQUARES, population=None, side=0.1) -> gpd.GeoDataFrame:
    """Square districts of ``side`` degrees from their lower-left corners; population 1 unless given."""
    codes = list(squares)
    return gpd.GeoDataFrame(
        {
            "district_code": codes,
            "district_name": [squares[c][0] for c in codes],
            "admin1_name": [squares[c][1] for c in codes],
            "population": population or [1] * len(codes),
        },
        geometry=[shapely.box(x, y, x + side, y + side) for x, y in (squares[c][2] for c in codes)],
        crs="EPSG:4326",
    )


@pytest.fixture
def country(tmp_path) -> Country:
    return Country(iso3="XAA", name="Arcadia", folder=tmp_path / "XAA", actor_names=("Arcadia",))


@pytest.fixture(scope="module")
def registries() -> Registries:
    return Registries(actor_families=load_actor_families(), notes=(NOTE,))


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.from_frames("XAA", districts_frame())


@pytest.fixture
def summary(gazetteer, country, registries) -> dict:
    return gazetteer_summary(gazetteer, country, registries)


def by_name(summary: dict) -> dict[str, dict]:
    return {d["district_name"]: d for d in summary["districts"]}


# ---------------------------------------------------------------------------------------------- summary


def test_summary_counts_districts_regions_and_pairs(summary, country):
    assert (summary["iso3"], summary["name"], summary["folder"]) == ("XAA", "Arcadia", str(country.folder))
    assert summary["n_districts"] == 5
    assert summary["n_regions"] == 3
    assert summary["regions"] == [{"admin1_name": "Islands", "districts": 1}, {"admin1_name": "North", "districts": 2},
                                  {"admin1_name": "South", "districts": 2}]
    assert summary["n_neighbour_pairs"] == 4
    assert [d["district_code"] for d in summary["districts"]] == list(SQUARES)


def test_summary_counts_each_districts_neighbours_and_finds_the_isolated_one(summary):
    assert {name: d["neighbours"] for name, d in by_name(summary).items()} == NEIGHBOURS
    assert summary["isolated"] == ["Echo Island"]


def test_areas_are_square_kilometres_in_an_equal_area_projection(summary):
    for d in summary["districts"]:
        assert d["area_km2"] == pytest.approx(123.1, rel=0.01)


def test_population_without_a_table_is_uniform_and_a_problem(summary):
    assert summary["population"] == {"total": 5, "min": 1, "max": 1, "uniform": True}
    assert any("population 1" in p for p in summary["problems"])


def test_population_from_a_table_is_summed_and_not_a_problem(country, registries):
    gazetteer = Gazetteer.from_frames("XAA", districts_frame(population=[100, 2000, 30, 400, 5]))
    summary = gazetteer_summary(gazetteer, country, registries)
    assert summary["population"] == {"total": 2535, "min": 5, "max": 2000, "uniform": False}
    assert by_name(summary)["Bravo"]["population"] == 2000
    assert not any("population" in p for p in summary["problems"])


def test_problems_name_the_isolated_district_and_repeat_the_registry_notes(summary):
    isolated = [p for p in summary["problems"] if "no neighbour" in p]
    assert len(isolated) == 1 and "Echo Island" in isolated[0] and "Alpha" not in isolated[0]
    assert NOTE in summary["problems"]
    assert len(summary["problems"]) == 3
    assert summary["registries"] == {"foreign_forces": None, "political_calendar": None, "notes": [NOTE]}


def test_a_connected_country_with_population_and_registries_has_no_problem(country):
    squares = {c: v for c, v in SQUARES.items() if c != "XAA05"}
    gazetteer = Gazetteer.from_frames("XAA", districts_frame(squares, population=[10, 20, 30, 40]))
    calendar = pd.DataFrame({"date": ["2024-01-01", "2024-06-01"]})
    registries = Registries(actor_families=load_actor_families(), forces=pd.DataFrame({"force": ["a", "b", "c"]}),
                            calendar=calendar)
    summary = gazetteer_summary(gazetteer, country, registries)
    assert summary["problems"] == []
    assert summary["isolated"] == []
    assert summary["registries"] == {"foreign_forces": 3, "political_calendar": 2, "notes": []}


def test_a_district_under_one_square_kilometre_is_a_problem(country, registries):
    tiny = {"XAA01": ("Speck", "North", (0.0, 0.0)), "XAA02": ("Crumb", "North", (0.005, 0.0))}
    gazetteer = Gazetteer.from_frames("XAA", districts_frame(tiny, population=[5, 6], side=0.005))
    summary = gazetteer_summary(gazetteer, country, registries)
    assert by_name(summary)["Speck"]["area_km2"] == pytest.approx(0.3, abs=0.05)
    small = [p for p in summary["problems"] if "km2" in p]
    assert len(small) == 2 and "Speck" in small[0] and "Crumb" in small[1]


def test_the_summary_is_plain_json(summary, country):
    assert json.loads(json.dumps(summary)) == summary
    assert summary["rainy_season_months"] == [7, 8, 9]
    assert summary["actor_names"] == ["Arcadia"]


# ---------------------------------------------------------------------------------------------- terminal


def test_lines_say_counts_isolated_population_registries_and_problems(summary):
    lines = gazetteer_check_lines(summary)
    assert lines[0].startswith("Arcadia (XAA)")
    text = "\n".join(lines)
    assert "5 in 3 regions" in text
    assert "neighbour pairs: 4" in text
    assert "isolated: Echo Island" in text
    assert "no population table" in text
    assert "foreign_forces.csv missing" in text and "political_calendar.csv missing" in text
    assert [line for line in lines if line.startswith("problem: ")] == [f"problem: {p}" for p in summary["problems"]]


def test_lines_give_the_population_total_when_there_is_a_table(country):
    gazetteer = Gazetteer.from_frames("XAA", districts_frame(population=[1_000_000, 2, 3, 4, 5]))
    registries = Registries(actor_families=load_actor_families(), forces=pd.DataFrame({"force": ["a"]}))
    lines = gazetteer_check_lines(gazetteer_summary(gazetteer, country, registries))
    assert "population: 1,000,014 persons" in "\n".join(lines)
    assert "foreign_forces.csv 1 rows" in "\n".join(lines)
    assert not any(line.startswith("problem: ") and "population" in line for line in lines)


# ---------------------------------------------------------------------------------------------- page


def test_page_is_offline_and_shows_every_district(summary, gazetteer):
    html = gazetteer_check_html(summary, gazetteer)
    assert "<svg" in html
    assert "<script" not in html.lower()
    assert "http" not in html.lower()
    assert not re.search(r"\b(src|href)\s*=", html)
    assert "Arcadia" in html and "XAA" in html and summary["folder"] in html
    for name in NEIGHBOURS:
        assert html.count(name) >= 3  # tooltip, label, table row


def test_page_draws_tooltips_labels_and_one_line_per_neighbour_pair(summary, gazetteer):
    svg = re.search(r"<svg.*?</svg>", gazetteer_check_html(summary, gazetteer), re.DOTALL).group(0)
    assert len(re.findall(r"<path class=\"district", svg)) == 5
    assert len(re.findall(r"<title>", svg)) == 5
    assert len(re.findall(r"<text class=\"label\"", svg)) == 5
    assert len(re.findall(r"<line class=\"link\"", svg)) == 4
    assert len(re.findall(r"class=\"district isolated\"", svg)) == 1


def test_page_highlights_every_problem(summary, gazetteer):
    html = gazetteer_check_html(summary, gazetteer)
    problems = re.search(r"<ul class=\"problems\">(.*?)</ul>", html, re.DOTALL).group(1)
    assert problems.count("<li>") == len(summary["problems"]) == 3
    assert "Echo Island" in problems


def test_page_of_many_districts_has_no_labels(country, registries):
    gazetteer = Gazetteer.synthetic(64, country_iso3="XAA")
    html = gazetteer_check_html(gazetteer_summary(gazetteer, country, registries), gazetteer)
    assert "<text class=\"label\"" not in html
    assert html.count("<title>") == 1 + 64  # the page's own title and one tooltip per district


def test_page_escapes_names_from_the_data(country, registries):
    squares = {**SQUARES, "XAA02": ("<b>Bravo</b>", "North & Co", (0.1, 0.0))}
    gazetteer = Gazetteer.from_frames("XAA", districts_frame(squares))
    html = gazetteer_check_html(gazetteer_summary(gazetteer, country, registries), gazetteer)
    assert "<b>" not in html
    assert "&lt;b&gt;Bravo&lt;/b&gt;" in html
    assert "North &amp; Co" in html
