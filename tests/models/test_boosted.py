"""Boosted count models (LightGBM alone and boosting from the self-exciting NB) on synthetic panels."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from synthetic_panels import (
    SE_ALPHA,
    SE_CATALOG,
    SE_NAMES,
    SE_RATES,
    nb_draw,
    panel,
    plain_spec,
    se_panel,
    se_rate,
)

from features.spec import Select
from models.boosted import BoostedCount, LightGBMCount
from models.distributions import NegativeBinomial
from models.protocol import CountModel
from models.self_exciting import SelfExcitingNB

X1, X2, X3 = plain_spec("x1"), plain_spec("x2"), plain_spec("x3")
TREE_CATALOG = [X1, X2, X3]


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
    model = LightGBMCount(4, TREE_CATALOG, n_estimators=120, learning_rate=0.1, n_jobs=1).fit(X, y)
    assert isinstance(model, CountModel)
    assert model.features_ == ["x1", "x2", "x3"] == model.input_columns()
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
    model = LightGBMCount(4, features=TREE_CATALOG, objective="tweedie", n_estimators=400, learning_rate=0.3,
                          valid_weeks=15, early_stopping_rounds=10, n_jobs=1).fit(X, y)
    assert model.n_rounds_ < 400
    assert model.n_dispersion_rows_ == 50 * 15
    assert 0.3 < model.alpha_ < 0.8
    with pytest.raises(ValueError):
        LightGBMCount(4, features=[X1], valid_weeks=79, n_jobs=1).fit(X, y)


def test_lightgbm_count_binned_dispersion_follows_the_mean():
    """alpha = 0.1 where the mean is low, 1.5 where it is high: the binned fit must see both."""
    rng = np.random.default_rng(41)
    X = panel(60, 60)
    X["x1"] = rng.normal(size=len(X))
    mu = np.exp(np.where(X["x1"].to_numpy() > 0, 2.5, 0.5))
    y = nb_draw(rng, mu, np.where(mu > 5, 1.5, 0.1))
    model = LightGBMCount(1, features=[X1], n_estimators=60, learning_rate=0.2, dispersion="binned",
                          n_jobs=1).fit(X, y)
    low, high = model.alpha(np.array([np.exp(0.5), np.exp(2.5)]))
    assert low < 0.35 and high > 1.0
    poisson = LightGBMCount(1, features=[X1], n_estimators=30, dispersion="poisson", n_jobs=1).fit(X, y)
    assert poisson.predict(X).alpha.max() == 0.0


def test_lightgbm_count_refuses_a_catalog_of_names():
    with pytest.raises(TypeError, match="FeatureSpec"):
        LightGBMCount(4, ["x1", "x2"])


# --------------------------------------------------------------------------------------------------
# Boosting from the self-exciting NB
# --------------------------------------------------------------------------------------------------

SIGNAL, NOISE = plain_spec("signal"), plain_spec("noise")


@pytest.fixture(scope="module")
def se_data():
    rng = np.random.default_rng(5)
    X = se_panel(rng)
    return X, nb_draw(rng, 4 * se_rate(X), SE_ALPHA)


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
    base = SelfExcitingNB(4, rates=SE_RATES, dispersion="ml")
    boosted = BoostedCount(4, base=SelfExcitingNB(4, rates=SE_RATES), features=[SIGNAL, NOISE], n_estimators=150,
                           learning_rate=0.1, dispersion="ml").fit(X[train], y[train])
    base.fit(X[train], y[train])
    assert isinstance(boosted, CountModel)
    assert boosted.input_columns() == [*SE_NAMES, "signal", "noise"]
    test = ~train
    assert boosted.predict(X[test]).crps(y[test]).mean() < 0.95 * base.predict(X[test]).crps(y[test]).mean()
    imp = boosted.feature_importance()
    assert imp["feature"].iloc[0] == "signal"
    contrib = boosted.contributions(X[test])
    assert list(contrib.columns) == [*SE_NAMES, "signal", "noise", "boosting_average"]
    np.testing.assert_allclose(contrib.sum(axis=1) + boosted.expected_log_mean_, boosted.log_mean(X[test]), atol=1e-6)
    clone = pickle.loads(pickle.dumps(boosted))
    np.testing.assert_allclose(clone.predict(X[test]).mean, boosted.predict(X[test]).mean)


def test_boosted_count_stays_at_the_base_without_signal_and_selects_features_from_the_catalog(se_data):
    X, y = se_data
    X = X.assign(noise=np.random.default_rng(1).normal(size=len(X)))
    catalog = [*SE_CATALOG, NOISE]
    base = SelfExcitingNB(4, rates=SE_RATES, dispersion=0.4).fit(X, y)
    boosted = BoostedCount(4, catalog, SelfExcitingNB(4, rates=SE_RATES, dispersion=0.4), (Select(family="test"),),
                           n_estimators=50, dispersion=0.4).fit(X, y)
    assert boosted.features_ == ["noise"]
    ratio = boosted.predict(X).mean / base.predict(X).mean
    assert np.abs(np.log(ratio)).max() < 0.1
    everything = BoostedCount(4, catalog, n_estimators=5)  # features=None: the whole catalog; base on its defaults
    assert everything.requested_features == [s.name for s in catalog]
    assert everything.base.input_columns() == ["violent_events_ewm_hl4", "nbr_violent_events_sum_w13"]
