"""Walk-forward backtest: every model, baselines included, forecasts each origin from the rows it could
have seen then.

Alignment. Row (d, t) of the feature table holds features from weeks before the Monday t and the targets
of the weeks t .. t + h - 1. At an origin o (a Monday), a model of horizon h is evaluated on the rows with
week_start == o, and it is fitted only on rows whose training target window has closed by o
(week_start + h_fit weeks <= o, with h_fit the horizon of the target it is fitted on); the engine asserts it.
The window expands: every fit uses all such rows from ``train_start`` on. Models are refitted at the first
origin and then every ``refit_every`` origins; in between, the last fit predicts.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from features.table import FeatureTable
from features.windows import past_sum
from models.baselines import MEASURE, attach_history
from models.metrics import (
    QUANTILES,
    count_scores,
    metrics_by,
    per_origin_scores,
    quantile_column,
    reliability_table,
    skill_table,
    tier_calibration,
)
from models.protocol import Model

WEEK = pd.Timedelta(days=7)


@dataclass(frozen=True)
class ModelSpec:
    """One model to backtest, described without building it.

    ``kind`` "count": ``factory()`` returns a fresh, unfitted :class:`models.protocol.CountModel` fitted on
    ``target_{measure}_h{fit_horizon}``; "hazard": a :class:`models.protocol.HazardModel` fitted on
    ``target_major_attack_h{fit_horizon}``. ``fit_horizon`` defaults to ``horizon``; a discrete-time hazard
    fitted on weekly rows uses ``fit_horizon=1``. Evaluation always uses the target of ``horizon``.
    ``history_weeks``: the lag columns ``{measure}_lag1 .. _lag{history_weeks}`` the model reads (the
    ``history_weeks`` of the model ``factory`` builds; :mod:`models.suite` fills it from the model class), so
    the engine attaches them without building a model; ``history_measure`` is the panel measure of those
    columns (the models' ``history_measure``).
    """

    name: str
    kind: Literal["count", "hazard"]
    horizon: int
    factory: Callable[[], Model]
    fit_horizon: int | None = None
    history_weeks: int = 0
    history_measure: str = MEASURE

    @property
    def training_horizon(self) -> int:
        return self.fit_horizon or self.horizon


@dataclass(frozen=True)
class BacktestConfig:
    """Origins every ``origin_every`` weeks from ``start``; a horizon-h forecast is scored only if its target
    weeks all lie on or before ``end`` (the last target week), so horizon h's last origin is
    ``end - (h - 1)`` weeks. ``refit_every`` counts origins. ``train_start`` (default: the table's first
    week) is the first week_start used for fitting. ``active_weeks``: a row is "active" when its district
    had a violent event in the ``active_weeks`` weeks before the origin. ``seed`` drives the randomised PIT.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    origin_every: int = 1
    refit_every: int = 1
    train_start: pd.Timestamp | None = None
    measure: str = MEASURE
    quantiles: tuple[float, ...] = QUANTILES
    active_weeks: int = 52
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "start", pd.Timestamp(self.start))
        object.__setattr__(self, "end", pd.Timestamp(self.end))
        if self.train_start is not None:
            object.__setattr__(self, "train_start", pd.Timestamp(self.train_start))
        if self.origin_every < 1 or self.refit_every < 1:
            raise ValueError("origin_every and refit_every must be >= 1")


@dataclass
class BacktestResult:
    """``predictions``: one row per (model, origin, district) with origin, district_code, horizon, model, kind,
    year, active, y, event, p_event and, for count models, mean, q05..q95, crps, log_score, pit (NaN for
    hazard models). For count models event = 1{y >= 1} and p_event = P(count >= 1); for hazard models
    y = event = the major-attack indicator and p_event the predicted probability.
    ``metrics``: long table model, kind, horizon, metric, value. ``per_origin``: per (model, horizon, origin)
    mean crps, brier, log_score, abs_error. ``fits``: model, horizon, origin, n_train of every refit.
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    per_origin: pd.DataFrame
    fits: pd.DataFrame = field(default_factory=pd.DataFrame)

    @classmethod
    def combine(cls, parts: Sequence["BacktestResult"]) -> "BacktestResult":
        """One result of the backtests of disjoint sets of models on the same origins (e.g. one per slot, run
        apart): their predictions and fits stacked in the order given, the metrics recomputed from them (the
        same as one backtest of every model)."""
        def stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
            kept = [f for f in frames if len(f)]
            return pd.concat(kept, ignore_index=True) if kept else frames[0]

        predictions = stack([p.predictions for p in parts])
        if not len(predictions):
            return cls(predictions, stack([p.metrics for p in parts]), stack([p.per_origin for p in parts]),
                       stack([p.fits for p in parts]))
        return cls(predictions, metrics_by(predictions, ["model", "kind", "horizon"]), per_origin_scores(predictions),
                   stack([p.fits for p in parts]))

    def breakdown(self, by: str | Sequence[str]) -> pd.DataFrame:
        """Metrics per model, horizon and ``by`` (e.g. "district_code", "year", "active"): where models fail."""
        by = [by] if isinstance(by, str) else list(by)
        return metrics_by(self.predictions, ["model", "kind", "horizon", *by])

    def skill(self, baselines: Sequence[str], metric: str = "crps", **kwargs) -> pd.DataFrame:
        """Skill against the best of ``baselines`` per horizon, bootstrap over origins (see metrics.skill_table)."""
        return skill_table(self.per_origin, baselines, metric, **kwargs)

    def hazard_skill(self, baselines: Sequence[str], **kwargs) -> pd.DataFrame:
        """Brier skill of the hazard models against the best of the hazard ``baselines`` (e.g. the naive
        district-history rule), bootstrap over origins; count models' P(N >= 1) is another event and left out."""
        hazards = self.predictions.loc[self.predictions["kind"] == "hazard", "model"].unique()
        per_origin = self.per_origin[self.per_origin["model"].isin(hazards)]
        if per_origin.empty:
            return pd.DataFrame(columns=["horizon", "model", "baseline", "metric", "score", "baseline_score", "skill",
                                         "skill_lower", "skill_upper"])
        return skill_table(per_origin, baselines, "brier", **kwargs)

    def tiers(self, thresholds: Sequence[float]) -> pd.DataFrame:
        """Calibration of each hazard model's risk tiers (thresholds on the 0-100 scale): model, horizon and the
        columns of :func:`models.metrics.tier_calibration`."""
        hazards = self.predictions[self.predictions["kind"] == "hazard"]
        parts = [tier_calibration(g["p_event"].to_numpy(), g["event"].to_numpy(), thresholds).assign(model=m, horizon=h)
                 for (m, h), g in hazards.groupby(["model", "horizon"], sort=True)]
        columns = ["model", "horizon", *tier_calibration([], [], thresholds).columns]
        return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)

    def reliability(self, n_bins: int = 10) -> pd.DataFrame:
        """Calibration of p_event per model and horizon: model, horizon and the columns of
        :func:`models.metrics.reliability_table`."""
        return (self.predictions.groupby(["model", "horizon"], sort=True)[["p_event", "event"]]
                .apply(lambda g: reliability_table(g["p_event"].to_numpy(), g["event"].to_numpy(), n_bins))
                .reset_index(level=[0, 1]).reset_index(drop=True))

    def table(self, metrics: Sequence[str] = ("crps", "brier", "average_precision")) -> pd.DataFrame:
        """Wide model x (metric, horizon) view of ``metrics``."""
        sub = self.metrics[self.metrics["metric"].isin(list(metrics))]
        return sub.pivot_table(index="model", columns=["metric", "horizon"], values="value", sort=False)


def prediction_columns(quantiles: Sequence[float] = QUANTILES) -> list[str]:
    """Columns of :attr:`BacktestResult.predictions`, in order."""
    return ["origin", "district_code", "horizon", "model", "kind", "year", "active", "y", "event", "p_event",
            "mean", *[quantile_column(q) for q in quantiles], "crps", "log_score", "pit"]


def origins_for(weeks: pd.DatetimeIndex, config: BacktestConfig) -> pd.DatetimeIndex:
    """The origins: panel weeks from ``start`` to ``end``, one every ``origin_every`` weeks."""
    inside = weeks[(weeks >= config.start) & (weeks <= config.end)]
    return inside[:: config.origin_every]


def run_backtest(table: FeatureTable, specs: Sequence[ModelSpec], config: BacktestConfig) -> BacktestResult:
    """Walk-forward evaluation of ``specs`` on ``table`` (built once, up to the end of the data).

    Loops over models and over refit blocks (``refit_every`` consecutive origins): one fit per block, then
    one prediction for the rows of all the block's origins. Models see the feature and history columns only,
    never a target.
    """
    keys = [(s.name, s.horizon) for s in specs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"(name, horizon) must be unique across specs, got {keys}")
    features, targets, active = _model_frame(table, specs, config)  # sorted by week_start: training rows are a prefix
    weeks = features["week_start"].to_numpy()
    origins = origins_for(table.panel.weeks, config)
    first_row = np.searchsorted(weeks, origins.to_numpy(), side="left")
    stop_row = np.searchsorted(weeks, origins.to_numpy(), side="right")
    parts, fits = [], []
    for i_spec, spec in enumerate(specs):
        y_eval = targets[_target(spec, spec.horizon, config.measure)]
        y_fit = targets[_target(spec, spec.training_horizon, config.measure)]
        usable = np.flatnonzero(origins + (spec.horizon - 1) * WEEK <= config.end)
        for i_block in range(0, len(usable), config.refit_every):
            block = usable[i_block: i_block + config.refit_every]
            origin = origins[block[0]]
            model, n_train = _fit(spec, features, weeks, y_fit, origin, config.train_start)
            fits.append({"model": spec.name, "horizon": spec.horizon, "origin": origin, "n_train": n_train})
            rows = np.concatenate([np.arange(first_row[b], stop_row[b]) for b in block])
            rows = rows[~np.isnan(y_eval[rows])]
            if rows.size:
                rng = np.random.default_rng((config.seed, _spec_key(spec), i_block))
                parts.append(_score(spec, model, _take(features, rows), active[rows],
                                    y_eval[rows], rng, config.quantiles))
    predictions = _stack(parts, prediction_columns(config.quantiles))
    metrics = metrics_by(predictions, ["model", "kind", "horizon"]) if len(predictions) else pd.DataFrame(
        columns=["model", "kind", "horizon", "metric", "value"])
    per_origin = per_origin_scores(predictions)
    return BacktestResult(predictions, metrics, per_origin, pd.DataFrame(fits))


# ---------------------------------------------------------------------------------------------- helpers


def _spec_key(spec: ModelSpec) -> int:
    """A stable number of the spec (not its position in the list): the randomised PIT of a model is the same
    whether it is backtested alone, with its slot or with every slot."""
    return zlib.crc32(f"{spec.kind}|{spec.name}|{spec.horizon}".encode())


def _target(spec: ModelSpec, horizon: int, measure: str) -> str:
    if spec.kind == "count":
        return f"target_{measure}_h{horizon}"
    if spec.kind == "hazard":
        return f"target_major_attack_h{horizon}"
    raise ValueError(f"model kind must be 'count' or 'hazard', got {spec.kind!r}")


def _model_frame(table: FeatureTable, specs: Sequence[ModelSpec],
                 config: BacktestConfig) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
    """What the models read, sorted by week_start (districts in table order within a week), RangeIndex: the
    table's key and feature columns with the lag columns the models need (per history measure, the largest
    ``history_weeks`` of the specs reading it), never a target; then, in the same row order, the target columns
    the specs are fitted to and scored on ({name: float64 array}) and the ``active`` flag of each row (a violent
    event in the ``active_weeks`` weeks before week_start). The frame is one copy of the table: the targets
    never enter it (a second copy of the whole frame per slot, at 5,000 districts, was gigabytes)."""
    frame = table.frame
    for measure in sorted({spec.history_measure for spec in specs}):
        weeks = max(spec.history_weeks for spec in specs if spec.history_measure == measure)
        if weeks:
            frame = attach_history(table, frame, weeks, measure)
    recent = past_sum(table.panel.measures[MEASURE], config.active_weeks)  # (n_districts, n_weeks), panel order
    lookup = pd.Series(recent.ravel() > 0, index=pd.MultiIndex.from_frame(table.panel.long_index()))
    key = pd.MultiIndex.from_arrays([frame["district_code"].astype("string"), frame["week_start"]])
    active = lookup.reindex(key).to_numpy(bool)
    order = np.argsort(frame["week_start"].to_numpy(), kind="stable")
    names = sorted({_target(s, h, config.measure) for s in specs for h in (s.horizon, s.training_horizon)})
    targets = {name: frame[name].to_numpy(np.float64)[order] for name in names}
    kept = np.flatnonzero(~frame.columns.str.startswith("target_"))
    return frame.iloc[order, kept].reset_index(drop=True), targets, active[order]


def _fit(spec: ModelSpec, features: pd.DataFrame, weeks: np.ndarray, y_fit: np.ndarray, origin: pd.Timestamp,
         train_start: pd.Timestamp | None):
    """A new model of ``spec`` fitted on the rows whose training target window closes by ``origin``:
    week_start + fit_horizon weeks <= origin (``weeks`` sorted, so they are a prefix of the frame)."""
    last_week = origin - spec.training_horizon * WEEK
    n_prefix = int(np.searchsorted(weeks, last_week.to_datetime64(), side="right"))
    keep = ~np.isnan(y_fit[:n_prefix])
    if train_start is not None:
        keep &= weeks[:n_prefix] >= train_start.to_datetime64()
    rows = np.flatnonzero(keep)
    if not (weeks[rows] + np.timedelta64(7 * spec.training_horizon, "D") <= origin.to_datetime64()).all():
        raise AssertionError(f"{spec.name}: a training target window ends after the origin {origin.date()}")
    X = _take(features, rows)
    model = spec.factory()
    model.fit(X, y_fit[rows])
    return model, int(rows.size)


def _take(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``frame.iloc[rows]`` (``rows`` increasing), as a slice when they are consecutive: the usual case, as the
    frame is sorted by week, and no copy of every feature column for each fit and each block of origins."""
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        return frame.iloc[rows[0]: rows[-1] + 1]
    return frame.iloc[rows]


def _score(spec: ModelSpec, model: Model, X: pd.DataFrame, active: np.ndarray, y: np.ndarray, rng: np.random.Generator,
           quantiles: Sequence[float]) -> dict[str, np.ndarray]:
    """Prediction columns (see :class:`BacktestResult`) of ``model`` on the evaluation rows X (origin = week_start)."""
    if spec.kind == "count":
        scores = count_scores(model.predict(X), y, rng, quantiles)
    else:
        p = np.clip(np.asarray(model.predict_proba(X), dtype=np.float64), 0.0, 1.0)
        scores = {"p_event": p, "event": (y >= 1).astype(np.float64)}
    n = len(X)
    origin = X["week_start"].to_numpy()
    return {
        "origin": origin,
        "district_code": X["district_code"].to_numpy(dtype=object),
        "horizon": np.full(n, spec.horizon),
        "model": np.full(n, spec.name, dtype=object),
        "kind": np.full(n, spec.kind, dtype=object),
        "year": pd.DatetimeIndex(origin).year.to_numpy(),
        "active": np.asarray(active, dtype=bool),
        "y": y,
        **scores,
    }


def _stack(parts: list[dict[str, np.ndarray]], columns: list[str]) -> pd.DataFrame:
    """One frame from the per-block column dicts; a column a block lacks (hazard: mean, crps, ..) is NaN there."""
    if not parts:
        return pd.DataFrame(columns=columns)
    data = {}
    for c in columns:
        data[c] = np.concatenate([p[c] if c in p else np.full(len(p["y"]), np.nan) for p in parts])
    frame = pd.DataFrame(data)
    for c in ("district_code", "model", "kind"):
        frame[c] = frame[c].astype("str")
    return frame
