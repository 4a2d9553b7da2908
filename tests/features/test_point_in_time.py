"""Point in time: a feature of week t never depends on anything dated on or after t's Monday.

Hand-made events, deployments and political calendar on the 3 x 2 grid of ``Gazetteer.synthetic(6)``;
the full default recipe plus the foreign-force and political builders.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.gazetteer import Gazetteer
from features.registries import load_actor_families
from features.schema import conform
from features.table import FeatureConfig, Registries, build_feature_table

START = pd.Timestamp("2024-01-01")
T0 = pd.Timestamp("2024-03-04")  # a middle forecast week
T = pd.Timestamp("2024-05-06")  # the forecast week

JNIM = "JNIM: Group for Support of Islam and Muslims"
IS = "Islamic State (Sahel)"
FAMA = "Military Forces of Mali (2021-)"
FRANCE = "Military Forces of France (2017-)"
DOGON = "Dan Na Ambassagou"
CIV = "Civilians (Mali)"

B, E, V, P = "Battles", "Explosions/Remote violence", "Violence against civilians", "Protests"

EVENTS = [
    ("SIM00001", "2024-01-03", B, JNIM, FAMA, 4),
    ("SIM00002", "2024-01-15", V, DOGON, CIV, 9),
    ("SIM00005", "2024-01-28", E, JNIM, FRANCE, 0),
    ("SIM00003", "2024-02-06", B, IS, FAMA, 12),
    ("SIM00004", "2024-02-19", P, "Protesters (Mali)", None, 0),
    ("SIM00001", "2024-03-03", V, JNIM, CIV, 2),  # the Sunday before T0
    ("SIM00006", "2024-03-04", B, FAMA, IS, 1),  # T0's Monday
    ("SIM00002", "2024-03-20", E, IS, FAMA, 7),
    ("SIM00005", "2024-04-09", B, JNIM, FRANCE, 3),
    ("SIM00001", "2024-05-05", V, DOGON, CIV, 5),  # the Sunday before T
]

#: Events dated on or after T: none may change any row of the table built for T.
LATER = [
    ("SIM00001", "2024-05-06", B, JNIM, FAMA, 30),  # T's Monday
    ("SIM00002", "2024-05-12", V, DOGON, CIV, 8),  # T's Sunday
    ("SIM00005", "2024-06-01", B, IS, FRANCE, 50),
    ("SIM00003", "2025-01-01", P, "Protesters (Mali)", None, 0),
]


def make_events(rows, first_id: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["district_code", "event_date", "event_type", "actor1", "actor2", "fatalities"])
    events = conform(frame.assign(
        event_id=[f"P{first_id + i}" for i in range(len(frame))], source="acled", country_iso3="SIM",
        event_date=pd.to_datetime(frame["event_date"]),
        latitude=8.1, longitude=-11.9,
    ))
    return events.assign(district_code=frame["district_code"].astype("string"))


def deployments() -> pd.DataFrame:
    rows = [
        ("d1", "France (Barkhane)", "foreign combat", "SIM00002", "2023-06-01", None),
        ("d2", "MINUSMA", "peacekeeping", "SIM00005", "2024-02-10", "2024-04-20"),  # arrives before T0, leaves before T
        ("d3", "Wagner Group", "private military", "SIM00003", "2024-03-20", None),  # arrives between T0 and T
    ]
    frame = pd.DataFrame(rows, columns=["deployment_id", "force", "kind", "district_code", "start", "end"])
    return frame.assign(start=pd.to_datetime(frame["start"]).astype("datetime64[s]"),
                        end=pd.to_datetime(frame["end"]).astype("datetime64[s]"),
                        latitude=pd.array([8.1, 8.3, 8.1], dtype="Float64"),
                        longitude=pd.array([-11.7, -11.7, -11.5], dtype="Float64"))


def calendar() -> pd.DataFrame:
    rows = [
        ("2024-01-20", "coup", False, None),
        ("2024-03-25", "coup", False, None),  # between T0 and T
        ("2024-06-30", "election", True, "2024-03-10"),  # announced between T0 and T, held after T
        ("2024-04-15", "sanctions", False, None),
    ]
    frame = pd.DataFrame(rows, columns=["date", "kind", "scheduled", "announced_on"])
    return frame.assign(date=pd.to_datetime(frame["date"]).astype("datetime64[s]"),
                        announced_on=pd.to_datetime(frame["announced_on"]).astype("datetime64[s]"),
                        scheduled=frame["scheduled"].astype("boolean"), event=frame["kind"], source_note="test")


@pytest.fixture(scope="module")
def gazetteer():
    return Gazetteer.synthetic(6)


@pytest.fixture(scope="module")
def registries():
    return Registries(load_actor_families(), forces=deployments(), calendar=calendar())


def build(events, gazetteer, registries, forecast_week):
    config = FeatureConfig(horizons=(1, 4), major_military_targets=True)
    return build_feature_table(events, gazetteer, start=START, forecast_week=forecast_week, config=config,
                               registries=registries)


def test_the_registries_add_their_features(gazetteer, registries):
    table = build(make_events(EVENTS), gazetteer, registries, T)
    families = set(table.catalog["family"])
    assert {"foreign_presence", "political_calendar", "perpetrators", "neighbours", "national"} <= families


def test_events_on_or_after_the_forecast_week_change_nothing(gazetteer, registries):
    base = build(make_events(EVENTS), gazetteer, registries, T)
    more = make_events(EVENTS + LATER).sample(frac=1.0, random_state=3)  # shuffled as well
    extended = build(more, gazetteer, registries, T)
    assert extended.n_events_used == base.n_events_used == len(EVENTS)
    pd.testing.assert_frame_equal(extended.frame, base.frame)
    assert extended.forecast_week == extended.data_cutoff == T
    assert extended.frame["week_start"].max() == T
    for name, weekly in extended.panel.measures.items():  # the panel's forecast-week column knows nothing
        assert (weekly[:, -1] == 0).all(), name
        np.testing.assert_array_equal(weekly, base.panel.measures[name])


def test_features_of_earlier_weeks_do_not_depend_on_the_forecast_week(gazetteer, registries):
    events = make_events(EVENTS + LATER)
    early, late = build(events, gazetteer, registries, T0), build(events, gazetteer, registries, T)
    assert early.feature_names == late.feature_names
    rows = late.frame["week_start"] <= T0
    assert rows.sum() == len(early.frame) == 6 * 10
    features = early.feature_names
    got = late.frame.loc[rows, features].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, early.frame[features])
    # and the later table did see more: the check is not vacuous
    assert (late.frame.loc[~rows, "violent_events_sum_w52"] > early.frame["violent_events_sum_w52"].max()).any()
    assert late.frame.loc[~rows, "pol_weeks_until_election"].min() < early.frame["pol_weeks_until_election"].min()


def test_the_forecast_week_row_sees_the_sunday_before_but_not_its_own_monday(gazetteer, registries):
    table = build(make_events(EVENTS + LATER), gazetteer, registries, T0)
    row = table.forecast_rows().set_index("district_code")
    assert len(row) == 6
    assert row.loc["SIM00001", "violent_events_sum_w1"] == 1  # 2024-03-03, a Sunday
    assert row.loc["SIM00006", "violent_events_sum_w52"] == 0  # 2024-03-04 is T0's Monday: not yet known
    targets = table.frame[table.targets]
    assert targets[table.frame["week_start"] == T0].isna().all().all()
    last_h1 = table.frame["week_start"] == T0 - pd.Timedelta(weeks=1)
    assert targets.loc[last_h1, "target_violent_events_h1"].notna().all()
    assert targets.loc[last_h1, "target_violent_events_h4"].isna().all()


def test_targets_of_early_weeks_are_final_once_observed(gazetteer, registries):
    events = make_events(EVENTS + LATER)
    early, late = build(events, gazetteer, registries, T0), build(events, gazetteer, registries, T)
    observed = early.frame["target_violent_events_h4"].notna().to_numpy()
    rows = (late.frame["week_start"] <= T0).to_numpy()
    for target in early.targets:
        mask = early.frame[target].notna().to_numpy()
        later_values = late.frame.loc[rows, target].to_numpy()[mask]
        np.testing.assert_array_equal(later_values, early.frame[target].to_numpy()[mask])
    assert observed.sum() == 6 * (10 - 1 - 3)
