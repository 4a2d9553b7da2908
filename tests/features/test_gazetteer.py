"""Tests of features.gazetteer: name keys, the shipped Mali gazetteer, event assignment, synthetic grids."""

from __future__ import annotations

import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from features.gazetteer import Gazetteer, normalize_name
from features.schema import SourceFileError

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
ACLED_FILE = SHARED_DATA / "acled" / "mli_acled_1997-01-01_2020-07-31.csv"


# ---------------------------------------------------------------- fixtures


def grid_2x2() -> Gazetteer:
    """Four unit squares: G1 (0..1, 0..1), G2 east of it, G3 north of it, G4 north-east.

    G1 and G2 are in region "South", G3 and G4 in "North". The alias "Twin" names both G1 and G3.
    """
    districts = gpd.GeoDataFrame(
        {
            "district_code": ["G1", "G2", "G3", "G4"],
            "district_name": ["Alpha", "Bravo", "Charlie", "Delta"],
            "admin1_name": ["South", "South", "North", "North"],
            "population": [100, 200, 300, 400],
        },
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(0, 1, 1, 2), shapely.box(1, 1, 2, 2)],
        crs="EPSG:4326",
    )
    aliases = pd.DataFrame({"alias_key": ["Twin", "Twin", "Al-Pha"], "district_code": ["G1", "G3", "G1"]})
    admin1_aliases = pd.DataFrame({"alias_key": ["Nord"], "admin1_name": ["North"]})
    return Gazetteer.from_frames("TST", districts, aliases, admin1_aliases=admin1_aliases)


def events(rows: list[tuple], index: list | None = None) -> pd.DataFrame:
    """Events from (latitude, longitude, admin1, admin2) tuples, typed as in the normalized event table."""
    lat, lon, admin1, admin2 = zip(*rows)
    return pd.DataFrame(
        {
            "latitude": pd.array(lat, dtype="Float64"),
            "longitude": pd.array(lon, dtype="Float64"),
            "admin1": pd.array(admin1, dtype="string"),
            "admin2": pd.array(admin2, dtype="string"),
        },
        index=index,
    )


@pytest.fixture(scope="module")
def mali() -> Gazetteer:
    return Gazetteer.load("MLI")


# ---------------------------------------------------------------- normalize_name


def test_normalize_name_strips_accents_case_and_punctuation():
    names = pd.Series(
        ["Ségou", "GOURMA-RHAROUS", "Tin Essako", "Diré", None, " - ", "Baraouéli"], index=list("abcdefg")
    )
    before = names.copy()
    keys = normalize_name(names)
    assert keys.tolist()[:4] == ["segou", "gourmarharous", "tinessako", "dire"]
    assert keys.isna().tolist() == [False, False, False, False, True, True, False]
    assert keys["g"] == "baraoueli"
    assert keys.index.tolist() == list("abcdefg")
    assert str(keys.dtype) == "string"
    pd.testing.assert_series_equal(names, before)


def test_normalize_name_empty_series():
    assert len(normalize_name(pd.Series([], dtype="string"))) == 0


# ---------------------------------------------------------------- shipped Mali gazetteer


def test_mali_has_50_districts_with_population(mali):
    d = mali.districts
    assert mali.country_iso3 == "MLI"
    assert len(d) == 50
    assert d["district_code"].is_unique
    assert d["district_code"].tolist() == sorted(d["district_code"])
    assert isinstance(d.index, pd.RangeIndex)
    assert list(d.columns) == ["district_code", "district_name", "admin1_name", "population", "geometry"]
    assert d.crs.to_epsg() == 4326
    assert d["population"].dtype == "int64"
    assert (d["population"] > 0).all()
    assert d["population"].sum() == 17_907_114
    by_name = d.set_index("district_name")
    assert by_name.loc["Bamako", "population"] == 2_231_344
    # The population file spells it Baraouéli; the join goes through the alias.
    assert by_name.loc["Baroueli", "population"] == 250_040
    assert by_name.loc["Kati", "admin1_name"] == "Koulikouro"  # the source spelling is kept


def test_mali_neighbours_symmetric_and_bamako_only_touches_kati(mali):
    n = mali.neighbours
    assert list(n.columns) == ["district_code", "neighbour_code", "distance_km"]
    assert (n["district_code"] != n["neighbour_code"]).all()
    pairs = set(zip(n["district_code"], n["neighbour_code"]))
    assert pairs == {(b, a) for a, b in pairs}
    assert not n.duplicated(["district_code", "neighbour_code"]).any()
    assert set(n["district_code"]) == set(mali.districts["district_code"])  # no island
    bamako = n[n["district_code"] == "ML0901"]
    assert bamako["neighbour_code"].tolist() == ["ML0205"]  # Kati
    assert 5 < bamako["distance_km"].iloc[0] < 60
    assert n["distance_km"].between(1, 1500).all()


def test_mali_aliases_resolve_variants_and_the_menaka_split(mali):
    names = ["Baraoueli", "BAROUÉLI", "Anderamboukane", "Inekar", "Ménaka", "Tidermene", "Niono", "Diré",
             "Ségou", "Timbuktu", "Tombouctou", "Gourma Rharous", "Koulikoro"]
    result = mali.assign(events([(None, None, None, name) for name in names]))
    assert (result["assignment"] == "name").all()
    assert result["district_code"].tolist() == ["ML0401", "ML0401", "ML0704", "ML0704", "ML0704", "ML0704",
                                                "ML0405", "ML0602", "ML0402", "ML0601", "ML0601", "ML0604",
                                                "ML0201"]


def test_mali_admin1_aliases_cope_with_koulikoro(mali):
    table = mali.admin1_aliases.set_index("alias_key")["admin1_name"]
    assert table["koulikoro"] == "Koulikouro"
    assert table["koulikouro"] == "Koulikouro"
    assert table["menaka"] == "Gao"


def test_centroids_lie_inside_their_districts(mali):
    c = mali.centroids()
    assert list(c.columns) == ["district_code", "latitude", "longitude"]
    points = gpd.points_from_xy(c["longitude"], c["latitude"], crs="EPSG:4326")
    assert mali.districts.geometry.contains(gpd.GeoSeries(points, crs="EPSG:4326")).all()


# ---------------------------------------------------------------- assignment on a 2x2 grid


def test_assign_point_border_outside_and_unknown():
    g = grid_2x2()
    ev = events(
        [
            (0.5, 1.5, "South", None),  # inside G2
            (0.5, 1.0, None, None),  # on the G1/G2 border: lowest code
            (1.0, 1.0, None, None),  # the corner all four share
            (5.0, 5.0, "South", "Bravo"),  # outside the grid: name fallback
            (None, None, None, "Xyz"),  # no coordinates, unknown name
            (5.0, -3.25, None, "Xyz"),  # outside, unknown name
            (None, None, None, None),  # nothing at all
            (None, None, "Nord", "twin"),  # shared alias, admin1 alias decides
            (None, None, None, "Twin"),  # shared alias, no admin1
            (None, None, None, "al pha"),
        ],
        index=[90, 80, 70, 60, 50, 40, 30, 20, 10, 0],
    )
    before = ev.copy()
    result = g.assign(ev)
    pd.testing.assert_frame_equal(ev, before)
    assert result.index.tolist() == ev.index.tolist()
    assert list(result.columns) == ["district_code", "assignment", "unassigned_reason"]
    assert result["district_code"].tolist() == ["G2", "G1", "G1", "G2", pd.NA, pd.NA, pd.NA, "G3", pd.NA, "G1"]
    assert result["assignment"].tolist() == [
        "point", "point", "point", "name", "unassigned", "unassigned", "unassigned", "name", "unassigned", "name",
    ]
    reasons = result["unassigned_reason"]
    assert reasons[[90, 80, 70, 60, 20, 0]].isna().all()
    assert reasons[50] == "no coordinates and admin2 'Xyz' not in the gazetteer"
    assert reasons[40] == "point (5.0, -3.25) outside every district and admin2 'Xyz' not in the gazetteer"
    assert reasons[30] == "no coordinates and no admin2 name"
    assert "names several districts" in reasons[10]


def test_assign_events_of_another_country_stay_unassigned():
    g = grid_2x2()
    ev = events([(0.5, 0.5, None, "Alpha"), (9.0, 9.0, None, "Alpha"), (9.0, 9.0, None, "Alpha")])
    ev["country_iso3"] = pd.array(["BFA", "BFA", "TST"], dtype="string")
    result = g.assign(ev)
    # The point decides when it falls inside; otherwise a foreign event is not matched by name.
    assert result["assignment"].tolist() == ["point", "unassigned", "name"]
    assert result["unassigned_reason"].iloc[1] == "point (9.0, 9.0) outside every district and country 'BFA' is not TST (ingest it with --country BFA)"


def test_assign_empty_and_missing_columns():
    g = grid_2x2()
    empty = events([(0.0, 0.0, None, None)]).iloc[:0]
    assert len(g.assign(empty)) == 0
    with pytest.raises(ValueError, match="admin2"):
        g.assign(pd.DataFrame({"latitude": [0.5], "longitude": [0.5], "admin1": [None]}))


def test_neighbours_of_the_2x2_grid_are_queen():
    n = grid_2x2().neighbours
    assert n.groupby("district_code").size().tolist() == [3, 3, 3, 3]
    g1 = n[n["district_code"] == "G1"].set_index("neighbour_code")["distance_km"]
    # One degree of longitude at the equator is 111.3 km; the diagonal is sqrt(2) times that.
    assert g1["G2"] == pytest.approx(111.3, rel=0.01)
    assert g1["G4"] == pytest.approx(111.3 * 2**0.5, rel=0.01)


def test_from_frames_rejects_bad_districts():
    g = grid_2x2().districts
    with pytest.raises(ValueError, match="duplicate"):
        Gazetteer.from_frames("TST", g.assign(district_code=["G1", "G1", "G3", "G4"]))
    with pytest.raises(ValueError, match="population"):
        Gazetteer.from_frames("TST", g.assign(population=[1, 0, 3, 4]))
    with pytest.raises(ValueError, match="unknown district"):
        Gazetteer.from_frames("TST", g, pd.DataFrame({"alias_key": ["x"], "district_code": ["G9"]}))


def test_from_frames_repairs_invalid_polygons():
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    districts = grid_2x2().districts.iloc[:2].assign(geometry=[bowtie, shapely.box(1, 0, 2, 1)])
    g = Gazetteer.from_frames("TST", districts)
    assert g.districts.geometry.is_valid.all()
    assert g.districts.geometry.iloc[0].area == pytest.approx(0.5)
    assert g.assign(events([(0.5, 0.2, None, None)]))["district_code"].tolist() == ["G1"]


# ---------------------------------------------------------------- another country from files only


def write_country(root: Path, population_rows: list[str], join: str = "name", n_districts: int = 4) -> None:
    """A country folder TST: the first ``n_districts`` districts of the 2x2 grid, a population CSV, aliases, a config."""
    folder = root / "TST"
    folder.mkdir(parents=True)
    grid = grid_2x2().districts.iloc[:n_districts].rename(
        columns={"district_code": "pcode", "district_name": "name", "admin1_name": "region"}
    ).drop(columns="population")
    (folder / "adm2.geojson").write_text(grid.to_json())
    (folder / "pop.csv").write_text("\n".join(["adm2,code,total", *population_rows]) + "\n")
    (folder / "aliases.csv").write_text("alias,district_code,note\nAlfa,G1,spelling\n")
    join_key = 'name_column = "adm2"' if join == "name" else 'code_column = "code"'
    (folder / "gazetteer.toml").write_text(
        "country_iso3 = 'TST'\n"
        "[boundaries]\nfile = 'adm2.geojson'\ncode_property = 'pcode'\nname_property = 'name'\n"
        "admin1_property = 'region'\n"
        f"[population]\nfile = 'pop.csv'\nvalue_column = 'total'\njoin = '{join}'\n{join_key}\n"
        "[aliases]\nadmin2_file = 'aliases.csv'\n"
    )


def test_load_a_new_country_from_its_folder(tmp_path):
    write_country(tmp_path, ["Alfa,P1,10", "Bravo,P2,20", "CHARLIE,P3,30", "Delta,P4,40"])
    g = Gazetteer.load("TST", data_dir=tmp_path)
    assert g.districts["district_code"].tolist() == ["G1", "G2", "G3", "G4"]
    assert g.districts["population"].tolist() == [10, 20, 30, 40]
    assert len(g.neighbours) == 12


def test_load_joins_population_by_code(tmp_path):
    write_country(tmp_path, ["a,G4,40", "b,G3,30", "c,G2,20", "d,G1,10"], join="code")
    assert Gazetteer.load("TST", data_dir=tmp_path).districts["population"].tolist() == [10, 20, 30, 40]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["Alpha,P1,10", "Bravo,P2,20", "Charlie,P3,30"], "no population row for district"),
        (["Alpha,P1,10", "Bravo,P2,20", "Charlie,P3,30", "Echo,P4,40"], "'Echo' joins no single district"),
        (["Alpha,P1,10", "Bravo,P2,20", "Charlie,P3,30", "Delta,P4,0"], "not a positive count"),
        (["Alpha,P1,10", "Alfa,P1,10", "Bravo,P2,20", "Charlie,P3,30", "Delta,P4,40"], "join the same district"),
    ],
)
def test_load_fails_loudly_when_population_does_not_join(tmp_path, rows, message):
    write_country(tmp_path, rows)
    with pytest.raises(SourceFileError, match=message) as error:
        Gazetteer.load("TST", data_dir=tmp_path)
    assert error.value.file.endswith("pop.csv")


def load_error(tmp_path: Path) -> SourceFileError:
    """The SourceFileError that loading the country TST written under ``tmp_path`` raises."""
    with pytest.raises(SourceFileError) as error:
        Gazetteer.load("TST", data_dir=tmp_path)
    return error.value


def test_semicolon_population_table_names_the_delimiter(tmp_path):
    write_country(tmp_path, [])
    (tmp_path / "TST" / "pop.csv").write_text("adm2;code;total\nAlfa;P1;1,000\nBravo;P2;20\nCharlie;P3;30\n"
                                              "Delta;P4;40\n")
    error = load_error(tmp_path)
    assert error.file.endswith("pop.csv")
    assert (error.row, error.column) == (1, None)
    assert error.problem.startswith("the header is one cell holding ';': the file is separated by ';', "
                                    "but Vigie reads comma-separated files")
    assert "missing column" not in error.problem and "with columns total, adm2" in error.problem


def test_tab_separated_alias_file_names_the_delimiter(tmp_path):
    write_country(tmp_path, ["Alfa,P1,10", "Bravo,P2,20", "Charlie,P3,30", "Delta,P4,40"])
    (tmp_path / "TST" / "aliases.csv").write_text("alias\tdistrict_code\tnote\nAlfa\tG1\tspelling\n")
    error = load_error(tmp_path)
    assert error.file.endswith("aliases.csv")
    assert (error.row, error.column) == (1, None)
    assert "the header is one cell holding a tab: the file is separated by a tab" in error.problem
    assert "alias, district_code" in error.problem


COMMUNES = ["Alpha Centre,P1,4", "Alpha Rural,P1,6", "Bravo Centre,P2,5", "Bravo Nord,P2,7",
            "Bravo Sud,P2,8", "Charlie Centre,P3,9", "Charlie Est,P3,21"]


def test_commune_level_population_table_says_to_sum_it(tmp_path):
    write_country(tmp_path, COMMUNES, n_districts=3)
    error = load_error(tmp_path)
    assert error.file.endswith("pop.csv")
    assert (error.row, error.column) == (2, "adm2")
    assert "'Alpha Centre' joins no single district (unknown)" in error.problem
    assert "7 rows for 3 districts" in error.problem
    assert "finer than the districts (communes or other sub-district units?)" in error.problem
    assert "Sum it to one row per district first" in error.problem
    assert "district's name in column 'adm2'" in error.problem and "join = 'name'" in error.problem


def test_commune_level_table_keyed_by_district_code_says_to_sum_it(tmp_path):
    rows = [f"{name},{code.replace('P', 'G')},{total}" for name, code, total in (row.split(",") for row in COMMUNES)]
    write_country(tmp_path, rows, join="code", n_districts=3)
    error = load_error(tmp_path)
    assert (error.row, error.column) == (2, "code")
    assert "rows [2, 3] join the same district" in error.problem
    assert "7 rows for 3 districts" in error.problem and "finer than the districts" in error.problem
    assert "district's code in column 'code'" in error.problem and "join = 'code'" in error.problem


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["Alpha,P1,10", "Bravo,P2,20", "Echo,P3,30"], "'Echo' joins no single district (unknown)"),
        (["Alpha,P1,10", "Alfa,P1,10", "Bravo,P2,20"], "rows [2, 3] join the same district"),
    ],
)
def test_table_no_larger_than_the_districts_keeps_the_precise_error(tmp_path, rows, message):
    write_country(tmp_path, rows, n_districts=3)
    error = load_error(tmp_path)
    assert error.problem == message


def test_correct_tables_still_load(tmp_path):
    write_country(tmp_path, ['"Alfa",P1,"1,000"', "Bravo,P2,20", "Charlie,P3,30"], n_districts=3)
    (tmp_path / "TST" / "aliases.csv").write_text('alias,district_code,note\nAlfa,G1,"spelling; old | new"\n')
    g = Gazetteer.load("TST", data_dir=tmp_path)
    assert g.districts["district_code"].tolist() == ["G1", "G2", "G3"]
    assert g.districts["population"].tolist() == [1000, 20, 30]


def test_load_unknown_country_names_the_missing_file(tmp_path):
    with pytest.raises(SourceFileError, match="gazetteer.toml"):
        Gazetteer.load("ZZZ", data_dir=tmp_path)


def test_shipped_config_names_existing_files():
    folder = Path(__file__).resolve().parents[2] / "features" / "data" / "gazetteers" / "MLI"
    geojson = json.loads((folder / "mli_adm2_ocha_cod.geojson").read_text())
    assert len(geojson["features"]) == 50
    assert (folder.parent.parent / "ATTRIBUTION.md").is_file()


# ---------------------------------------------------------------- synthetic grids


def test_synthetic_5000_builds_quickly_with_queen_neighbours():
    start = time.perf_counter()
    g = Gazetteer.synthetic(5000, seed=3)
    assert time.perf_counter() - start < 5
    d = g.districts
    assert len(d) == 5000 and d["district_code"].is_unique
    assert d["district_code"].iloc[0] == "SIM00001" and d["district_name"].iloc[-1] == "District 5000"
    assert (d["population"] > 0).all() and d["population"].dtype == "int64"
    assert 5 <= d["admin1_name"].nunique() <= 12
    counts = g.neighbours.groupby("district_code").size()
    # 71 columns: cell 72 (row 1, col 0) is on the west edge, cell 73 is interior, cell 1 a corner.
    assert counts["SIM00073"] == 8
    assert counts["SIM00072"] == 5
    assert counts["SIM00001"] == 3
    assert counts.max() == 8
    assert set(g.neighbours.loc[g.neighbours["district_code"] == "SIM00073", "neighbour_code"]) == {
        "SIM00001", "SIM00002", "SIM00003", "SIM00072", "SIM00074", "SIM00143", "SIM00144", "SIM00145",
    }
    xmin, ymin, xmax, ymax = d.total_bounds
    assert -20 < xmin < xmax < 20 and 0 < ymin < ymax < 30


def test_synthetic_is_reproducible_by_seed():
    a, b, c = Gazetteer.synthetic(30, seed=1), Gazetteer.synthetic(30, seed=1), Gazetteer.synthetic(30, seed=2)
    assert a.districts["population"].tolist() == b.districts["population"].tolist()
    assert a.districts["population"].tolist() != c.districts["population"].tolist()
    assert Gazetteer.synthetic(1).neighbours.empty


def test_assign_on_synthetic_grid_matches_cell_arithmetic():
    g = Gazetteer.synthetic(100)  # 10 x 10 cells of 0.2 degrees from (-12 E, 8 N)
    rng = np.random.default_rng(0)
    row, col = rng.integers(0, 10, 2000), rng.integers(0, 10, 2000)
    lat = 8.0 + 0.2 * row + rng.uniform(0.01, 0.19, 2000)
    lon = -12.0 + 0.2 * col + rng.uniform(0.01, 0.19, 2000)
    result = g.assign(events([(a, b, None, None) for a, b in zip(lat, lon)]))
    expected = [f"SIM{i:05d}" for i in row * 10 + col + 1]
    assert result["district_code"].tolist() == expected


# ---------------------------------------------------------------- the real ACLED file


@pytest.fixture(scope="module")
def acled() -> pd.DataFrame:
    if not ACLED_FILE.is_file():
        pytest.skip(f"real ACLED file not available at {ACLED_FILE}")
    raw = pd.read_csv(ACLED_FILE, usecols=["iso3", "admin1", "admin2", "latitude", "longitude"])
    return raw.rename(columns={"iso3": "country_iso3"})


def test_real_acled_assignment_rate(mali, acled):
    result = mali.assign(acled)
    assert len(result) == len(acled)
    assert (result["assignment"] != "unassigned").mean() >= 0.995
    assert (result["assignment"] == "point").mean() >= 0.99


def test_every_real_acled_admin2_resolves_by_name(mali, acled):
    names = acled[["admin1", "admin2"]].drop_duplicates("admin2")
    assert len(names) == 51
    result = mali.assign(names.assign(latitude=np.nan, longitude=np.nan))
    unresolved = names.loc[result["assignment"] != "name", "admin2"].tolist()
    assert unresolved == []


def test_a_synthetic_gazetteer_written_as_a_country_folder_loads_back_the_same(tmp_path):
    from features.gazetteer import write_country_folder

    grid = Gazetteer.synthetic(12)
    folder = write_country_folder(grid, tmp_path, name="Simulania")
    assert folder == tmp_path / "SIM" and (folder / "gazetteer.toml").is_file()
    back = Gazetteer.load("SIM", tmp_path)
    columns = ["district_code", "district_name", "admin1_name", "population"]
    pd.testing.assert_frame_equal(back.districts[columns].reset_index(drop=True),
                                  grid.districts[columns].reset_index(drop=True), check_dtype=False)
    assert back.districts.geometry.geom_equals_exact(grid.districts.geometry.reset_index(drop=True), 1e-9).all()
    pairs = ["district_code", "neighbour_code"]
    assert back.neighbours[pairs].sort_values(pairs).values.tolist() == grid.neighbours[pairs].sort_values(pairs).values.tolist()
