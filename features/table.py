"""The district-week feature table that models learn from: features, targets and their catalog.

Row (d, t) describes district d at the Monday t. Features use only events dated before t; targets
count what happens from t onwards (``target_violent_events_h4`` = violent events in weeks t .. t+3).
The table runs up to and including the *forecast week* (the week being scored), whose targets are unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.attacks import recent_attack_features
from features.panel import Panel, base_measures, build_panel, monday_on_or_before
from features.seasonality import seasonality_features
from features.spec import FeatureBlock, FeatureSpec, catalog, catalog_version
from features.windows import future_sum

KEYS = ["district_code", "week_start"]


@dataclass(frozen=True)
class FeatureConfig:
    """What to build. Units are weeks; the major-attack threshold is in fatalities."""

    horizons: tuple[int, ...] = (1, 4, 13)
    major_min_fatalities: int = 5
    attack_measures: tuple[str, ...] = ("violent_events", "battles", "explosions", "civilian_violence", "fatalities", "major_attacks")
    lags: tuple[int, ...] = (1, 2)
    windows: tuple[int, ...] = (4, 13, 52)
    half_lives: tuple[float, ...] = (4,)
    target_measures: tuple[str, ...] = ("violent_events", "fatalities")


@dataclass
class FeatureTable:
    frame: pd.DataFrame
    specs: list[FeatureSpec]
    targets: list[str]
    forecast_week: pd.Timestamp
    panel: Panel = field(repr=False)

    @property
    def feature_names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def data_cutoff(self) -> pd.Timestamp:
        """Events dated on or after this day were not used (equals the forecast week's Monday)."""
        return self.forecast_week

    @property
    def catalog(self) -> pd.DataFrame:
        return catalog(self.specs)

    @property
    def catalog_version(self) -> str:
        return catalog_version(self.specs)

    def training_rows(self, target: str) -> pd.DataFrame:
        """Rows whose target is fully observed (before the forecast week)."""
        return self.frame[self.frame[target].notna()]

    def forecast_rows(self) -> pd.DataFrame:
        return self.frame[self.frame["week_start"] == self.forecast_week]


def target_names(config: FeatureConfig) -> list[str]:
    return [f"target_{m}_h{h}" for m in config.target_measures for h in config.horizons] + [
        f"target_major_attack_h{h}" for h in config.horizons
    ]


def build_feature_table(
    events: pd.DataFrame,
    district_codes: list[str] | pd.Index,
    *,
    start,
    forecast_week,
    config: FeatureConfig = FeatureConfig(),
) -> FeatureTable:
    """Features and targets for every district and every week from ``start`` to ``forecast_week``.

    Events dated on or after ``forecast_week`` (rounded down to its Monday) are discarded before anything is
    computed, so the table is the same whatever later events the input holds.
    """
    week = monday_on_or_before(forecast_week)
    known = events[pd.to_datetime(events["event_date"]) < week]
    panel = build_panel(known, district_codes, start=start, end=week + pd.Timedelta(days=7),
                        measures=base_measures(config.major_min_fatalities))
    block = FeatureBlock()
    block.extend(recent_attack_features(panel, config.attack_measures, lags=config.lags, windows=config.windows,
                                        half_lives=config.half_lives))
    block.extend(seasonality_features(panel))
    n_observed = panel.shape[1] - 1  # the last column is the forecast week: nothing of it is known
    frame = panel.long_index()
    features = pd.DataFrame({name: block.values[name].ravel() for name in block.names})
    targets = {}
    for h in config.horizons:
        for m in config.target_measures:
            targets[f"target_{m}_h{h}"] = _observed_future(panel.measures[m], h, n_observed)
        targets[f"target_major_attack_h{h}"] = np.minimum(_observed_future(panel.measures["major_attacks"], h, n_observed), 1.0)
    frame = pd.concat([frame, features, pd.DataFrame({k: v.ravel() for k, v in targets.items()})], axis=1)
    return FeatureTable(frame, block.specs, list(targets), week, panel)


def _observed_future(x: np.ndarray, horizon: int, n_observed: int) -> np.ndarray:
    out = future_sum(x[:, :n_observed], horizon)
    return np.concatenate([out, np.full((x.shape[0], x.shape[1] - n_observed), np.nan)], axis=1)
