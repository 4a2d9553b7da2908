"""Baselines: means, distributions and history read back against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from features.panel import Panel
from features.table import FeatureTable
from models.baselines import (
    Conflictology,
    DistrictHistoryRule,
    HazardBaseRate,
    LastWeek,
    RollingMean,
    Zero,
    attach_history,
    fit_nb_dispersion,
    history_columns,
    recent_history,
    window_sum,
)
from models.distributions import Empirical, NegativeBinomial
from models.protocol import CountModel, HazardModel


def tiny_table(x: np.ndarray, start: str = "2020-01-06") -> FeatureTable:
    """A FeatureTable over the weekly counts ``x`` (districts D0.. x weeks); only the panel and keys matter."""
    n_d, n_w = x.shape
    weeks = pd.DatetimeIndex(pd.date_range(start, periods=n_w, freq="7D").astype("datetime64[s]"), name="week_start")
    districts = pd.Index([f"D{i}" for i in range(n_d)], dtype="string", name="district_code")
    panel = Panel(districts, weeks, {"violent_events": np.asarray(x, dtype=np.float32)})
    return FeatureTable(panel.long_index(), [], [], weeks[-1] + pd.Timedelta(days=7), panel)


X3 = pd.DataFrame({
    "district_code": ["A", "B", "C"],
    "violent_events_lag1": [0.0, 2.0, 5.0],
    "violent_events_sum_w4": [4.0, 0.0, 10.0],
    "violent_events_sum_w13": [13.0, 0.0, 26.0],
})


def test_every_baseline_follows_the_protocol():
    for model in (Zero(1), LastWeek(1), RollingMean(1, 4), Conflictology(1)):
        assert isinstance(model, CountModel)
    assert isinstance(HazardBaseRate(4), HazardModel)


def test_last_week_is_poisson_around_last_week_times_horizon():
    dist = LastWeek(4).fit(X3, np.zeros(3)).predict(X3)
    assert isinstance(dist, NegativeBinomial)
    np.testing.assert_allclose(dist.mean, [1e-9, 8.0, 20.0])
    np.testing.assert_allclose(dist.cdf(0), np.exp(-np.array([1e-9, 8.0, 20.0])))


def test_rolling_mean_divides_the_window_sum_and_scales_by_horizon():
    np.testing.assert_allclose(RollingMean(1, 13).fit(X3, np.zeros(3)).predict(X3).mean, [1.0, 1e-9, 2.0])
    np.testing.assert_allclose(RollingMean(4, 4).fit(X3, np.zeros(3)).predict(X3).mean, [4.0, 1e-9, 10.0])
    assert RollingMean(1, 13).name == "mean_13"
    with pytest.raises(KeyError, match="sum_w52"):
        RollingMean(1, 52).predict(X3)


def test_window_sum_prefers_the_feature_column_then_the_lags():
    X = pd.DataFrame({"violent_events_sum_w2": [5.0], "violent_events_lag1": [1.0], "violent_events_lag2": [2.0]})
    assert window_sum(X, 2).tolist() == [5.0]
    assert window_sum(X.drop(columns="violent_events_sum_w2"), 2).tolist() == [3.0]
    assert window_sum(X, 1).tolist() == [1.0]
    X1 = pd.DataFrame({"violent_events_sum_w1": [4.0], "violent_events_lag1": [9.0]})
    assert LastWeek(2).predict(X1).mean.tolist() == [8.0]  # the feature column wins
    with pytest.raises(KeyError, match="sum_w3"):
        window_sum(X, 3)


def test_zero_is_a_point_mass_at_zero():
    dist = Zero(4).fit(X3, np.zeros(3)).predict(X3)
    y = np.array([0.0, 1.0, 7.0])
    np.testing.assert_allclose(dist.crps(y), y, atol=1e-6)
    assert (dist.prob_at_least(1) < 1e-8).all()
    assert (dist.quantile(0.95) == 0).all()


def test_nb_dispersion_is_recovered_and_poisson_data_gives_almost_none():
    rng = np.random.default_rng(1)
    mu = rng.uniform(0.5, 5.0, 20_000)
    alpha = 0.5
    y = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu))
    assert fit_nb_dispersion(mu, y) == pytest.approx(alpha, abs=0.05)
    assert fit_nb_dispersion(mu, rng.poisson(mu)) < 0.02
    X = pd.DataFrame({"violent_events_sum_w4": 4 * mu})
    model = RollingMean(1, 4, dispersion="nb").fit(X, y)
    assert model.name == "mean_4_nb" and model.alpha_ == pytest.approx(alpha, abs=0.05)
    np.testing.assert_allclose(model.predict(X).cdf(0), stats.nbinom.pmf(0, 1 / model.alpha_, 1 / (1 + model.alpha_ * mu)))


def test_recent_history_is_lag_ordered_and_zero_before_the_panel():
    x = np.arange(12, dtype=float).reshape(2, 6)  # D0: 0..5, D1: 6..11
    table = tiny_table(x)
    rows = pd.DataFrame({"district_code": ["D1", "D0"], "week_start": table.panel.weeks[[3, 5]]})
    np.testing.assert_array_equal(recent_history(table, rows, weeks=5), [[8, 7, 6, 0, 0], [4, 3, 2, 1, 0]])
    with pytest.raises(KeyError):
        recent_history(table, pd.DataFrame({"district_code": ["ZZ"], "week_start": table.panel.weeks[:1]}))


def test_attach_history_adds_lag_columns_and_replaces_existing_ones():
    table = tiny_table(np.array([[1.0, 2.0, 3.0]]))
    rows = table.frame.assign(violent_events_lag1=-1.0)
    out = attach_history(table, rows, weeks=2)
    assert history_columns(2) == ["violent_events_lag1", "violent_events_lag2"]
    assert list(out.columns) == ["district_code", "week_start", "violent_events_lag1", "violent_events_lag2"]
    np.testing.assert_array_equal(out["violent_events_lag1"], [0, 1, 2])
    np.testing.assert_array_equal(out["violent_events_lag2"], [0, 0, 1])


def test_conflictology_weekly_samples_and_crps_by_hand():
    X = pd.DataFrame({"violent_events_lag1": [1.0], "violent_events_lag2": [0.0], "violent_events_lag3": [3.0],
                      "violent_events_lag4": [0.0]})
    model = Conflictology(1, windows=4).fit(X, np.zeros(1))
    dist = model.predict(X)
    assert isinstance(dist, Empirical) and model.history_weeks == 4
    np.testing.assert_array_equal(dist.samples, [[0, 0, 1, 3]])
    # E|X - 2| = (2 + 2 + 1 + 1) / 4 = 1.5 ; E|X - X'| = 20 / 16 = 1.25 ; CRPS = 1.5 - 1.25 / 2
    np.testing.assert_allclose(dist.crps(np.array([2.0])), [0.875])
    assert dist.prob_at_least(1)[0] == pytest.approx(0.5)


def test_conflictology_sums_the_last_windows_of_h_weeks():
    X = pd.DataFrame({f"violent_events_lag{k}": [v] for k, v in zip(range(1, 5), [1.0, 0.0, 3.0, 0.0])})
    model = Conflictology(2, windows=3)
    assert model.history_weeks == 4
    # windows: lags 1-2 -> 1, lags 2-3 -> 3, lags 3-4 -> 3
    np.testing.assert_array_equal(model.samples(X), [[1, 3, 3]])
    with pytest.raises(KeyError, match="attach_history"):
        Conflictology(2, windows=4).predict(X)


def test_hazard_base_rate_overall_and_shrunk_per_district():
    X = pd.DataFrame({"district_code": ["A", "A", "B", "B"]})
    event = np.array([1.0, 1.0, 0.0, 0.0])
    assert HazardBaseRate(4).fit(X, event).predict_proba(X.iloc[:1]).tolist() == [0.5]
    per = HazardBaseRate(4, per_district=True, prior_rows=2).fit(X, event)
    new = pd.DataFrame({"district_code": ["A", "B", "C"]})
    # A: (2 + 2 * 0.5) / (2 + 2) = 0.75 ; B: (0 + 1) / 4 = 0.25 ; unseen C: the overall 0.5
    np.testing.assert_allclose(per.predict_proba(new), [0.75, 0.25, 0.5])


def test_district_history_is_the_share_of_windows_with_a_major_attack_in_the_last_weeks():
    # lags 1..8 of one district: a major attack 2 weeks and 7 weeks before week_start
    lags = [0, 1, 0, 0, 0, 0, 1, 0]
    X = pd.DataFrame({f"major_attacks_lag{k}": [float(v), 0.0] for k, v in zip(range(1, 9), lags)})
    rule = DistrictHistoryRule(4, weeks=8).fit(X, np.zeros(2))
    assert rule.history_measure == "major_attacks" and rule.history_weeks == 8
    assert rule.input_columns() == [f"major_attacks_lag{k}" for k in range(1, 9)]
    # five 4-week windows: lags 1-4 (yes), 2-5 (yes), 3-6 (no), 4-7 (yes), 5-8 (yes)
    np.testing.assert_allclose(rule.predict_proba(X), [4 / 5, 0.0])
    with pytest.raises(ValueError, match="horizon"):
        DistrictHistoryRule(9, weeks=8)


def test_the_district_history_rule_reads_its_lags_from_the_major_attack_panel():
    table = tiny_table(np.zeros((1, 6)))
    table.panel.measures["major_attacks"] = np.array([[0, 1, 0, 0, 0, 0]], dtype=np.float32)
    rows = table.frame.iloc[[5]]
    X = attach_history(table, rows, 4, "major_attacks")
    # week 5's last 4 weeks are weeks 1..4: the attack of week 1 is in the window of lags 1-4 only
    np.testing.assert_allclose(DistrictHistoryRule(4, weeks=4).predict_proba(X), [1.0])
    np.testing.assert_allclose(DistrictHistoryRule(2, weeks=4).predict_proba(X), [1 / 3])
