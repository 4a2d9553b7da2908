"""The evidence on withdrawals: what happened to violence when a force left, measured on the data a run has.

Pure: from a feature table (its weekly violent-event and major-attack targets) and the registry's deployments
placed in districts, :func:`withdrawal_evidence` lists every departure that falls inside the observed weeks
(:func:`features.forces.departures`: a kind of force leaving a district, handovers included and marked) and runs
the event study of :mod:`models.event_study` on them: the difference-in-differences by window (4, 13 and 26
weeks after against as many before), pooled, by kind and per withdrawal, in the district and next door; the
event-study coefficients by 4-week bin (pooled); and the discrete-time hazard ratios of a major attack.

Units: ``y`` = violent events dated in the week from week_start (the 1-week target), ``major`` = a major attack
that week; only weeks from ``panel_start`` whose week is fully observed (before the forecast week) are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from features.forces import departures
from features.table import FeatureTable
from models import event_study

WINDOWS = (4, 13, 26)
#: What every figure of the evidence can and cannot say (the README and the report repeat it).
CAVEAT = ("Few withdrawals, and forces leave for reasons that also drive violence (a deteriorating situation, a "
          "political break): the ratios are associations in the data, not the effect of a withdrawal. UCDP counts "
          "only organised violence that killed someone; ACLED counts more.")


@dataclass(frozen=True)
class WithdrawalEvidence:
    """The departures studied, the window effects (:func:`models.event_study.window_effects`), the pooled
    event-study bins, the hazard ratios, one sentence per pooled window effect, the notes of the fits, and the
    registry's deployments they were found in (with district_code)."""

    withdrawals: pd.DataFrame
    effects: pd.DataFrame
    event_study: pd.DataFrame
    hazard_ratios: pd.DataFrame
    sentences: list[str]
    notes: list[str]
    deployments: pd.DataFrame

    def report_section(self) -> dict:
        """What the weekly report's foreign-forces section needs (:func:`publish.report.forces_view`)."""
        return {"deployments": self.deployments, "withdrawals": self.withdrawals, "sentences": self.sentences,
                "caveat": CAVEAT}

    def text(self) -> str:
        """The sentences, the caveat and the notes, one per line (the MLflow artifact a reader opens first)."""
        return "\n".join([*self.sentences, "", CAVEAT, "", *self.notes]) + "\n"

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"withdrawals": self.withdrawals, "withdrawal_effects": self.effects,
                "withdrawal_event_study": self.event_study, "withdrawal_hazard_ratios": self.hazard_ratios}


def evidence_panel(table: FeatureTable, panel_start: pd.Timestamp) -> pd.DataFrame:
    """district_code, week_start, y, major for every district and every fully observed week from panel_start."""
    f = table.frame
    rows = f[(f["week_start"] >= pd.Timestamp(panel_start)) & f["target_violent_events_h1"].notna()]
    return pd.DataFrame({"district_code": rows["district_code"].astype("string").to_numpy(),
                         "week_start": rows["week_start"].to_numpy(),
                         "y": rows["target_violent_events_h1"].to_numpy(float),
                         "major": rows["target_major_attack_h1"].to_numpy(float)})


def withdrawal_evidence(table: FeatureTable, deployments: pd.DataFrame, neighbours: pd.DataFrame,
                        panel_start: pd.Timestamp, windows: Sequence[int] = WINDOWS) -> WithdrawalEvidence:
    """The evidence on every departure of ``deployments`` (registry rows with district_code) inside the table's
    observed weeks; ``neighbours``: the gazetteer's district_code, neighbour_code pairs."""
    panel = evidence_panel(table, panel_start)
    first, last = panel["week_start"].min(), panel["week_start"].max()
    found = departures(deployments, first, last)
    if found.empty:
        empty = pd.DataFrame()
        return WithdrawalEvidence(found, empty, empty, empty, [],
                                  [f"no withdrawal of the registry falls between {first.date()} and {last.date()}"],
                                  deployments)
    effects = event_study.window_effects(panel, found, neighbours, windows=windows)
    study = event_study.event_study(panel, found, neighbours, window=max(windows))
    hazards = event_study.hazard_ratios(panel, found, neighbours, windows=windows)
    return WithdrawalEvidence(found, effects.table, study.table, hazards.table, event_study.sentences(effects.table),
                              [*effects.notes, *study.notes, *hazards.notes], deployments)
