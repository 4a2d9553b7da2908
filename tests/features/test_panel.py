import numpy as np
import pandas as pd
import pytest

from features.measures import (
    MEASURES,
    MajorAttackRule,
    Measure,
    event_attributes,
    measure_table,
    measures_by_name,
)
from features.panel import build_panel, monday_on_or_before, week_index
from features.registries import load_actor_families
from features.schema import conform

JNIM = "JNIM: Group for Support of Islam and Muslims"
FAMA = "Military Forces of Mali (2021-)"
MINUSMA = "MINUSMA: United Nations Multidimensional Integrated Stabilization Mission in Mali (2013-)"
DOGON = "Dan Na Ambassagou"
CIVILIANS = "Civilians (Mali)"


def make_events(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["district_code", "event_date", "event_type", "actor1", "actor2", "fatalities"])
    events = conform(frame.assign(event_id=[f"E{i}" for i in range(len(frame))], source="acled",
                                  event_date=pd.to_datetime(frame["event_date"])))
    return events.assign(district_code=frame["district_code"].astype("string"))


@pytest.fixture(scope="module")
def families():
    return load_actor_families()


EVENTS = [
    ("A", "2024-01-01", "Battles", JNIM, FAMA, 2),  # Monday, week 0
    ("A", "2024-01-07", "Violence against civilians", DOGON, CIVILIANS, 6),  # Sunday, week 0
    ("A", "2024-01-08", "Explosions/Remote violence", JNIM, MINUSMA, 0),  # Monday, week 1
    ("B", "2024-01-10", "Battles", FAMA, JNIM, None),  # fatalities unknown -> 0
    ("B", "2024-01-16", "Protests", "Protesters (Mali)", None, 0),
    ("B", "2024-01-20", "Battles", JNIM, FAMA, 5),
    (None, "2024-01-02", "Battles", JNIM, FAMA, 50),  # no district
    ("Z", "2024-01-02", "Battles", JNIM, FAMA, 50),  # not a panel district
    ("A", "2023-12-31", "Battles", JNIM, FAMA, 50),  # before the panel
    ("A", "2024-01-22", "Battles", JNIM, FAMA, 50),  # at the panel's end (exclusive)
]


def panel_of(events, families, **kwargs):
    return build_panel(events, ["A", "B"], start="2024-01-03", end="2024-01-22", actor_families=families, **kwargs)


def test_weeks_run_from_monday_to_monday_and_cells_hold_monday_to_sunday(families):
    panel = panel_of(make_events(EVENTS), families)
    assert list(panel.weeks) == list(pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15"]))
    assert panel.cutoff == pd.Timestamp("2024-01-22")
    np.testing.assert_array_equal(panel.measures["violent_events"], [[2, 1, 0], [0, 1, 1]])
    np.testing.assert_array_equal(panel.measures["fatalities"], [[8, 0, 0], [0, 0, 5]])
    np.testing.assert_array_equal(panel.measures["protests"], [[0, 0, 0], [0, 0, 1]])
    assert all(v.dtype == np.float32 for v in panel.measures.values())


def test_splits_by_type_perpetrator_and_target(families):
    m = panel_of(make_events(EVENTS), families).measures
    np.testing.assert_array_equal(m["battles"], [[1, 0, 0], [0, 1, 1]])
    np.testing.assert_array_equal(m["civilian_violence_fatalities"], [[6, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(m["by_jnim_aq_events"], [[1, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(m["by_communal_militia_fatalities"], [[6, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(m["by_state_forces_events"], [[0, 0, 0], [0, 1, 0]])
    # MINUSMA (foreign forces) and FAMa (state forces) are both security forces as targets
    np.testing.assert_array_equal(m["on_security_forces_events"], [[1, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(m["on_civilians_events"], [[1, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("fatalities", [[1, 0, 0], [0, 0, 1]]),  # 6 and 5 deaths
        ("military", [[1, 1, 0], [0, 0, 1]]),  # attacks on FAMa / MINUSMA whatever the toll
        ("either", [[2, 1, 0], [0, 0, 1]]),
        ("both", [[0, 0, 0], [0, 0, 1]]),  # only the 5-death attack on FAMa
    ],
)
def test_major_attack_rules(families, rule, expected):
    panel = panel_of(make_events(EVENTS), families, major=MajorAttackRule(5, rule))
    np.testing.assert_array_equal(panel.measures["major_attacks"], expected)
    assert rule in ("fatalities",) or "security forces" in panel.descriptions["major_attacks"][0]


def test_major_attack_threshold_is_inclusive(families):
    panel = panel_of(make_events(EVENTS), families, major=MajorAttackRule(6, "fatalities"))
    np.testing.assert_array_equal(panel.measures["major_attacks"], [[1, 0, 0], [0, 0, 0]])
    assert panel.descriptions["major_attacks"] == ("major attacks: violent events with 6 or more fatalities", "events")


def test_cutoff_drops_later_events_but_keeps_the_week(families):
    panel = panel_of(make_events(EVENTS), families, cutoff="2024-01-15")
    assert len(panel.weeks) == 3
    np.testing.assert_array_equal(panel.measures["violent_events"], [[2, 1, 0], [0, 1, 0]])


def test_family_splits_need_the_registry():
    with pytest.raises(ValueError, match="actor_families"):
        build_panel(make_events(EVENTS), ["A"], start="2024-01-01", end="2024-01-22")
    only_types = [m for m in MEASURES if not m.needs_families and not m.major_only]
    panel = build_panel(make_events(EVENTS), ["A"], start="2024-01-01", end="2024-01-22", measures=only_types)
    np.testing.assert_array_equal(panel.measures["violent_events"], [[2, 1, 0]])


def test_event_attributes(families):
    attrs = event_attributes(make_events(EVENTS[:5]), families, MajorAttackRule(5, "either"))
    assert attrs["perpetrator"].tolist() == ["jnim_aq", "communal_militia", "jnim_aq", "state_forces", "other"]
    assert attrs["target"].tolist() == ["state_forces", "civilians", "foreign_forces", "jnim_aq", "none"]
    assert attrs["fatalities"].tolist() == [2, 6, 0, 0, 0]
    assert attrs["major"].tolist() == [True, True, True, False, False]  # protests are never major


def test_measure_table_is_data():
    table = measure_table()
    assert list(table.columns) == ["name", "description", "quantity", "event_types", "perpetrators", "targets",
                                   "major_only"]
    assert table["name"].is_unique and len(table) == len(MEASURES)
    by_name = measures_by_name()
    assert by_name["by_islamic_state_fatalities"].perpetrators == ("islamic_state",)
    assert by_name["on_security_forces_events"].targets == ("state_forces", "foreign_forces")
    assert by_name["fatalities"].unit == "deaths"
    with pytest.raises(ValueError, match="unknown families"):
        Measure("x", "x", perpetrators=("jnim",))
    with pytest.raises(ValueError, match="defined twice"):
        measures_by_name((MEASURES[0], MEASURES[0]))


def test_long_frame_is_district_major():
    events = make_events(EVENTS[:2])
    panel = build_panel(events, ["A", "B"], start="2024-01-01", end="2024-01-15", measures=[MEASURES[0]])
    frame = panel.to_frame()
    assert frame["district_code"].tolist() == ["A", "A", "B", "B"]
    assert frame["week_start"].tolist() == list(pd.to_datetime(["2024-01-01", "2024-01-08"] * 2))
    assert frame["violent_events"].tolist() == [2, 0, 0, 0]


def test_week_index_and_mondays():
    dates = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-07", "2024-01-08", "2023-12-31", None]))
    assert week_index(dates, pd.Timestamp("2024-01-01")).tolist() == [0, 0, 1, -1, -(10**9)]
    assert monday_on_or_before("2024-01-07") == pd.Timestamp("2024-01-01")
    assert monday_on_or_before("2024-01-08") == pd.Timestamp("2024-01-08")
