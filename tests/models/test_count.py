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
