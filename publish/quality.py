"""Quality gates run on a week's scores before they are published (pure checks, no I/O).

A gate with severity "error" stops the publish; "warning" is reported (Prefect artifact, logs) but lets it
through. Gates: data freshness, every district covered at every horizon, no missing values, values in
range, and large jumps against the last published week.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from features.schema import newest_event
from models.slots import HORIZONS
from publish.schema import INTERVAL_ORDER, RANGES, required_columns


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    severity: str  # "error" or "warning"
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


class QualityGateError(RuntimeError):
    """One or more error-level gates failed; nothing was published."""

    def __init__(self, failures: list[GateResult]):
        self.failures = failures
        super().__init__("quality gates failed, nothing published: " + "; ".join(f"{g.name}: {g.message}" for g in failures))


def freshness(last_event: pd.Timestamp | None, cutoff: pd.Timestamp, max_staleness_days: int) -> GateResult:
    """The newest event must be at most ``max_staleness_days`` before the data cutoff (stale data is not fresh)."""
    if last_event is None or pd.isna(last_event):
        return GateResult("freshness", False, "error", "no events before the cutoff")
    gap = (pd.Timestamp(cutoff) - pd.Timestamp(last_event)).days
    ok = gap <= max_staleness_days
    return GateResult("freshness", ok, "error",
                      f"newest event {pd.Timestamp(last_event).date()} is {gap} days before the cutoff {pd.Timestamp(cutoff).date()}"
                      + ("" if ok else f" (limit {max_staleness_days} days): the data are stale"))


def coverage(scores: pd.DataFrame, district_codes: pd.Index | list[str], horizons: tuple[int, ...]) -> GateResult:
    """Exactly one row for every district at every horizon."""
    expected = pd.MultiIndex.from_product([pd.Index(list(district_codes), dtype="string"), list(horizons)])
    got = pd.MultiIndex.from_arrays([scores["district_code"].astype("string"), scores["horizon_weeks"].astype(int)])
    missing, extra = expected.difference(got), got.difference(expected)
    dupes = int(got.duplicated().sum())
    ok = len(missing) == 0 and len(extra) == 0 and dupes == 0
    msg = f"{len(expected)} district-horizons expected, {len(missing)} missing, {len(extra)} unexpected, {dupes} duplicated"
    if len(missing):
        msg += f" (e.g. {missing[0][0]} h={missing[0][1]})"
    return GateResult("coverage", ok, "error", msg)


def no_missing(scores: pd.DataFrame, columns: list[str]) -> GateResult:
    counts = scores[columns].isna().sum()
    bad = counts[counts > 0]
    return GateResult("no_missing_values", bad.empty, "error",
                      "no missing values" if bad.empty else "missing values in " + ", ".join(f"{c} ({n})" for c, n in bad.items()))


def in_range(scores: pd.DataFrame) -> GateResult:
    """Probabilities in [0, 1], scores in [0, 100] (the bounds of :data:`publish.schema.RANGES`), counts finite
    and >= 0, intervals ordered (:data:`publish.schema.INTERVAL_ORDER`)."""
    p = scores[["p_any_violence_4w", "p_major_attack_4w"]].to_numpy(np.float64)
    lo, hi = RANGES["p_major_attack_4w"]
    counts = scores[["expected_events", *INTERVAL_ORDER]].to_numpy(np.float64)
    ends = counts[:, 1:]
    score_lo, score_hi = RANGES["risk_score"]
    problems = {
        f"probability outside [{lo:g}, {hi:g}]": int((~((p >= lo) & (p <= hi))).any(axis=1).sum()),
        f"risk_score outside [{score_lo:g}, {score_hi:g}]": int((~scores["risk_score"].between(score_lo, score_hi)).sum()),
        "negative or infinite counts": int((~(np.isfinite(counts) & (counts >= 0))).any(axis=1).sum()),
        "intervals not nested": int((~(np.diff(ends, axis=1) >= 0).all(axis=1)).sum()),
    }
    bad = {k: v for k, v in problems.items() if v}
    return GateResult("values_in_range", not bad, "error",
                      "all values in range" if not bad else "; ".join(f"{k}: {v} rows" for k, v in bad.items()))


def jumps(scores: pd.DataFrame, max_jump: float) -> GateResult:
    """Warn when a district's risk score moved more than ``max_jump`` points since the last published week."""
    change = scores.drop_duplicates("district_code")[["district_name", "score_change"]].dropna()
    big = change[change["score_change"].abs() > max_jump]
    names = ", ".join(f"{r.district_name} ({r.score_change:+.0f})" for r in big.head(5).itertuples())
    return GateResult("large_jumps", big.empty, "warning",
                      "no district moved more than %g points" % max_jump if big.empty
                      else f"{len(big)} district(s) moved more than {max_jump:g} points: {names}")


def run_gates(scores: pd.DataFrame, *, district_codes, horizons, last_event, cutoff, max_staleness_days: int,
              max_jump: float, required: list[str]) -> list[GateResult]:
    return [
        freshness(last_event, cutoff, max_staleness_days),
        coverage(scores, district_codes, horizons),
        no_missing(scores, required),
        in_range(scores),
        jumps(scores, max_jump),
    ]


def enforce(results: list[GateResult]) -> None:
    failures = [g for g in results if not g.passed and g.severity == "error"]
    if failures:
        raise QualityGateError(failures)


def run_week_gates(scores: pd.DataFrame, events: pd.DataFrame, district_codes, cutoff: pd.Timestamp, *,
                   max_staleness_days: int, max_jump: float) -> list[GateResult]:
    """Every gate of a weekly publish: ``events`` are the events the run used (their newest date is the
    freshness), every district of ``district_codes`` at every published horizon, every NOT NULL column filled."""
    last_event = newest_event(events)
    return run_gates(scores, district_codes=district_codes, horizons=HORIZONS, last_event=last_event, cutoff=cutoff,
                     max_staleness_days=max_staleness_days, max_jump=max_jump,
                     required=[c for c in required_columns() if c in scores.columns])


def check_fresh(events: pd.DataFrame, cutoff: pd.Timestamp, max_staleness_days: int) -> GateResult:
    """The freshness gate run before any training or scoring: raises :class:`QualityGateError` on stale data."""
    last_event = newest_event(events)
    result = freshness(last_event, cutoff, max_staleness_days)
    enforce([result])
    return result


def as_dicts(results: list[GateResult]) -> list[dict]:
    return [r.as_dict() for r in results]
