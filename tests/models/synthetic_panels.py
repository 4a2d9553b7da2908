"""Synthetic district-week frames with known generating processes, shared by the count-model tests, and the
feature specs of their columns (a hand-made catalog: models select their features from specs)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.attacks import window_spec
from features.seasonality import SEASON_SIN
from features.spec import FeatureSpec

#: Specs of the self-exciting panel's columns (their windows and half-lives give the rate divisors).
EWM4 = window_spec("violent_events", "ewm", half_life=4)
SUM52 = window_spec("violent_events", "sum", window=52)
NBR13 = window_spec("violent_events", "sum", scope="neighbours", window=13, family="neighbours")
SE_CATALOG = [EWM4, SUM52, NBR13, SEASON_SIN]

SE_WEIGHTS = {EWM4: 0.6, SUM52: 0.3, NBR13: 0.05}
SE_RATES = list(SE_WEIGHTS)
SE_NAMES = [s.name for s in SE_RATES]
SE_BACKGROUND, SE_ALPHA = 0.02, 0.4


def plain_spec(name: str, unit: str = "unitless") -> FeatureSpec:
    """The spec of a test column without structured facts (taken as a count-like feature)."""
    return FeatureSpec(name, "test", f"test column {name}", unit)


def nb_draw(rng: np.random.Generator, mu: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """NB2 counts: gamma-Poisson mixture with mean mu and variance mu + alpha mu^2."""
    alpha = np.broadcast_to(alpha, mu.shape)
    return rng.poisson(rng.gamma(1.0 / alpha, alpha * mu)).astype(np.float64)


def panel(n_districts: int, n_weeks: int) -> pd.DataFrame:
    weeks = pd.date_range("2019-01-07", periods=n_weeks, freq="7D")
    return pd.DataFrame({"district_code": np.repeat([f"MLI-{i:04d}" for i in range(n_districts)], n_weeks),
                         "week_start": np.tile(weeks, n_districts)})


def se_panel(rng: np.random.Generator, n_districts: int = 80, n_weeks: int = 120) -> pd.DataFrame:
    X = panel(n_districts, n_weeks)
    level = np.repeat(rng.gamma(0.6, 1.5, n_districts), n_weeks)  # districts from quiet to violent
    n = len(X)
    X["violent_events_ewm_hl4"] = rng.poisson(level * 6.29 * rng.gamma(4.0, 0.25, n)).astype(float)
    X["violent_events_sum_w52"] = rng.poisson(level * 52).astype(float)
    X["nbr_violent_events_sum_w13"] = rng.poisson(3 * level * 13 * rng.gamma(2.0, 0.5, n)).astype(float)
    X["season_sin"] = np.tile(np.sin(np.arange(n_weeks) * 2 * np.pi / 52), n_districts)
    return X


def weekly_rate(X: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """A history column of X as events per week: a windowed sum over its window, a decayed sum over its total
    weight 1 / (1 - 0.5 ** (1 / half-life)) (written out here, independently of models.design)."""
    x = X[spec.name].to_numpy()
    if spec.statistic == "sum":
        return x / float(spec.window_weeks)
    return x / (1.0 / (1.0 - 0.5 ** (1.0 / float(spec.half_life_weeks))))


def se_rate(X: pd.DataFrame) -> np.ndarray:
    return SE_BACKGROUND + sum(w * weekly_rate(X, s) for s, w in SE_WEIGHTS.items())
