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

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from features.forces import departures
from features.table import FeatureTable
from models import event_study

WINDOWS = (4, 13, 26)
#: The estimated tables of the evidence (its study, kept between retrainings).
STUDY_TABLES = ("effects", "event_study", "hazard_ratios")
#: What every figure of the evidence can and cannot say (the README and the report repeat it).
CAVEAT = ("Few withdrawals, and forces leave for reasons that also drive violence (a deteriorating situation, a "
          "political break): the ratios are associations in the data, not the effect of a withdrawal. UCDP counts "
          "only organised violence that killed someone; ACLED counts more.")


@dataclass(frozen=True)
class WithdrawalEvidence:
    """The departures found, the window effects (:func:`models.event_study.window_effects`), the pooled
    event-study bins, the hazard ratios, one sentence per pooled window effect, the notes of the fits, and the
    registry's deployments they were found in (with district_code).

    The estimates (effects, event_study, hazard_ratios, sentences, notes) are the *study*: ``cutoff`` is the last
    week it saw (None: nothing was studied) and ``key`` (:func:`evidence_key`) what else it was made of; a weekly
    run that does not retrain reuses the study of its last retraining (:func:`current_evidence`; ``fresh`` is
    then False), while the departures and deployments are always the run's own."""

    withdrawals: pd.DataFrame
    effects: pd.DataFrame
    event_study: pd.DataFrame
    hazard_ratios: pd.DataFrame
    sentences: list[str]
    notes: list[str]
    deployments: pd.DataFrame
    cutoff: pd.Timestamp | None = None
    key: str = ""
    fresh: bool = True

    def report_section(self) -> dict:
        """What the weekly report's foreign-forces section needs (:func:`publish.report.forces_view`)."""
        return {"deployments": self.deployments, "withdrawals": self.withdrawals, "sentences": self.sentences,
                "caveat": CAVEAT, "study_cutoff": None if self.cutoff is None else self.cutoff.date()}

    def text(self) -> str:
        """The sentences, the caveat and the notes, one per line (the MLflow artifact a reader opens first)."""
        return "\n".join([*self.sentences, "", CAVEAT, "", *self.notes]) + "\n"

    def cutoff_label(self) -> str:
        """The study's last week (ISO date), or "none" when nothing was studied."""
        return "none" if self.cutoff is None else str(self.cutoff.date())

    def study_tables(self) -> dict[str, pd.DataFrame]:
        """The study's estimates, by :data:`STUDY_TABLES` name."""
        return {"effects": self.effects, "event_study": self.event_study, "hazard_ratios": self.hazard_ratios}

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"withdrawals": self.withdrawals, "withdrawal_effects": self.effects,
                "withdrawal_event_study": self.event_study, "withdrawal_hazard_ratios": self.hazard_ratios}


def evidence_panel(table: FeatureTable, panel_start: pd.Timestamp) -> pd.DataFrame:
    """district_code, week_start, y, major for every district and every fully observed week from panel_start."""
    columns = ["district_code", "week_start", "target_violent_events_h1", "target_major_attack_h1"]
    rows = table.frame.loc[_observed(table, panel_start), columns]  # four columns, not a copy of the table
    return pd.DataFrame({"district_code": rows["district_code"].astype("string").to_numpy(),
                         "week_start": rows["week_start"].to_numpy(),
                         "y": rows["target_violent_events_h1"].to_numpy(float),
                         "major": rows["target_major_attack_h1"].to_numpy(float)})


def _observed(table: FeatureTable, panel_start: pd.Timestamp) -> pd.Series:
    """The table's rows from panel_start whose week is fully observed (its 1-week target is known)."""
    f = table.frame
    return (f["week_start"] >= pd.Timestamp(panel_start)) & f["target_violent_events_h1"].notna()


def withdrawal_evidence(table: FeatureTable, deployments: pd.DataFrame, neighbours: pd.DataFrame,
                        panel_start: pd.Timestamp, windows: Sequence[int] = WINDOWS, key: str = "") -> WithdrawalEvidence:
    """The evidence on every departure of ``deployments`` (registry rows with district_code) inside the table's
    observed weeks; ``neighbours``: the gazetteer's district_code, neighbour_code pairs."""
    return _evidence(evidence_panel(table, panel_start), deployments, neighbours, windows, key)


def _evidence(panel: pd.DataFrame, deployments: pd.DataFrame, neighbours: pd.DataFrame, windows: Sequence[int],
              key: str) -> WithdrawalEvidence:
    first, last = panel["week_start"].min(), panel["week_start"].max()
    found = departures(deployments, first, last)
    if found.empty:
        empty = pd.DataFrame()
        return WithdrawalEvidence(found, empty, empty, empty, [],
                                  [f"no withdrawal of the registry falls between {first.date()} and {last.date()}"],
                                  deployments, None, key)
    effects = event_study.window_effects(panel, found, neighbours, windows=windows)
    study = event_study.event_study(panel, found, neighbours, window=max(windows))
    hazards = event_study.hazard_ratios(panel, found, neighbours, windows=windows)
    return WithdrawalEvidence(found, effects.table, study.table, hazards.table, event_study.sentences(effects.table),
                              [*effects.notes, *study.notes, *hazards.notes], deployments, pd.Timestamp(last), key)


def evidence_key(deployments: pd.DataFrame, panel_start: pd.Timestamp, sources: Sequence[str],
                 districts: Sequence[str], windows: Sequence[int] = WINDOWS) -> str:
    """A digest of what a study is made of besides its weeks: the registry's deployments (any correction of the
    registry changes it), the panel start, the sources, the districts and the windows."""
    parts = {"deployments": deployments.to_csv(index=False), "panel_start": str(pd.Timestamp(panel_start).date()),
             "sources": sorted(sources), "districts": sorted(map(str, districts)), "windows": list(windows)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def reusable(stored: WithdrawalEvidence | None, key: str, last_week: pd.Timestamp, max_age_weeks: int) -> bool:
    """Whether a stored study may stand for a run whose last observed week is ``last_week``: made of the same
    things (``key``), from no later week than the run may see (point in time: a re-run of an older week
    never shows a study of later data) and at most ``max_age_weeks`` older."""
    if stored is None or stored.key != key or stored.cutoff is None:
        return False
    age = (pd.Timestamp(last_week) - stored.cutoff) / pd.Timedelta(weeks=1)
    return 0 <= age <= max_age_weeks


def current_evidence(table: FeatureTable, deployments: pd.DataFrame, neighbours: pd.DataFrame,
                     panel_start: pd.Timestamp, *, sources: Sequence[str], stored: WithdrawalEvidence | None,
                     recompute: bool, max_age_weeks: int, windows: Sequence[int] = WINDOWS) -> WithdrawalEvidence:
    """The evidence of a weekly run: the study re-estimated when ``recompute`` (a retraining) or when ``stored``
    is not :func:`reusable`, else the stored study with this run's own departures and deployments (seconds
    saved on every week that only scores)."""
    key = evidence_key(deployments, panel_start, sources, table.frame["district_code"].unique(), windows)
    observed = table.frame.loc[_observed(table, panel_start), "week_start"]
    first, last = observed.min(), observed.max()
    if recompute or not reusable(stored, key, last, max_age_weeks):
        return _evidence(evidence_panel(table, panel_start), deployments, neighbours, windows, key)
    return replace(stored, withdrawals=departures(deployments, first, last), deployments=deployments, fresh=False)
