import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from features.attacks import WindowSet, recent_attack_features, window_features
from features.panel import Panel
from features.spatial import Scope

# 3 districts x 6 weeks; districts 0 and 1 are neighbours, 2 is alone
VIOLENT = np.array([[1, 0, 2, 0, 0, 3], [0, 0, 0, 4, 0, 0], [0, 1, 0, 0, 0, 0]], dtype=np.float32)
DEATHS = np.array([[0, 0, 5, 0, 0, 1], [0, 0, 0, 9, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=np.float32)


@pytest.fixture
def panel():
    return Panel(
        pd.Index(["A", "B", "C"], dtype="string"),
        pd.DatetimeIndex(pd.date_range("2024-01-01", periods=6, freq="7D")),
        {"violent_events": VIOLENT, "fatalities": DEATHS},
        {"violent_events": ("violent events", "events"), "fatalities": ("fatalities", "deaths")},
    )


@pytest.fixture
def scopes():
    adjacency = sparse.csr_matrix(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float32))
    return {
        "own": Scope("own", "", "in the district"),
        "neighbours": Scope("neighbours", "nbr_", "summed over the neighbours", adjacency),
        "national": Scope("national", "national_", "in the country"),
    }


def test_names_values_and_specs_follow_the_recipe(panel, scopes):
    recipe = [
        WindowSet("recent", ("violent_events", "fatalities"), windows=(2,), half_lives=(1,), lags=(1,)),
        WindowSet("nbr", ("violent_events",), "neighbours", windows=(2,), weeks_since=True),
        WindowSet("nat", ("fatalities",), "national", windows=(3,)),
    ]
    block = window_features(panel, recipe, scopes, weeks_since_cap=9)
    assert block.names == [
        "violent_events_sum_w2", "violent_events_ewm_hl1", "violent_events_lag1",
        "fatalities_sum_w2", "fatalities_ewm_hl1", "fatalities_lag1",
        "nbr_violent_events_sum_w2", "weeks_since_nbr_violent_events",
        "national_fatalities_sum_w3",
    ]
    assert sum(row.feature_count() for row in recipe) == len(block.names)
    v = block.values
    np.testing.assert_array_equal(v["violent_events_sum_w2"][0], [0, 1, 1, 2, 2, 0])
    np.testing.assert_array_equal(v["violent_events_lag1"][1], [0, 0, 0, 0, 4, 0])
    np.testing.assert_allclose(v["fatalities_ewm_hl1"][0], [0, 0, 0, 5, 2.5, 1.25])
    # the neighbour of A is B and vice versa; C has none
    np.testing.assert_array_equal(v["nbr_violent_events_sum_w2"], [[0, 0, 0, 0, 4, 4], [0, 1, 1, 2, 2, 0], [0] * 6])
    np.testing.assert_array_equal(v["weeks_since_nbr_violent_events"][0], [9, 9, 9, 9, 1, 2])
    # national totals are the same for every district
    national = [0, 0, 0, 5, 14, 14]  # weekly national deaths: 0 0 5 9 0 1
    np.testing.assert_array_equal(v["national_fatalities_sum_w3"], [national] * 3)
    specs = {s.name: s for s in block.specs}
    assert specs["violent_events_sum_w2"].window_weeks == 2
    assert specs["violent_events_sum_w2"].alignment == "events dated in [week_start - 2 weeks, week_start)"
    assert "2 weeks before week_start" in specs["violent_events_sum_w2"].description
    assert specs["fatalities_lag1"].unit == "deaths"
    assert specs["weeks_since_nbr_violent_events"].unit == "weeks"
    assert specs["national_fatalities_sum_w3"].family == "nat"
    assert all(value.dtype == np.float32 and value.shape == (3, 6) for value in v.values())


def test_trend_compares_weekly_rates(panel, scopes):
    block = window_features(panel, [WindowSet("trend", ("violent_events",), trends=((1, 4),))], scopes,
                            trend_offset=0.5)
    trend = block.values["violent_events_trend_w1_w4"][0]
    # week 3: last week 2 events, last 4 weeks 3 events
    assert trend[3] == pytest.approx(np.log((2 + 0.5) / (3 / 4 + 0.5)), rel=1e-6)
    assert trend[0] == 0
    assert block.specs[0].unit == "log ratio"


def test_recipe_errors(panel, scopes):
    with pytest.raises(ValueError, match="not in the panel"):
        window_features(panel, [WindowSet("x", ("battles",), windows=(4,))], scopes)
    with pytest.raises(ValueError, match="scope 'kernel'"):
        window_features(panel, [WindowSet("x", ("violent_events",), "kernel", windows=(4,))], scopes)
    with pytest.raises(ValueError, match="scope must be"):
        WindowSet("x", ("violent_events",), "region")
    with pytest.raises(ValueError, match=">= 1"):
        WindowSet("x", ("violent_events",), windows=(0,))
    with pytest.raises(ValueError, match="short < long"):
        WindowSet("x", ("violent_events",), trends=((13, 4),))
    with pytest.raises(ValueError, match="defined twice"):
        window_features(panel, [WindowSet("x", ("violent_events",), windows=(4,))] * 2, scopes)


def test_recent_attack_features_keeps_the_former_names(panel):
    block = recent_attack_features(panel, ["violent_events", "fatalities"], windows=(4, 13), half_lives=(4,),
                                   weeks_since_measures=("violent_events",))
    assert block.names == ["violent_events_sum_w4", "violent_events_sum_w13", "violent_events_ewm_hl4",
                           "fatalities_sum_w4", "fatalities_sum_w13", "fatalities_ewm_hl4",
                           "weeks_since_violent_events"]
