"""The one small contract every model follows (statsforecast style): declare what it reads, fit on rows up
to a cutoff, then predict a full distribution.

Every model, baselines included, is a :class:`CountModel` or a :class:`HazardModel` and declares:

* ``name`` and ``horizon`` (weeks);
* ``history_weeks``: how many weekly lag columns ``{measure}_lag1 .. {measure}_lag{history_weeks}`` it reads
  (0 = none), ``measure`` being its ``history_measure`` (default ``violent_events``); the pipeline attaches them (:func:`models.baselines.attach_history`) before fitting and
  predicting, and never asks the model anything else about its inputs;
* :meth:`Model.input_columns`: the feature-table columns it reads (after ``fit``: exactly those that
  ``predict`` reads; before: the ones it was asked to read, possibly empty when it chooses at fit time);
* :meth:`Model.contributions`: per-row additive terms of its linear predictor, one column per feature
  (same index as X), or ``None`` when the model cannot split its prediction (the baselines).

Models receive the feature catalog (``FeatureTable.specs``, a list of :class:`features.spec.FeatureSpec`)
as their ``catalog`` argument and select their features from it by family, measure, scope, statistic and
window (:mod:`models.design`); a suite entry (:mod:`models.suite`) passes it on, and declares the entry's
``history_weeks`` on its :class:`models.backtest.ModelSpec` so that nothing builds a model to read it.

Count models predict a :class:`models.distributions.CountDistribution` of the violent events over their
horizon; hazard models predict the probability of a major attack within their horizon. The pipeline calls
only these members: no ``getattr``/``hasattr`` on models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import pandas as pd

from models.distributions import CountDistribution


class Model(ABC):
    """What the pipeline may call on any model."""

    kind: ClassVar[str]
    name: str
    horizon: int
    #: Lag columns ``{measure}_lag1 .. _lag{history_weeks}`` the model reads (0 = none). Instances may override.
    history_weeks: int = 0
    #: The panel measure of those lag columns.
    history_measure: str = "violent_events"

    @abstractmethod
    def input_columns(self) -> list[str]:
        """The feature-table columns the model reads (after fit: exactly those predict reads)."""

    @abstractmethod
    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "Model":
        """Fit on rows whose target windows closed before the forecast origin."""

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """Additive per-feature terms of the prediction's link scale (one column per feature), or None."""
        return None


class CountModel(Model):
    kind: ClassVar[str] = "count"

    @abstractmethod
    def predict(self, X: pd.DataFrame) -> CountDistribution:
        """The predictive distribution of the violent events in weeks week_start .. week_start + horizon - 1."""


class HazardModel(Model):
    kind: ClassVar[str] = "hazard"

    @abstractmethod
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(at least one major attack in weeks week_start .. week_start + horizon - 1) per row."""
