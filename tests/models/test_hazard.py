"""Hazard models on synthetic panels with a known weekly hazard (fixed seeds)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from scipy import special

from features.attacks import window_spec
from features.seasonality import SEASON_SIN
from features.spec import FeatureSpec
from models.hazard import DEFAULT_HAZARD_FEATURES, DiscreteTimeHazard, LightGBMHazard
from models.protocol import HazardModel

CAP = 104
WS_MAJOR = window_spec("major_attacks", "weeks_since", unit="weeks")
NOISE = FeatureSpec("noise", "test", "noise", "unitless")
CONSTANT = FeatureSpec("constant_flag", "test", "a constant column", "indicator")
#: The duration panel's columns, as specs (``season_sin`` plays a static covariate).
DURATION_FEATURES = [WS_MAJOR, SEASON_SIN]
X_SPECS = [FeatureSpec(f"x{i}", "test", f"x{i}", "unitless") for i in (1, 2, 3)]
A, B_DURATION, C_X = -2.0, -0.6, 0.5  # cloglog hazard = A + B log1p(weeks since) + C x


def true_hazard(weeks_since: np.ndarray, x: np.ndarray) -> np.ndarray:
    return -np.expm1(-np.exp(A + B_DURATION * np.log1p(weeks_since) + C_X * x))


@pytest.fixture(scope="module")
def duration_panel():
    """Districts whose weekly hazard of a major attack falls with the weeks since the last one.

    ``weeks_since_major_attacks`` follows the features' convention (1 = an attack in the week before
    week_start, capped at 104); ``season_sin`` plays a static district covariate x (not logged).
    """
    rng = np.random.default_rng(101)
    n_d, n_w = 400, 90
    x = rng.normal(size=n_d)
    ws = rng.integers(1, CAP + 1, n_d).astype(float)
    ws_rows, events = np.empty((n_d, n_w)), np.empty((n_d, n_w))
    for t in range(n_w):
        ws_rows[:, t] = ws
        events[:, t] = rng.uniform(size=n_d) < true_hazard(ws, x)
        ws = np.where(events[:, t] == 1, 1.0, np.minimum(ws + 1, CAP))
    X = pd.DataFrame({
        "district_code": np.repeat([f"D{i:03d}" for i in range(n_d)], n_w),
        "week_start": np.tile(pd.date_range("2020-01-06", periods=n_w, freq="7D"), n_d),
        "weeks_since_major_attacks": ws_rows.ravel(),
        "season_sin": np.repeat(x, n_w),
        "noise": rng.normal(size=n_d * n_w),
    })
    return X, events.ravel()


def true_p_within(X: pd.DataFrame, horizon: int) -> np.ndarray:
    ws, x = X["weeks_since_major_attacks"].to_numpy(), X["season_sin"].to_numpy()
    survive = np.ones(len(X))
    for k in range(horizon):
        survive *= 1.0 - true_hazard(np.minimum(ws + k, CAP), x)
    return 1.0 - survive


def test_cloglog_hazard_recovers_the_duration_and_covariate_effects(duration_panel):
    X, event = duration_panel
    model = DiscreteTimeHazard(4, features=DURATION_FEATURES, duration_knots=()).fit(X, event)
    assert isinstance(model, HazardModel) and model.link == "cloglog" and model.converged_
    coef = model.coefficients().set_index("term")["coef"]
    sd_log = np.log1p(X["weeks_since_major_attacks"]).std(ddof=0)
    assert coef["weeks_since_major_attacks"] / sd_log == pytest.approx(B_DURATION, abs=0.08)
    assert coef["season_sin"] / X["season_sin"].std(ddof=0) == pytest.approx(C_X, abs=0.08)
    true_h = true_hazard(X["weeks_since_major_attacks"].to_numpy(), X["season_sin"].to_numpy())
    assert np.abs(model.weekly_hazard(X) - true_h).mean() < 0.006


@pytest.mark.parametrize("knots, tolerance", [((), 0.005), ((4, 13, 52), 0.02)])
def test_probability_within_horizon_follows_the_survival_path(duration_panel, knots, tolerance):
    X, event = duration_panel
    model = DiscreteTimeHazard(13, features=DURATION_FEATURES, duration_knots=knots).fit(X, event)
    truth = true_p_within(X, 13)
    p = model.predict_proba(X)
    naive = 1.0 - (1.0 - model.weekly_hazard(X)) ** 13  # the weekly hazard frozen at week 0
    assert np.abs(p - truth).mean() < tolerance
    assert np.abs(p - truth).mean() < 0.5 * np.abs(naive - truth).mean()
    recent = X["weeks_since_major_attacks"].to_numpy() <= 3
    assert np.abs(p[recent] - truth[recent]).mean() < 0.1 * np.abs(naive[recent] - truth[recent]).mean()
    paths = model.path_hazards(X.head(200))
    assert paths.shape == (200, 13)
    np.testing.assert_allclose(paths[:, 0], model.weekly_hazard(X.head(200)))
    recent = X.head(200)["weeks_since_major_attacks"].to_numpy() < 10
    assert np.all(np.diff(paths[recent], axis=1) < 0)  # the hazard falls as quiet weeks accumulate
    capped = X.head(200)["weeks_since_major_attacks"].to_numpy() == CAP
    np.testing.assert_allclose(paths[capped, 12], paths[capped, 0])
    within = 1 - np.prod(1 - paths, axis=1)
    np.testing.assert_allclose(model.predict_proba(X.head(200)), within, rtol=1e-10)


def test_longer_horizons_are_more_likely_and_the_observed_rate_matches(duration_panel):
    X, event = duration_panel
    model = DiscreteTimeHazard(4, features=[*DURATION_FEATURES, NOISE]).fit(X, event)
    p1 = DiscreteTimeHazard(1, features=[*DURATION_FEATURES, NOISE]).fit(X, event).predict_proba(X)
    p4 = model.predict_proba(X)
    assert np.all(p4 >= p1) and np.all((p4 > 0) & (p4 < 1))
    np.testing.assert_allclose(p1.mean(), event.mean(), rtol=0.02)
    ev = event.reshape(400, 90)
    within4 = np.stack([ev[:, t:t + 4].max(axis=1) for t in range(87)], axis=1).ravel()
    p4_obs = p4.reshape(400, 90)[:, :87].ravel()
    assert p4_obs.mean() == pytest.approx(within4.mean(), rel=0.05)


def test_hazard_contributions_collapse_duration_terms_and_add_up(duration_panel):
    X, event = duration_panel
    X = X.assign(constant_flag=1.0)
    model = DiscreteTimeHazard(4, features=[*DURATION_FEATURES, CONSTANT], link="logit").fit(X, event)
    assert model.features_ == ["weeks_since_major_attacks", "season_sin"]
    assert any("constant_flag" in n for n in model.notes_)
    terms = model.coefficients()["term"].tolist()
    assert terms == ["intercept", "weeks_since_major_attacks", "weeks_since_major_attacks:hinge4",
                     "weeks_since_major_attacks:hinge13", "weeks_since_major_attacks:hinge52", "season_sin"]
    contrib = model.contributions(X)
    assert list(contrib.columns) == ["weeks_since_major_attacks", "season_sin"]
    np.testing.assert_allclose(special.expit(contrib.sum(axis=1) + model.params_[0]), model.weekly_hazard(X), rtol=1e-10)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(clone.predict_proba(X.head(20)), model.predict_proba(X.head(20)))


def test_default_features_skip_absent_columns(duration_panel):
    X, event = duration_panel
    model = DiscreteTimeHazard(4, [WS_MAJOR, SEASON_SIN, NOISE])  # a catalog with two of the default features
    assert model.input_columns() == ["weeks_since_major_attacks", "season_sin"]
    assert model.duration_features == model.advance == ["weeks_since_major_attacks"]
    model.fit(X, event)
    assert model.input_columns() == ["weeks_since_major_attacks", "season_sin"]
    assert len(model.notes_) == len(DEFAULT_HAZARD_FEATURES) - 2  # one note per default left out
    with pytest.raises(KeyError):
        DiscreteTimeHazard(4, features=[WS_MAJOR, FeatureSpec("missing", "test", "absent", "events")]).fit(X, event)
    with pytest.raises(ValueError):
        DiscreteTimeHazard(4, link="probit")


# --------------------------------------------------------------------------------------------------
# LightGBM hazard
# --------------------------------------------------------------------------------------------------


def logistic_rows(seed: int, n_weeks: int = 60, per_week: int = 100, late_shift: float = 0.0):
    """P(major attack within H) = expit(-2 + 1.5 x1 - 1.0 * 1{x2 > 0} [+ late_shift in the last 20 weeks])."""
    rng = np.random.default_rng(seed)
    n = n_weeks * per_week
    week = np.repeat(np.arange(n_weeks), per_week)
    X = pd.DataFrame({"district_code": np.tile([f"D{i:03d}" for i in range(per_week)], n_weeks),
                      "week_start": pd.Timestamp("2021-01-04") + pd.to_timedelta(7 * week, unit="D"),
                      "x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.normal(size=n)})
    logit = -2.0 + 1.5 * X["x1"].to_numpy() - 1.0 * (X["x2"].to_numpy() > 0) + late_shift * (week >= n_weeks - 20)
    p = special.expit(logit)
    return X, (rng.uniform(size=n) < p).astype(float), p


def test_lightgbm_hazard_ranks_and_calibrates_on_a_known_hazard():
    X, event, p = logistic_rows(1)
    model = LightGBMHazard(4, X_SPECS, n_estimators=150, learning_rate=0.05, n_jobs=1).fit(X, event)
    assert isinstance(model, HazardModel) and model.features_ == ["x1", "x2", "x3"] == model.input_columns()
    Xt, et, pt = logistic_rows(2)
    q = model.predict_proba(Xt)
    assert np.corrcoef(special.logit(q), special.logit(pt))[0, 1] > 0.9
    brier, best = np.mean((q - et) ** 2), np.mean((pt - et) ** 2)
    assert brier < best * 1.03
    assert q.mean() == pytest.approx(pt.mean(), abs=0.015)
    contrib = model.contributions(Xt)
    np.testing.assert_allclose(contrib.sum(axis=1) + model.expected_log_odds_, special.logit(q), atol=1e-6)
    assert contrib["x3"].abs().mean() < 0.25 * contrib["x1"].abs().mean()
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(clone.predict_proba(Xt.head(10)), q[:10])


def log_loss(p: np.ndarray, e: np.ndarray) -> float:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return float(-np.mean(e * np.log(p) + (1 - e) * np.log1p(-p)))


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_lightgbm_hazard_calibration_stretches_shrunken_trees(method):
    """30 rounds at learning rate 0.01 leave the trees' probabilities squeezed towards the base rate."""
    X, event, _ = logistic_rows(3)
    Xt, et, pt = logistic_rows(4)
    kwargs = dict(n_estimators=30, learning_rate=0.01, valid_weeks=12, early_stopping_rounds=30, n_jobs=1)
    raw = LightGBMHazard(4, X_SPECS, **kwargs).fit(X, event)
    cal = LightGBMHazard(4, X_SPECS, calibration=method, **kwargs).fit(X, event)
    assert raw.calibrator_ is None and cal.calibrator_ is not None
    np.testing.assert_allclose(cal.predict_raw(Xt), raw.predict_raw(Xt))
    q_raw, q_cal = raw.predict_proba(Xt), cal.predict_proba(Xt)
    assert np.all((q_cal >= 0) & (q_cal <= 1))
    assert q_cal.std() > 2 * q_raw.std()
    assert log_loss(q_cal, et) < log_loss(q_raw, et) - 0.02
    assert log_loss(q_cal, et) < log_loss(pt, et) + 0.02
    with pytest.raises(ValueError):
        LightGBMHazard(4, calibration=method)


def test_lightgbm_hazard_calibration_without_refit_follows_a_level_shift():
    """The hazard jumps in the last 20 weeks (not in the features): only the held-out weeks see it fully."""
    X, event, _ = logistic_rows(3, late_shift=1.2)
    Xt, _, pt = logistic_rows(4, late_shift=1.2)
    late = (Xt["week_start"] >= Xt["week_start"].unique()[-20]).to_numpy()
    kwargs = dict(n_estimators=150, valid_weeks=12, refit=False, n_jobs=1)
    raw = LightGBMHazard(4, X_SPECS, **kwargs).fit(X, event)
    cal = LightGBMHazard(4, X_SPECS, calibration="platt", **kwargs).fit(X, event)
    gap_raw = abs(raw.predict_proba(Xt[late]).mean() - pt[late].mean())
    gap_cal = abs(cal.predict_proba(Xt[late]).mean() - pt[late].mean())
    assert gap_cal < 0.4 * gap_raw
    refitted = LightGBMHazard(4, X_SPECS, n_estimators=150, valid_weeks=12, n_jobs=1).fit(X, event)
    assert refitted.n_rounds_ == raw.n_rounds_
    assert refitted.predict_raw(Xt[late]).mean() > raw.predict_raw(Xt[late]).mean() + 0.01  # refit saw the jump
