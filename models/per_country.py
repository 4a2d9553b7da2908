"""Per-country models of a region: one copy of a recipe fitted on each country's districts alone.

A regional run fits one *pooled* model per slot on the districts of every country (which may read the
``country_<iso3>`` indicators of :mod:`features.membership` where that helps); the per-country versions here
are what it is compared with in the backtest: the same recipe, one fit per country, each row forecast by its
own country's fit. Rows are routed by the country indicators of the catalog; a catalog without them (one
country) gives one fit, the recipe itself.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np
import pandas as pd

from features.membership import FAMILY
from features.spec import FeatureSpec
from models.distributions import ByRows, CountDistribution
from models.protocol import CountModel, HazardModel, Model


class _PerCountry:
    """Fits a copy of the unfitted ``template`` once per country of the catalog's indicators; routes rows by
    them (the model keeps no factory, so it pickles like its members)."""

    def __init__(self, template: Model, catalog: Iterable[FeatureSpec], name: str):
        self.template, self.name = template, name
        self.horizon, self.history_weeks = template.horizon, template.history_weeks
        self.history_measure = template.history_measure
        self.indicators = [s.name for s in catalog if s.family == FAMILY]
        self.models_: dict[int, Model] = {}

    def _groups(self, X: pd.DataFrame) -> np.ndarray:
        """The position of each row's country among the indicators (0 for all rows without indicators)."""
        if not self.indicators:
            return np.zeros(len(X), dtype=np.int64)
        return np.argmax(X[self.indicators].to_numpy(dtype=np.float64), axis=1)

    def input_columns(self) -> list[str]:
        fitted = self.models_.values() or [self.template]
        return list(dict.fromkeys([*self.indicators, *(c for m in fitted for c in m.input_columns())]))

    def fit(self, X: pd.DataFrame, y: np.ndarray):
        groups, y = self._groups(X), np.asarray(y)
        self.models_ = {int(g): copy.deepcopy(self.template).fit(X[groups == g], y[groups == g])
                        for g in np.unique(groups)}
        return self

    def _parts(self, X: pd.DataFrame) -> list[tuple[Model, np.ndarray]]:
        groups = self._groups(X)
        unknown = sorted(set(np.unique(groups).tolist()) - set(self.models_))
        if unknown:
            raise ValueError(f"{self.name}: no fit for the countries {[self.indicators[g] for g in unknown]} "
                             "(no training row of theirs)")
        return [(self.models_[int(g)], np.flatnonzero(groups == g)) for g in np.unique(groups)]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        terms = [(m.contributions(X.iloc[rows]), rows) for m, rows in self._parts(X)]
        if any(t is None for t, _ in terms):
            return None
        return pd.concat([t for t, _ in terms]).reindex(X.index).fillna(0.0)


class PerCountryCount(_PerCountry, CountModel):
    """The count model ``template`` fitted per country; the forecast of a row is its country's fit's."""

    def predict(self, X: pd.DataFrame) -> CountDistribution:
        parts = self._parts(X)
        return ByRows([m.predict(X.iloc[rows]) for m, rows in parts], [rows for _, rows in parts])


class PerCountryHazard(_PerCountry, HazardModel):
    """The hazard model ``template`` fitted per country; the probability of a row is its country's fit's."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        out = np.empty(len(X), dtype=np.float64)
        for model, rows in self._parts(X):
            out[rows] = model.predict_proba(X.iloc[rows])
        return out
