"""Hazard models: the probability of a major attack within the next ``horizon`` weeks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from models.count import log_feature_names
from models.protocol import Standardizer

DEFAULT_HAZARD_FEATURES = [
    "violent_events_sum_w4",
    "violent_events_sum_w52",
    "major_attacks_sum_w13",
    "major_attacks_sum_w52",
    "fatalities_ewm_hl4",
    "weeks_since_major_attacks",
    "weeks_since_violent_events",
    "season_sin",
    "season_cos",
]


class DiscreteTimeHazard:
    """Discrete-time hazard: a binomial GLM of "a major attack in week t" on the district's history.

    Fitted on one-week rows (target ``target_major_attack_h1``). The probability within ``horizon`` weeks
    assumes the weekly hazard stays at its current level: P = 1 - (1 - h)^horizon.
    ``link`` is "logit" or "cloglog".
    """

    def __init__(self, horizon: int, features: list[str] | None = None, link: str = "logit", name: str | None = None):
        self.horizon = horizon
        self.features = list(features or DEFAULT_HAZARD_FEATURES)
        self.link = link
        self.name = name or f"hazard_{link}"

    def _family(self):
        link = sm.families.links.Logit() if self.link == "logit" else sm.families.links.CLogLog()
        return sm.families.Binomial(link=link)

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "DiscreteTimeHazard":
        self.scaler_ = Standardizer(self.features, log_feature_names(self.features)).fit(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = sm.GLM(np.asarray(event, dtype=np.float64), self.scaler_.transform(X), family=self._family()).fit()
        self.params_ = np.asarray(result.params)
        self.bse_ = np.asarray(result.bse)
        self.converged_ = bool(getattr(result, "converged", True))
        return self

    def weekly_hazard(self, X: pd.DataFrame) -> np.ndarray:
        eta = np.clip(self.scaler_.transform(X) @ self.params_, -30, 30)
        return self._family().link.inverse(eta)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return 1.0 - (1.0 - self.weekly_hazard(X)) ** self.horizon

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        z = self.scaler_.transform(X, intercept=False)
        return pd.DataFrame(z * self.params_[1:], index=X.index, columns=self.features)

    def coefficients(self) -> pd.DataFrame:
        return pd.DataFrame({"term": ["intercept", *self.features], "coef": self.params_, "std_err": self.bse_})
