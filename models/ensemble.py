"""Ensembles: a linear pool of count models' forecast means, and of hazard models' probabilities.

The pool of a self-exciting model with an intermittent-demand peer (IMAPA) beat both on the validation origins
of both sources (bench/research.py): the peer's smoothing of a district's own history and the model's
excitation by neighbours and national violence err in different places. The blend of the self-exciting hazard
with the naive district-history rule (0.75 / 0.25) was, by a little, the best hazard idea there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.distributions import NegativeBinomial
from models.protocol import CountModel, HazardModel


class _Members:
    """What a pool does with its ``members``: reads the union of their columns, fits each on the same rows,
    and explains itself by the first member that can."""

    members: list

    def input_columns(self) -> list[str]:
        return list(dict.fromkeys(c for m in self.members for c in m.input_columns()))

    def fit(self, X: pd.DataFrame, y: np.ndarray):
        for member in self.members:
            member.fit(X, y)
        return self

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        for member in self.members:
            terms = member.contributions(X)
            if terms is not None:
                return terms
        return None


class MeanPool(_Members, CountModel):
    """NB2 of dispersion ``dispersion`` around sum_k w_k mean_k, the members' forecast means (events over the
    horizon) weighted by ``weights`` (non-negative, summing to 1). Every member has the pool's horizon and reads
    the same history measure; ``fit`` fits each on the same rows. ``contributions`` are those of the first
    member that has any (the model part of the pool; a peer has none), on its own log-mean scale.
    """

    def __init__(self, members: Sequence[CountModel], weights: Sequence[float], dispersion: float,
                 name: str = "pool"):
        weights = _check_weights(members, weights)
        horizons = {m.horizon for m in members}
        measures = {m.history_measure for m in members}
        if len(horizons) != 1 or len(measures) != 1:
            raise ValueError(f"pool members must share one horizon and history measure, got {horizons}, {measures}")
        self.members = list(members)
        self.weights = weights
        self.dispersion = float(dispersion)
        self.horizon = horizons.pop()
        self.history_measure = measures.pop()
        self.history_weeks = max(m.history_weeks for m in members)
        self.name = name

    def predict_mean(self, X: pd.DataFrame) -> np.ndarray:
        means = np.column_stack([np.asarray(m.predict(X).mean, dtype=np.float64) for m in self.members])
        return means @ self.weights

    def predict(self, X: pd.DataFrame) -> NegativeBinomial:
        return NegativeBinomial(self.predict_mean(X), self.dispersion)


class ProbabilityPool(_Members, HazardModel):
    """sum_k w_k p_k: the members' probabilities of the same event within the same horizon, weighted by
    ``weights`` (non-negative, summing to 1). Members read at most one history measure besides none (the
    pipeline attaches one set of lag columns per model); ``fit`` fits each on the same rows, so they must all be
    fitted on the same target (the same ``fit_horizon``). ``contributions``: those of the first member that has
    any, on its own scale.
    """

    def __init__(self, members: Sequence[HazardModel], weights: Sequence[float], name: str = "blend"):
        self.weights = _check_weights(members, weights)
        horizons = {m.horizon for m in members}
        measures = {m.history_measure for m in members if m.history_weeks}
        if len(horizons) != 1 or len(measures) > 1:
            raise ValueError(f"pool members must share one horizon and history measure, got {horizons}, {measures}")
        self.members = list(members)
        self.horizon = horizons.pop()
        self.history_measure = measures.pop() if measures else self.history_measure
        self.history_weeks = max(m.history_weeks for m in members)
        self.name = name

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([np.asarray(m.predict_proba(X), dtype=np.float64) for m in self.members]) @ self.weights


def _check_weights(members: Sequence, weights: Sequence[float]) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if len(members) < 2 or len(members) != len(weights):
        raise ValueError("a pool needs at least two members and one weight per member")
    if (weights < 0).any() or not np.isclose(weights.sum(), 1.0):
        raise ValueError(f"pool weights must be non-negative and sum to 1, got {weights.tolist()}")
    return weights
