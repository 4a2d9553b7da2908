"""Count models on synthetic district-week data with a known generating process (fixed seeds)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import scoringrules as sr
from scipy import special

from models.count import (
    DEFAULT_GLM_FEATURES,
    LightGBMCount,
    NegativeBinomialGLM,
    ZeroInflated,
    ZeroInflatedNegativeBinomialGLM,
    fit_nb2,
    log_feature_names,
    nb2_alpha_mle,
    nb2_cdf_grid,
)
from models.distributions import NegativeBinomial
from models.protocol import CountModel


def nb_draw(rng: np.random.Generator, mu: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """NB2 counts: gamma-Poisson mixture with mean mu and variance mu + alpha mu^2."""
    alpha = np.broadcast_to(alpha, mu.shape)
    return rng.poisson(rng.gamma(1.0 / alpha, alpha * mu)).astype(np.float64)


def panel(n_districts: int, n_weeks: int) -> pd.DataFrame:
    weeks = pd.date_range("2019-01-07", periods=n_weeks, freq="7D")
    return pd.DataFrame({"district_code": np.repeat([f"MLI-{i:04d}" for i in range(n_districts)], n_weeks),
                         "week_start": np.tile(weeks, n_districts)})


@pytest.fixture(scope="module")
def nb_data():
    """y ~ NB2(mu, alpha = 0.6), log mu = 0.3 + 0.5 log1p(c52) + 0.4 season_sin."""
    rng = np.random.default_rng(11)
    X = panel(60, 80)
    n = len(X)
    X["violent_events_sum_w52"] = rng.poisson(rng.gamma(1.0, 8.0, n)).astype(float)
    X["season_sin"] = rng.normal(size=n)
    X["constant_flag"] = 1.0
    log_mu = 0.3 + 0.5 * np.log1p(X["violent_events_sum_w52"].to_numpy()) + 0.4 * X["season_sin"].to_numpy()
    return X, nb_draw(rng, np.exp(log_mu), 0.6), log_mu


def test_nb_glm_recovers_coefficients_and_alpha(nb_data):
    X, y, log_mu = nb_data
    feats = ["violent_events_sum_w52", "season_sin"]
    model = NegativeBinomialGLM(4, feats).fit(X, y)
    assert isinstance(model, CountModel)
    assert model.converged_ and model.fit_method_ == "bfgs"
    sd = np.log1p(X["violent_events_sum_w52"]).std(ddof=0)
    coef = model.coefficients().set_index("term")["coef"]
    assert coef["violent_events_sum_w52"] / sd == pytest.approx(0.5, abs=0.05)
    assert coef["season_sin"] / X["season_sin"].std(ddof=0) == pytest.approx(0.4, abs=0.04)
    assert model.alpha_ == pytest.approx(0.6, rel=0.12)
    assert np.corrcoef(np.log(model.predict(X).mean), log_mu)[0, 1] > 0.99
    contrib = model.contributions(X)
    assert list(contrib.columns) == feats and contrib.index.equals(X.index)
    np.testing.assert_allclose(contrib.sum(axis=1) + model.params_[0], np.log(model.predict(X).mean), atol=1e-9)
    assert np.isfinite(model.aic_) and len(model.coefficients()) == 4


def test_nb_glm_falls_back_when_bfgs_and_newton_do_not_converge(nb_data):
    X, y, _ = nb_data
    feats = ["violent_events_sum_w52", "season_sin"]
    good = NegativeBinomialGLM(4, feats).fit(X, y)
    starved = NegativeBinomialGLM(4, feats, maxiter=1).fit(X, y)
    assert starved.fit_method_ == "lbfgs" and starved.converged_
    np.testing.assert_allclose(starved.params_, good.params_, atol=2e-3)
    assert starved.alpha_ == pytest.approx(good.alpha_, rel=1e-2)
    assert np.all(np.isfinite(starved.bse_))


def test_nb_glm_drops_constant_and_tolerates_missing_default_features(nb_data):
    X, y, _ = nb_data
    model = NegativeBinomialGLM(1, ["violent_events_sum_w52", "constant_flag", "season_sin"]).fit(X, y)
    assert model.features_ == ["violent_events_sum_w52", "season_sin"]
    assert any("constant_flag" in note for note in model.notes_)
    assert "constant_flag" not in model.contributions(X).columns
    default = NegativeBinomialGLM(1)
    assert default.features == DEFAULT_GLM_FEATURES
    default.fit(X, y)  # only two of the default features are in X
    assert default.features == default.features_ == ["violent_events_sum_w52", "season_sin"]
    assert any("'season_cos'" in note for note in default.notes_)
    with pytest.raises(KeyError):
        NegativeBinomialGLM(1, ["violent_events_sum_w52", "not_a_column"]).fit(X, y)


def test_nb_glm_ridge_shrinks_towards_zero(nb_data):
    X, y, _ = nb_data
    feats = ["violent_events_sum_w52", "season_sin"]
    free = NegativeBinomialGLM(4, feats).fit(X, y)
    light = NegativeBinomialGLM(4, feats, l2=1e-6).fit(X, y)
    heavy = NegativeBinomialGLM(4, feats, l2=1.0).fit(X, y)
    np.testing.assert_allclose(light.params_, free.params_, atol=1e-3)
    assert np.all(np.abs(heavy.params_[1:]) < 0.6 * np.abs(free.params_[1:]))
    assert light.fit_method_ == "lbfgs"


def test_fit_nb2_missing_values_are_imputed_at_predict(nb_data):
    X, y, _ = nb_data
    model = NegativeBinomialGLM(4, ["violent_events_sum_w52", "season_sin"]).fit(X, y)
    Xn = X.head(3).copy()
    Xn.loc[Xn.index[0], "season_sin"] = np.nan
    mu = model.predict(Xn).mean
    assert np.all(np.isfinite(mu))


def test_nb2_alpha_mle_recovers_dispersion_and_poisson_limit():
    rng = np.random.default_rng(5)
    mu = rng.gamma(2.0, 2.0, 20_000)
    assert nb2_alpha_mle(nb_draw(rng, mu, 0.8), mu) == pytest.approx(0.8, rel=0.08)
    assert nb2_alpha_mle(rng.poisson(mu).astype(float), mu) < 0.02


def test_fit_nb2_returns_standard_errors_matching_statsmodels():
    rng = np.random.default_rng(2)
    D = np.column_stack([np.ones(3000), rng.normal(size=(3000, 2))])
    y = nb_draw(rng, np.exp(D @ [0.5, 0.8, -0.4]), 0.7)
    sm_fit, direct = fit_nb2(y, D), fit_nb2(y, D, maxiter=1)
    assert sm_fit["method"] == "bfgs" and direct["method"] == "lbfgs"
    np.testing.assert_allclose(direct["bse"], sm_fit["bse"], rtol=0.02)


# --------------------------------------------------------------------------------------------------
# ZeroInflated distribution
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zi_dist():
    rng = np.random.default_rng(7)
    n = 400
    mu, alpha, pi = rng.gamma(2.0, 3.0, n), rng.uniform(0.0, 2.0, n), rng.uniform(0.0, 0.8, n)
    alpha[:40] = 0.0  # Poisson rows
    return ZeroInflated(NegativeBinomial(mu, alpha), pi), rng.poisson(mu * 1.2).astype(np.float64)


def test_zero_inflated_cdf_mean_and_log_score(zi_dist):
    dist, y = zi_dist
    base, pi = dist.base, dist.pi
    np.testing.assert_allclose(dist.mean, (1 - pi) * base.mean)
    np.testing.assert_allclose(dist.cdf(0), pi + (1 - pi) * base.cdf(0))
    np.testing.assert_allclose(dist.cdf(-1), 0.0)
    pmf_y = np.where(y == 0, pi + (1 - pi) * base.cdf(0), (1 - pi) * (base.cdf(y) - base.cdf(y - 1)))
    np.testing.assert_allclose(dist.log_score(y), -np.log(pmf_y), rtol=1e-8)
    grid = nb2_cdf_grid(base.mean, base.alpha, 60)
    np.testing.assert_allclose(grid[:, 17], base.cdf(17), atol=1e-10)


def test_zero_inflated_quantile_inverts_cdf(zi_dist):
    dist, _ = zi_dist
    for q in (0.05, 0.3, 0.5, 0.9, 0.99):
        k = dist.quantile(q)
        assert np.all(dist.cdf(k) >= q - 1e-12)
        assert np.all((k == 0) | (dist.cdf(k - 1) < q))
    assert np.all(dist.quantile(0.5)[dist.pi >= 0.5] == 0)


def test_zero_inflated_crps_matches_mixture_identity_and_nb(zi_dist):
    dist, y = zi_dist
    base, pi, mu = dist.base, dist.pi, dist.base.mean
    # CRPS of a mixture: E|X - y| - E|X - X'| / 2, with the NB terms from its own CRPS at 0 and y
    e_zz = 2.0 * (mu - base.crps(np.zeros_like(y)))
    closed = pi * y + (1 - pi) * (base.crps(y) + 0.5 * e_zz) - pi * (1 - pi) * mu - 0.5 * (1 - pi) ** 2 * e_zz
    np.testing.assert_allclose(dist.crps(y), closed, rtol=1e-6, atol=1e-8)
    no_zeros = ZeroInflated(base, 0.0)
    np.testing.assert_allclose(no_zeros.crps(y), base.crps(y), rtol=1e-6, atol=1e-8)
    samples = np.where(np.random.default_rng(0).uniform(size=(len(y), 4000)) < pi[:, None], 0.0,
                       np.random.default_rng(1).poisson(mu[:, None], (len(y), 4000)))
    poisson_rows = base.alpha == 0
    ens = sr.crps_ensemble(y[poisson_rows], samples[poisson_rows])
    np.testing.assert_allclose(dist.crps(y)[poisson_rows], ens, rtol=0.08, atol=0.02)


# --------------------------------------------------------------------------------------------------
# Zero-inflated NB GLM
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zinb_data():
    """pi = expit(-1.5 + 1.2 z(log1p weeks_since)); NB part: log mu = 0.8 + 0.4 log1p(c52) + 0.4 season_sin,
    alpha 0.5."""
    rng = np.random.default_rng(21)
    X = panel(80, 75)
    n = len(X)
    ws = rng.integers(1, 105, n).astype(float)
    X["weeks_since_violent_events"] = ws
    X["violent_events_sum_w52"] = rng.poisson(np.where(ws > 52, 2.0, 12.0)).astype(float)
    X["season_sin"] = rng.normal(size=n)
    lw = np.log1p(ws)
    pi = special.expit(-1.5 + 1.2 * (lw - lw.mean()) / lw.std())
    mu = np.exp(0.8 + 0.4 * np.log1p(X["violent_events_sum_w52"].to_numpy()) + 0.4 * X["season_sin"].to_numpy())
    y = np.where(rng.uniform(size=n) < pi, 0.0, nb_draw(rng, mu, 0.5))
    train = X["week_start"] < X["week_start"].unique()[60]
    return X, y, pi, train.to_numpy()


def test_zinb_recovers_inflation_and_beats_nb_out_of_sample(zinb_data):
    X, y, pi, train = zinb_data
    feats = ["violent_events_sum_w52", "season_sin"]
    zinb = ZeroInflatedNegativeBinomialGLM(4, feats).fit(X[train], y[train])
    assert isinstance(zinb, CountModel) and zinb.converged_
    assert zinb.inflation_features_ == ["weeks_since_violent_events", "violent_events_sum_w52"]
    assert np.abs(zinb.predict_pi(X) - pi).mean() < 0.04
    assert zinb.alpha_ == pytest.approx(0.5, rel=0.2)
    nb = NegativeBinomialGLM(4, feats + ["weeks_since_violent_events"]).fit(X[train], y[train])
    test = ~train
    assert zinb.predict(X[test]).log_score(y[test]).mean() < nb.predict(X[test]).log_score(y[test]).mean()
    assert zinb.predict(X[test]).crps(y[test]).mean() < nb.predict(X[test]).crps(y[test]).mean()


def test_zinb_contributions_add_up_to_the_log_mean(zinb_data):
    X, y, _, train = zinb_data
    zinb = ZeroInflatedNegativeBinomialGLM(4, ["violent_events_sum_w52", "season_sin"]).fit(X[train], y[train])
    contrib = zinb.contributions(X)
    assert list(contrib.columns) == ["violent_events_sum_w52", "season_sin", "weeks_since_violent_events"]
    baseline = zinb.params_[0] - np.logaddexp(0.0, zinb.gamma_[0])
    np.testing.assert_allclose(contrib.sum(axis=1) + baseline, np.log(zinb.predict(X).mean), atol=1e-8)
    # quiet districts (long since the last event) are pushed down through the inflation term
    long_quiet = X["weeks_since_violent_events"].to_numpy() > 80
    assert contrib.loc[long_quiet, "weeks_since_violent_events"].mean() < 0
    table = zinb.coefficients()
    assert table["term"].iloc[0] == "inflate:intercept" and table["term"].iloc[-1] == "alpha"
    assert len(table) == len(zinb.bse_)


# --------------------------------------------------------------------------------------------------
# LightGBM count model
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree_data():
    """log mu = 0.2 + 1.0 * 1{x1 > 0} + 0.5 * x2 (a step the trees must find), NB2 alpha 0.5; x3 is noise."""
    rng = np.random.default_rng(31)
    X = panel(50, 80)
    n = len(X)
    X["x1"], X["x2"], X["x3"] = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    X["target_violent_events_h4"] = np.nan  # targets are never used as features
    log_mu = 0.2 + 1.0 * (X["x1"].to_numpy() > 0) + 0.5 * X["x2"].to_numpy()
    return X, nb_draw(rng, np.exp(log_mu), 0.5), log_mu


def test_lightgbm_count_mean_dispersion_and_shap(tree_data):
    X, y, log_mu = tree_data
    model = LightGBMCount(4, n_estimators=120, learning_rate=0.1, n_jobs=1).fit(X, y)
    assert isinstance(model, CountModel)
    assert model.features_ == ["x1", "x2", "x3"]
    dist = model.predict(X)
    assert isinstance(dist, NegativeBinomial)
    assert np.corrcoef(np.log(dist.mean), log_mu)[0, 1] > 0.95
    assert model.alpha_ == pytest.approx(0.5, rel=0.2)
    contrib = model.contributions(X)
    np.testing.assert_allclose(contrib.sum(axis=1) + model.expected_log_mean_, np.log(dist.mean), atol=1e-6)
    assert contrib["x3"].abs().mean() < 0.2 * contrib["x1"].abs().mean()
    assert model.feature_importance()["feature"].iloc[0] == "x1"
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(clone.predict(X.head(50)).mean, dist.mean[:50])


def test_lightgbm_count_early_stopping_on_time_ordered_validation(tree_data):
    X, y, _ = tree_data
    model = LightGBMCount(4, ["x1", "x2", "x3"], objective="tweedie", n_estimators=400, learning_rate=0.3,
                          valid_weeks=15, early_stopping_rounds=10, n_jobs=1).fit(X, y)
    assert model.n_rounds_ < 400
    assert model.n_dispersion_rows_ == 50 * 15
    assert 0.3 < model.alpha_ < 0.8
    with pytest.raises(ValueError):
        LightGBMCount(4, ["x1"], valid_weeks=79, n_jobs=1).fit(X, y)


def test_lightgbm_count_binned_dispersion_follows_the_mean():
    """alpha = 0.1 where the mean is low, 1.5 where it is high: the binned fit must see both."""
    rng = np.random.default_rng(41)
    X = panel(60, 60)
    X["x1"] = rng.normal(size=len(X))
    mu = np.exp(np.where(X["x1"].to_numpy() > 0, 2.5, 0.5))
    y = nb_draw(rng, mu, np.where(mu > 5, 1.5, 0.1))
    model = LightGBMCount(1, ["x1"], n_estimators=60, learning_rate=0.2, dispersion="binned", n_jobs=1).fit(X, y)
    low, high = model.alpha(np.array([np.exp(0.5), np.exp(2.5)]))
    assert low < 0.35 and high > 1.0
    poisson = LightGBMCount(1, ["x1"], n_estimators=30, dispersion="poisson", n_jobs=1).fit(X, y)
    assert poisson.predict(X).alpha.max() == 0.0


def test_log_features_leave_trends_and_seasons_alone():
    names = ["violent_events_sum_w4", "season_sin", "rainy_season", "violent_events_trend_w4_w52",
             "weeks_since_violent_events", "ff_base_closed_w13"]
    assert log_feature_names(names) == ["violent_events_sum_w4", "weeks_since_violent_events", "ff_base_closed_w13"]


def test_zinb_features_list_both_parts_after_fitting(zinb_data):
    X, y, _, train = zinb_data
    model = ZeroInflatedNegativeBinomialGLM(4, ["season_sin"])
    model.fit(X[train], y[train])
    assert model.features == ["season_sin", "weeks_since_violent_events", "violent_events_sum_w52"]
    assert model.predict(X[model.features].head(5)).mean.shape == (5,)


# --------------------------------------------------------------------------------------------------
# Self-exciting NB and boosting from it
# --------------------------------------------------------------------------------------------------

from models.count import (  # noqa: E402
    BoostedCount,
    SelfExcitingNB,
    additive_log_terms,
    crps_alpha,
    rate_divisor,
    recency_weights,
)

SE_WEIGHTS = {"violent_events_ewm_hl4": 0.6, "violent_events_sum_w52": 0.3, "nbr_violent_events_sum_w13": 0.05}
SE_BACKGROUND, SE_ALPHA = 0.02, 0.4


def se_panel(rng: np.random.Generator, n_districts: int = 80, n_weeks: int = 120) -> pd.DataFrame:
    X = panel(n_districts, n_weeks)
    level = np.repeat(rng.gamma(0.6, 1.5, n_districts), n_weeks)  # districts from quiet to violent
    n = len(X)
    X["violent_events_ewm_hl4"] = rng.poisson(level * 6.29 * rng.gamma(4.0, 0.25, n)).astype(float)
    X["violent_events_sum_w52"] = rng.poisson(level * 52).astype(float)
    X["nbr_violent_events_sum_w13"] = rng.poisson(3 * level * 13 * rng.gamma(2.0, 0.5, n)).astype(float)
    X["season_sin"] = np.tile(np.sin(np.arange(n_weeks) * 2 * np.pi / 52), n_districts)
    return X


def se_rate(X: pd.DataFrame) -> np.ndarray:
    return SE_BACKGROUND + sum(w * X[f].to_numpy() / rate_divisor(f) for f, w in SE_WEIGHTS.items())


@pytest.fixture(scope="module")
def se_data():
    """h = 4 counts ~ NB2(4 (c + sum_j w_j r_j), alpha = 0.4), the rates being own / neighbour history."""
    rng = np.random.default_rng(5)
    X = se_panel(rng)
    mu = 4 * se_rate(X)
    return X, nb_draw(rng, mu, SE_ALPHA), mu


def test_rate_divisors_turn_history_features_into_weekly_rates():
    assert rate_divisor("violent_events_sum_w13") == 13.0
    assert rate_divisor("nbr_violent_events_sum_w52") == 52.0
    assert rate_divisor("violent_events_ewm_hl1") == pytest.approx(2.0)
    assert rate_divisor("violent_events_ewm_hl4") == pytest.approx(1.0 / (1.0 - 0.5 ** 0.25))
    assert rate_divisor("weeks_since_violent_events") == 1.0
    # a constant weekly count x has decayed sum x * divisor: the rate is x again
    weeks = np.arange(2000)
    assert np.sum(3.0 * 0.5 ** (weeks / 13.0)) / rate_divisor("x_ewm_hl13") == pytest.approx(3.0)


def test_self_exciting_nb_recovers_rate_weights_background_and_dispersion(se_data):
    X, y, mu = se_data
    model = SelfExcitingNB(4, list(SE_WEIGHTS), dispersion="ml").fit(X, y)
    assert isinstance(model, CountModel) and model.converged_
    coef = model.coefficients().set_index("term")["coef"]
    for f, w in SE_WEIGHTS.items():
        assert coef[f] == pytest.approx(w, rel=0.15, abs=0.01), f
    assert coef["background"] == pytest.approx(SE_BACKGROUND, rel=0.35)
    assert model.alpha_ == model.alpha_ml_ == pytest.approx(SE_ALPHA, rel=0.15)
    assert np.corrcoef(model.predict(X).mean, mu)[0, 1] > 0.995
    assert model.features == list(SE_WEIGHTS)
    # predicts from the feature columns alone (what the MLflow signature example holds)
    np.testing.assert_allclose(model.predict(X[model.features].head(7)).mean, model.predict(X.head(7)).mean)


def test_self_exciting_nb_crps_dispersion_picks_the_true_alpha_and_a_fixed_one_is_kept(se_data):
    X, y, _ = se_data
    crps_model = SelfExcitingNB(4, list(SE_WEIGHTS), dispersion="crps", dispersion_weeks=None).fit(X, y)
    assert crps_model.alpha_ in crps_model.alpha_grid and 0.25 <= crps_model.alpha_ <= 0.65
    fixed = SelfExcitingNB(4, list(SE_WEIGHTS), dispersion=0.1).fit(X, y)
    assert fixed.alpha_ == 0.1 and np.all(fixed.predict(X).alpha == 0.1)
    np.testing.assert_allclose(fixed.weights_, crps_model.weights_)  # the dispersion choice leaves the means
    with pytest.raises(ValueError):
        SelfExcitingNB(4, dispersion="median")


def test_crps_alpha_is_the_grid_minimiser():
    rng = np.random.default_rng(2)
    mu = rng.gamma(2.0, 1.0, 20000)
    y = nb_draw(rng, mu, 0.8)
    assert crps_alpha(y, mu) in (0.65, 0.8, 1.0)
    assert crps_alpha(rng.poisson(mu).astype(float), mu) <= 0.05


def test_self_exciting_nb_gradient_matches_finite_differences(se_data):
    X, y, _ = se_data
    X = X.head(3000)
    y = y[:3000]
    model = SelfExcitingNB(4, list(SE_WEIGHTS), ["season_sin"], district_effects=True, l2=0.1, l2_district=0.5,
                           half_life_weeks=30, maxiter=3)
    model.fit(X, y)  # sets the design; 3 iterations are enough to get a generic parameter vector
    R, Z, Dd = model._rates(X), model._modifier_matrix(X), model._district_matrix(X)
    wt = recency_weights(X, 30)
    theta = model.theta_ + np.random.default_rng(0).normal(0, 0.1, model.theta_.size)
    _, grad = model._objective(theta, y, R, Z, Dd, wt)
    num = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = 1e-6
        num[j] = (model._objective(theta + e, y, R, Z, Dd, wt)[0] - model._objective(theta - e, y, R, Z, Dd, wt)[0]) / 2e-6
    np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-7)


def test_self_exciting_nb_contributions_add_up_to_the_log_mean(se_data):
    X, y, _ = se_data
    model = SelfExcitingNB(4, list(SE_WEIGHTS), ["season_sin"], district_effects=True).fit(X, y)
    contrib = model.contributions(X)
    assert list(contrib.columns) == [*SE_WEIGHTS, "season_sin", "district_effect"]
    assert contrib.index.equals(X.index)
    np.testing.assert_allclose(contrib.sum(axis=1) + model.expected_log_mean_, model.log_mean(X), atol=1e-9)
    # a rate above its training average pushes the mean up, below it down
    own = contrib["violent_events_ewm_hl4"].to_numpy()
    above = X["violent_events_ewm_hl4"].to_numpy() / rate_divisor("violent_events_ewm_hl4") > model.rate_mean_[0]
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
    plain = SelfExcitingNB(4, list(SE_WEIGHTS), dispersion="ml").fit(X[train], y[train])
    with_effects = SelfExcitingNB(4, list(SE_WEIGHTS), district_effects=True, l2_district=1e-3,
                                  dispersion="ml").fit(X[train], y[train])
    assert "district_code" in with_effects.features
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
    rate = se_rate(X) + np.where(late, 0.6, 0.0) * X["violent_events_ewm_hl4"].to_numpy() / rate_divisor(
        "violent_events_ewm_hl4")
    y = nb_draw(rng, 4 * rate, SE_ALPHA)
    flat = SelfExcitingNB(4, list(SE_WEIGHTS), dispersion="ml").fit(X, y)
    recent = SelfExcitingNB(4, list(SE_WEIGHTS), dispersion="ml", half_life_weeks=15).fit(X, y)
    windowed = SelfExcitingNB(4, list(SE_WEIGHTS), dispersion="ml", max_train_weeks=80).fit(X, y)
    w_flat, w_recent, w_window = (m.coefficients().set_index("term")["coef"]["violent_events_ewm_hl4"]
                                  for m in (flat, recent, windowed))
    assert w_flat < 1.05 and w_recent > 1.05 and w_window == pytest.approx(1.2, rel=0.15)
    w = recency_weights(X, 15)
    assert w.mean() == pytest.approx(1.0) and w[late].min() > w[~late].max()


def test_self_exciting_nb_is_picklable_and_skips_absent_default_rates(se_data):
    X, y, _ = se_data
    model = SelfExcitingNB(4).fit(X, y)  # default rates: only the columns X has are used
    assert model.rates_ == ["violent_events_ewm_hl4", "nbr_violent_events_sum_w13"] and len(model.notes_) == 5
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(clone.predict(X).mean, model.predict(X).mean)
    with pytest.raises(KeyError):
        SelfExcitingNB(4, ["violent_events_sum_w4"]).fit(X, y)


@pytest.fixture(scope="module")
def boost_data():
    """The self-exciting mean times exp(0.7 x), x a feature the base model does not read."""
    rng = np.random.default_rng(13)
    X = se_panel(rng, 80, 100)
    X["signal"] = rng.normal(size=len(X))
    X["noise"] = rng.normal(size=len(X))
    mu = 4 * se_rate(X) * np.exp(0.7 * X["signal"].to_numpy())
    return X, nb_draw(rng, mu, SE_ALPHA)


def test_boosted_count_learns_what_the_base_misses_and_adds_up(boost_data):
    X, y = boost_data
    train = (X["week_start"] < X["week_start"].unique()[70]).to_numpy()
    base = SelfExcitingNB(4, list(SE_WEIGHTS), dispersion="ml")
    boosted = BoostedCount(4, SelfExcitingNB(4, list(SE_WEIGHTS)), ["signal", "noise"], n_estimators=150,
                           learning_rate=0.1, dispersion="ml").fit(X[train], y[train])
    base.fit(X[train], y[train])
    assert isinstance(boosted, CountModel)
    test = ~train
    assert boosted.predict(X[test]).crps(y[test]).mean() < 0.95 * base.predict(X[test]).crps(y[test]).mean()
    imp = boosted.feature_importance()
    assert imp["feature"].iloc[0] == "signal"
    contrib = boosted.contributions(X[test])
    assert list(contrib.columns) == [*SE_WEIGHTS, "signal", "noise", "boosting_average"]
    np.testing.assert_allclose(contrib.sum(axis=1) + boosted.expected_log_mean_, boosted.log_mean(X[test]), atol=1e-6)
    clone = pickle.loads(pickle.dumps(boosted))
    np.testing.assert_allclose(clone.predict(X[test]).mean, boosted.predict(X[test]).mean)


def test_boosted_count_stays_at_the_base_without_signal_and_selects_features_by_prefix(se_data):
    X, y, _ = se_data
    X = X.assign(noise=np.random.default_rng(1).normal(size=len(X)))
    base = SelfExcitingNB(4, list(SE_WEIGHTS), dispersion=0.4).fit(X, y)
    boosted = BoostedCount(4, SelfExcitingNB(4, list(SE_WEIGHTS), dispersion=0.4), feature_prefixes=("noise",),
                           n_estimators=50, dispersion=0.4).fit(X, y)
    assert boosted.features_ == ["noise"]
    ratio = boosted.predict(X).mean / base.predict(X).mean
    assert np.abs(np.log(ratio)).max() < 0.1
