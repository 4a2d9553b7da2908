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


class DistrictHistoryRule(HazardModel):
    """The naive district-history rule: P(a major attack within ``horizon`` weeks) = the share of the
    district's ``horizon``-week windows inside its last ``weeks`` weeks (the weeks 1 .. ``weeks`` before
    week_start; ``weeks - horizon + 1`` overlapping windows) that held a major attack. It reads the
    ``major_attacks`` lag columns of :func:`attach_history`; nothing is fitted. The bar a risk score must
    clear to say more than the district's own recent history.
    """

    history_measure = "major_attacks"

    def __init__(self, horizon: int, weeks: int = 52, name: str = "district_history"):
        if not 1 <= horizon <= weeks:
            raise ValueError(f"need 1 <= horizon <= weeks, got {horizon} and {weeks}")
        self.horizon = int(horizon)
        self.history_weeks = int(weeks)
        self.name = name

    def input_columns(self) -> list[str]:
        return history_columns(self.history_weeks, self.history_measure)

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "DistrictHistoryRule":
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        lags = lag_matrix(X, self.history_weeks, self.history_measure) >= 1
        cs = np.concatenate([np.zeros((len(X), 1)), np.cumsum(lags, axis=1)], axis=1)
        n = self.history_weeks - self.horizon + 1
        windows = cs[:, self.horizon: self.horizon + n] - cs[:, :n]
        return (windows > 0).mean(axis=1)


# ---------------------------------------------------------------------------------------------- peers
#
# statsforecast's intermittent-demand models (TSB, CrostonSBA, ADIDA, IMAPA), re-written on numpy arrays
# because statsforecast pins pandas<3. They reproduce statsforecast 2.1.1 (``statsforecast/models.py`` and its
# C++ ``src/ses.cpp``): tests/models/test_peers.py checks them against forecasts that statsforecast itself
# made (bench/peers/make_fixture.py). Every function takes ``y`` of shape (series, weeks), oldest week first,
# and returns each series' one-step-ahead forecast mean (events per week), the value of statsforecast's flat
# forecast at every step of the horizon.

#: statsforecast's SES smoothing of Croston's demand sizes and intervals.
_CROSTON_ALPHA = 0.1
#: Debiasing factor of Syntetos-Boylan's Croston variant.
_SBA_FACTOR = 0.95
#: statsforecast's golden-section search of the SES alpha (ADIDA, IMAPA): bounds and the bracket width it stops at.
_SES_ALPHA_BOUNDS = (0.1, 0.3)
_GOLDEN_TOL = 1e-12
_GOLDEN_RATIO = (np.sqrt(5.0) + 1.0) / 2.0
#: Cells (aggregated periods x series-levels) of one batch of the golden-section search (about 32 MB).
_GOLDEN_BATCH_CELLS = 1 << 22


def _as_series(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] < 1:
        raise ValueError(f"y must be a 2-D array (series x weeks) with at least one week, got shape {y.shape}")
    return y


def _ses_forecast(values: np.ndarray, mask: np.ndarray, alpha: float) -> np.ndarray:
    """One-step SES forecast of each row's subsequence ``values[mask]`` (in order), statsforecast's
    ``_ses_forecast``: the level starts at the first element z_0 and l_j = alpha z_j + (1 - alpha) l_{j-1};
    the forecast is the last level, i.e. (1-alpha)^(m-1) z_0 + sum_{j>=1} alpha (1-alpha)^(m-1-j) z_j, computed
    as that weighted sum (no loop over weeks). Rows with an empty subsequence give 0."""
    rank = np.cumsum(mask, axis=1) - 1
    expo = rank[:, -1:] - rank
    weights = np.where(rank == 0, 1.0, alpha) * (1.0 - alpha) ** expo
    return np.where(mask, weights * values, 0.0).sum(axis=1)


def _intervals(nonzero: np.ndarray) -> np.ndarray:
    """statsforecast's ``_intervals`` laid out on the weeks: at each non-zero week, the weeks since the previous
    non-zero one (the first counts from one week before the series starts); 0 elsewhere."""
    pos = np.arange(1, nonzero.shape[1] + 1, dtype=np.float64)
    last = np.maximum.accumulate(np.where(nonzero, pos, 0.0), axis=1)
    previous = np.concatenate([np.zeros((len(nonzero), 1)), last[:, :-1]], axis=1)
    return np.where(nonzero, pos - previous, 0.0)


def _aggregation_levels(y: np.ndarray) -> np.ndarray:
    """round(mean interval between non-zero weeks) per series (Python's round: halves to even), as ADIDA and
    IMAPA choose their aggregation; 0 for series without a non-zero week. The intervals add up to the position
    (1-based) of the last non-zero week."""
    nonzero = y != 0
    count = nonzero.sum(axis=1)
    last = y.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    mean_interval = np.where(count > 0, last / np.maximum(count, 1), 0.0)
    return np.round(mean_interval).astype(np.int64)


def _level_sums(y: np.ndarray, level: int) -> np.ndarray:
    """statsforecast's chunk sums: totals of consecutive blocks of ``level`` weeks, the last block ending with
    the last week (the first ``weeks % level`` weeks are dropped); shape (series, weeks // level)."""
    n, weeks = y.shape
    return y[:, weeks % level:].reshape(n, weeks // level, level).sum(axis=2)


def _ses_pass(xt: np.ndarray, active: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """statsforecast's C++ ``ses_sse`` on every column of ``xt`` at once: returns the sum of squared one-step
    errors and the last fitted value (the level before the last period) per column.

    ``xt`` is (periods, problems), each column a sequence starting in row 0, columns sorted by length
    (longest first); ``active[i]`` is the number of columns longer than i. The loop runs over the aggregated
    periods because each column has its own alpha (a filter takes one); its arithmetic is the C++ one,
    operation for operation, so that sums of squares that tie or differ by rounding compare as they do there.
    """
    complement = 1.0 - alpha
    fitted = xt[0].copy()
    sse = np.zeros_like(fitted)
    for i in range(1, xt.shape[0]):
        k = active[i]
        f = fitted[:k]
        np.multiply(complement[:k], f, out=f)
        f += alpha[:k] * xt[i - 1, :k]
        err = xt[i, :k] - f
        sse[:k] += err * err
    return sse, fitted


def _golden_ses_forecast(xt: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """One-step SES forecast of each column of ``xt`` with alpha chosen as statsforecast 2.1.1 does
    (``golden_section_ses``: golden-section search of the in-sample squared error over [0.1, 0.3] until the
    bracket is narrower than 1e-12, stopping early when the two inner points tie; alpha = the bracket's middle).
    Vectorised over columns (see :func:`_ses_pass` for the layout)."""
    active = (lengths[None, :] > np.arange(xt.shape[0])[:, None]).sum(axis=1)
    lo, hi = np.full(len(lengths), _SES_ALPHA_BOUNDS[0]), np.full(len(lengths), _SES_ALPHA_BOUNDS[1])
    c, d = hi - (hi - lo) / _GOLDEN_RATIO, lo + (hi - lo) / _GOLDEN_RATIO
    fc, fd = _ses_pass(xt, active, c)[0], _ses_pass(xt, active, d)[0]
    going = np.abs(hi - lo) >= _GOLDEN_TOL
    while True:
        left, right = going & (fc < fd), going & (fd < fc)
        going = left | right
        if not going.any():
            break
        hi, lo = np.where(left, d, hi), np.where(right, c, lo)
        c, d, fc, fd = np.where(right, d, c), np.where(left, c, d), np.where(right, fd, fc), np.where(left, fc, fd)
        c = np.where(left, hi - (hi - lo) / _GOLDEN_RATIO, c)
        d = np.where(right, lo + (hi - lo) / _GOLDEN_RATIO, d)
        value = _ses_pass(xt, active, np.where(left, c, d))[0]
        fc, fd = np.where(left, value, fc), np.where(right, value, fd)
        going &= np.abs(hi - lo) >= _GOLDEN_TOL
    alpha = (hi + lo) / 2.0
    fitted = _ses_pass(xt, active, alpha)[1]
    last = xt[lengths - 1, np.arange(len(lengths))]
    return np.where(lengths > 1, alpha * last + (1.0 - alpha) * fitted, last)


def _optimized_ses(blocks: list[np.ndarray]) -> list[np.ndarray]:
    """:func:`_golden_ses_forecast` of every row of every block (2-D arrays, rows = sequences of one length),
    in batches of at most about ``_GOLDEN_BATCH_CELLS`` cells; returns one forecast array per block."""
    out: list[np.ndarray | None] = [None] * len(blocks)
    order = sorted(range(len(blocks)), key=lambda j: -blocks[j].shape[1])
    batch: list[int] = []

    def run(batch: list[int]) -> None:
        periods = blocks[batch[0]].shape[1]
        xt = np.zeros((periods, sum(len(blocks[j]) for j in batch)))
        lengths = np.concatenate([np.full(len(blocks[j]), blocks[j].shape[1]) for j in batch])
        start = 0
        for j in batch:
            xt[: blocks[j].shape[1], start: start + len(blocks[j])] = blocks[j].T
            start += len(blocks[j])
        forecasts = _golden_ses_forecast(xt, lengths)
        start = 0
        for j in batch:
            out[j] = forecasts[start: start + len(blocks[j])]
            start += len(blocks[j])

    for j in order:
        rows = len(blocks[j]) + sum(len(blocks[b]) for b in batch)
        if batch and rows * blocks[batch[0]].shape[1] > _GOLDEN_BATCH_CELLS:
            run(batch)
            batch = []
        batch.append(j)
    if batch:
        run(batch)
    return out  # type: ignore[return-value]


def tsb_mean(y: np.ndarray, alpha_d: float = 0.1, alpha_p: float = 0.1) -> np.ndarray:
    """Teunter-Syntetos-Babai one-step-ahead mean (events per week) of each series of ``y`` (series x weeks,
    oldest week first), as statsforecast's ``TSB(alpha_d, alpha_p)``: SES (alpha_p) of the 0/1 indicator of a
    non-zero week, started at the first week, times SES (alpha_d) of the positive counts, started at the first
    one. All-zero series give 0."""
    y = _as_series(y)
    probability = _ses_forecast((y != 0).astype(np.float64), np.ones(y.shape, dtype=bool), alpha_p)
    return probability * _ses_forecast(y, y > 0, alpha_d)


def croston_sba_mean(y: np.ndarray) -> np.ndarray:
    """Croston's method with the Syntetos-Boylan debiasing, one-step-ahead mean (events per week) of each series
    of ``y`` (series x weeks, oldest week first), as statsforecast's ``CrostonSBA``: 0.95 x SES(0.1) of the
    positive counts / SES(0.1) of the intervals between non-zero weeks (each SES started at its first element;
    the first interval counts from the week before the series starts, trailing zeros do not count). A series
    without a positive count gets its last week (statsforecast's naive fallback), i.e. 0."""
    y = _as_series(y)
    demand, nonzero = y > 0, y != 0
    size = _ses_forecast(y, demand, _CROSTON_ALPHA)
    interval = _ses_forecast(_intervals(nonzero), nonzero, _CROSTON_ALPHA)
    ratio = np.divide(size, interval, out=size.copy(), where=interval != 0)
    return _SBA_FACTOR * np.where(demand.any(axis=1), ratio, y[:, -1])


def adida_mean(y: np.ndarray) -> np.ndarray:
    """ADIDA one-step-ahead mean (events per week) of each series of ``y`` (series x weeks, oldest week first),
    as statsforecast's ``ADIDA``: the series is cut into blocks of L = round(mean interval between non-zero
    weeks) weeks ending with the last week (the first weeks % L dropped), the block totals are forecast by SES
    with alpha optimised as statsforecast does (:func:`_golden_ses_forecast`) and the forecast is spread over
    the L weeks (/ L). All-zero series give 0.

    Vectorised over series: one batch per aggregation level in use, the search's recursion looping over the
    blocks (see :func:`_ses_pass`)."""
    y = _as_series(y)
    levels = _aggregation_levels(y)
    out = np.zeros(len(y))
    used = [int(v) for v in np.unique(levels[levels > 0])]
    blocks, rows_of = [], []
    for level in used:
        rows = np.flatnonzero(levels == level)
        sums = _level_sums(y[rows], level)
        if sums.shape[1] == 1:
            out[rows] = sums[:, 0] / level
        else:
            blocks.append(sums)
            rows_of.append((rows, level))
    for (rows, level), forecast in zip(rows_of, _optimized_ses(blocks)):
        out[rows] = forecast / level
    return out


def imapa_mean(y: np.ndarray) -> np.ndarray:
    """IMAPA one-step-ahead mean (events per week) of each series of ``y`` (series x weeks, oldest week first),
    as statsforecast's ``IMAPA``: the average over the aggregation levels L = 1 .. round(mean interval between
    non-zero weeks) of ADIDA's weekly forecast at level L (block totals of L weeks ending with the last week,
    SES with statsforecast's optimised alpha, / L). All-zero series give 0.

    Vectorised over series: a loop over the aggregation levels builds the block totals of every series using
    the level, and one golden-section search runs over all (series, level) pairs at once (see
    :func:`_ses_pass`)."""
    y = _as_series(y)
    levels = _aggregation_levels(y)
    total = np.zeros(len(y))
    blocks, rows_of = [], []
    for level in range(1, int(levels.max(initial=0)) + 1):
        rows = np.flatnonzero(levels >= level)
        sums = _level_sums(y[rows], level)
        if sums.shape[1] == 1:
            total[rows] += sums[:, 0] / level
        else:
            blocks.append(sums)
            rows_of.append((rows, level))
    for (rows, level), forecast in zip(rows_of, _optimized_ses(blocks)):
        total[rows] += forecast / level
    return np.divide(total, levels, out=np.zeros(len(y)), where=levels > 0)


class _PeerBaseline(_MeanBaseline):
    """A statsforecast peer as a count baseline: its one-step mean on the ``history_weeks`` lag columns of
    :func:`attach_history` (column ``lag1`` = the week just before week_start; flipped to oldest week first,
    weeks before the panel counting 0) x horizon, as statsforecast's flat forecasts sum over the horizon;
    Poisson around it by default (``dispersion="nb"`` fits an NB2 dispersion). Nothing else is fitted."""

    DEFAULT_HISTORY_WEEKS = 156
    default_name: str = ""

    def __init__(self, horizon: int, history_weeks: int = DEFAULT_HISTORY_WEEKS, dispersion: str = "poisson",
                 measure: str = MEASURE, name: str | None = None):
        if horizon < 1 or history_weeks < 1:
            raise ValueError(f"horizon and history_weeks must be >= 1, got {horizon} and {history_weeks}")
        super().__init__(horizon, dispersion)
        self.history_weeks = self.history_for(horizon, history_weeks)
        self.measure = measure
        self.name = name or self.default_name + ("_nb" if dispersion == "nb" else "")

    @staticmethod
    def history_for(horizon: int, history_weeks: int = DEFAULT_HISTORY_WEEKS) -> int:
        """Lag weeks the model reads: ``history_weeks`` whatever the horizon (156 by default)."""
        return int(history_weeks)

    def input_columns(self) -> list[str]:
        return history_columns(self.history_weeks, self.measure)

    @abstractmethod
    def _weekly_mean(self, y: np.ndarray) -> np.ndarray:
        """One-step mean per row of ``y`` (rows x weeks, oldest week first)."""

    def _mean(self, X: pd.DataFrame) -> np.ndarray:
        y = lag_matrix(X, self.history_weeks, self.measure)[:, ::-1]
        return self._weekly_mean(y) * self.horizon


class TSB(_PeerBaseline):
    """Teunter-Syntetos-Babai (:func:`tsb_mean`, alpha_d = alpha_p = 0.1 as the reference's "TSB (0.1, 0.1)")."""

    default_name = "tsb"

    def __init__(self, horizon: int, history_weeks: int = _PeerBaseline.DEFAULT_HISTORY_WEEKS,
                 alpha_d: float = 0.1, alpha_p: float = 0.1, dispersion: str = "poisson", measure: str = MEASURE,
                 name: str | None = None):
        super().__init__(horizon, history_weeks, dispersion, measure, name)
        self.alpha_d, self.alpha_p = float(alpha_d), float(alpha_p)

    def _weekly_mean(self, y: np.ndarray) -> np.ndarray:
        return tsb_mean(y, self.alpha_d, self.alpha_p)


class CrostonSBA(_PeerBaseline):
    """Croston's method with the Syntetos-Boylan debiasing (:func:`croston_sba_mean`)."""

    default_name = "croston_sba"

    def _weekly_mean(self, y: np.ndarray) -> np.ndarray:
        return croston_sba_mean(y)


class ADIDA(_PeerBaseline):
    """Aggregate-disaggregate intermittent demand approach (:func:`adida_mean`)."""

    default_name = "adida"

    def _weekly_mean(self, y: np.ndarray) -> np.ndarray:
        return adida_mean(y)


class IMAPA(_PeerBaseline):
    """Intermittent multiple aggregation prediction algorithm (:func:`imapa_mean`)."""

    default_name = "imapa"

    def _weekly_mean(self, y: np.ndarray) -> np.ndarray:
        return imapa_mean(y)
