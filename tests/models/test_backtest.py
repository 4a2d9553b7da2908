"""Walk-forward backtest on a tiny hand-made panel: origins, refits, no look-ahead, scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scoringrules as sr

from features.panel import Panel
from features.table import FeatureTable
from features.windows import future_sum, lag, past_sum
from models.backtest import (
    BacktestConfig,
    ModelSpec,
    origins_for,
    prediction_columns,
    run_backtest,
)
from models.baselines import Conflictology, HazardBaseRate, RollingMean, Zero

WEEK = pd.Timedelta(days=7)


def tiny_table(x: np.ndarray, major: np.ndarray, start: str = "2020-01-06") -> FeatureTable:
    """Features (lag1, sums over 4 and 52 weeks) and targets (h = 1, 4) of the weekly counts ``x``."""
    n_d, n_w = x.shape
    weeks = pd.DatetimeIndex(pd.date_range(start, periods=n_w, freq="7D").astype("datetime64[s]"), name="week_start")
    districts = pd.Index([f"D{i}" for i in range(n_d)], dtype="string", name="district_code")
    panel = Panel(districts, weeks, {"violent_events": x.astype(np.float32), "major_attacks": major.astype(np.float32)})
    frame = panel.long_index()
    frame["violent_events_lag1"] = lag(x, 1).ravel()
    for w in (4, 52):
        frame[f"violent_events_sum_w{w}"] = past_sum(x, w).ravel()
    targets = []
    for h in (1, 4):
        frame[f"target_violent_events_h{h}"] = future_sum(x, h).ravel()
        frame[f"target_major_attack_h{h}"] = np.minimum(future_sum(major, h), 1.0).ravel()
        targets += [f"target_violent_events_h{h}", f"target_major_attack_h{h}"]
    return FeatureTable(frame, [], targets, weeks[-1] + WEEK, panel)


RNG = np.random.default_rng(7)
X = RNG.poisson([[2.0], [0.3], [0.0]], size=(3, 20)).astype(float)
X[2, :] = 0.0
X[2, 15] = 4.0  # district D2 is quiet until week 15
MAJOR = (X >= 3).astype(float)
TABLE = tiny_table(X, MAJOR)
WEEKS = TABLE.panel.weeks


class Spy:
    """A count model recording what it was fitted on and what it was asked to predict."""

    calls: list = []

    def __init__(self, horizon: int):
        self.name, self.horizon = "spy", horizon

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "Spy":
        Spy.calls.append(("fit", X["week_start"].max(), len(X), list(X.columns)))
        self.y_mean_ = float(np.mean(y))
        return self

    def predict(self, X: pd.DataFrame):
        Spy.calls.append(("predict", X["week_start"].min(), len(X), list(X.columns)))
        return Zero(self.horizon).predict(X)


def test_origins_every_n_weeks_and_last_origin_per_horizon():
    config = BacktestConfig(start=WEEKS[8], end=WEEKS[15], origin_every=2)
    assert list(origins_for(WEEKS, config)) == list(WEEKS[[8, 10, 12, 14]])
    result = run_backtest(TABLE, [ModelSpec("m1", "count", 1, lambda: RollingMean(1, 4)),
                                  ModelSpec("m4", "count", 4, lambda: RollingMean(4, 4))], config)
    per_model = result.predictions.groupby("model")["origin"].agg(["min", "max", "nunique"])
    assert per_model.loc["m1", "max"] == WEEKS[14] and per_model.loc["m1", "nunique"] == 4
    # h = 4 from WEEKS[14] would need weeks 14..17 > end = WEEKS[15]: last origin is WEEKS[12]
    assert per_model.loc["m4", "max"] == WEEKS[12] and per_model.loc["m4", "nunique"] == 3
    assert list(result.predictions.columns) == prediction_columns()
    assert len(result.predictions) == 3 * (4 + 3)


def test_training_rows_end_before_the_origin_and_refit_every_k_origins():
    Spy.calls = []
    config = BacktestConfig(start=WEEKS[8], end=WEEKS[16], refit_every=3)
    result = run_backtest(TABLE, [ModelSpec("spy", "count", 4, lambda: Spy(4))], config)
    fits = [c for c in Spy.calls if c[0] == "fit"]
    origins = list(WEEKS[8:14])  # h = 4: origins 8..13 (the last target week is 16)
    assert [f[1] for f in fits] == [origins[0] - 4 * WEEK, origins[3] - 4 * WEEK]  # newest training row
    assert [f[2] for f in fits] == [3 * 5, 3 * 8]  # expanding: all rows with week_start + 4 weeks <= origin
    assert result.fits["origin"].tolist() == [origins[0], origins[3]]
    predicts = [c for c in Spy.calls if c[0] == "predict"]  # one call per refit block of 3 origins
    assert [p[1] for p in predicts] == [origins[0], origins[3]] and all(p[2] == 3 * 3 for p in predicts)
    assert sorted(result.predictions["origin"].unique()) == origins
    assert not any(c.startswith("target_") for call in Spy.calls for c in call[3])  # targets never reach a model


def test_scores_match_hand_computations():
    config = BacktestConfig(start=WEEKS[10], end=WEEKS[12])
    result = run_backtest(TABLE, [ModelSpec("mean_4", "count", 1, lambda: RollingMean(1, 4))], config)
    p = result.predictions.set_index(["origin", "district_code"])
    row = p.loc[(WEEKS[11], "D0")]
    mu = X[0, 7:11].sum() / 4
    assert row["y"] == X[0, 11] and row["mean"] == pytest.approx(mu)
    assert row["crps"] == pytest.approx(float(sr.crps_poisson(X[0, 11], mu)))
    assert row["p_event"] == pytest.approx(1 - np.exp(-mu))
    crps = result.metrics.query("metric == 'crps'")["value"].item()
    assert crps == pytest.approx(result.predictions["crps"].mean())
    per_origin = result.per_origin.set_index("origin")["crps"]
    assert per_origin[WEEKS[11]] == pytest.approx(p.loc[WEEKS[11], "crps"].mean())


def test_active_flag_and_breakdowns():
    config = BacktestConfig(start=WEEKS[14], end=WEEKS[17], active_weeks=52)
    result = run_backtest(TABLE, [ModelSpec("zero", "count", 1, lambda: Zero(1))], config)
    d2 = result.predictions[result.predictions["district_code"] == "D2"].set_index("origin")["active"]
    assert d2.tolist() == [False, False, True, True]  # D2's first event is in week 15
    by_district = result.breakdown("district_code")
    crps = by_district[by_district["metric"] == "crps"].set_index("district_code")["value"]
    assert crps["D2"] == pytest.approx(X[2, 14:18].mean())  # CRPS of a point mass at 0 is y
    assert set(result.breakdown("year")["year"]) == {2020}
    reliability = result.reliability(n_bins=4)
    assert len(reliability) == 4 and reliability["count"].sum() == 3 * 4
    assert reliability.loc[0, "observed_frequency"] == pytest.approx(result.predictions["event"].mean())  # p = 0


def test_conflictology_gets_its_history_and_hazard_base_rate_its_event_rate():
    config = BacktestConfig(start=WEEKS[8], end=WEEKS[11])
    specs = [ModelSpec("conf", "count", 1, lambda: Conflictology(1, windows=5), history_weeks=5),
             ModelSpec("rate", "hazard", 4, lambda: HazardBaseRate(4))]
    result = run_backtest(TABLE, specs, config)
    conf = result.predictions[result.predictions["model"] == "conf"].set_index(["origin", "district_code"])
    past = X[0, 3:8]
    assert conf.loc[(WEEKS[8], "D0"), "mean"] == pytest.approx(past.mean())
    assert conf.loc[(WEEKS[8], "D0"), "p_event"] == pytest.approx((past > 0).mean())
    rate = result.predictions[result.predictions["model"] == "rate"]
    assert rate["origin"].nunique() == 1 and rate["origin"].iloc[0] == WEEKS[8]  # weeks 8..11
    train = np.minimum(future_sum(MAJOR, 4), 1.0)[:, : 8 - 4 + 1]  # week_start + 4 weeks <= origin 8
    np.testing.assert_allclose(rate["p_event"], train.mean())
    np.testing.assert_array_equal(rate["y"], np.minimum(MAJOR[:, 8:12].sum(1), 1.0))
    assert rate["mean"].isna().all() and rate["crps"].isna().all()
    metrics = result.metrics[result.metrics["model"] == "rate"]
    assert {"brier", "average_precision", "roc_auc"} <= set(metrics["metric"]) and "crps" not in set(metrics["metric"])


def test_bad_specs_are_refused():
    config = BacktestConfig(start=WEEKS[8], end=WEEKS[9])
    with pytest.raises(ValueError, match="unique"):
        run_backtest(TABLE, [ModelSpec("a", "count", 1, lambda: Zero(1))] * 2, config)
    with pytest.raises(ValueError, match="kind"):
        run_backtest(TABLE, [ModelSpec("a", "counts", 1, lambda: Zero(1))], config)


class SpyHazard:
    """A hazard model recording its newest training row and the events it was fitted on."""

    seen: list = []

    def __init__(self, horizon: int):
        self.name, self.horizon = "spy_hazard", horizon

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "SpyHazard":
        SpyHazard.seen.append((X["week_start"].max(), np.asarray(event).copy()))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), 0.5)


def test_hazard_fitted_on_weekly_rows_with_fit_horizon_one():
    SpyHazard.seen = []
    config = BacktestConfig(start=WEEKS[10], end=WEEKS[13])
    result = run_backtest(TABLE, [ModelSpec("weekly", "hazard", 4, lambda: SpyHazard(4), fit_horizon=1)], config)
    newest, events = SpyHazard.seen[0]
    assert newest == WEEKS[9]  # week_start + 1 week <= origin 10
    np.testing.assert_array_equal(np.sort(events), np.sort(np.minimum(MAJOR[:, :10], 1).ravel()))
    np.testing.assert_array_equal(result.predictions["y"], np.minimum(MAJOR[:, 10:14].sum(1), 1))  # scored on h = 4


def test_skill_against_the_best_baseline():
    config = BacktestConfig(start=WEEKS[8], end=WEEKS[15])
    specs = [ModelSpec("zero", "count", 1, lambda: Zero(1)), ModelSpec("mean_4", "count", 1, lambda: RollingMean(1, 4))]
    result = run_backtest(TABLE, specs, config)
    table = result.skill(["zero"], n_boot=100).set_index("model")
    crps = result.predictions.groupby("model")["crps"].mean()
    assert table.loc["mean_4", "skill"] == pytest.approx(1 - crps["mean_4"] / crps["zero"])
    assert table.loc["zero", "skill"] == pytest.approx(0.0)


def test_models_are_built_only_to_be_fitted_and_get_the_history_their_spec_declares():
    """The engine reads ``history_weeks`` from the spec: every model it builds is fitted (one per refit)."""
    built = []

    def factory():
        built.append(Conflictology(1, windows=3))
        return built[-1]

    config = BacktestConfig(start=WEEKS[8], end=WEEKS[15], refit_every=4)
    result = run_backtest(TABLE, [ModelSpec("conf", "count", 1, factory, history_weeks=3)], config)
    assert len(built) == len(result.fits) == 2
    assert all(m.history_weeks == 3 for m in built)
    p = result.predictions.set_index(["origin", "district_code"])
    assert p.loc[(WEEKS[8], "D0"), "mean"] == pytest.approx(X[0, 5:8].mean())
    Spy.calls = []
    run_backtest(TABLE, [ModelSpec("spy", "count", 1, lambda: Spy(1), history_weeks=2)], config)
    columns = Spy.calls[0][3]
    assert "violent_events_lag2" in columns and "violent_events_lag3" not in columns


def test_backtests_run_apart_per_slot_combine_into_the_backtest_of_all_models():
    """What a distributed run relies on: one backtest per slot, combined, is the backtest of every slot at once,
    randomised PIT included (each model's random stream depends on the model, not on its place in the list)."""
    from models.backtest import BacktestResult
    from models.slots import Slot
    from models.suite import slot_specs

    config = BacktestConfig(start=WEEKS[8], end=WEEKS[15], refit_every=3)
    specs = [ModelSpec("zero", "count", 1, lambda: Zero(1)), ModelSpec("mean_4", "count", 1, lambda: RollingMean(1, 4)),
             ModelSpec("mean_4", "count", 4, lambda: RollingMean(4, 4)),
             ModelSpec("base_rate", "hazard", 4, lambda: HazardBaseRate(4))]
    together = run_backtest(TABLE, specs, config)
    slots = (Slot("count", 1), Slot("count", 4), Slot("hazard", 4))
    apart = BacktestResult.combine([run_backtest(TABLE, slot_specs(specs, s), config) for s in slots])
    for name in ("predictions", "metrics", "per_origin", "fits"):
        pd.testing.assert_frame_equal(getattr(apart, name), getattr(together, name), obj=name)
    assert [s.name for s in slot_specs(specs, Slot("count", 4))] == ["mean_4"]
