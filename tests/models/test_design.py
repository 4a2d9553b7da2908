"""Design helpers: selections resolved against a catalog, log terms and rate divisors from the specs' facts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.attacks import window_spec
from features.forces import FAMILY_PRESENCE
from features.seasonality import RAINY_SEASON, SEASON_COS, SEASON_SIN
from features.spec import FeatureSpec, Select
from models.design import log_features, rate_divisor, resolve_features

SUM4 = window_spec("violent_events", "sum", window=4)
SUM13 = window_spec("violent_events", "sum", window=13)
NBR52 = window_spec("violent_events", "sum", scope="neighbours", window=52, family="neighbours")
EWM1 = window_spec("violent_events", "ewm", half_life=1)
EWM4 = window_spec("violent_events", "ewm", half_life=4)
TREND = window_spec("violent_events", "trend", window=52, short=4, family="trend", unit="log ratio")
WEEKS_SINCE = window_spec("violent_events", "weeks_since", unit="weeks")
BASE_CLOSED = FeatureSpec("ff_base_closed_w13", FAMILY_PRESENCE, "a force left", "indicator", 13,
                          measure="any_force_departures", scope="own", statistic="any")
CATALOG = [SUM4, SUM13, EWM1, EWM4, NBR52, TREND, WEEKS_SINCE, BASE_CLOSED, SEASON_SIN, SEASON_COS, RAINY_SEASON]


def test_log_features_leave_trends_and_seasons_alone():
    specs = [SUM4, SEASON_SIN, RAINY_SEASON, TREND, WEEKS_SINCE, BASE_CLOSED]
    assert log_features(specs) == ["violent_events_sum_w4", "weeks_since_violent_events", "ff_base_closed_w13"]


def test_rate_divisors_turn_history_features_into_weekly_rates():
    assert rate_divisor(SUM13) == 13.0
    assert rate_divisor(NBR52) == 52.0
    assert rate_divisor(EWM1) == pytest.approx(2.0)
    assert rate_divisor(EWM4) == pytest.approx(1.0 / (1.0 - 0.5 ** 0.25))
    assert rate_divisor(WEEKS_SINCE) == 1.0
    # a constant weekly count x has decayed sum x * divisor: the rate is x again
    weeks = np.arange(2000)
    decayed = np.sum(3.0 * 0.5 ** (weeks / 13.0))
    assert decayed / rate_divisor(window_spec("x", "ewm", half_life=13)) == pytest.approx(3.0)


def test_a_selection_keeps_its_order_takes_specs_as_given_and_notes_what_is_missing():
    extra = FeatureSpec("not_in_catalog", "test", "given by hand", "events")
    selection = [Select(statistic="weeks_since"), Select(measure="violent_events", statistic="sum", scope="own"),
                 extra, Select(measure="fatalities"), Select(statistic="weeks_since")]
    specs, notes = resolve_features(selection, CATALOG)
    assert [s.name for s in specs] == ["weeks_since_violent_events", "violent_events_sum_w4", "violent_events_sum_w13",
                                       "not_in_catalog"]
    assert len(notes) == 1 and "fatalities" in notes[0]
    with pytest.raises(TypeError):
        resolve_features(["violent_events_sum_w4"], CATALOG)  # names are not selections
    with pytest.raises(TypeError):
        resolve_features([Select(statistic="sum")], ["violent_events_sum_w4"])  # nor a catalog


def test_a_fitted_design_does_not_read_the_features_it_dropped():
    from models.design import LinearDesign

    X = pd.DataFrame({"a": np.arange(20.0), "constant": np.zeros(20)})
    design = LinearDesign(["a", "constant"], []).fit(X)
    assert design.features_ == ["a"]
    np.testing.assert_allclose(design.transform(X[["a"]]), design.transform(X))  # 'constant' need not be there
