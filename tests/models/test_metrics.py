"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from models.distributions import NegativeBinomial
from models.metrics import (
    average_precision,
    bootstrap_skill,
    brier,
    count_scores,
    interval_coverage,
    log_loss,
    mae,
    metrics_by,
    missed_escalation_rate,
    per_origin_scores,
    quantile_column,
    reliability_table,
    rmse,
    roc_auc,
    skill,
    skill_table,
    summarize,
)


def test_mae_and_rmse_of_the_mean():
    mean, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 6.0])
    assert mae(mean, y) == pytest.approx(5 / 3)
    assert rmse(mean, y) == pytest.approx(math.sqrt(13 / 3))


def test_brier_and_log_loss():
    p, e = np.array([0.2, 0.9]), np.array([0.0, 1.0])
    assert brier(p, e) == pytest.approx((0.04 + 0.01) / 2)
    assert log_loss(p, e) == pytest.approx(-(math.log(0.8) + math.log(0.9)) / 2)
    assert np.isfinite(log_loss(np.array([0.0, 1.0]), np.array([1.0, 0.0])))


def test_average_precision_and_roc_auc():
    p, e = np.array([0.9, 0.8, 0.3, 0.1]), np.array([1.0, 0.0, 1.0, 0.0])
    # precision 1 at recall 1/2, then 2/3 at recall 1
    assert average_precision(p, e) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # positive > negative in 3 of the 4 pairs
    assert roc_auc(p, e) == pytest.approx(0.75)
    assert math.isnan(roc_auc(p, np.zeros(4))) and math.isnan(average_precision(p, np.zeros(4)))


def test_reliability_table_bins():
    p = np.array([0.05, 0.15, 0.12, 0.95, 1.0])
    e = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    t = reliability_table(p, e, n_bins=10)
    assert list(t.columns) == ["bin", "bin_lower", "bin_upper", "mean_predicted", "observed_frequency", "count"]
    assert t["count"].tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    np.testing.assert_allclose(t.loc[[0, 1, 9], "mean_predicted"], [0.05, 0.135, 0.975])
    np.testing.assert_allclose(t.loc[[0, 1, 9], "observed_frequency"], [0.0, 0.5, 1.0])
    assert t.loc[2, ["mean_predicted", "observed_frequency"]].isna().all()


def test_interval_coverage_inclusive_and_masked():
    lo, hi, y = np.array([0, 1, 2]), np.array([1, 3, 2]), np.array([1, 4, 2])
    assert interval_coverage(lo, hi, y) == pytest.approx(2 / 3)
    assert interval_coverage(lo, hi, y, np.array([True, True, False])) == pytest.approx(0.5)
    assert math.isnan(interval_coverage(lo, hi, y, np.zeros(3, bool)))


def test_missed_escalation_rate():
    mean, y = np.array([0.2, 3.0, 0.4, 0.1]), np.array([11.0, 12.0, 5.0, 20.0])
    assert missed_escalation_rate(mean, y) == pytest.approx(2 / 3)
    assert math.isnan(missed_escalation_rate(mean, np.full(4, 10.0)))  # > 10 is strict


def test_skill_and_bootstrap_interval():
    assert skill(0.9, 1.0) == pytest.approx(0.1)
    assert bootstrap_skill(np.array([0.9, 1.8]), np.array([1.0, 2.0])) == pytest.approx((0.1, 0.1, 0.1))
    # two origins: replicates are 0.5 (origin 1 twice, p = 1/4), 0 (p = 1/2) or -0.5 (p = 1/4)
    point, lo, hi = bootstrap_skill(np.array([1.0, 3.0]), np.array([2.0, 2.0]), n_boot=4000, level=0.9, seed=3)
    assert (point, lo, hi) == pytest.approx((0.0, -0.5, 0.5))
    assert bootstrap_skill(np.array([1.0, 3.0]), np.array([2.0, 2.0]), seed=3) == bootstrap_skill(
        np.array([1.0, 3.0]), np.array([2.0, 2.0]), seed=3)
    with pytest.raises(ValueError):
        bootstrap_skill(np.array([1.0]), np.array([1.0, 2.0]))


def test_count_scores_per_row():
    dist = NegativeBinomial(np.array([2.0, 0.5]), 0.0)
    out = count_scores(dist, np.array([0.0, 3.0]), np.random.default_rng(0))
    assert quantile_column(0.05) == "q05" and quantile_column(0.5) == "q50"
    np.testing.assert_allclose(out["p_event"], 1 - np.exp([-2.0, -0.5]))
    np.testing.assert_array_equal(out["event"], [0.0, 1.0])
    np.testing.assert_array_equal(out["q50"], stats.poisson.ppf(0.5, [2.0, 0.5]))
    # CRPS of a count distribution: sum over k >= 0 of (F(k) - 1{y <= k})^2
    k = np.arange(60)
    for i, (mu, y) in enumerate([(2.0, 0.0), (0.5, 3.0)]):
        assert out["crps"][i] == pytest.approx(np.sum((stats.poisson.cdf(k, mu) - (y <= k)) ** 2), rel=1e-6)
    np.testing.assert_allclose(out["log_score"], -stats.poisson.logpmf([0, 3], [2.0, 0.5]))
    assert 0 <= out["pit"][0] <= math.exp(-2.0)  # y = 0: PIT uniform on [0, F(0)]


def _rows() -> pd.DataFrame:
    return pd.DataFrame({
        "model": ["m"] * 4, "horizon": 1,
        "origin": pd.to_datetime(["2020-01-06", "2020-01-06", "2020-01-13", "2020-01-13"]),
        "active": [True, True, True, False],
        "y": [0.0, 2.0, 12.0, 1.0], "event": [0.0, 1.0, 1.0, 1.0], "p_event": [0.1, 0.6, 0.3, 0.5],
        "mean": [0.2, 1.0, 0.4, 1.0], "q05": [0.0, 0.0, 0.0, 0.0], "q10": [0.0, 1.0, 0.0, 0.0],
        "q25": [0.0, 1.0, 0.0, 0.0], "q75": [0.0, 2.0, 1.0, 2.0], "q90": [0.0, 2.0, 1.0, 2.0],
        "q95": [1.0, 3.0, 2.0, 3.0],
        "crps": [0.1, 0.5, 9.0, 0.4], "log_score": [0.2, 1.0, 20.0, 1.5], "pit": [0.1, 0.5, 1.0, 0.4],
    })


def test_summarize_one_group():
    s = summarize(_rows())
    assert s["n_rows"] == 4 and s["n_origins"] == 2 and s["event_rate"] == 0.75
    assert s["crps"] == pytest.approx(10.0 / 4)
    assert s["mae"] == pytest.approx((0.2 + 1.0 + 11.6 + 0.0) / 4)
    assert s["brier"] == pytest.approx((0.01 + 0.16 + 0.49 + 0.25) / 4)
    assert s["coverage50_active"] == pytest.approx(2 / 3)  # y in [q25, q75] on the 3 active rows: rows 1, 2
    assert s["coverage90_active"] == pytest.approx(2 / 3)  # y in [q05, q95]: rows 1, 2 (12 > 2)
    assert s["coverage80_active"] == pytest.approx(2 / 3)  # y in [q10, q90]: rows 0, 1
    # randomised PIT in the central band on the active rows: 0.1 and 0.5 in [0.05, 0.95], 1.0 outside;
    # in [0.1, 0.9]: 0.1 and 0.5 again
    assert s["pit_coverage90_active"] == pytest.approx(2 / 3) and s["pit_coverage80_active"] == pytest.approx(2 / 3)
    assert s["missed_escalation"] == 1.0  # the only y > 10 had a mean of 0.4
    hazard = summarize(_rows().assign(mean=np.nan))
    assert "crps" not in hazard and hazard["brier"] == s["brier"]


def test_metrics_by_and_per_origin_scores():
    rows = pd.concat([_rows(), _rows().assign(model="n", crps=1.0)], ignore_index=True)
    long = metrics_by(rows, ["model", "horizon"])
    assert list(long.columns) == ["model", "horizon", "metric", "value"]
    crps = long[long["metric"] == "crps"].set_index("model")["value"]
    assert crps.to_dict() == pytest.approx({"m": 2.5, "n": 1.0})
    po = per_origin_scores(rows)
    m = po[po["model"] == "m"].set_index("origin")
    np.testing.assert_allclose(m["crps"], [0.3, 4.7])
    np.testing.assert_allclose(m["abs_error"], [(0.2 + 1.0) / 2, (11.6 + 0.0) / 2])
    np.testing.assert_allclose(m["brier"], [(0.01 + 0.16) / 2, (0.49 + 0.25) / 2])


def test_skill_table_uses_the_best_baseline():
    origins = pd.to_datetime(["2020-01-06", "2020-01-13"])
    po = pd.DataFrame({
        "model": ["base_a"] * 2 + ["base_b"] * 2 + ["model"] * 2, "horizon": 1, "origin": list(origins) * 3,
        "crps": [1.0, 1.0, 2.0, 2.0, 0.8, 0.9],
    })
    t = skill_table(po, ["base_a", "base_b"], "crps", n_boot=200).set_index("model")
    assert (t["baseline"] == "base_a").all()
    assert t.loc["model", "skill"] == pytest.approx(1 - 1.7 / 2.0)
    assert t.loc["base_b", "skill"] == pytest.approx(-1.0)
    assert t.loc["model", "skill_lower"] <= t.loc["model", "skill"] <= t.loc["model", "skill_upper"]
    with pytest.raises(ValueError, match="lower-is-better"):
        skill_table(po, ["base_a"], "average_precision")


def test_tier_calibration_bins_by_tier_and_checks_each_observed_rate_against_its_bounds():
    from models.metrics import tier_calibration

    # thresholds 10 / 25 / 50 on the 0-100 scale: low [0, .1), elevated [.1, .25), high [.25, .5), severe [.5, 1]
    p = np.array([0.02] * 10 + [0.2] * 10 + [0.3] * 4 + [0.9])
    event = np.array([0] * 10 + [1] * 2 + [0] * 8 + [1] * 3 + [0] + [1])
    t = tier_calibration(p, event, (10, 25, 50)).set_index("tier")
    assert list(t.index) == ["low", "elevated", "high", "severe"]
    assert t["count"].tolist() == [10, 10, 4, 1] and t["events"].tolist() == [0, 2, 3, 1]
    assert t.loc["elevated", "observed_rate"] == pytest.approx(0.2) and t.loc["elevated", "within"]
    assert not t.loc["high", "within"]  # 3 of 4 = 0.75 is above the high tier's 0.5
    assert t.loc["high", "observed_lower"] < 0.5 and t.loc["high", "consistent"]  # but 4 rows say little
    assert t.loc["low", "within"] and t.loc["severe", "within"]
    assert t.loc["severe", "upper"] == 1.0 and t.loc["low", "lower"] == 0.0


def test_metrics_by_equals_summarize_group_by_group_including_ties_and_single_class_groups():
    rng = np.random.default_rng(3)
    n = 600
    rows = pd.DataFrame({
        "model": rng.choice(["a", "b", "c"], n), "horizon": rng.choice([1, 4], n),
        "origin": pd.Timestamp("2020-01-06") + pd.to_timedelta(7 * rng.integers(0, 8, n), "D"),
        "active": rng.random(n) < 0.7, "y": rng.poisson(1.5, n).astype(float),
        "p_event": np.round(rng.random(n), 1),  # many ties
        "mean": rng.gamma(2.0, 1.0, n), "crps": rng.random(n), "log_score": rng.random(n), "pit": rng.random(n)})
    rows["y"] = np.where(rng.random(n) < 0.05, 15.0, rows["y"])
    rows["event"] = (rows["y"] >= 1).astype(float)
    for q, shift in (("q05", -2), ("q10", -1.5), ("q25", -1), ("q75", 1), ("q90", 1.5), ("q95", 2)):
        rows[q] = np.maximum(0.0, np.round(rows["mean"] + shift))
    rows.loc[rows["model"] == "c", "mean"] = np.nan  # a hazard model: no count metrics
    rows.loc[(rows["model"] == "b") & (rows["horizon"] == 4), "event"] = 0.0  # a group without any event
    fast = metrics_by(rows, ["model", "horizon"]).set_index(["model", "horizon", "metric"])["value"]
    for (model, horizon), group in rows.groupby(["model", "horizon"]):
        slow = summarize(group).dropna()
        got = fast.loc[(model, horizon)]
        assert set(got.index) == set(slow.index), (model, horizon)
        np.testing.assert_allclose(got[slow.index].to_numpy(), slow.to_numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"{model} h={horizon}")
