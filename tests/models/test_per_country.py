"""Per-country fits of a recipe against the pooled fit, on a simulated region of two fictional countries."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.country import country_roots, load_country
from features.gazetteer import Gazetteer
from features.ingest import simulated_country
from features.sources.detect import read_events
from features.sources.simulator import simulate_region, write_simulation
from features.table import FeatureConfig, Registries, build_feature_table
from models import suite
from models.backtest import BacktestConfig, run_backtest
from models.distributions import ByRows, NegativeBinomial

ROOTS = country_roots(Path(__file__).resolve().parents[1] / "fixtures" / "countries")


def test_by_rows_is_each_row_s_own_distribution():
    a, b = NegativeBinomial(np.array([0.5, 2.0]), 0.3), NegativeBinomial(np.array([4.0]), 1.0)
    whole = ByRows([a, b], [np.array([2, 0]), np.array([1])])
    y = np.array([1.0, 3.0, 0.0])
    assert np.allclose(whole.mean, [2.0, 4.0, 0.5])
    y_of_a = np.array([0.0, 1.0])  # a's rows are the whole's rows 2 and 0
    assert np.allclose(whole.cdf(y), [a.cdf(y_of_a)[1], b.cdf(3.0)[0], a.cdf(y_of_a)[0]])
    assert np.allclose(whole.crps(y), [a.crps(y_of_a)[1], b.crps(np.array([3.0]))[0], a.crps(y_of_a)[0]])
    assert np.allclose(whole.quantile(0.9), [a.quantile(0.9)[1], b.quantile(0.9)[0], a.quantile(0.9)[0]])


@pytest.fixture(scope="module")
def region_table(tmp_path_factory):
    members = [load_country(iso3, ROOTS) for iso3 in ("XAA", "XAB")]
    region = Gazetteer.combine([Gazetteer.load(c.iso3, c.root) for c in members])
    result = simulate_region(region.districts, region.neighbours, {c.iso3: simulated_country(c) for c in members},
                             start=date(2014, 1, 6), end=date(2019, 12, 29), seed=5,
                             district_countries=region.district_countries)
    events = read_events(write_simulation(result, tmp_path_factory.mktemp("region"))["events"])
    events = events.assign(district_code=region.assign(events)["district_code"])
    registries = Registries.combine({c.iso3: Registries.load(c) for c in members})
    return build_feature_table(events, region, start="2014-01-06", forecast_week="2019-12-30",
                               config=FeatureConfig(horizons=(1, 4)), registries=registries)


def test_the_region_s_table_has_the_country_indicators(region_table):
    frame = region_table.frame
    assert {"country_xaa", "country_xab"} <= set(region_table.feature_names)
    assert frame.loc[frame["district_code"].str.startswith("XB"), "country_xab"].eq(1).all()
    assert frame.loc[frame["district_code"].str.startswith("XA"), "country_xab"].eq(0).all()


def test_a_per_country_fit_forecasts_each_row_with_its_own_country_s_model(region_table):
    rows = region_table.frame[region_table.frame["target_violent_events_h4"].notna()]
    y = rows["target_violent_events_h4"].to_numpy()
    per_country = suite.count_spec("hawkes_nb_per_country", 4, region_table.specs).factory().fit(rows, y)
    bellmark = rows["district_code"].str.startswith("XB").to_numpy()
    alone = suite.count_spec("hawkes_nb", 4, region_table.specs).factory().fit(rows[bellmark], y[bellmark])
    pooled = suite.count_spec("hawkes_nb", 4, region_table.specs).factory().fit(rows, y)
    mixed = rows.iloc[np.r_[np.flatnonzero(bellmark)[:5], np.flatnonzero(~bellmark)[:5]]]
    got = per_country.predict(mixed).mean
    assert np.allclose(got[:5], alone.predict(mixed.iloc[:5]).mean)
    assert not np.allclose(got[:5], pooled.predict(mixed.iloc[:5]).mean)
    assert {"country_xaa", "country_xab"} <= set(per_country.input_columns())
    terms = per_country.contributions(mixed)
    assert terms.index.equals(mixed.index)


def test_the_backtest_compares_pooled_and_per_country_models(region_table):
    names = suite.regional_candidates(("hawkes_nb", "hawkes_nb_country"), n_countries=2)
    assert names == ("hawkes_nb", "hawkes_nb_country", "hawkes_nb_per_country")
    assert suite.regional_candidates(("hawkes_nb",), n_countries=1) == ("hawkes_nb",)
    specs = [suite.count_spec(n, 4, region_table.specs) for n in ("mean_52", *names)]
    specs += [suite.hazard_spec(n, 4, region_table.specs) for n in ("base_rate", "hawkes_hazard",
                                                                    "hawkes_hazard_per_country")]
    result = run_backtest(region_table, specs, BacktestConfig(start="2018-01-01", end="2019-11-25", refit_every=26,
                                                              train_start="2014-01-06"))
    crps = result.metrics.query("metric == 'crps' and horizon == 4").set_index("model")["value"]
    assert set(names) <= set(crps.index) and np.isfinite(crps[list(names)]).all()
    brier = result.metrics.query("metric == 'brier'").set_index("model")["value"]
    assert {"hawkes_hazard", "hawkes_hazard_per_country"} <= set(brier.index)
    by_country = result.predictions.assign(country=result.predictions["district_code"].str[:2])
    assert set(by_country["country"]) == {"XA", "XB"}
    assert isinstance(crps, pd.Series)
