"""Shared design helpers of the models: which catalog features a model reads, how they enter a design.

* Selection: a model's feature arguments are *selections*, sequences whose items are
  :class:`features.spec.FeatureSpec` objects (taken as they are) or selectors
  (:class:`features.spec.Select` / :class:`features.spec.AnyOf`, resolved against the feature catalog the
  model receives: ``FeatureTable.specs``). :func:`resolve_features` turns a selection into specs; names
  are never parsed: windows, half-lives and scales come from the specs' facts.
* Design: :func:`feature_matrix` (float64, NaN for missing), :class:`LinearDesign` (standardised GLM terms),
  :func:`log_features` (which features enter as log1p), :func:`rate_divisor` (history feature -> events per
  week), :func:`recency_weights` and :func:`recent_rows` (row weights and masks by ``week_start``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from features.seasonality import FAMILY as SEASONALITY
from features.spec import AnyOf, FeatureSpec, Select, select

#: A model's feature argument: specs taken as they are, or selectors resolved against the catalog.
Selection = Sequence[FeatureSpec | Select | AnyOf]


def resolve_features(selection: Selection, catalog: Iterable[FeatureSpec] = ()) -> tuple[list[FeatureSpec], list[str]]:
    """The specs a selection designates, in selection order (catalog order within one selector), each once,
    and one note per selector that matches nothing in ``catalog`` (it is left out)."""
    catalog = catalog_specs(catalog)
    out: list[FeatureSpec] = []
    notes: list[str] = []
    for item in selection:
        if isinstance(item, FeatureSpec):
            found = [item]
        elif isinstance(item, (Select, AnyOf)):
            found = select(catalog, item)
            if not found:
                notes.append(f"{item} are not in the feature catalog: left out")
        else:
            raise TypeError(f"a feature selection holds FeatureSpec, Select or AnyOf items, not {item!r}")
        taken = {s.name for s in out}
        out += [s for s in found if s.name not in taken]
    return out, notes


def catalog_specs(catalog: Iterable[FeatureSpec]) -> list[FeatureSpec]:
    """``catalog`` as a list, checked: every item must be a FeatureSpec (pass ``FeatureTable.specs``)."""
    specs = list(catalog)
    bad = [s for s in specs if not isinstance(s, FeatureSpec)]
    if bad:
        raise TypeError(f"a feature catalog is a list of FeatureSpec (FeatureTable.specs), got {bad[:3]!r}")
    return specs


def catalog_features(catalog: Iterable[FeatureSpec], features: Selection | None) -> tuple[list[str], list[str]]:
    """The column names a tree model reads: those of ``features`` resolved against ``catalog``, or with
    ``features=None`` every feature of the catalog (in catalog order); and the selection notes."""
    catalog = catalog_specs(catalog)
    specs, notes = (catalog, []) if features is None else resolve_features(features, catalog)
    return [s.name for s in specs], notes


class SelectedFeatures:
    """``input_columns`` of a model that reads the features it selected: ``features_`` once fitted (None
    before), else the names of ``requested_features``."""

    features_: list[str] | None
    requested_features: list[FeatureSpec]

    def input_columns(self) -> list[str]:
        """The features the fitted model reads (before fitting: the selected ones)."""
        return list(self.features_) if self.features_ is not None else [s.name for s in self.requested_features]


def require_columns(X: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise ``KeyError`` naming the ``columns`` that X lacks."""
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise KeyError(f"feature columns missing from X: {missing}")


def kept_rows(X: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """X's rows where the boolean ``rows`` is set: X itself when every row is kept (the usual case: a fit is
    handed rows with finite targets), not a copy of a frame that may hold every feature column."""
    return X if rows.all() else X[rows]


def log_features(specs: Sequence[FeatureSpec]) -> list[str]:
    """Count-like features (sums, lags, decayed sums, durations, indicators...) enter GLMs as log1p; calendar
    terms (family "seasonality") and trends (statistic "trend", already log ratios that can be negative)
    enter as they are."""
    return [s.name for s in specs if s.family != SEASONALITY and s.statistic != "trend"]


def rate_divisor(spec: FeatureSpec) -> float:
    """What turns a history feature into an average count per week: the window W of a ``sum``, the total
    weight 1 / (1 - 0.5 ** (1 / H)) of a decayed sum (``ewm``, half-life H weeks, the week just before
    weighted 1), else 1 (taken as a rate already)."""
    if spec.statistic == "sum" and spec.window_weeks:
        return float(spec.window_weeks)
    if spec.statistic == "ewm" and spec.half_life_weeks:
        return 1.0 / (1.0 - 0.5 ** (1.0 / float(spec.half_life_weeks)))
    return 1.0


def feature_matrix(X: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """float64 array (rows x features) with missing values (pd.NA included) as NaN."""
    if not features:
        return np.zeros((len(X), 0))
    return np.column_stack([pd.to_numeric(X[f], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                            for f in features])


class LinearDesign:
    """Features -> standardised design columns ("terms") for the GLMs, with near-constant terms dropped.

    Each feature gives one term: log1p(max(x, 0)) for ``log_features``, x otherwise. A feature in
    ``duration_features`` (weeks since the last event) gives log1p(w) plus one hinge term
    max(0, log1p(w) - log1p(k)) per knot k (weeks): a piecewise-linear curve in log duration.
    Terms are centred and scaled with the training rows' mean and standard deviation, so a term's value 0
    is the training average. A term is dropped when it is (nearly) constant: standard deviation below
    1e-8 * (1 + |mean|) or fewer than ``min_variation`` rows differing from its most common value.
    Missing values (NaN) are imputed with the training mean (z = 0) by ``transform(..., fill=True)``.
    """

    def __init__(self, features: Sequence[str], log_features: Sequence[str], *,
                 duration_features: Sequence[str] = (), duration_knots: Sequence[float] = (),
                 min_variation: int = 5):
        self.features = list(features)
        self.log_features = set(log_features)
        self.duration_features = [f for f in duration_features if f in self.features]
        self.duration_knots = tuple(float(k) for k in duration_knots)
        self.min_variation = int(min_variation)

    def _basis(self, X: pd.DataFrame,
               overrides: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, list[str], list[str]]:
        cols, names, parents = [], [], []
        used = set(getattr(self, "features_", self.features))  # after fit: a dropped feature is not read
        for f in self.features:
            if f not in used:
                x = np.full(len(X), np.nan)
            else:
                x = overrides[f] if overrides and f in overrides else feature_matrix(X, [f])[:, 0]
            x = np.asarray(x, dtype=np.float64)
            if f in self.duration_features:
                lw = np.log1p(np.clip(x, 0, None))
                cols.append(lw), names.append(f), parents.append(f)
                for k in self.duration_knots:
                    cols.append(np.maximum(lw - np.log1p(k), 0.0)), names.append(f"{f}:hinge{k:g}"), parents.append(f)
            elif f in self.log_features:
                cols.append(np.log1p(np.clip(x, 0, None))), names.append(f), parents.append(f)
            else:
                cols.append(x), names.append(f), parents.append(f)
        raw = np.column_stack(cols) if cols else np.zeros((len(X), 0))
        return raw, names, parents

    def fit(self, X: pd.DataFrame) -> "LinearDesign":
        raw, names, parents = self._basis(X)
        keep, self.notes_ = [], []
        means, scales = [], []
        for j, name in enumerate(names):
            col = raw[:, j][np.isfinite(raw[:, j])]
            if len(col) == 0:
                self.notes_.append(f"term {name!r} has no finite value: dropped")
                continue
            mean, sd = float(col.mean()), float(col.std())
            values, counts = np.unique(col, return_counts=True)
            n_other = len(col) - int(counts.max())
            if sd <= 1e-8 * (1.0 + abs(mean)) or n_other < self.min_variation:
                self.notes_.append(f"term {name!r} is (nearly) constant ({n_other} rows differ from its mode): dropped")
                continue
            keep.append(j), means.append(mean), scales.append(sd)
        self.keep_ = np.asarray(keep, dtype=int)
        self.terms_ = [names[j] for j in keep]
        self.parents_ = [parents[j] for j in keep]
        self.mean_ = np.asarray(means, dtype=np.float64)
        self.scale_ = np.asarray(scales, dtype=np.float64)
        self.features_ = [f for f in self.features if f in set(self.parents_)]
        return self

    def transform(self, X: pd.DataFrame, *, intercept: bool = True, fill: bool = True,
                  overrides: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Standardised terms (rows x terms), with a leading column of ones when ``intercept``.

        ``overrides`` replaces a feature's raw values (used to advance durations along a survival path).
        """
        raw, _, _ = self._basis(X, overrides)
        z = (raw[:, self.keep_] - self.mean_) / self.scale_
        if fill:
            z = np.where(np.isfinite(z), z, 0.0)
        return np.column_stack([np.ones(len(X)), z]) if intercept else z

    def collapse(self, terms: np.ndarray, index: pd.Index) -> pd.DataFrame:
        """Sum per-term values (rows x terms) into one column per feature."""
        out = pd.DataFrame(0.0, index=index, columns=self.features_)
        for j, parent in enumerate(self.parents_):
            out[parent] += terms[:, j]
        return out


def recency_weights(X: pd.DataFrame, half_life_weeks: float | None) -> np.ndarray:
    """Row weights 0.5 ** (age / half_life), age = weeks between the row's week_start and the newest one
    (all ones without a half-life or a week_start column), scaled to mean 1."""
    if not half_life_weeks or "week_start" not in X.columns or len(X) == 0:
        return np.ones(len(X))
    weeks = pd.to_datetime(X["week_start"]).to_numpy()
    age = (weeks.max() - weeks) / np.timedelta64(7, "D")
    w = 0.5 ** (np.asarray(age, dtype=np.float64) / float(half_life_weeks))
    return w / w.mean()


def recent_rows(X: pd.DataFrame, weeks: int | None) -> np.ndarray:
    """Mask of the rows whose week_start is among the last ``weeks`` weeks of X (all rows when None)."""
    if not weeks or "week_start" not in X.columns or len(X) == 0:
        return np.ones(len(X), dtype=bool)
    ws = pd.to_datetime(X["week_start"]).to_numpy()
    return (ws.max() - ws) / np.timedelta64(7, "D") < weeks
