"""The feature catalog's selection API: names generated from facts, selection by facts, never by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.attacks import (
    STATISTICS,
    WindowSet,
    window_features,
    window_name,
    window_spec,
)
from features.panel import Panel
from features.spatial import SCOPE_PREFIXES, Scope
from features.spec import AnyOf, FeatureSpec, Select, catalog, select


def tiny_panel() -> Panel:
    weeks = pd.DatetimeIndex(pd.date_range("2020-01-06", periods=6, freq="7D"), name="week_start")
    districts = pd.Index(["D0", "D1"], dtype="string", name="district_code")
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    return Panel(districts, weeks, {"violent_events": x, "fatalities": 2 * x},
                 {"violent_events": ("violent events", "events"), "fatalities": ("fatalities", "deaths")})


RECIPE = (
    WindowSet("recent_attacks", ("violent_events", "fatalities"), windows=(1, 4), half_lives=(2.5,), lags=(1,)),
    WindowSet("neighbours", ("violent_events",), "neighbours", windows=(4,)),
    WindowSet("time_since", ("violent_events",), weeks_since=True),
    WindowSet("trend", ("violent_events",), trends=((1, 4),)),
)


@pytest.fixture(scope="module")
def block():
    scopes = {"own": Scope("own", "", "in the district"),
              "neighbours": Scope("neighbours", "nbr_", "in the neighbours", None)}
    return window_features(tiny_panel(), RECIPE, scopes)


def test_every_windowed_spec_carries_the_facts_its_name_is_generated_from(block):
    for spec in block.specs:
        assert spec.statistic in STATISTICS and spec.scope in SCOPE_PREFIXES
        assert spec.measure in ("violent_events", "fatalities")
        assert spec.name == window_name(spec.measure, spec.statistic, scope=spec.scope, window=spec.window_weeks,
                                        half_life=spec.half_life_weeks, short=spec.short_window_weeks)
    specs = {s.name: s for s in block.specs}
    ewm, trend = specs["violent_events_ewm_hl2.5"], specs["violent_events_trend_w1_w4"]
    nbr = specs["nbr_violent_events_sum_w4"]
    assert ewm.half_life_weeks == 2.5 and ewm.window_weeks is None
    assert trend.short_window_weeks == 1 and trend.window_weeks == 4
    assert nbr.scope == "neighbours" and nbr.family == "neighbours"
    assert specs["weeks_since_violent_events"].statistic == "weeks_since"
    facts = {"measure", "scope", "statistic", "half_life_weeks", "short_window_weeks"}
    assert facts <= set(catalog(block.specs).columns)


def test_window_spec_builds_the_same_facts_by_hand(block):
    built = {s.name: s for s in block.specs}
    by_hand = window_spec("violent_events", "sum", scope="neighbours", window=4, family="neighbours")
    got = built[by_hand.name]
    assert (got.measure, got.scope, got.statistic, got.window_weeks, got.family) == (
        by_hand.measure, by_hand.scope, by_hand.statistic, by_hand.window_weeks, by_hand.family)
    assert window_name("fatalities", "lag", window=3) == "fatalities_lag3"
    assert window_name("major_attacks", "weeks_since", scope="kernel") == "weeks_since_kernel_major_attacks"
    with pytest.raises(ValueError):
        window_name("violent_events", "sum")  # a sum needs its window
    with pytest.raises(ValueError):
        window_name("violent_events", "median", window=4)
    with pytest.raises(ValueError):
        window_name("violent_events", "sum", scope="region", window=4)


def test_select_by_facts_in_catalog_order(block):
    specs = block.specs
    names = lambda found: [s.name for s in found]  # noqa: E731
    assert names(select(specs, measure="violent_events", statistic="sum", scope="own")) == [
        "violent_events_sum_w1", "violent_events_sum_w4"]
    assert names(select(specs, statistic="sum", windows=4)) == [
        "violent_events_sum_w4", "fatalities_sum_w4", "nbr_violent_events_sum_w4"]
    assert names(select(specs, statistic="ewm", half_lives=2.5)) == ["violent_events_ewm_hl2.5", "fatalities_ewm_hl2.5"]
    assert names(select(specs, family=("time_since", "trend"))) == ["weeks_since_violent_events",
                                                                    "violent_events_trend_w1_w4"]
    assert select(specs, measure="no_such_measure") == []
    assert select(specs) == list(specs)


def test_several_selectors_keep_their_order_and_any_of_keeps_the_catalog_order(block):
    specs = block.specs
    weeks_since, own_sum4 = Select(statistic="weeks_since"), Select(scope="own", statistic="sum", windows=4)
    assert [s.name for s in select(specs, weeks_since, own_sum4, weeks_since)] == [
        "weeks_since_violent_events", "violent_events_sum_w4", "fatalities_sum_w4"]
    assert [s.name for s in select(specs, AnyOf(weeks_since, own_sum4))] == [
        "violent_events_sum_w4", "fatalities_sum_w4", "weeks_since_violent_events"]
    assert AnyOf(weeks_since, own_sum4) == AnyOf(weeks_since, own_sum4)


def test_selectors_never_look_at_names():
    disguised = FeatureSpec("violent_events_sum_w4", "test", "a column named like a window sum", "events")
    assert select([disguised], measure="violent_events") == []
    assert select([disguised], windows=4) == []
    assert Select(windows=4) == Select(windows=(4,)) and Select(half_lives=4) == Select(half_lives=(4.0,))
    assert "violent_events" in str(Select(measure="violent_events", windows=(4, 13)))
