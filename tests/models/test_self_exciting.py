"""Self-exciting count and hazard models on synthetic panels with known rate weights (fixed seeds)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from synthetic_panels import (
    EWM4,
    NBR13,
    SE_ALPHA,
    SE_BACKGROUND,
    SE_CATALOG,
    SE_NAMES,
    SE_RATES,
    SE_WEIGHTS,
    nb_draw,
    se_panel,
    se_rate,
    weekly_rate,
)

from features.attacks import window_spec
from features.seasonality import SEASON_SIN
from models.design import recency_weights
from models.metrics import brier
from models.protocol import CountModel, HazardModel
from models.self_exciting import (
    DEFAULT_HAZARD_RATES,
    DEFAULT_RATE_FEATURES,
    SelfExcitingHazard,
    SelfExcitingNB,
    additive_log_terms,
)


@pytest.fixture(scope="module")
def se_data():
    """h = 4 counts ~ NB2(4 (c + sum_j w_j r_j), alpha = 0.4), the rates being own / neighbour history."""
    rng = np.random.default_rng(5)
    X = se_panel(rng)
    mu = 4 * se_rate(X)
    return X, nb_draw(rng, mu, SE_ALPHA), mu


def test_self_exciting_nb_recovers_rate_weights_background_and_dispersion(se_data):
    X, y, mu = se_data
    model = SelfExcitingNB(4, rates=SE_RATES, dispersion="ml").fit(X, y)
    assert isinstance(model, CountModel) and model.converged_
    coef = model.coefficients().set_index("term")["coef"]
    for f, w in SE_WEIGHTS.items():
        assert coef[f.name] == pytest.approx(w, rel=0.15, abs=0.01), f.name
    assert coef["background"] == pytest.approx(SE_BACKGROUND, rel=0.35)
    assert model.alpha_ == model.alpha_ml_ == pytest.approx(SE_ALPHA, rel=0.15)
    assert np.corrcoef(model.predict(X).mean, mu)[0, 1] > 0.995
    assert model.input_columns() == SE_NAMES
    # predicts from the feature columns alone (what the MLflow signature example holds)
    np.testing.assert_allclose(model.predict(X[model.input_columns()].head(7)).mean, model.predict(X.head(7)).mean)


def test_self_exciting_nb_crps_dispersion_picks_the_true_alpha_and_a_fixed_one_is_kept(se_data):
    X, y, _ = se_data
    crps_model = SelfExcitingNB(4, rates=SE_RATES, dispersion="crps", dispersion_weeks=None).fit(X, y)
    assert crps_model.alpha_ in crps_model.alpha_grid and 0.25 <= crps_model.alpha_ <= 0.65
    fixed = SelfExcitingNB(4, rates=SE_RATES, dispersion=0.1).fit(X, y)
    assert fixed.alpha_ == 0.1 and np.all(fixed.predict(X).alpha == 0.1)
    np.testing.assert_allclose(fixed.weights_, crps_model.weights_)  # the dispersion choice leaves the means
    with pytest.raises(ValueError):
        SelfExcitingNB(4, dispersion="median")


def test_self_exciting_nb_gradient_matches_finite_differences(se_data):
    X, y, _ = se_data
    X = X.head(3000)
    y = y[:3000]
    model = SelfExcitingNB(4, rates=SE_RATES, modifiers=[SEASON_SIN], district_effects=True, l2=0.1,
                           l2_district=0.5, half_life_weeks=30, maxiter=3)
    model.fit(X, y)  # sets the design; 3 iterations are enough to get a generic parameter vector
    R, Z, Dd = model._rates(X), model._modifier_matrix(X), model._district_matrix(X)
    wt = recency_weights(X, 30)
    theta = model.theta_ + np.random.default_rng(0).normal(0, 0.1, model.theta_.size)
    _, grad = model._objective(theta, y, R, Z, Dd, wt)
    num = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = 1e-6
        up, down = model._objective(theta + e, y, R, Z, Dd, wt)[0], model._objective(theta - e, y, R, Z, Dd, wt)[0]
        num[j] = (up - down) / 2e-6
    np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-7)


def test_self_exciting_nb_contributions_add_up_to_the_log_mean(se_data):
    X, y, _ = se_data
    model = SelfExcitingNB(4, rates=SE_RATES, modifiers=[SEASON_SIN], district_effects=True).fit(X, y)
    contrib = model.contributions(X)
    assert list(contrib.columns) == [*SE_NAMES, "season_sin", "district_effect"]
    assert contrib.index.equals(X.index)
    np.testing.assert_allclose(contrib.sum(axis=1) + model.expected_log_mean_, model.log_mean(X), atol=1e-9)
    # a rate above its training average pushes the mean up, below it down
    own = contrib["violent_events_ewm_hl4"].to_numpy()
    above = weekly_rate(X, EWM4) > model.rate_mean_[0]
    assert np.all(own[above] >= 0) and np.all(own[~above] <= 0)
    # rows exactly at the average get the derivative split (no 0 / 0)
    terms = additive_log_terms(np.tile(model.rate_mean_, (2, 1)), model.weights_, model.background_, model.rate_mean_,
                               pd.RangeIndex(2), model.rates_)
    assert np.all(np.isfinite(terms.to_numpy())) and np.allclose(terms.to_numpy(), 0.0)


def test_self_exciting_nb_district_effects_capture_levels_the_rates_miss():
    rng = np.random.default_rng(9)
    X = se_panel(rng, 40, 150)
    effect = np.repeat(rng.normal(0, 0.8, 40), 150)
    y = nb_draw(rng, 4 * se_rate(X) * np.exp(effect), SE_ALPHA)
    train = X["week_start"] < X["week_start"].unique()[100]
    plain = SelfExcitingNB(4, rates=SE_RATES, dispersion="ml").fit(X[train], y[train])
    with_effects = SelfExcitingNB(4, rates=SE_RATES, district_effects=True, l2_district=1e-3,
                                  dispersion="ml").fit(X[train], y[train])
    assert "district_code" in with_effects.input_columns()
    test = ~train
    assert with_effects.predict(X[test]).crps(y[test]).mean() < 0.97 * plain.predict(X[test]).crps(y[test]).mean()
    assert np.corrcoef(with_effects.district_effect_, effect[::150])[0, 1] > 0.9
    unseen = X[test].head(3).assign(district_code="MLI-9999")
    assert np.all(with_effects.contributions(unseen)["district_effect"] == 0.0)


def test_recency_weights_follow_a_change_of_regime():
    """The self-excitation doubles halfway: the recency-weighted fit follows the recent weeks."""
    rng = np.random.default_rng(4)
    X = se_panel(rng, 60, 200)
    late = (X["week_start"] >= X["week_start"].unique()[100]).to_numpy()
    rate = se_rate(X) + np.where(late, 0.6, 0.0) * weekly_rate(X, EWM4)
    y = nb_draw(rng, 4 * rate, SE_ALPHA)
    flat = SelfExcitingNB(4, rates=SE_RATES, dispersion="ml").fit(X, y)
    recent = SelfExcitingNB(4, rates=SE_RATES, dispersion="ml", half_life_weeks=15).fit(X, y)
    windowed = SelfExcitingNB(4, rates=SE_RATES, dispersion="ml", max_train_weeks=80).fit(X, y)
    w_flat, w_recent, w_window = (m.coefficients().set_index("term")["coef"]["violent_events_ewm_hl4"]
                                  for m in (flat, recent, windowed))
    assert w_flat < 1.05 and w_recent > 1.05 and w_window == pytest.approx(1.2, rel=0.15)
    w = recency_weights(X, 15)
    assert w.mean() == pytest.approx(1.0) and w[late].min() > w[~late].max()


def test_self_exciting_nb_is_picklable_and_skips_absent_default_rates(se_data):
    X, y, _ = se_data
    model = SelfExcitingNB(4, SE_CATALOG).fit(X, y)  # default rates: only those the catalog has are used
    assert model.rates_ == ["violent_events_ewm_hl4", "nbr_violent_events_sum_w13"] and len(model.notes_) == 5
    assert len(DEFAULT_RATE_FEATURES) == 7
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(clone.predict(X).mean, model.predict(X).mean)
    with pytest.raises(KeyError):
        SelfExcitingNB(4, rates=[window_spec("violent_events", "sum", window=4)]).fit(X, y)


def test_rates_divide_by_the_window_or_the_decayed_weight_of_their_spec(se_data):
    X, y, _ = se_data
    model = SelfExcitingNB(4, rates=[EWM4, NBR13], dispersion="ml").fit(X, y)
    np.testing.assert_allclose(model._rates(X), np.column_stack([weekly_rate(X, EWM4), weekly_rate(X, NBR13)]))


# --------------------------------------------------------------------------------------------------
# Self-exciting hazard
# --------------------------------------------------------------------------------------------------

MAJOR52 = window_spec("major_attacks", "sum", window=52)
NOISE13 = window_spec("noise", "sum", window=13)
SEH_WEIGHTS = {MAJOR52: 0.5, EWM4: 0.05}
SEH_BACKGROUND = 0.002


@pytest.fixture(scope="module")
def rate_panel():
    """P(major attack within 4 weeks) = 1 - exp(-4 (c + sum_j w_j r_j)) on history-like rates."""
    rng = np.random.default_rng(17)
    n_d, n_w = 200, 100
    level = np.repeat(rng.gamma(0.5, 0.4, n_d), n_w)
    n = n_d * n_w
    X = pd.DataFrame({
        "district_code": np.repeat([f"D{i:03d}" for i in range(n_d)], n_w),
        "week_start": np.tile(pd.date_range("2020-01-06", periods=n_w, freq="7D"), n_d),
        "major_attacks_sum_w52": rng.poisson(0.3 * level * 52).astype(float),
        "violent_events_ewm_hl4": rng.poisson(level * 6.29 * rng.gamma(3.0, 1 / 3.0, n)).astype(float),
        "noise_sum_w13": rng.poisson(2.0, n).astype(float),
    })
    lam = 4 * (SEH_BACKGROUND + sum(w * weekly_rate(X, f) for f, w in SEH_WEIGHTS.items()))
    p = -np.expm1(-lam)
    return X, (rng.uniform(size=n) < p).astype(float), p


def test_self_exciting_hazard_recovers_weights_and_beats_the_base_rate(rate_panel):
    X, event, p = rate_panel
    feats = [*SEH_WEIGHTS, NOISE13]
    model = SelfExcitingHazard(4, rates=feats).fit(X, event)
    assert isinstance(model, HazardModel) and model.converged_
    coef = model.coefficients().set_index("term")["coef"]
    for f, w in SEH_WEIGHTS.items():
        assert coef[f.name] == pytest.approx(w, rel=0.25), f.name
    assert coef["noise_sum_w13"] < 0.01  # an irrelevant rate gets (almost) no weight
    q = model.predict_proba(X)
    assert np.all((q > 0) & (q < 1)) and np.corrcoef(q, p)[0, 1] > 0.98
    assert brier(q, event) < 0.9 * brier(np.full(len(event), event.mean()), event)
    assert model.input_columns() == [f.name for f in feats]


def test_self_exciting_hazard_contributions_add_up_and_pickle(rate_panel):
    X, event, _ = rate_panel
    model = SelfExcitingHazard(4, rates=list(SEH_WEIGHTS), half_life_weeks=52).fit(X, event)
    contrib = model.contributions(X)
    assert list(contrib.columns) == [f.name for f in SEH_WEIGHTS] and contrib.index.equals(X.index)
    np.testing.assert_allclose(contrib.sum(axis=1) + model.expected_log_hazard_, np.log(model.cumulative_hazard(X)),
                               atol=1e-9)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(clone.predict_proba(X), model.predict_proba(X))


def test_self_exciting_hazard_default_rates_skip_absent_columns(rate_panel):
    X, event, _ = rate_panel
    catalog = [MAJOR52, EWM4, NOISE13]  # the panel's columns: two of the default rates
    model = SelfExcitingHazard(4, catalog).fit(X, event)
    assert model.rates_ == ["major_attacks_sum_w52", "violent_events_ewm_hl4"]
    assert len(model.notes_) == len(DEFAULT_HAZARD_RATES) - len(model.rates_)
    quiet = X.head(3).assign(**{f: 0.0 for f in model.rates_})
    np.testing.assert_allclose(model.predict_proba(quiet), -np.expm1(-4 * model.background_))
