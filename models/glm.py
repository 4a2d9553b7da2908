"""Generalised linear count models: violent events over the next ``horizon`` weeks, as an NB2 distribution.

Rows are district-weeks (features from the weeks before ``week_start``); ``y`` is the count of violent events
in weeks ``week_start .. week_start + horizon - 1`` (``target_violent_events_h{horizon}``).

* :class:`NegativeBinomialGLM` - NB2 regression on a compact, standardised design (optionally ridge).
* :class:`ZeroInflatedNegativeBinomialGLM` - NB2 mixed with structural zeros whose share depends on
  a few "is this district quiet?" features; predicts a :class:`models.distributions.ZeroInflated`.

Both read the catalog features their selections designate (:data:`DEFAULT_GLM_FEATURES`,
:data:`DEFAULT_INFLATION_FEATURES`); ``contributions(X)`` splits the log-mean into additive per-feature terms.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import special

from features.spec import FeatureSpec, Select
from models.design import (
    LinearDesign,
    SelectedFeatures,
    Selection,
    kept_rows,
    log_features,
    require_columns,
    resolve_features,
)
from models.distributions import NegativeBinomial, ZeroInflated
from models.nb2 import ETA_MAX, ETA_MIN, fit_nb2, nb2_loglik
from models.protocol import CountModel

#: A compact default design: own recent history, decay, duration, neighbours, season (in this order).
DEFAULT_GLM_FEATURES: tuple[Select, ...] = (
    Select(measure="violent_events", scope="own", statistic="sum", windows=4),
    Select(measure="violent_events", scope="own", statistic="sum", windows=13),
    Select(measure="violent_events", scope="own", statistic="sum", windows=52),
    Select(measure="violent_events", scope="own", statistic="ewm", half_lives=4),
    Select(measure="fatalities", scope="own", statistic="sum", windows=13),
    Select(measure="violent_events", scope="own", statistic="weeks_since"),
    Select(measure="violent_events", scope="neighbours", statistic="sum", windows=13),
    Select(family="seasonality", statistic="sin"),
    Select(family="seasonality", statistic="cos"),
)

#: Features driving the structural-zero share of the zero-inflated model ("has this district gone quiet?").
DEFAULT_INFLATION_FEATURES: tuple[Select, ...] = (
    Select(measure="violent_events", scope="own", statistic="weeks_since"),
    Select(measure="violent_events", scope="own", statistic="sum", windows=52),
)


class NegativeBinomialGLM(SelectedFeatures, CountModel):
    """NB2 regression (log link, dispersion alpha estimated by maximum likelihood).

    The mean of the count over the horizon is exp(x'beta), x the standardised (log1p for counts) features
    of the row; the predictive distribution is NB2 with the fitted alpha (variance mu + alpha mu^2).
    ``contributions`` splits the log-mean into per-feature terms beta_j * z_j (z centred on the training
    mean), the exact SHAP values of the linear predictor.

    ``features`` is a selection (:data:`models.design.Selection`) resolved against ``catalog`` (the feature
    table's specs): default :data:`DEFAULT_GLM_FEATURES`, selectors that find nothing are left out
    (``notes_`` says which); every selected feature must be a column of X at fit (``KeyError`` otherwise).
    Count-like features enter as log1p (:func:`models.design.log_features`).

    Robustness: near-constant features are dropped (``notes_`` says which), rows with a missing target
    are ignored, missing feature values are imputed with the training mean, and the fit falls back from
    BFGS to Newton to a direct L-BFGS-B fit to Poisson-GLM means + ML alpha (``fit_method_``).
    ``l2`` > 0 adds a ridge penalty l2/2 * |beta|^2 on the standardised coefficients (intercept free) to the
    mean negative log-likelihood; ``aic_`` then still counts every coefficient as one parameter.
    """

    def __init__(self, horizon: int, catalog: Iterable[FeatureSpec] = (),
                 features: Selection = DEFAULT_GLM_FEATURES, name: str = "nb_glm", *,
                 l2: float = 0.0, maxiter: int = 500, min_variation: int = 5):
        self.horizon = horizon
        self.requested_features, self.selection_notes = resolve_features(features, catalog)
        self.name = name
        self.l2 = float(l2)
        self.maxiter = int(maxiter)
        self.min_variation = int(min_variation)
        self.features_: list[str] | None = None

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "NegativeBinomialGLM":
        y = np.asarray(y, dtype=np.float64)
        used = [s.name for s in self.requested_features]
        if not used:
            raise KeyError("the feature selection found no feature in the catalog")
        require_columns(X, used)
        rows = np.isfinite(y) & (y >= 0)
        Xf, yf = kept_rows(X, rows), y[rows]
        self.design_ = LinearDesign(used, log_features(self.requested_features),
                                    min_variation=self.min_variation).fit(Xf)
        self.features_ = self.design_.features_
        self.notes_ = list(self.selection_notes) + self.design_.notes_
        if (~rows).any():
            self.notes_.append(f"{int((~rows).sum())} rows with a missing or negative target ignored")
        D = self.design_.transform(Xf)
        out = fit_nb2(yf, D, l2=self.l2, maxiter=self.maxiter)
        self.params_ = np.asarray(out["params"], dtype=np.float64)
        self.alpha_ = float(np.clip(out["alpha"], 1e-8, None))
        self.bse_ = np.asarray(out["bse"], dtype=np.float64)
        self.converged_ = bool(out["converged"])
        self.fit_method_ = out["method"]
        self.llf_ = float(out["llf"])
        self.aic_ = float(-2.0 * self.llf_ + 2.0 * (len(self.params_) + 1))
        self.n_obs_ = int(len(yf))
        return self

    def log_mean(self, X: pd.DataFrame) -> np.ndarray:
        """log of the expected count over the horizon, per row."""
        return np.clip(self.design_.transform(X) @ self.params_, ETA_MIN, ETA_MAX)

    def predict(self, X: pd.DataFrame) -> NegativeBinomial:
        return NegativeBinomial(np.exp(self.log_mean(X)), self.alpha_)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature terms of the log-mean (relative to the training average), same index as X."""
        z = self.design_.transform(X, intercept=False)
        return self.design_.collapse(z * self.params_[1:], X.index)

    def coefficients(self) -> pd.DataFrame:
        """Standardised coefficients (per training standard deviation of the term), then alpha."""
        return pd.DataFrame({"term": ["intercept", *self.design_.terms_, "alpha"],
                             "coef": [*self.params_, self.alpha_],
                             "std_err": self.bse_})


class ZeroInflatedNegativeBinomialGLM(CountModel):
    """Zero-inflated NB2 regression (statsmodels ZeroInflatedNegativeBinomialP, logit inflation).

    A row's count over the horizon is 0 with probability pi = expit(w'gamma) (a "quiet" district-week),
    otherwise NB2 with mean mu = exp(x'beta) and dispersion alpha. x: the standardised ``features``
    (log1p for counts); w: the standardised ``inflation_features`` (default: weeks since the last violent
    event and the 52-week count). Predicts :class:`ZeroInflated` (overall mean (1 - pi) mu). Both are
    selections resolved against ``catalog``, as in :class:`NegativeBinomialGLM`.

    ``contributions`` splits log E[count] = x'beta - softplus(w'gamma) exactly: feature j gets
    beta_j z_j plus, when it is an inflation feature, gamma_j w_j * (softplus(g0) - softplus(w'gamma)) /
    (w'gamma - g0) (the straight-line integrated gradient of the inflation term from the training average
    g0 = gamma_0), so the row sum is the log-mean minus its value at the training average.
    """

    def __init__(self, horizon: int, catalog: Iterable[FeatureSpec] = (),
                 features: Selection = DEFAULT_GLM_FEATURES,
                 inflation_features: Selection = DEFAULT_INFLATION_FEATURES, name: str = "zinb_glm", *,
                 maxiter: int = 500, min_variation: int = 5):
        catalog = list(catalog)
        self.horizon = horizon
        self.requested_features, notes = resolve_features(features, catalog)
        self.inflation_features, notes_i = resolve_features(inflation_features, catalog)
        self.selection_notes = notes + notes_i
        self.name = name
        self.maxiter = int(maxiter)
        self.min_variation = int(min_variation)
        self.features_: list[str] | None = None
        self.inflation_features_: list[str] | None = None

    def input_columns(self) -> list[str]:
        """Every feature the fitted model reads, count part then inflation-only (before fitting: as selected)."""
        if self.features_ is not None:
            return list(dict.fromkeys([*self.features_, *self.inflation_features_]))
        return list(dict.fromkeys(s.name for s in [*self.requested_features, *self.inflation_features]))

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "ZeroInflatedNegativeBinomialGLM":
        y = np.asarray(y, dtype=np.float64)
        used = [s.name for s in self.requested_features]
        infl = [s.name for s in self.inflation_features]
        if not used or not infl:
            raise KeyError("the feature selections found no count or no inflation feature in the catalog")
        require_columns(X, [*used, *infl])
        rows = np.isfinite(y) & (y >= 0)
        Xf, yf = kept_rows(X, rows), y[rows]
        self.design_ = LinearDesign(used, log_features(self.requested_features),
                                    min_variation=self.min_variation).fit(Xf)
        self.inflation_design_ = LinearDesign(infl, log_features(self.inflation_features),
                                              min_variation=self.min_variation).fit(Xf)
        self.features_ = self.design_.features_
        self.inflation_features_ = self.inflation_design_.features_
        self.notes_ = (list(self.selection_notes) + self.design_.notes_
                       + [f"inflation: {n}" for n in self.inflation_design_.notes_])
        D, W = self.design_.transform(Xf), self.inflation_design_.transform(Xf)
        nb = fit_nb2(yf, D, maxiter=self.maxiter)
        # start: structural zeros = the excess of zeros over the NB fit
        mu_nb = np.exp(np.clip(D @ nb["params"], ETA_MIN, ETA_MAX))
        p0_nb = np.exp(nb2_loglik(np.zeros_like(yf), mu_nb, nb["alpha"]))
        excess = np.clip(((yf == 0).mean() - p0_nb.mean()) / np.clip(1 - p0_nb.mean(), 1e-6, None), 0.02, 0.9)
        start = np.r_[special.logit(excess), np.zeros(W.shape[1] - 1), nb["params"], nb["alpha"]]
        # imported by the fit that uses it, not by every command
        from statsmodels.discrete.count_model import ZeroInflatedNegativeBinomialP

        model = ZeroInflatedNegativeBinomialP(yf, D, exog_infl=W, inflation="logit", p=2)
        best = None
        for method in ("bfgs", "newton", "nm"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = model.fit(start_params=start, method=method,
                                    maxiter=self.maxiter * (10 if method == "nm" else 1), disp=0)
            except Exception:  # noqa: BLE001 - try the next optimiser
                continue
            params = np.asarray(res.params)
            if not (np.all(np.isfinite(params)) and np.isfinite(res.llf)):
                continue
            converged = bool(res.mle_retvals.get("converged", False))
            if best is None or (converged and not best[2]) or (converged == best[2] and res.llf > best[0].llf):
                best = (res, method, converged)
            if converged:
                break
        k_infl = W.shape[1]
        if best is None:  # every optimiser failed: no inflation on top of the NB fit
            self.gamma_ = np.r_[-30.0, np.zeros(k_infl - 1)]
            self.params_, self.alpha_ = nb["params"], nb["alpha"]
            self.bse_ = np.full(k_infl + len(nb["params"]) + 1, np.nan)
            self.llf_, self.converged_, self.fit_method_ = nb["llf"], False, f"nb:{nb['method']}"
            self.notes_.append("zero-inflated fit failed: structural zeros switched off (NB2 fit)")
        else:
            res, method, converged = best
            params = np.asarray(res.params)
            self.gamma_ = params[:k_infl]
            self.params_ = params[k_infl:-1]
            self.alpha_ = float(np.clip(params[-1], 1e-8, None))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.bse_ = np.asarray(res.bse, dtype=np.float64)
            self.llf_, self.converged_, self.fit_method_ = float(res.llf), converged, method
        self.aic_ = float(-2.0 * self.llf_ + 2.0 * (len(self.gamma_) + len(self.params_) + 1))
        self.n_obs_ = int(len(yf))
        return self

    def inflation_logit(self, X: pd.DataFrame) -> np.ndarray:
        return np.clip(self.inflation_design_.transform(X) @ self.gamma_, -30.0, 30.0)

    def predict_pi(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of a structural zero (no violent event over the horizon whatever the NB draw)."""
        return special.expit(self.inflation_logit(X))

    def predict(self, X: pd.DataFrame) -> ZeroInflated:
        mu = np.exp(np.clip(self.design_.transform(X) @ self.params_, ETA_MIN, ETA_MAX))
        return ZeroInflated(NegativeBinomial(mu, self.alpha_), self.predict_pi(X))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature additive terms of log E[count] relative to the training average (see class doc)."""
        count = self.design_.collapse(self.design_.transform(X, intercept=False) * self.params_[1:], X.index)
        w_terms = self.inflation_design_.transform(X, intercept=False) * self.gamma_[1:]
        eta, g0 = self.inflation_logit(X), self.gamma_[0]
        d = eta - g0
        slope = np.where(np.abs(d) > 1e-8,
                         -(np.logaddexp(0.0, eta) - np.logaddexp(0.0, g0)) / np.where(np.abs(d) > 1e-8, d, 1.0),
                         -special.expit(eta))
        infl = self.inflation_design_.collapse(w_terms * slope[:, None], X.index)
        cols = list(dict.fromkeys([*count.columns, *infl.columns]))
        return count.reindex(columns=cols, fill_value=0.0).add(infl.reindex(columns=cols, fill_value=0.0))

    def coefficients(self) -> pd.DataFrame:
        terms = ([f"inflate:{t}" for t in ["intercept", *self.inflation_design_.terms_]]
                 + ["intercept", *self.design_.terms_, "alpha"])
        return pd.DataFrame({"term": terms, "coef": [*self.gamma_, *self.params_, self.alpha_], "std_err": self.bse_})
