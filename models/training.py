"""Fitting a slot's model on every usable row of the feature table (pure: a table in, a fitted model out).

Alignment: row (d, t) holds features from the weeks before Monday t and targets from t on; a model of
fitting horizon h is fitted on rows from ``panel_start`` whose h-week target is known (its window closed
before the table's forecast week), which is every row with a non-missing target.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.table import FeatureTable
from models.baselines import MEASURE, attach_history
from models.cox import CoxHazardRatios
from models.protocol import Model
from models.slots import Slot
from models.suite import build, count_spec, hazard_spec

if TYPE_CHECKING:
    from models.selection import SlotDecision

log = logging.getLogger("vigie")
WEEK = pd.Timedelta(days=7)


def target_column(kind: str, horizon: int, measure: str = MEASURE) -> str:
    """The target a model of ``kind`` is fitted on or scored against, over ``horizon`` weeks from week_start."""
    return f"target_{measure}_h{horizon}" if kind == "count" else f"target_major_attack_h{horizon}"


def training_rows(table: FeatureTable, target: str, panel_start: pd.Timestamp) -> pd.DataFrame:
    """Rows from ``panel_start`` on whose ``target`` is known."""
    f = table.frame
    return f[(f["week_start"] >= pd.Timestamp(panel_start)) & f[target].notna()]


class TooFewMajorAttacks(RuntimeError):
    """The training rows hold too few major attacks for a hazard model to be fitted and judged."""


def major_attack_weeks(table: FeatureTable, panel_start: pd.Timestamp) -> int:
    """District-weeks with at least one major attack among the training rows (the hazard models' positives
    at one week; a 4-week window is positive when any of its weeks is)."""
    target = target_column("hazard", 1)
    return int(training_rows(table, target, panel_start)[target].sum())


def check_major_attacks(table: FeatureTable, panel_start: pd.Timestamp, minimum: int, source: str) -> int:
    """The number of major-attack district-weeks to train on, or :class:`TooFewMajorAttacks` below ``minimum``."""
    found = major_attack_weeks(table, panel_start)
    if found < minimum:
        raise TooFewMajorAttacks(
            f"only {found} district-weeks with a major attack ({table.config.major.definition(source)}) from "
            f"{pd.Timestamp(panel_start).date()} to {table.data_cutoff.date()}; the hazard models need at least "
            f"{minimum} (setting training.min_major_attack_weeks): lower the threshold with "
            "VIGIE_MAJOR_ATTACK__MIN_FATALITIES or give more events; nothing trained or published")
    return found


def model_rows(model: Model, table: FeatureTable, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the lag columns the model declares it reads (``model.history_weeks`` of its
    ``history_measure``) attached."""
    return attach_history(table, rows, model.history_weeks, model.history_measure) if model.history_weeks else rows


#: Weeks of a fitted slot's training rows it keeps (its importance and example read no more).
KEPT_WEEKS = 52


@dataclass
class FittedSlot:
    """A slot's model fitted on all usable rows: how many and which weeks, and the last :data:`KEPT_WEEKS`
    weeks of them (history attached; not all of them: four slots kept a copy of the table each)."""

    slot: Slot
    recipe: str
    model: Model
    rows: pd.DataFrame
    #: The feature-table features the model reads (its input columns less keys and attached lag columns):
    #: what a later table must still have for the model to score it.
    table_features: list[str]
    n_rows: int = 0
    first_week: pd.Timestamp | None = None
    last_week: pd.Timestamp | None = None

    def example(self, n: int = 5) -> pd.DataFrame:
        """A few input rows restricted to the columns the model reads (the MLflow signature's example)."""
        return self.rows[self.model.input_columns()].head(n)

    def importance(self, weeks: int = KEPT_WEEKS) -> pd.Series | None:
        """Mean absolute per-feature contribution over the last ``weeks`` weeks of rows (None: not explainable)."""
        recent = self.rows[self.rows["week_start"] >= self.rows["week_start"].max() - weeks * WEEK]
        contributions = self.model.contributions(recent)
        if contributions is None or contributions.empty:
            return None
        return contributions.abs().mean().rename(f"mean |contribution| (last {weeks} weeks)")


def fit_slot(table: FeatureTable, recipe: str, slot: Slot, panel_start: pd.Timestamp) -> FittedSlot:
    """A new model of ``recipe`` for ``slot`` fitted on every row from ``panel_start`` with a known target."""
    spec = (count_spec if slot.kind == "count" else hazard_spec)(recipe, slot.horizon, table.specs)
    target = target_column(slot.kind, spec.training_horizon)
    model = build(recipe, slot.kind, slot.horizon, table.specs)
    rows = model_rows(model, table, training_rows(table, target, panel_start))
    model.fit(rows, rows[target].to_numpy())
    known = set(table.feature_names)
    first, last = rows["week_start"].min(), rows["week_start"].max()
    kept = rows[rows["week_start"] >= last - KEPT_WEEKS * WEEK].copy()
    return FittedSlot(slot, recipe, model, kept, [c for c in model.input_columns() if c in known], len(rows),
                      pd.Timestamp(first), pd.Timestamp(last))


def fit_slots(table: FeatureTable, decisions: Mapping[Slot, "SlotDecision"], panel_start: pd.Timestamp) -> dict[Slot, FittedSlot]:
    """Each slot's challenger recipe (``decisions[slot].challenger``) fitted by :func:`fit_slot`."""
    return {slot: fit_slot(table, d.challenger, slot, panel_start) for slot, d in decisions.items()}


def hazard_ratios(table: FeatureTable, panel_start: pd.Timestamp) -> pd.DataFrame | None:
    """Cox hazard ratios of the foreign-force, withdrawal and political covariates for a major attack in the
    next week (for interpretation); None when they cannot be estimated (e.g. no major attack at all)."""
    rows = training_rows(table, "target_major_attack_h1", panel_start)
    try:
        cox = CoxHazardRatios(descriptions=None).fit(rows, rows["target_major_attack_h1"].to_numpy())
    except (ValueError, np.linalg.LinAlgError) as exc:
        log.warning("Cox hazard ratios not estimated: %s", exc)
        return None
    return cox.hazard_ratio_table()
