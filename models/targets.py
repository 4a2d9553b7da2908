"""The skill targets every backtest is read against (issue 12), met or not, as one table.

For each slot the model read is the best candidate on its point score (lowest CRPS or Brier among the
non-baselines: the challenger the selection rule would pick), never a baseline. Targets:

* ``bar``: CRPS skill against the best baseline or peer on the same rows with its 90% bootstrap lower bound
  above zero (every count horizon);
* ``aim``: that skill at least 5% at h = 1 and 10% at h = 4 (no aim at h = 13);
* ``brier``: the risk score's Brier skill against the best hazard baseline (the district-history rule or the
  district's rate, whichever scores better) at least 10%; ``ap``: its average precision above the
  district-history rule's;
* ``coverage80`` / ``coverage90``: the randomised-PIT coverage of the central 80% / 90% intervals on active
  districts within 78-82% / 88-92%.

Champion churn (at most 4 changes a year) needs a year of weekly runs, not one backtest: ``bench/churn.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

#: Minimum CRPS skill of the aim, by horizon.
AIMS = {1: 0.05, 4: 0.10}
BRIER_SKILL_TARGET = 0.10
COVERAGE_BANDS = {"pit_coverage80_active": (0.78, 0.82), "pit_coverage90_active": (0.88, 0.92)}
HISTORY_RULE = "district_history"
COLUMNS = ["target", "kind", "horizon", "model", "value", "lower", "threshold", "met", "against", "statement"]


def _best(skill: pd.DataFrame, baselines: set[str]) -> pd.DataFrame:
    """Per horizon, the candidate row of ``skill`` with the lowest score."""
    rows = skill[~skill["model"].isin(baselines)]
    return rows.sort_values(["horizon", "score", "model"]).groupby("horizon", sort=True).head(1)


def _row(target, kind, horizon, model, value, lower, threshold, met, against, statement) -> dict:
    return dict(zip(COLUMNS, (target, kind, int(horizon), str(model), float(value), float(lower),
                              float(threshold), bool(met), str(against), statement)))


def targets_table(skill: pd.DataFrame, hazard_skill: pd.DataFrame, metrics: pd.DataFrame,
                  baselines: Iterable[str], hazard_baselines: Iterable[str]) -> pd.DataFrame:
    """One row per target and slot: the value read (a skill as a fraction, or a coverage), its bootstrap lower
    bound where there is one (NaN otherwise), the threshold, whether it is met, what it is measured against and
    a sentence. ``skill`` / ``hazard_skill``: :meth:`models.backtest.BacktestResult.skill` and
    ``hazard_skill`` tables; ``metrics``: the long metrics (model, kind, horizon, metric, value)."""
    count_baselines, hazard_set = set(baselines), set(hazard_baselines)
    rows = []
    for r in _best(skill, count_baselines).itertuples():
        rows.append(_row("bar", "count", r.horizon, r.model, r.skill, r.skill_lower, 0.0, r.skill_lower > 0, r.baseline,
                         f"{r.model} CRPS skill {r.skill:+.1%} against {r.baseline} at h={r.horizon}, 90% lower bound "
                         f"{r.skill_lower:+.1%} (bar: above 0)"))
        if r.horizon in AIMS:
            aim = AIMS[r.horizon]
            rows.append(_row("aim", "count", r.horizon, r.model, r.skill, r.skill_lower, aim, r.skill >= aim, r.baseline,
                             f"{r.model} CRPS skill {r.skill:+.1%} against {r.baseline} at h={r.horizon} (aim: {aim:.0%})"))
        for metric, (low, high) in COVERAGE_BANDS.items():
            found = metrics[(metrics["model"] == r.model) & (metrics["horizon"] == r.horizon) & (metrics["metric"] == metric)]
            if found.empty:
                continue
            value = float(found["value"].iloc[0])
            level = metric.removeprefix("pit_coverage").removesuffix("_active")
            rows.append(_row(f"coverage{level}", "count", r.horizon, r.model, value, np.nan, low,
                             low <= value <= high, f"{low:.0%}-{high:.0%}",
                             f"{r.model} central {level}% intervals hold {value:.1%} of active districts' outcomes "
                             f"(randomised PIT) at h={r.horizon} (band {low:.0%}-{high:.0%})"))
    for r in _best(hazard_skill, hazard_set).itertuples():
        rows.append(_row("brier", "hazard", r.horizon, r.model, r.skill, r.skill_lower, BRIER_SKILL_TARGET,
                         r.skill >= BRIER_SKILL_TARGET, r.baseline,
                         f"{r.model} Brier skill {r.skill:+.1%} against {r.baseline} (target: {BRIER_SKILL_TARGET:.0%})"))
        ap = metrics[(metrics["horizon"] == r.horizon) & (metrics["metric"] == "average_precision")
                     & (metrics["kind"] == "hazard")].set_index("model")["value"]
        if r.model in ap.index and HISTORY_RULE in ap.index:
            rows.append(_row("ap", "hazard", r.horizon, r.model, ap[r.model], np.nan, ap[HISTORY_RULE],
                             ap[r.model] > ap[HISTORY_RULE], HISTORY_RULE,
                             f"{r.model} average precision {ap[r.model]:.3f} against {ap[HISTORY_RULE]:.3f} for the "
                             f"district-history rule"))
    return pd.DataFrame(rows, columns=COLUMNS)


def targets_text(table: pd.DataFrame) -> str:
    """The table as sentences, met ones first marked "met", the others "NOT MET"."""
    if table.empty:
        return "No target could be read (no candidate in the backtest)."
    lines = [f"{'met' if r.met else 'NOT MET'}: {r.statement}" for r in table.itertuples()]
    return f"{int(table['met'].sum())} of {len(table)} targets met.\n" + "\n".join(lines) + "\n"
