"""GLM count models on synthetic district-week data with a known generating process (fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special
from synthetic_panels import nb_draw, panel

from features.attacks import window_spec
from features.seasonality import SEASON_SIN
from features.spec import FeatureSpec
from models.glm import (
    DEFAULT_GLM_FEATURES,
    NegativeBinomialGLM,
    ZeroInflatedNegativeBinomialGLM,
)
from models.protocol import CountModel

W52 = window_spec("violent_events", "sum", window=52)
WEEKS_SINCE = window_spec("violent_events", "weeks_since", unit="weeks")
CONSTANT = FeatureSpec("constant_flag", "test", "a constant column", "indicator")
FEATS = [W52, SEASON_SIN]


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
    model = NegativeBinomialGLM(4, features=FEATS).fit(X, y)
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
    good = NegativeBinomialGLM(4, features=FEATS).fit(X, y)
    starved = NegativeBinomialGLM(4, features=FEATS, maxiter=1).fit(X, y)
    assert starved.fit_method_ == "lbfgs" and starved.converged_
    np.testing.assert_allclose(starved.params_, good.params_, atol=2e-3)
    assert starved.alpha_ == pytest.approx(good.alpha_, rel=1e-2)
    assert np.all(np.isfinite(starved.bse_))


def test_nb_glm_drops_constant_and_tolerates_missing_default_features(nb_data):
    X, y, _ = nb_data
    model = NegativeBinomialGLM(1, features=[W52, CONSTANT, SEASON_SIN]).fit(X, y)
    assert model.features_ == ["violent_events_sum_w52", "season_sin"]
    assert any("constant_flag" in note for note in model.notes_)
    assert "constant_flag" not in model.contributions(X).columns
    default = NegativeBinomialGLM(1, [W52, SEASON_SIN, CONSTANT])  # a catalog with two of the default features
    assert default.input_columns() == ["violent_events_sum_w52", "season_sin"]
    default.fit(X, y)
    assert default.input_columns() == default.features_ == ["violent_events_sum_w52", "season_sin"]
    assert len(default.notes_) == len(DEFAULT_GLM_FEATURES) - 2  # one note per default left out
    assert any("cos" in note for note in default.notes_)
    with pytest.raises(KeyError):
        NegativeBinomialGLM(1, features=[W52, FeatureSpec("not_a_column", "test", "absent", "events")]).fit(X, y)


def test_nb_glm_ridge_shrinks_towards_zero(nb_data):
    X, y, _ = nb_data
    free = NegativeBinomialGLM(4, features=FEATS).fit(X, y)
    light = NegativeBinomialGLM(4, features=FEATS, l2=1e-6).fit(X, y)
    heavy = NegativeBinomialGLM(4, features=FEATS, l2=1.0).fit(X, y)
    np.testing.assert_allclose(light.params_, free.params_, atol=1e-3)
    assert np.all(np.abs(heavy.params_[1:]) < 0.6 * np.abs(free.params_[1:]))
    assert light.fit_method_ == "lbfgs"


def test_fit_nb2_missing_values_are_imputed_at_predict(nb_data):
    X, y, _ = nb_data
    model = NegativeBinomialGLM(4, features=FEATS).fit(X, y)
    Xn = X.head(3).copy()
    Xn.loc[Xn.index[0], "season_sin"] = np.nan
    mu = model.predict(Xn).mean
    assert np.all(np.isfinite(mu))


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


#: The zinb data's columns as a catalog (the default inflation features are selected from it).
ZINB_CATALOG = [WEEKS_SINCE, W52, SEASON_SIN]


def test_zinb_recovers_inflation_and_beats_nb_out_of_sample(zinb_data):
    X, y, pi, train = zinb_data
    zinb = ZeroInflatedNegativeBinomialGLM(4, ZINB_CATALOG, FEATS).fit(X[train], y[train])
    assert isinstance(zinb, CountModel) and zinb.converged_
    assert zinb.inflation_features_ == ["weeks_since_violent_events", "violent_events_sum_w52"]
    assert np.abs(zinb.predict_pi(X) - pi).mean() < 0.04
    assert zinb.alpha_ == pytest.approx(0.5, rel=0.2)
    nb = NegativeBinomialGLM(4, features=FEATS + [WEEKS_SINCE]).fit(X[train], y[train])
    test = ~train
    assert zinb.predict(X[test]).log_score(y[test]).mean() < nb.predict(X[test]).log_score(y[test]).mean()
    assert zinb.predict(X[test]).crps(y[test]).mean() < nb.predict(X[test]).crps(y[test]).mean()


def test_zinb_contributions_add_up_to_the_log_mean(zinb_data):
    X, y, _, train = zinb_data
    zinb = ZeroInflatedNegativeBinomialGLM(4, ZINB_CATALOG, FEATS).fit(X[train], y[train])
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


def test_zinb_features_list_both_parts_after_fitting(zinb_data):
    X, y, _, train = zinb_data
    model = ZeroInflatedNegativeBinomialGLM(4, ZINB_CATALOG, [SEASON_SIN])
    model.fit(X[train], y[train])
    assert model.input_columns() == ["season_sin", "weeks_since_violent_events", "violent_events_sum_w52"]
    assert model.predict(X[model.input_columns()].head(5)).mean.shape == (5,)
