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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from features.table import FeatureTable
from features.windows import past_sum
from models.baselines import MEASURE, attach_history
from models.metrics import QUANTILES, count_scores, metrics_by, per_origin_scores, quantile_column, skill_table

WEEK = pd.Timedelta(days=7)


@dataclass(frozen=True)
class ModelSpec:
    """One model to backtest.

    ``kind`` "count": ``factory()`` returns a CountModel fitted on ``target_{measure}_h{fit_horizon}``;
    "hazard": a HazardModel fitted on ``target_major_attack_h{fit_horizon}``. ``fit_horizon`` defaults to
    ``horizon``; a discrete-time hazard fitted on weekly rows uses ``fit_horizon=1``. Evaluation always uses
    the target of ``horizon``.
    """

    name: str
    kind: Literal["count", "hazard"]
    horizon: int
    factory: Callable[[], object]
    fit_horizon: int | None = None

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
        for name in ("start", "end", "train_start"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, pd.Timestamp(value))
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

    def breakdown(self, by: str | Sequence[str]) -> pd.DataFrame:
        """Metrics per model, horizon and ``by`` (e.g. "district_code", "year", "active"): where models fail."""
        by = [by] if isinstance(by, str) else list(by)
        return metrics_by(self.predictions, ["model", "kind", "horizon", *by])

    def skill(self, baselines: Sequence[str], metric: str = "crps", **kwargs) -> pd.DataFrame:
        """Skill against the best of ``baselines`` per horizon, bootstrap over origins (see metrics.skill_table)."""
        return skill_table(self.per_origin, baselines, metric, **kwargs)

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
    """Walk-forward evaluation of ``specs`` on ``table`` (built once, up to the end of the data)."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    frame = _model_frame(table, specs, config)
    origins = origins_for(table.panel.weeks, config)
    week = frame["week_start"]
    feature_columns = [c for c in frame.columns if not c.startswith("target_") and c != "active"]
    parts, fits = [], []
    for i_spec, spec in enumerate(specs):
        target = _target(spec, spec.horizon, config.measure)
        fit_target = _target(spec, spec.training_horizon, config.measure)
        usable = origins[origins + (spec.horizon - 1) * WEEK <= config.end]
        model = None
        for i_origin, origin in enumerate(usable):
            if i_origin % config.refit_every == 0:
                train = frame[(week + spec.training_horizon * WEEK <= origin) & frame[fit_target].notna()]
                if config.train_start is not None:
                    train = train[train["week_start"] >= config.train_start]
                if not (train["week_start"] + spec.training_horizon * WEEK <= origin).all():
                    raise AssertionError(f"{spec.name}: a training target window ends after the origin {origin.date()}")
                model = spec.factory()
                model.fit(train[feature_columns], train[fit_target].to_numpy(np.float64))
                fits.append({"model": spec.name, "horizon": spec.horizon, "origin": origin, "n_train": len(train)})
            test = frame[(week == origin) & frame[target].notna()]
            if test.empty:
                continue
            rng = np.random.default_rng((config.seed, i_spec, i_origin))
            parts.append(_score(spec, model, test, feature_columns, target, origin, rng, config.quantiles))
    columns = prediction_columns(config.quantiles)
    predictions = pd.concat(parts, ignore_index=True).reindex(columns=columns) if parts else pd.DataFrame(columns=columns)
    metrics = metrics_by(predictions, ["model", "kind", "horizon"]) if len(predictions) else pd.DataFrame(
        columns=["model", "kind", "horizon", "metric", "value"])
    per_origin = per_origin_scores(predictions)
    return BacktestResult(predictions, metrics, per_origin, pd.DataFrame(fits))


# ---------------------------------------------------------------------------------------------- helpers


def _target(spec: ModelSpec, horizon: int, measure: str) -> str:
    if spec.kind == "count":
        return f"target_{measure}_h{horizon}"
    if spec.kind == "hazard":
        return f"target_major_attack_h{horizon}"
    raise ValueError(f"model kind must be 'count' or 'hazard', got {spec.kind!r}")


def _model_frame(table: FeatureTable, specs: Sequence[ModelSpec], config: BacktestConfig) -> pd.DataFrame:
    """The table's frame with the lag columns the models need and the ``active`` flag of each row."""
    frame = table.frame
    weeks = max((getattr(spec.factory(), "history_weeks", 0) for spec in specs), default=0)
    if weeks:
        frame = attach_history(table, frame, weeks, config.measure)
    recent = past_sum(table.panel.measures[MEASURE], config.active_weeks)  # (n_districts, n_weeks), panel order
    lookup = pd.Series(recent.ravel() > 0, index=pd.MultiIndex.from_frame(table.panel.long_index()))
    key = pd.MultiIndex.from_arrays([frame["district_code"].astype("string"), frame["week_start"]])
    return frame.assign(active=lookup.reindex(key).to_numpy(bool))


def _score(spec: ModelSpec, model, test: pd.DataFrame, feature_columns: list[str], target: str,
           origin: pd.Timestamp, rng: np.random.Generator, quantiles: Sequence[float]) -> pd.DataFrame:
    y = test[target].to_numpy(np.float64)
    X = test[feature_columns]
    if spec.kind == "count":
        scores = count_scores(model.predict(X), y, rng, quantiles)
    else:
        p = np.clip(np.asarray(model.predict_proba(X), dtype=np.float64), 0.0, 1.0)
        scores = pd.DataFrame({"p_event": p, "event": (y >= 1).astype(np.float64)})
    head = pd.DataFrame({
        "origin": np.full(len(test), origin.to_datetime64()),
        "district_code": test["district_code"].to_numpy(),
        "horizon": spec.horizon,
        "model": spec.name,
        "kind": spec.kind,
        "year": origin.year,
        "active": test["active"].to_numpy(bool),
        "y": y,
    })
    return pd.concat([head, scores], axis=1)
