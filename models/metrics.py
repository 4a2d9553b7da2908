"""Forecast metrics on arrays (one value per district-origin row), and their summaries on prediction frames.

Conventions: ``y`` is the observed count over the horizon (events), ``mean`` the predictive mean (events),
``p`` a predicted probability of a binary ``event`` (0/1). Scores where lower is better: CRPS, MAE, RMSE,
log score, Brier score, log loss, missed-escalation rate. Scores where higher is better: average precision,
ROC AUC. Coverages should be close to their nominal level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from models.distributions import CountDistribution

#: Quantile levels stored for each count forecast (columns q05 .. q95 of the prediction frames).
QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
#: Metrics where a smaller value is better (skill = 1 - score / baseline score makes sense for these).
LOWER_IS_BETTER = ("crps", "mae", "rmse", "log_score", "brier", "log_loss", "missed_escalation")


def quantile_column(q: float) -> str:
    """Column name of quantile level q: 0.05 -> 'q05', 0.5 -> 'q50'."""
    return f"q{round(100 * q):02d}"


# ---------------------------------------------------------------------------------------------- per row


def count_scores(dist: CountDistribution, y: np.ndarray, rng: np.random.Generator,
                 quantiles: Sequence[float] = QUANTILES) -> dict[str, np.ndarray]:
    """Per-row scores of a count forecast, as float64 arrays in the row order of ``y``: mean, quantiles
    (``q05`` ..), p_event = P(count >= 1), event = 1{y >= 1}, crps, log_score and the randomised PIT
    (drawn with ``rng``)."""
    y = np.asarray(y, dtype=np.float64)
    out = {"mean": dist.mean, **{quantile_column(q): dist.quantile(q) for q in quantiles},
           "p_event": dist.prob_at_least(1), "event": (y >= 1).astype(np.float64),
           "crps": dist.crps(y), "log_score": dist.log_score(y), "pit": dist.pit(y, rng)}
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------- point and binary


def mae(mean: np.ndarray, y: np.ndarray) -> float:
    """Mean absolute error of the predictive mean (events)."""
    return float(np.mean(np.abs(np.asarray(mean, float) - np.asarray(y, float))))


def rmse(mean: np.ndarray, y: np.ndarray) -> float:
    """Root mean squared error of the predictive mean (events)."""
    return float(np.sqrt(np.mean((np.asarray(mean, float) - np.asarray(y, float)) ** 2)))


def brier(p: np.ndarray, event: np.ndarray) -> float:
    """Mean of (p - event)^2."""
    return float(np.mean((np.asarray(p, float) - np.asarray(event, float)) ** 2))


def log_loss(p: np.ndarray, event: np.ndarray, eps: float = 1e-15) -> float:
    """Mean of -[event log p + (1 - event) log(1 - p)] (natural log), p clipped to [eps, 1 - eps]."""
    p = np.clip(np.asarray(p, float), eps, 1.0 - eps)
    e = np.asarray(event, float)
    return float(-np.mean(e * np.log(p) + (1.0 - e) * np.log1p(-p)))


def average_precision(p: np.ndarray, event: np.ndarray) -> float:
    """sklearn average precision (area under the step precision-recall curve); NaN without any event."""
    e = np.asarray(event, float)
    return float(average_precision_score(e, p)) if e.any() else float("nan")


def roc_auc(p: np.ndarray, event: np.ndarray) -> float:
    """sklearn ROC AUC; NaN when only one class is observed."""
    e = np.asarray(event, float)
    return float(roc_auc_score(e, p)) if 0 < e.sum() < e.size else float("nan")


def reliability_table(p: np.ndarray, event: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Calibration table over ``n_bins`` equal-width probability bins [k/n, (k+1)/n) (the last bin holds 1).

    Columns: bin (0..n_bins-1), bin_lower, bin_upper, mean_predicted, observed_frequency, count. Empty bins
    are kept with count 0 and NaN means.
    """
    p = np.asarray(p, float)
    e = np.asarray(event, float)
    idx = np.clip(np.floor(p * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(idx, weights=p, minlength=n_bins) / count
        freq = np.bincount(idx, weights=e, minlength=n_bins) / count
    edges = np.arange(n_bins + 1) / n_bins
    return pd.DataFrame({"bin": np.arange(n_bins), "bin_lower": edges[:-1], "bin_upper": edges[1:],
                         "mean_predicted": mean_p, "observed_frequency": freq, "count": count})


def tier_calibration(p: np.ndarray, event: np.ndarray, thresholds: Sequence[float],
                     names: Sequence[str] = ("low", "elevated", "high", "severe"), level: float = 0.90) -> pd.DataFrame:
    """Is each risk tier calibrated? Rows are binned by the tier of their probability ``p`` (a probability
    at or above ``thresholds[k]`` / 100 takes tier k + 1; thresholds on the 0-100 risk-score scale) and each
    tier's observed event rate is compared with its bounds.

    Columns: tier, lower, upper (probability bounds), count, events, mean_predicted, observed_rate, its
    Wilson ``level`` interval (observed_lower, observed_upper), and ``within``: the observed rate lies inside
    the tier's bounds; ``consistent``: the Wilson interval overlaps them (NaN / False for an empty tier).
    """
    p = np.asarray(p, float)
    e = np.asarray(event, float)
    edges = np.array([0.0, *(np.asarray(thresholds, float) / 100.0), 1.0 + 1e-12])
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    k = len(edges) - 1
    count = np.bincount(idx, minlength=k).astype(float)
    events = np.bincount(idx, weights=e, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(idx, weights=p, minlength=k) / count
        rate = events / count
        z = stats.norm.ppf(0.5 + level / 2.0)
        centre = (rate + z**2 / (2 * count)) / (1 + z**2 / count)
        half = z * np.sqrt(rate * (1 - rate) / count + z**2 / (4 * count**2)) / (1 + z**2 / count)
    lower, upper = edges[:-1], np.minimum(edges[1:], 1.0)
    return pd.DataFrame({"tier": list(names)[:k], "lower": lower, "upper": upper, "count": count, "events": events,
                         "mean_predicted": mean_p, "observed_rate": rate, "observed_lower": centre - half,
                         "observed_upper": centre + half, "within": (rate >= lower) & (rate < edges[1:]),
                         "consistent": (centre + half >= lower) & (centre - half < edges[1:])})


# ---------------------------------------------------------------------------------------------- intervals and tails


def interval_coverage(lower: np.ndarray, upper: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Share of rows (within ``mask``) whose count lies in [lower, upper] (inclusive); NaN when none."""
    y = np.asarray(y, float)
    inside = (np.asarray(lower, float) <= y) & (y <= np.asarray(upper, float))
    if mask is not None:
        inside = inside[np.asarray(mask, bool)]
    return float(inside.mean()) if inside.size else float("nan")


def pit_coverage(pit: np.ndarray, level: float, mask: np.ndarray | None = None) -> float:
    """Share of rows (within ``mask``) whose randomised PIT lies in the central ``level`` band
    [(1 - level) / 2, (1 + level) / 2]: the coverage of a central interval of a *continuous* forecast with the
    same calibration. For counts it is the honest calibration figure: the plain inclusive coverage of
    [q_lo, q_hi] (:func:`interval_coverage`) is at least ``level`` by construction for a calibrated forecast and
    much more where the mass sits on a few counts (a district expecting 0 or 1 events has [0, 1] as its 80%
    interval, which holds 95% of outcomes); the randomised PIT spreads each count's probability over its step
    of the CDF, so that a calibrated forecast's PIT is uniform and this share is ``level``."""
    pit = np.asarray(pit, float)
    if mask is not None:
        pit = pit[np.asarray(mask, bool)]
    if pit.size == 0:
        return float("nan")
    tail = (1.0 - level) / 2.0
    return float(np.mean((pit >= tail) & (pit <= 1.0 - tail)))


def missed_escalation_rate(mean: np.ndarray, y: np.ndarray, observed_above: float = 10.0,
                           predicted_below: float = 0.5) -> float:
    """P(predicted mean < predicted_below | observed count > observed_above); NaN when no row escalates."""
    y = np.asarray(y, float)
    escalated = y > observed_above
    if not escalated.any():
        return float("nan")
    return float(np.mean(np.asarray(mean, float)[escalated] < predicted_below))


# ---------------------------------------------------------------------------------------------- skill


def skill(score: float | np.ndarray, baseline: float | np.ndarray) -> float | np.ndarray:
    """1 - score / baseline score (for lower-is-better scores: 0.1 = 10% better than the baseline)."""
    return 1.0 - np.asarray(score, float) / np.asarray(baseline, float)


def bootstrap_skill(score_by_origin: np.ndarray, baseline_by_origin: np.ndarray, *, n_boot: int = 2000,
                    level: float = 0.90, seed: int = 0) -> tuple[float, float, float]:
    """Skill of the origin-averaged score against the baseline's, with a percentile bootstrap interval.

    Inputs are aligned arrays of per-origin mean scores. Each replicate draws origins with replacement
    (the same draw for both arrays) and computes 1 - sum(score) / sum(baseline). Returns (skill, lower,
    upper) with ``level`` of the replicates between lower and upper.
    """
    s = np.asarray(score_by_origin, float)
    b = np.asarray(baseline_by_origin, float)
    if s.shape != b.shape or s.ndim != 1 or s.size == 0:
        raise ValueError("score_by_origin and baseline_by_origin must be non-empty 1-d arrays of the same length")
    idx = np.random.default_rng(seed).integers(0, s.size, size=(n_boot, s.size))
    reps = 1.0 - s[idx].sum(axis=1) / b[idx].sum(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [tail, 1.0 - tail])
    return float(skill(s.sum(), b.sum())), float(lo), float(hi)


# ---------------------------------------------------------------------------------------------- frame summaries


def summarize(rows: pd.DataFrame) -> pd.Series:
    """All metrics of one group of prediction rows (see :mod:`models.backtest` for the columns).

    Count rows (``mean`` not NaN) get crps, mae, rmse, log_score, the 50% and 90% central-interval
    coverages on active rows (``active``: any violent event in the 52 weeks before the origin),
    missed_escalation and pit_mean, and the PIT coverages of the central 80% and 90% intervals on active rows
    (:func:`pit_coverage`); every row gets the binary metrics of (p_event, event): brier, log_loss,
    average_precision, roc_auc, plus n_rows, n_origins and event_rate.
    """
    y = rows["y"].to_numpy(float)
    p = rows["p_event"].to_numpy(float)
    e = rows["event"].to_numpy(float)
    out = {"n_rows": float(len(rows)), "n_origins": float(rows["origin"].nunique()), "event_rate": float(e.mean()),
           "brier": brier(p, e), "log_loss": log_loss(p, e), "average_precision": average_precision(p, e),
           "roc_auc": roc_auc(p, e)}
    mean = rows["mean"].to_numpy(float)
    if np.isfinite(mean).all():
        active = rows["active"].to_numpy(bool)
        out |= {"crps": float(rows["crps"].mean()), "mae": mae(mean, y), "rmse": rmse(mean, y),
                "log_score": float(rows["log_score"].mean()),
                "coverage50_active": interval_coverage(rows["q25"], rows["q75"], y, active),
                "coverage80_active": interval_coverage(rows["q10"], rows["q90"], y, active),
                "coverage90_active": interval_coverage(rows["q05"], rows["q95"], y, active),
                "pit_coverage80_active": pit_coverage(rows["pit"], 0.80, active),
                "pit_coverage90_active": pit_coverage(rows["pit"], 0.90, active),
                "missed_escalation": missed_escalation_rate(mean, y), "pit_mean": float(rows["pit"].mean())}
    return pd.Series(out, dtype=np.float64)


def metrics_by(predictions: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Long table (keys..., metric, value) of the metrics of :func:`summarize` for each group of ``keys``,
    computed for all groups at once (group means of per-row terms; average precision and ROC AUC from ranks
    within each group, as scikit-learn computes them). Count metrics are left out of groups without a forecast
    mean (hazard models). Equal to ``summarize`` group by group (tests/models/test_metrics.py)."""
    keys = list(keys)
    rows = predictions.reset_index(drop=True)
    p = rows["p_event"].to_numpy(float)
    e = rows["event"].to_numpy(float)
    y = rows["y"].to_numpy(float)
    mean = rows["mean"].to_numpy(float)
    active = rows["active"].to_numpy(bool)
    q = np.clip(p, 1e-15, 1.0 - 1e-15)
    terms = {"n_rows": np.ones(len(rows)), "event_rate": e, "brier": (p - e) ** 2,
             "log_loss": -(e * np.log(q) + (1.0 - e) * np.log1p(-q))}
    if "crps" in rows:
        counted = np.isfinite(mean)
        pit = rows["pit"].to_numpy(float)

        def on_active(inside: np.ndarray) -> np.ndarray:
            return np.where(active & counted, inside, np.nan)

        def within(lo: str, hi: str) -> np.ndarray:
            return on_active((rows[lo].to_numpy(float) <= y) & (y <= rows[hi].to_numpy(float)))

        def counts_only(column: str) -> np.ndarray:
            return np.where(counted, rows[column].to_numpy(float), np.nan)

        terms |= {"crps": counts_only("crps"), "mae": np.abs(mean - y), "rmse": (mean - y) ** 2,
                  "log_score": counts_only("log_score"),
                  "coverage50_active": within("q25", "q75"), "coverage80_active": within("q10", "q90"),
                  "coverage90_active": within("q05", "q95"),
                  "pit_coverage80_active": on_active((pit >= 0.1) & (pit <= 0.9)),
                  "pit_coverage90_active": on_active((pit >= 0.05) & (pit <= 0.95)),
                  "missed_escalation": np.where(counted & (y > 10.0), mean < 0.5, np.nan),
                  "pit_mean": counts_only("pit")}
    frame = pd.concat([rows[keys], pd.DataFrame(terms)], axis=1)
    grouped = frame.groupby(keys, sort=True, observed=True)
    wide = grouped.mean()
    wide["n_rows"] = grouped["n_rows"].sum()
    wide["n_origins"] = rows.groupby(keys, sort=True, observed=True)["origin"].nunique()
    if "rmse" in wide:
        wide["rmse"] = np.sqrt(wide["rmse"])
    wide = wide.join(_ranking_metrics(rows[keys], p, e))
    long = wide.reset_index().melt(id_vars=keys, var_name="metric", value_name="value")
    return long.dropna(subset=["value"]).sort_values([*keys, "metric"], ignore_index=True)


def _ranking_metrics(groups: pd.DataFrame, p: np.ndarray, e: np.ndarray) -> pd.DataFrame:
    """average_precision and roc_auc of (p, e) within each group of ``groups`` (its columns are the keys), as
    sklearn's average_precision_score and roc_auc_score: AP sums precision x recall step over the distinct
    scores from the highest; AUC is the Mann-Whitney statistic with tied scores given their average rank.
    NaN where a group has no event (AP, AUC) or no non-event (AUC)."""
    keys = list(groups.columns)
    f = groups.assign(_p=p, _e=e)
    grouped = f.groupby(keys, sort=True, observed=True)
    n_pos = grouped["_e"].sum()
    n = grouped["_e"].count()
    ranks = grouped["_p"].rank(method="average")
    rank_sum = (ranks * f["_e"]).groupby([f[k] for k in keys], sort=True, observed=True).sum()
    auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * (n - n_pos))
    auc = auc.where((n_pos > 0) & (n_pos < n))
    # AP: blocks of equal score, taken from the highest score down within each group
    blocks = f.groupby([*keys, "_p"], sort=True, observed=True)["_e"].agg(["sum", "count"]).iloc[::-1]
    level = keys if len(keys) > 1 else keys[0]
    tp = blocks["sum"].groupby(level=level, sort=False).cumsum()
    seen = blocks["count"].groupby(level=level, sort=False).cumsum()
    step = blocks["sum"] * (tp / seen)
    ap = step.groupby(level=level, sort=True).sum() / n_pos
    ap = ap.where(n_pos > 0)
    return pd.DataFrame({"average_precision": ap, "roc_auc": auc})


def per_origin_scores(predictions: pd.DataFrame, metrics: Sequence[str] = ("crps", "brier", "log_score", "abs_error")
                      ) -> pd.DataFrame:
    """Mean of each per-row score over the districts of each (model, horizon, origin): the units the
    bootstrap resamples. ``brier`` is (p_event - event)^2 and ``abs_error`` |mean - y| per row."""
    rows = predictions.assign(brier=(predictions["p_event"] - predictions["event"]) ** 2,
                              abs_error=(predictions["mean"] - predictions["y"]).abs())
    return rows.groupby(["model", "horizon", "origin"], sort=True)[list(metrics)].mean().reset_index()


def skill_table(per_origin: pd.DataFrame, baselines: Sequence[str], metric: str = "crps", *, n_boot: int = 2000,
                level: float = 0.90, seed: int = 0) -> pd.DataFrame:
    """Skill of every model against the best baseline (lowest mean ``metric``) of each horizon.

    ``per_origin`` comes from :func:`per_origin_scores`. Only origins scored for both the model and the
    baseline count. Columns: horizon, model, baseline, metric, score, baseline_score, skill, skill_lower,
    skill_upper (bootstrap over origins, :func:`bootstrap_skill`).
    """
    if metric not in LOWER_IS_BETTER and metric != "abs_error":
        raise ValueError(f"skill needs a lower-is-better score, got {metric!r}")
    table = per_origin.pivot_table(index=["horizon", "origin"], columns="model", values=metric)
    rows = []
    for h, block in table.groupby(level="horizon"):
        present = [b for b in baselines if b in block.columns and block[b].notna().any()]
        if not present:
            raise ValueError(f"no baseline among {list(baselines)} was scored at horizon {h}")
        best = min(present, key=lambda b: block[b].mean())
        for model in block.columns:
            both = pd.DataFrame({"score": block[model], "base": block[best]}).dropna()
            if both.empty:
                continue
            s, lo, hi = bootstrap_skill(both["score"].to_numpy(), both["base"].to_numpy(), n_boot=n_boot, level=level,
                                        seed=seed)
            rows.append({"horizon": h, "model": model, "baseline": best, "metric": metric,
                         "score": both["score"].mean(), "baseline_score": both["base"].mean(),
                         "skill": s, "skill_lower": lo, "skill_upper": hi})
    return pd.DataFrame(rows)
