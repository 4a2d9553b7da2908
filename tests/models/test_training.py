"""Tests of models/training.py: the hazard models' positive cases are counted and too few refuse training."""

import pandas as pd
import pytest

from features.gazetteer import Gazetteer
from features.measures import MajorAttackRule
from features.schema import conform
from features.table import FeatureConfig, build_feature_table
from models.training import TooFewMajorAttacks, check_major_attacks, major_attack_weeks

JNIM = "JNIM: Group for Support of Islam and Muslims"
FAMA = "Military Forces of Mali (2021-)"
EVENTS = [  # (district, date, deaths): weeks 0, 2, 2, 4 from 2024-01-01
    ("SIM00001", "2024-01-02", 1),
    ("SIM00002", "2024-01-17", 7),
    ("SIM00002", "2024-01-18", 9),  # the same district-week again: one positive week, not two
    ("SIM00003", "2024-01-30", 5),
]


@pytest.fixture(scope="module")
def table():
    frame = pd.DataFrame(EVENTS, columns=["district_code", "event_date", "fatalities"])
    events = conform(frame.assign(event_id=[f"U{i}" for i in range(len(frame))], source="ucdp",
                                  event_date=pd.to_datetime(frame["event_date"]), event_type="Battles",
                                  actor1=JNIM, actor2=FAMA))
    events = events.assign(district_code=frame["district_code"].astype("string"))
    return build_feature_table(events, Gazetteer.synthetic(4), start="2024-01-01", forecast_week="2024-02-19",
                               config=FeatureConfig(horizons=(1,)))


def test_major_attack_weeks_count_district_weeks_from_the_panel_start(table):
    assert major_attack_weeks(table, pd.Timestamp("2024-01-01")) == 2
    assert major_attack_weeks(table, pd.Timestamp("2024-01-22")) == 1  # week 2 is before the panel start


def test_enough_major_attacks_returns_the_count(table):
    assert check_major_attacks(table, pd.Timestamp("2024-01-01"), 2, "ucdp") == 2


def test_too_few_major_attacks_refuse_with_the_definition_and_the_fix(table):
    with pytest.raises(TooFewMajorAttacks) as info:
        check_major_attacks(table, pd.Timestamp("2024-01-01"), 3, "ucdp")
    message = str(info.value)
    assert message.startswith("only 2 district-weeks with a major attack (violent events with 5 or more fatalities")
    assert "UCDP's best estimate of deaths" in message and "at least 3" in message
    assert "VIGIE_MAJOR_ATTACK__MIN_FATALITIES" in message and "nothing trained or published" in message


def test_the_definition_names_each_sources_deaths():
    rule = MajorAttackRule(min_fatalities=5)
    assert "ACLED's reported fatalities" in rule.definition("acled")
    assert "`best`" in rule.definition("ucdp")
    assert rule.definition("gdelt").endswith("the gdelt events' fatalities")
