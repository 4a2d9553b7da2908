"""Tests of features.registries: shipped registries, validation errors, actor matching, versioning."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from features import registries as reg
from features.country import Country, load_country
from features.gazetteer import Gazetteer
from features.schema import SourceFileError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "registries"


# ---------------------------------------------------------------------- shipped files


@pytest.fixture(scope="module")
def forces() -> pd.DataFrame:
    return reg.load_foreign_forces()


@pytest.fixture(scope="module")
def calendar() -> pd.DataFrame:
    return reg.load_political_calendar()


@pytest.fixture(scope="module")
def families() -> pd.DataFrame:
    return reg.load_actor_families()


@pytest.fixture(scope="module")
def force_actors() -> pd.DataFrame:
    return reg.load_foreign_force_actors()


def test_foreign_forces_shipped(forces):
    assert len(forces) > 0
    assert list(forces.columns) == list(reg.FOREIGN_FORCE_COLUMNS)
    assert forces["kind"].isin(reg.FORCE_KINDS).all()
    assert forces["deployment_id"].is_unique
    assert str(forces["start"].dtype) == "datetime64[s]"
    assert forces["latitude"].between(10, 25).all() and forces["longitude"].between(-13, 5).all()
    expected = {
        "France (Serval)", "France (Barkhane)", "Takuba", "MINUSMA", "EUTM Mali",
        "G5 Sahel Joint Force", "Wagner Group", "Africa Corps", "Malian Armed Forces (FAMa)",
    }  # fmt: skip
    assert set(forces["force"]) == expected


def test_handovers_and_army_bases_shipped(forces):
    by_id = forces.set_index("deployment_id")
    assert by_id.loc["barkhane-timbuktu", "replaced_by"] == "wagner-timbuktu"
    assert by_id.loc["barkhane-menaka", "replaced_by"] == by_id.loc["takuba-menaka", "replaced_by"] == "wagner-menaka"
    wagner = by_id[by_id["force"] == "Wagner Group"].drop(index="wagner-tinzaouaten")
    assert (wagner["replaced_by"] == "africa-corps-" + wagner.index.str.removeprefix("wagner-")).all()
    army = by_id.loc["mali-army-boulikessi"]
    assert army["kind"] == reg.NATIONAL_ARMY and army["end"] == pd.Timestamp("2025-06-02")
    assert by_id.loc["g5s-boulikessi", "replaced_by"] == "mali-army-boulikessi"
    assert by_id["replaced_by"].notna().sum() == 11


FORCES_HEADER = ("deployment_id,force,kind,location,latitude,longitude,admin2_hint,start,end,date_precision,"
                 "replaced_by,source_note\n")


@pytest.mark.parametrize(("rows", "line", "problem"), [
    ("a,A,regional,X,14,-1,Mopti,2020-01-01,2020-06-30,day,b,note\n"
     "b,B,regional,X,14,-1,Mopti,2020-07-01,,day,,note\n"
     "c,C,regional,X,14,-1,Mopti,2020-01-01,2020-06-30,day,zz,note\n", 4, "names no other deployment_id"),
    ("a,A,regional,X,14,-1,Mopti,2020-01-01,2020-06-30,day,a,note\n", 2, "names no other deployment_id"),
    ("a,A,regional,X,14,-1,Mopti,2020-01-01,,day,b,note\n"
     "b,B,regional,X,14,-1,Mopti,2020-07-01,,day,,note\n", 2, "has no end"),
    ("a,A,regional,X,14,-1,Mopti,2020-01-01,2020-06-30,day,b,note\n"
     "b,B,regional,X,14,-1,Mopti,2021-07-01,,day,,note\n", 2, "more than 62 days"),
])
def test_bad_handovers_are_refused_by_line(tmp_path, rows, line, problem):
    path = tmp_path / "forces.csv"
    path.write_text(FORCES_HEADER + rows)
    with pytest.raises(SourceFileError) as caught:
        reg.load_foreign_forces(path)
    assert (caught.value.row, caught.value.column) == (line, "replaced_by") and problem in caught.value.problem


def test_a_handover_to_two_deployments_and_a_file_without_replaced_by_load(tmp_path):
    path = tmp_path / "forces.csv"
    path.write_text(FORCES_HEADER + "a,A,regional,X,14,-1,Mopti,2020-01-01,2020-06-30,day,b; c,note\n"
                    "b,B,regional,X,14,-1,Mopti,2020-07-01,,day,,note\n"
                    "c,C,national army,X,14,-1,Mopti,2020-06-01,,day,,note\n")
    assert reg.load_foreign_forces(path)["replaced_by"].tolist()[0] == "b; c"
    old = tmp_path / "old.csv"
    old.write_text(FORCES_HEADER.replace("replaced_by,", "") + "a,A,regional,X,14,-1,Mopti,2020-01-01,,day,note\n")
    loaded = reg.load_foreign_forces(old)
    assert list(loaded.columns) == list(reg.FOREIGN_FORCE_COLUMNS) and loaded["replaced_by"].isna().all()


def test_foreign_forces_key_dates(forces):
    by_id = forces.set_index("deployment_id")
    assert by_id.loc["barkhane-gao", "end"] == pd.Timestamp("2022-08-15")
    assert by_id.loc["barkhane-timbuktu", "end"] == pd.Timestamp("2021-12-14")
    assert by_id.loc["minusma-ber", "end"] == pd.Timestamp("2023-08-13")
    minusma = forces[forces["force"] == "MINUSMA"]
    assert minusma["end"].notna().all() and (minusma["end"] <= pd.Timestamp("2023-12-31")).all()
    assert forces.loc[forces["force"] == "Africa Corps", "end"].isna().all()
    assert (forces.loc[forces["force"] == "Wagner Group", "start"] >= pd.Timestamp("2021-12-01")).all()


def test_political_calendar_shipped(calendar):
    assert len(calendar) > 0
    assert calendar["kind"].isin(reg.CALENDAR_KINDS).all()
    assert str(calendar["scheduled"].dtype) == "boolean"
    scheduled = calendar[calendar["scheduled"]]
    assert set(scheduled["kind"]) <= {"election", "referendum"}
    assert (scheduled["announced_on"] <= scheduled["date"]).all()
    assert calendar.loc[~calendar["scheduled"], "announced_on"].isna().all()
    assert (calendar["date"] == pd.Timestamp("2020-08-18")).any()
    assert calendar["date"].is_monotonic_increasing


def test_actor_registries_shipped(families, force_actors):
    assert len(families) > 0 and len(force_actors) > 0
    assert families["family"].isin(reg.ACTOR_FAMILIES).all()
    assert str(families["priority"].dtype) == "Int64"
    assert force_actors["kind"].isin(reg.FORCE_KINDS).all()


# ---------------------------------------------------------------------- validation errors


@pytest.mark.parametrize(
    ("loader", "fixture", "line", "column", "words"),
    [
        (reg.load_foreign_forces, "forces_bad_date.csv", 3, "start", "ISO date"),
        (reg.load_foreign_forces, "forces_end_before_start.csv", 3, "end", "before start"),
        (reg.load_foreign_forces, "forces_bad_kind.csv", 4, "kind", "not one of"),  # line 2 spans two lines
        (reg.load_foreign_forces, "forces_bad_latitude.csv", 3, "latitude", "latitude"),
        (reg.load_political_calendar, "calendar_announced_after.csv", 3, "announced_on", "after the event"),
        (reg.load_political_calendar, "calendar_scheduled_without_announcement.csv", 2, "announced_on", "announced"),
        (reg.load_political_calendar, "calendar_bad_scheduled.csv", 2, "scheduled", "not one of"),
        (reg.load_actor_families, "families_bad_regex.csv", 3, "pattern", "regular expression"),
        (reg.load_actor_families, "families_bad_family.csv", 3, "family", "not one of"),
        (reg.load_actor_families, "families_bad_priority.csv", 2, "priority", "integer"),
        (reg.load_foreign_force_actors, "force_actors_bad_kind.csv", 2, "kind", "not one of"),
        (reg.load_foreign_force_actors, "force_actors_capturing_group.csv", 2, "pattern", "regular expression"),
    ],
)
def test_validation_errors_name_file_line_column(loader, fixture, line, column, words):
    path = FIXTURES / fixture
    with pytest.raises(SourceFileError) as caught:
        loader(path)
    error = caught.value
    assert (error.file, error.row, error.column) == (str(path), line, column)
    assert words in error.problem
    message = str(error)
    assert fixture in message and f"row {line}" in message and f"'{column}'" in message


def test_missing_column_is_reported():
    path = FIXTURES / "forces_missing_column.csv"
    with pytest.raises(SourceFileError) as caught:
        reg.load_foreign_forces(path)
    assert caught.value.column == "admin2_hint" and "missing column" in caught.value.problem


def test_error_counts_further_problems(tmp_path):
    path = tmp_path / "two_problems.csv"
    path.write_text(
        "pattern,family,priority,note\n"
        "jnim,jnim_aq,x,one\n"
        "isgs,bandits,30,two\n"
    )
    with pytest.raises(SourceFileError) as caught:
        reg.load_actor_families(path)
    assert caught.value.row == 2 and "1 more problem" in caught.value.problem


def test_empty_file_is_reported(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(SourceFileError, match="empty file"):
        reg.load_actor_families(path)


def test_loader_does_not_read_na_as_missing(tmp_path):
    path = tmp_path / "na.csv"
    path.write_text("pattern,force,kind,note\nNA,NA,training,\n")
    mapping = reg.load_foreign_force_actors(path)
    assert mapping.loc[0, "pattern"] == "NA" and pd.isna(mapping.loc[0, "note"])


def test_country_folder_is_chosen_by_iso3(tmp_path):
    with pytest.raises(FileNotFoundError):
        reg.load_foreign_forces(country_iso3="TST")
    with pytest.raises(ValueError):
        reg.load_political_calendar(country_iso3="../MLI")


# ---------------------------------------------------------------------- matching


def test_classify_actors_on_hand_written_names(families):
    names = pd.Series(
        [
            "JNIM: Group for Support of Islam and Muslims",
            "Islamic State (Greater Sahara)",
            "ISGS",
            "Dan Na Ambassagou",
            "Military Forces of Mali (2021-)",
            "Military Forces of France (2017-)",
            "Civilians (Mali)",
            "Somebody Unheard Of",
            None,
            "JNIM: Group for Support of Islam and Muslims",
            "GATIA: Imghad Tuareg and Allies Self-Defense Group",
            "Mutiny of Military Forces of Mali (2013-)",
            "Wagner Group",
        ],
        index=range(100, 113),
    )
    got = reg.classify_actors(names, families)
    assert got.index.equals(names.index)
    assert got.tolist()[:8] == [
        "jnim_aq", "islamic_state", "islamic_state", "communal_militia",
        "state_forces", "foreign_forces", "civilians", "other",
    ]  # fmt: skip
    assert pd.isna(got.loc[108])
    assert got.loc[[109, 110, 111, 112]].tolist() == ["jnim_aq", "northern_armed", "other", "foreign_forces"]


def test_classify_actors_priority_decides():
    families = pd.DataFrame(
        {
            "pattern": ["militia", "dozo"],
            "family": ["other", "communal_militia"],
            "priority": pd.array([50, 10], dtype="Int64"),
            "note": ["", ""],
        }
    )
    names = pd.Series(["Dozo Militia", "Some Militia", "dozo"])
    before = names.copy()
    assert reg.classify_actors(names, families).tolist() == ["communal_militia", "other", "communal_militia"]
    pd.testing.assert_series_equal(names, before)


def test_match_foreign_force(force_actors):
    names = pd.Series(
        [
            "Military Forces of France (2012-2017)",
            "MINUSMA: United Nations Multidimensional Integrated Stabilization Mission in Mali (2013-)",
            "G5S: G5 Sahel Force (2017-)",
            "EUTM Mali: European Union Training Mission Mali",
            "Wagner Group",
            "Africa Corps",
            "Military Forces of Chad (1990-)",
            "Military Forces of Mali (2021-)",
            "Mutiny of MINUSMA: United Nations Multidimensional Integrated Stabilization Mission in Mali (2013-)",
            None,
        ],
        index=list("abcdefghij"),
    )
    got = reg.match_foreign_force(names, force_actors)
    assert list(got.columns) == ["force", "kind"] and got.index.equals(names.index)
    assert got.loc[list("abcdefg"), "force"].tolist() == [
        "France", "MINUSMA", "G5 Sahel Joint Force", "EUTM Mali", "Wagner Group", "Africa Corps",
        "Chad (armed forces)",
    ]  # fmt: skip
    assert got.loc[list("abcdefg"), "kind"].tolist() == [
        "foreign combat", "peacekeeping", "regional", "training", "private military", "foreign combat",
        "regional",
    ]  # fmt: skip
    assert got.loc[list("hij")].isna().all().all()


def test_matching_with_empty_registries_or_names(families, force_actors):
    names = pd.Series(["Wagner Group", None])
    assert reg.classify_actors(names, families.iloc[:0]).tolist()[0] == "other"
    assert reg.match_foreign_force(names, force_actors.iloc[:0]).isna().all().all()
    assert reg.classify_actors(pd.Series([], dtype="string"), families).empty


# ---------------------------------------------------------------------- whose army it is


def _country(iso3: str, name: str, folder: Path) -> Country:
    return Country(iso3, name, folder, (name,), registry_folders=(folder,))


#: Hand-written from ACLED's naming pattern: each country's own army, police, gendarmerie and state, and the
#: others' armies, as actor names of events in Mali, Burkina Faso and Niger.
SAHEL_NAMES = pd.Series([
    "Military Forces of Mali (2021-)",
    "Police Forces of Mali (2021-) Gendarmerie",
    "Government of Mali (2021-)",
    "Military Forces of Burkina Faso (2022-)",
    "Police Forces of Burkina Faso (2022-)",
    "Gendarmerie of Burkina Faso",
    "Government of Burkina Faso (2022-)",
    "Military Forces of Niger (2023-)",
    "Police Forces of Niger (2023-) National Guard",
    "Military Forces of Nigeria (2015-)",
    "Military Forces of France (2017-)",
    "VDP: Volunteers for the Defense of the Homeland",
], dtype="string")


def test_each_country_s_own_forces_are_its_state_forces(tmp_path):
    (tmp_path / "BFA").mkdir()
    (tmp_path / "BFA" / "actor_families.csv").write_text(
        "pattern,family,priority,note\n^vdp\\b|volunteers for the defen[cs]e of the homeland,state_forces,35,"
        "Auxiliaries under the army's command (hand-written test registry).\n")
    countries = {"MLI": load_country("MLI"), "BFA": _country("BFA", "Burkina Faso", tmp_path / "BFA"),
                 "NER": _country("NER", "Niger", tmp_path / "NER")}
    got = {iso3: reg.classify_actors(SAHEL_NAMES, reg.load_actor_families(country=c)).tolist()
           for iso3, c in countries.items()}
    state, foreign = "state_forces", "foreign_forces"
    assert got["MLI"][:3] == [state] * 3 and got["MLI"][3:5] == [foreign] * 2 and got["MLI"][7:11] == [foreign] * 4
    assert got["BFA"][:2] == [foreign] * 2 and got["BFA"][3:7] == [state] * 4 and got["BFA"][7:11] == [foreign] * 4
    assert got["NER"][:2] == [foreign] * 2 and got["NER"][3:5] == [foreign] * 2 and got["NER"][7:9] == [state] * 2
    assert got["NER"][9] == foreign  # Nigeria is not Niger
    assert got["BFA"][11] == state and got["MLI"][11] == got["NER"][11] == "other"  # only Burkina's file says so


def test_a_country_s_own_army_is_never_a_foreign_force_there(tmp_path):
    names = pd.Series(["Military Forces of Burkina Faso (2022-)", "Military Forces of Mali (2021-)",
                       "Military Forces of Niger (2023-)"], dtype="string")
    in_mali = reg.match_foreign_force(names, reg.load_foreign_force_actors(country=load_country("MLI")))
    in_burkina = reg.match_foreign_force(
        names, reg.load_foreign_force_actors(country=_country("BFA", "Burkina Faso", tmp_path)))
    assert in_mali["force"].tolist()[0] == "Burkina Faso (armed forces)" and pd.isna(in_mali["force"].iloc[1])
    assert pd.isna(in_burkina["force"].iloc[0])
    assert in_burkina["force"].tolist()[1:] == ["Other foreign security forces", "Niger (armed forces)"]


# ---------------------------------------------------------------------- versioning


def test_registry_version_changes_with_content(tmp_path):
    files = [tmp_path / "MLI" / "foreign_forces.csv", tmp_path / "actor_families.csv"]
    files[0].parent.mkdir()
    shutil.copy(FIXTURES / "forces_ok.csv", files[0])
    shutil.copy(reg.REGISTRY_DIR / "actor_families.csv", files[1])
    first = reg.registry_version(files)
    assert len(first) == 12 and reg.registry_version(list(reversed(files))) == first
    files[0].write_text(files[0].read_text().replace("14.50", "14.51"))
    assert reg.registry_version(files) != first


def test_registry_version_of_shipped_files_is_stable():
    assert reg.registry_version() == reg.registry_version(reg.default_registry_paths("MLI"))


# ---------------------------------------------------------------------- districts


def _fake_assign(events: pd.DataFrame) -> pd.DataFrame:
    """Point in the Alpha box (lat 14..15) -> D1; else the admin2 name Alpha/Beta -> D1/D2; else none."""
    assert events["admin1"].isna().all()
    by_point = events["latitude"].between(14, 15)
    by_name = events["admin2"].map({"Alpha": "D1", "Beta": "D2"})
    code = pd.Series("D1", index=events.index, dtype="string").where(by_point, by_name.astype("string"))
    return pd.DataFrame(
        {
            "district_code": code,
            "assignment": pd.Series("point", index=events.index)
            .where(by_point, "name")
            .where(code.notna(), "unassigned"),
            "unassigned_reason": pd.Series(pd.NA, index=events.index, dtype="string")
            .mask(code.isna(), "unknown name"),
        },
        index=events.index,
    )


def test_assign_deployments_with_fake_gazetteer():
    forces = reg.load_foreign_forces(FIXTURES / "forces_ok.csv").set_axis([7, 3])
    before = forces.copy()
    got = reg.assign_deployments(forces, _fake_assign)
    assert got["district_code"].tolist() == ["D1", "D2"] and got.index.tolist() == [7, 3]
    pd.testing.assert_frame_equal(forces, before)


def test_assign_deployments_lists_unassigned():
    forces = reg.load_foreign_forces(FIXTURES / "forces_ok.csv")
    forces = forces.assign(admin2_hint=forces["admin2_hint"].replace("Beta", "Gamma"))
    with pytest.raises(reg.UnassignedDeploymentError, match=r"1 deployment.*b-town.*Gamma.*unknown name"):
        reg.assign_deployments(forces, _fake_assign)


def test_every_mali_deployment_is_assigned_by_the_real_gazetteer(forces):
    # The gazetteer ships with the project (features/data/gazetteers/MLI): failing to load it is a failure.
    mali = Gazetteer.load("MLI")
    got = reg.assign_deployments(forces, mali.assign)
    assert got["district_code"].notna().all()
    codes = got.set_index("deployment_id")["district_code"]
    assert codes["minusma-tessalit"] == codes["minusma-aguelhok"]  # both in Tessalit cercle
    assert codes["barkhane-gao"] != codes["barkhane-kidal"]
