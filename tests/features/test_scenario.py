"""Tests of features.scenario: parsing, refusals naming the file and change, and the registry a scenario yields."""

from __future__ import annotations

import pandas as pd
import pytest

from features.forces import departures
from features.scenario import (
    ScenarioError,
    apply_scenario,
    parse_scenario,
    read_scenario,
)

WEEK = pd.Timestamp("2023-01-02")


def forces() -> pd.DataFrame:
    """Three bases: W at Alpha and Bravo (ongoing, W at Alpha with a later handover on record), U at Alpha."""
    return pd.DataFrame({
        "deployment_id": ["w-alpha", "w-bravo", "u-alpha", "later-alpha"],
        "force": ["Wagner Group", "Wagner Group", "MINUSMA", "Africa Corps"],
        "kind": ["private military", "private military", "peacekeeping", "foreign combat"],
        "location": ["Alpha", "Bravo", "Alpha", "Alpha"], "latitude": pd.array([14.0, 15.0, 14.0, 14.0], "Float64"),
        "longitude": pd.array([-1.0, -2.0, -1.0, -1.0], "Float64"), "admin2_hint": ["A", "B", "A", "A"],
        "start": pd.to_datetime(["2022-01-01", "2022-01-01", "2013-07-01", "2025-06-06"]).astype("datetime64[s]"),
        "end": pd.to_datetime(["2025-06-06", None, None, None]).astype("datetime64[s]"),
        "date_precision": "day", "replaced_by": pd.array(["later-alpha", None, None, None], dtype="string"),
        "source_note": "note", "district_code": pd.array(["A", "B", "A", "A"], dtype="string"),
    })


TAKE_OVER = '''
id = "ac"
title = "Africa Corps takes Alpha; Wagner leaves the rest"
[[change]]
action = "take_over"
force = "Africa Corps"
kind = "foreign combat"
from_force = "Wagner Group"
bases = ["alpha"]
[[change]]
action = "leave"
force = "Wagner Group"
'''


def test_a_take_over_then_a_leave_hands_one_base_over_and_empties_the_other():
    before = forces()
    out, said = apply_scenario(before, parse_scenario(TAKE_OVER), WEEK)
    pd.testing.assert_frame_equal(before, forces())  # the input is not modified
    by_id = out.set_index("deployment_id")
    assert by_id.loc["w-alpha", "end"] == by_id.loc["w-bravo", "end"] == WEEK - pd.Timedelta(days=1)
    assert by_id.loc["w-alpha", "replaced_by"] == "scenario-africa-corps-alpha"
    assert pd.isna(by_id.loc["w-bravo", "replaced_by"])
    new = by_id.loc["scenario-africa-corps-alpha"]
    assert (new["force"], new["kind"], new["start"], new["district_code"]) == (
        "Africa Corps", "foreign combat", WEEK - pd.Timedelta(days=1), "A")
    assert pd.isna(new["end"]) and pd.isna(by_id.loc["u-alpha", "end"])
    assert said == ["Africa Corps (foreign combat) takes over Alpha from Wagner Group on 2023-01-02",
                    "Wagner Group leaves Bravo on 2023-01-02; nobody takes over"]
    # First known at the forecast week: Alpha is a handover, Bravo a departure with nobody taking over.
    gone = departures(out, WEEK - pd.Timedelta(weeks=2), WEEK)
    assert gone[["district_code", "week_start", "handed_over"]].values.tolist() == [["A", WEEK, True], ["B", WEEK, False]]


def test_a_leave_clears_a_later_handover_and_an_earlier_date_is_kept():
    text = 'id = "x"\ntitle = "t"\n[[change]]\naction = "leave"\nforce = "wagner group"\nbases = ["Alpha"]\ndate = "2022-12-05"\n'
    out, said = apply_scenario(forces(), parse_scenario(text), WEEK)
    row = out.set_index("deployment_id").loc["w-alpha"]
    assert row["end"] == pd.Timestamp("2022-12-04") and pd.isna(row["replaced_by"])
    assert said == ["Wagner Group leaves Alpha on 2022-12-05; nobody takes over"]


@pytest.mark.parametrize(("text", "words"), [
    ("id = 'bad id!'\ntitle = 't'\n[[change]]\naction='leave'\nforce='MINUSMA'\n", "'id' must be"),
    ("id = 'x'\ntitle = 't'\n", "at least one [[change]]"),
    ("id = 'x'\ntitle = 't'\n[[change]]\naction='arrive'\nforce='MINUSMA'\n", "change 1: action 'arrive'"),
    ("id = 'x'\ntitle = 't'\n[[change]]\naction='leave'\nforce='MINUSMA'\nkind='peacekeeping'\n", "unknown key"),
    ("id = 'x'\ntitle = 't'\n[[change]]\naction='take_over'\nforce='A'\nkind='navy'\nfrom_force='B'\nbases=['a']\n",
     "'kind' 'navy'"),
    ("id = 'x'\ntitle = 't'\ndate = 'soon'\n[[change]]\naction='leave'\nforce='MINUSMA'\n", "not a date"),
    ("id = 'x'\ntitle = 't'\nfoo = 1\n", "unknown key"),
    ("id = 'x\ntitle", "not valid TOML"),
])
def test_bad_files_are_refused_naming_the_file_and_the_change(text, words):
    with pytest.raises(ScenarioError, match="^scenario.toml") as caught:
        parse_scenario(text, "scenario.toml")
    assert words in str(caught.value)


@pytest.mark.parametrize(("change", "words"), [
    ("action='leave'\nforce='MINUSMA'\ndate='2023-01-09'", "after the forecast week 2023-01-02"),
    ("action='leave'\nforce='Barkhane'", "no base of 'Barkhane' on 2023-01-02 (forces present then: MINUSMA, Wagner"),
    ("action='leave'\nforce='MINUSMA'\nbases=['Bravo']", "holds no base ['Bravo']"),
    ("action='take_over'\nforce='Africa Corps'\nkind='foreign combat'\nfrom_force='Wagner Group'\nbases=['Alpha']\n"
     "[[change]]\naction='take_over'\nforce='X'\nkind='regional'\nfrom_force='Wagner Group'\nbases=['Alpha']",
     "'Wagner Group' holds no base ['Alpha']"),  # taken over twice
])
def test_changes_the_registry_cannot_carry_are_refused(change, words):
    scenario = parse_scenario(f"id = 'x'\ntitle = 't'\n[[change]]\n{change}\n", "s.toml")
    with pytest.raises(ScenarioError, match="^s.toml, change") as caught:
        apply_scenario(forces(), scenario, WEEK)
    assert words in str(caught.value)


def test_the_shipped_scenarios_apply_to_the_shipped_registry_at_the_data_end():
    from pathlib import Path

    from features.registries import load_foreign_forces

    folder = Path(__file__).resolve().parents[2] / "scenarios"
    wagner, said = apply_scenario(load_foreign_forces(), read_scenario(folder / "wagner-to-africa-corps-2025.toml"), WEEK)
    assert said[0].startswith("Africa Corps (foreign combat) takes over Bamako, Sevare, Timbuktu, Gao")
    assert said[1] == "Wagner Group leaves Segou, Menaka on 2023-01-02; nobody takes over"
    minusma, said = apply_scenario(load_foreign_forces(), read_scenario(folder / "minusma-drawdown-2023.toml"), WEEK)
    assert (minusma.loc[minusma["force"] == "MINUSMA", "end"] <= WEEK).all() and "13" or said
    assert len(said) == 1 and said[0].count(",") == 12  # its 13 camps
