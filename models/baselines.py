"""Baselines every Vigie model must beat, under the same protocol as the real models.

Count baselines predict the violent events of a district in the ``horizon`` weeks starting at ``week_start``
(the row's Monday) from the district's own past weeks only; they read the feature columns of
:mod:`features.table` (``{measure}_sum_w{w}``) or the ``{measure}_lag1 .. {measure}_lag{weeks}`` columns
that :func:`attach_history` adds from the table's panel (:class:`Conflictology` always reads those).
Every value in those columns counts events of weeks strictly before ``week_start``.

Every baseline follows the model contract (:mod:`models.protocol`): a :class:`CountModel` or
:class:`HazardModel` whose ``input_columns()`` names the columns it reads and whose ``history_weeks`` says how
many lag columns it needs (0 when none; :meth:`Conflictology.history_for` gives it without building the
model); the backtest attaches them before fitting and predicting. Baselines cannot split their prediction:
``contributions`` is None. Column names are generated from the feature facts
(:func:`features.attacks.window_name`), never parsed.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import pandas as pd
from scipy import optimize, stats

from features.attacks import window_name
from features.table import FeatureTable
from models.distributions import CountDistribution, Empirical, NegativeBinomial
from models.protocol import CountModel, HazardModel

MEASURE = "violent_events"
#: Bounds of log(alpha) when a baseline fits an NB2 dispersion: alpha from about 3e-4 (nearly Poisson) to 400.
_LOG_ALPHA_BOUNDS = (-8.0, 6.0)


# ---------------------------------------------------------------------------------------------- history


def recent_history(table: FeatureTable, rows: pd.DataFrame, weeks: int = 52, measure: str = MEASURE) -> np.ndarray:
    """Weekly counts of the ``weeks`` weeks before each row's ``week_start``, from ``table.panel``.

    ``rows`` has district_code and week_start (Mondays of the panel). Returns an array of shape
    ``(len(rows), weeks)`` whose column ``k - 1`` holds the count of the week ``k`` weeks before week_start
    (lag order: column 0 is the week just before). Weeks before the panel's first week count 0.
    """
    panel = table.panel
    x = panel.measures[measure]
    d_idx = panel.districts.get_indexer(pd.Index(rows["district_code"].astype("string")))
    if (d_idx < 0).any():
        raise KeyError(f"districts not in the panel: {sorted(set(rows['district_code'][d_idx < 0]))[:5]}")
    days = (pd.to_datetime(rows["week_start"]).to_numpy() - panel.weeks[0].to_datetime64()) / np.timedelta64(1, "D")
    w_idx = np.asarray(days, dtype=np.float64)
    if np.any(w_idx % 7 != 0) or np.any(w_idx < 0) or np.any(w_idx >= 7 * panel.shape[1]):
        raise ValueError("week_start must be Mondays inside the panel")
    w_idx = (w_idx // 7).astype(np.int64)
    padded = np.concatenate([np.zeros((x.shape[0], weeks), dtype=x.dtype), x], axis=1)
    cols = w_idx[:, None] - np.arange(1, weeks + 1)[None, :] + weeks
    return padded[d_idx[:, None], cols].astype(np.float64)


def history_columns(weeks: int, measure: str = MEASURE) -> list[str]:
    """Names of the lag columns :func:`attach_history` adds: ``{measure}_lag1 .. {measure}_lag{weeks}``."""
    return [window_name(measure, "lag", window=k) for k in range(1, weeks + 1)]


def attach_history(table: FeatureTable, rows: pd.DataFrame, weeks: int = 52, measure: str = MEASURE) -> pd.DataFrame:
    """``rows`` with the lag columns ``{measure}_lag{k}`` (k = 1..weeks; events in the week k weeks before
    week_start) set from the panel. Existing lag columns of the same name hold the same values and are replaced.
    """
    values = recent_history(table, rows, weeks, measure)
    names = history_columns(weeks, measure)
    lags = pd.DataFrame(values.astype(np.float32), index=rows.index, columns=names)
    return pd.concat([rows.drop(columns=[c for c in names if c in rows.columns]), lags], axis=1)


def lag_matrix(X: pd.DataFrame, weeks: int, measure: str = MEASURE) -> np.ndarray:
    """The ``(n_rows, weeks)`` lag-ordered history held in X's lag columns (see :func:`attach_history`)."""
    names = history_columns(weeks, measure)
    missing = [c for c in names if c not in X.columns]
    if missing:
        raise KeyError(f"X lacks the history columns {missing[0]}..{missing[-1]}: build them with attach_history")
    return X[names].to_numpy(np.float64)


def window_columns(X: pd.DataFrame, window: int, measure: str = MEASURE) -> list[str]:
    """The columns :func:`window_sum` reads from X: the feature ``{measure}_sum_w{window}`` when X has it,
    else the lag columns ``{measure}_lag1 .. {measure}_lag{window}``."""
    column = window_name(measure, "sum", window=window)
    return [column] if column in X.columns else history_columns(window, measure)


def window_sum(X: pd.DataFrame, window: int, measure: str = MEASURE) -> np.ndarray:
    """Events of the ``window`` weeks before week_start, per row: the feature column ``{measure}_sum_w{window}``
    when X has it, else the sum of the lag columns ``{measure}_lag1 .. {measure}_lag{window}``."""
    column = window_name(measure, "sum", window=window)
    if column in X.columns:
        return X[column].to_numpy(np.float64)
    try:
        return lag_matrix(X, window, measure).sum(axis=1)
    except KeyError:
        raise KeyError(f"X has neither {column!r} nor the lag columns {measure}_lag1..{window}: add the window "
                       "to the feature recipe or attach_history") from None


# ---------------------------------------------------------------------------------------------- count


def fit_nb_dispersion(mu: np.ndarray, y: np.ndarray) -> float:
    """Maximum-likelihood NB2 dispersion alpha (variance mu + alpha mu^2) for fixed means ``mu``.

    Returns 0.0 (Poisson) when no alpha above exp(-8) beats the Poisson likelihood.
    """
    mu = np.clip(np.asarray(mu, dtype=np.float64), 1e-9, None)
    y = np.asarray(y, dtype=np.float64)

    def nll(log_alpha: float) -> float:
        n = np.exp(-log_alpha)
        return -float(stats.nbinom.logpmf(y, n, n / (n + mu)).sum())

    res = optimize.minimize_scalar(nll, bounds=_LOG_ALPHA_BOUNDS, method="bounded")
    poisson_nll = -float(stats.poisson.logpmf(y, mu).sum())
    return float(np.exp(res.x)) if res.fun < poisson_nll else 0.0


class _MeanBaseline(CountModel):
    """A count baseline given by a per-row mean: Poisson around it, or NB2 with a dispersion fitted on the
    training rows (``dispersion="nb"``)."""

    def __init__(self, horizon: int, dispersion: str = "poisson"):
        if dispersion not in ("poisson", "nb"):
            raise ValueError(f"dispersion must be 'poisson' or 'nb', got {dispersion!r}")
        self.horizon = int(horizon)
        self.dispersion = dispersion
        if dispersion == "poisson":
            self.alpha_ = 0.0  # nothing to fit: the model predicts without fit

    @abstractmethod
    def _mean(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted mean of the events over the horizon, per row."""

    def input_columns(self) -> list[str]:
        return []

    def fit(self, X: pd.DataFrame, y: np.ndarray):
        self.alpha_ = fit_nb_dispersion(self._mean(X), y) if self.dispersion == "nb" else 0.0
        return self

    def predict(self, X: pd.DataFrame) -> NegativeBinomial:
        return NegativeBinomial(self._mean(X), self.alpha_)


class Zero(_MeanBaseline):
    """Always zero events: a Poisson distribution of mean 1e-9 (the distributions' floor), i.e. a point mass at 0
    for every practical purpose (CRPS = y; the log score of y > 0 is large but finite)."""

    def __init__(self, horizon: int, name: str = "zero"):
        super().__init__(horizon, "poisson")
        self.name = name

    def _mean(self, X: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(X))


class RollingMean(_MeanBaseline):
    """Mean = average weekly events of the ``window`` weeks before week_start x horizon (see :func:`window_sum`
    for the columns read)."""

    def __init__(self, horizon: int, window: int, dispersion: str = "poisson", measure: str = MEASURE,
                 name: str | None = None):
        super().__init__(horizon, dispersion)
        self.window = int(window)
        self.measure = measure
        self.name = name or f"mean_{self.window}" + ("_nb" if dispersion == "nb" else "")
        self.columns_: list[str] | None = None

    def input_columns(self) -> list[str]:
        """The window-sum feature (before fitting), or the columns read at fit: the feature when X had it, else
        the lag columns (see :func:`window_columns`)."""
        if self.columns_ is not None:
            return list(self.columns_)
        return [window_name(self.measure, "sum", window=self.window)]

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "RollingMean":
        self.columns_ = window_columns(X, self.window, self.measure)
        return super().fit(X, y)

    def _mean(self, X: pd.DataFrame) -> np.ndarray:
        return window_sum(X, self.window, self.measure) / self.window * self.horizon


class LastWeek(RollingMean):
    """Mean = events in the week before week_start x horizon (a rolling mean over 1 week)."""

    def __init__(self, horizon: int, dispersion: str = "poisson", measure: str = MEASURE, name: str | None = None):
        super().__init__(horizon, 1, dispersion, measure, name or "last_week" + ("_nb" if dispersion == "nb" else ""))


class Conflictology(CountModel):
    """The district's own recent past as the forecast: the empirical distribution of its last ``windows``
    ``horizon``-week sums, the windows ending 1, 2, .., ``windows`` weeks before week_start (overlapping; for
    horizon 1 these are the ``windows`` weekly counts). It reads the lag columns of :func:`attach_history`
    (``history_weeks = windows + horizon - 1``, :meth:`history_for`). Nothing is fitted.
    """

    DEFAULT_WINDOWS = 52

    def __init__(self, horizon: int, windows: int = DEFAULT_WINDOWS, measure: str = MEASURE,
                 name: str = "conflictology"):
        if horizon < 1 or windows < 1:
            raise ValueError(f"horizon and windows must be >= 1, got {horizon} and {windows}")
        self.horizon = int(horizon)
        self.windows = int(windows)
        self.history_weeks = self.history_for(self.horizon, self.windows)
        self.measure = measure
        self.name = name

    @staticmethod
    def history_for(horizon: int, windows: int = DEFAULT_WINDOWS) -> int:
        """Lag weeks a Conflictology of ``horizon`` and ``windows`` reads: windows + horizon - 1."""
        return int(windows) + int(horizon) - 1

    def input_columns(self) -> list[str]:
        return history_columns(self.history_weeks, self.measure)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "Conflictology":
        return self

    def samples(self, X: pd.DataFrame) -> np.ndarray:
        """``(n_rows, windows)`` array of past h-week sums; column j is the window ending j + 1 weeks before
        week_start (the weeks j + h .. j + 1 weeks before it)."""
        lags = lag_matrix(X, self.history_weeks, self.measure)
        cs = np.concatenate([np.zeros((len(X), 1)), np.cumsum(lags, axis=1)], axis=1)
        return cs[:, self.horizon: self.horizon + self.windows] - cs[:, : self.windows]

    def predict(self, X: pd.DataFrame) -> CountDistribution:
        return Empirical(self.samples(X))


# ---------------------------------------------------------------------------------------------- hazard


class HazardBaseRate(HazardModel):
    """P(event within the horizon) = the training rows' event rate.

    With ``per_district=True`` the rate is the district's own, shrunk towards the overall rate with
    ``prior_rows`` pseudo-rows: (events_d + prior_rows * rate) / (rows_d + prior_rows); districts unseen in
    training get the overall rate. ``fit`` takes the event indicator of the *same horizon* (0/1 per row).
    """

    def __init__(self, horizon: int, per_district: bool = False, prior_rows: float = 52.0, name: str | None = None):
        self.horizon = int(horizon)
        self.per_district = per_district
        self.prior_rows = float(prior_rows)
        self.name = name or ("base_rate_district" if per_district else "base_rate")

    def input_columns(self) -> list[str]:
        return ["district_code"] if self.per_district else []

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "HazardBaseRate":
        event = np.asarray(event, dtype=np.float64)
        if event.size == 0:
            raise ValueError("HazardBaseRate needs at least one training row")
        self.rate_ = float(event.mean())
        if self.per_district:
            grouped = pd.DataFrame({"d": X["district_code"].astype("string").to_numpy(), "e": event}).groupby("d")["e"]
            self.district_rate_ = (grouped.sum() + self.prior_rows * self.rate_) / (grouped.count() + self.prior_rows)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not self.per_district:
            return np.full(len(X), self.rate_)
        codes = pd.Index(X["district_code"].astype("string"))
        return self.district_rate_.reindex(codes).fillna(self.rate_).to_numpy(np.float64)
