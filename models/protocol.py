"""The one small protocol every model follows (statsforecast style): fit on rows up to a cutoff, then
predict a full distribution.

Count models predict a :class:`models.distributions.CountDistribution` of the violent events over their
horizon; hazard models predict the probability of a major attack within their horizon.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from models.distributions import CountDistribution


@runtime_checkable
class CountModel(Protocol):
    name: str
    horizon: int

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "CountModel": ...

    def predict(self, X: pd.DataFrame) -> CountDistribution: ...


@runtime_checkable
class HazardModel(Protocol):
    name: str
    horizon: int

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "HazardModel": ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(at least one major attack within the horizon) per row."""
        ...


class Standardizer:
    """log1p for count-like columns, then centring and scaling with the training rows' moments."""

    def __init__(self, features: list[str], log_features: list[str]):
        self.features = list(features)
        self.log_features = set(log_features)

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        cols = [np.log1p(np.clip(X[f].to_numpy(np.float64), 0, None)) if f in self.log_features
                else X[f].to_numpy(np.float64) for f in self.features]
        return np.column_stack(cols) if cols else np.zeros((len(X), 0))

    def fit(self, X: pd.DataFrame) -> "Standardizer":
        raw = self._raw(X)
        self.mean_ = raw.mean(axis=0)
        sd = raw.std(axis=0)
        self.scale_ = np.where(sd > 1e-9, sd, 1.0)
        return self

    def transform(self, X: pd.DataFrame, *, intercept: bool = True) -> np.ndarray:
        z = (self._raw(X) - self.mean_) / self.scale_
        return np.column_stack([np.ones(len(X)), z]) if intercept else z
