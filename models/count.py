"""Count models: violent events over the next ``horizon`` weeks, as a predictive distribution."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from models.distributions import NegativeBinomial
from models.protocol import Standardizer

#: A compact default design for the GLMs: own recent history, decay, duration, season.
DEFAULT_GLM_FEATURES = [
    "violent_events_sum_w4",
    "violent_events_sum_w13",
    "violent_events_sum_w52",
    "violent_events_ewm_hl4",
    "fatalities_sum_w13",
    "weeks_since_violent_events",
    "season_sin",
    "season_cos",
]


def log_feature_names(features: list[str]) -> list[str]:
    """Count-like features (sums, lags, decayed sums, durations) enter GLMs as log1p."""
    return [f for f in features if not f.startswith(("season_", "rainy_"))]


class NegativeBinomialGLM:
    """statsmodels NB2 regression (log link, dispersion alpha estimated by maximum likelihood).

    The mean is exp(x'beta) with x the standardised (log1p for counts) features; the predictive
    distribution is NB2 with the fitted alpha. ``contributions`` splits the log-mean into per-feature
    terms beta_j * z_j (z centred on the training mean), the exact SHAP values of the linear predictor.
    """

    def __init__(self, horizon: int, features: list[str] | None = None, name: str = "nb_glm"):
        self.horizon = horizon
        self.features = list(features or DEFAULT_GLM_FEATURES)
        self.name = name

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "NegativeBinomialGLM":
        self.scaler_ = Standardizer(self.features, log_feature_names(self.features)).fit(X)
        design = self.scaler_.transform(X)
        y = np.asarray(y, dtype=np.float64)
        start = np.append(np.linalg.lstsq(design, np.log(y + 0.1), rcond=None)[0], 1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = sm.NegativeBinomial(y, design, loglike_method="nb2").fit(
                start_params=start, method="bfgs", maxiter=500, disp=0)
        self.params_ = np.asarray(result.params[:-1])
        self.alpha_ = float(np.clip(result.params[-1], 1e-8, None))
        self.converged_ = bool(result.mle_retvals.get("converged", False))
        self.llf_ = float(result.llf)
        self.aic_ = float(result.aic)
        self.bse_ = np.asarray(result.bse)
        return self

    def predict(self, X: pd.DataFrame) -> NegativeBinomial:
        mu = np.exp(np.clip(self.scaler_.transform(X) @ self.params_, -30, 12))
        return NegativeBinomial(mu, self.alpha_)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature terms of the log-mean (relative to the training average), same index as X."""
        z = self.scaler_.transform(X, intercept=False)
        return pd.DataFrame(z * self.params_[1:], index=X.index, columns=self.features)

    def coefficients(self) -> pd.DataFrame:
        return pd.DataFrame({"term": ["intercept", *self.features, "alpha"],
                             "coef": [*self.params_, self.alpha_],
                             "std_err": self.bse_})
