"""Measure the baselines on the real Mali ACLED file with protocol "mali-weekly-v1" and print them next to the
reference table of ../shared/reference/skill-reference.md.

    .venv/bin/python bench/baselines_reference.py [--acled PATH] [--assignment name|point|both]

Protocol: violent events (battles, explosions/remote violence, violence against civilians) per district and
week (Mondays) from 2012-01-02; origins every Monday from 2018-01-01, the last target week 2020-07-20 (h = 1:
origins to 2020-07-20; h = 4: to 2020-06-29); a forecast at origin t uses only weeks before t. CRPS of a
Poisson with the forecast mean (conflictology: its own empirical distribution); Brier and average precision
of P(target > 0) = 1 - exp(-mean) for every method, conflictology included (the reference's convention).

Assignments: "name" places each event by its ACLED admin2 name through the gazetteer's aliases (coordinates
dropped), as the reference did; "point" is the pipeline's own rule (the OCHA polygon containing the point).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.gazetteer import Gazetteer  # noqa: E402
from features.sources.detect import read_events  # noqa: E402
from features.table import build_feature_table  # noqa: E402
from models.backtest import BacktestConfig, ModelSpec, run_backtest  # noqa: E402
from models.baselines import Conflictology, LastWeek, RollingMean, Zero  # noqa: E402
from models.metrics import average_precision, brier  # noqa: E402

ACLED = ROOT.parent / "shared" / "data" / "acled" / "mli_acled_1997-01-01_2020-07-31.csv"
START, FORECAST_WEEK = "2012-01-02", "2020-08-03"
FIRST_ORIGIN, LAST_TARGET_WEEK = "2018-01-01", "2020-07-20"
HORIZONS = (1, 4)

#: skill-reference.md: method -> (CRPS h1, Brier h1, AP h1, CRPS h4, Brier h4, AP h4)
REFERENCE = {
    "zero": (0.2573, 0.1542, 0.154, 1.0237, 0.3255, 0.326),
    "last_week": (0.2278, 0.1227, 0.380, 0.9231, 0.2378, 0.519),
    "mean_4": (0.1787, 0.0954, 0.530, 0.6106, 0.1685, 0.681),
    "mean_13": (0.1656, 0.0882, 0.602, 0.5093, 0.1360, 0.771),
    "mean_52": (0.1659, 0.0871, 0.612, 0.4938, 0.1220, 0.812),
    "conflictology": (0.1672, 0.0871, 0.612, 0.5030, 0.1228, 0.814),
}
FACTORIES = {
    "zero": lambda h: Zero(h),
    "last_week": lambda h: LastWeek(h),
    "mean_4": lambda h: RollingMean(h, 4),
    "mean_13": lambda h: RollingMean(h, 13),
    "mean_52": lambda h: RollingMean(h, 52),
    "conflictology": lambda h: Conflictology(h, windows=52),
}


def specs() -> list[ModelSpec]:
    history = {"conflictology": lambda h: Conflictology.history_for(h, windows=52)}
    return [ModelSpec(name, "count", h, lambda f=factory, h=h: f(h), history_weeks=history.get(name, lambda h: 0)(h))
            for h in HORIZONS for name, factory in FACTORIES.items()]


def measure(events: pd.DataFrame, gazetteer: Gazetteer, assignment: str) -> tuple[pd.DataFrame, dict]:
    """Backtest the baselines; returns the table (method x metric_h) and facts about the run."""
    located = events.assign(latitude=np.nan, longitude=np.nan) if assignment == "name" else events
    assigned = gazetteer.assign(located)
    table = build_feature_table(events.assign(district_code=assigned["district_code"]), gazetteer,
                                start=START, forecast_week=FORECAST_WEEK)
    config = BacktestConfig(start=FIRST_ORIGIN, end=LAST_TARGET_WEEK, origin_every=1, refit_every=1)
    t0 = time.perf_counter()
    result = run_backtest(table, specs(), config)
    seconds = time.perf_counter() - t0
    pred = result.predictions
    p_ref = 1.0 - np.exp(-pred["mean"].to_numpy())  # the reference's P(target > 0) for every method
    pred = pred.assign(p_ref=p_ref)
    rows: dict[str, dict[str, float]] = {}
    for (model, h), g in pred.groupby(["model", "horizon"], sort=False):
        rows.setdefault(model, {}).update({f"crps_h{h}": g["crps"].mean(), f"brier_h{h}": brier(g["p_ref"], g["event"]),
                        f"ap_h{h}": average_precision(g["p_ref"], g["event"]),
                        f"brier_dist_h{h}": brier(g["p_event"], g["event"])})
    facts = {
        "assignment": assignment,
        "unassigned": int(assigned["district_code"].isna().sum()),
        "origins": {h: int(pred.loc[pred["horizon"] == h, "origin"].nunique()) for h in HORIZONS},
        "rows_h1": int((pred["horizon"] == 1).sum() / len(FACTORIES)),
        "nonzero_h1": float(pred.loc[(pred["horizon"] == 1) & (pred["model"] == "zero"), "event"].mean()),
        "seconds": seconds,
    }
    return pd.DataFrame(rows).T.loc[list(FACTORIES)], facts


def render(ours: pd.DataFrame) -> str:
    head = "| method | CRPS h1 (ref) | Brier h1 (ref) | AP h1 (ref) | CRPS h4 (ref) | Brier h4 (ref) | AP h4 (ref) |"
    lines = [head, "|---" * 7 + "|"]
    for name, ref in REFERENCE.items():
        r = ours.loc[name]
        got = (r["crps_h1"], r["brier_h1"], r["ap_h1"], r["crps_h4"], r["brier_h4"], r["ap_h4"])
        cells = [f"{g:.4f} ({e:.4f})" if i % 3 != 2 else f"{g:.3f} ({e:.3f})" for i, (g, e) in enumerate(zip(got, ref))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acled", type=Path, default=ACLED)
    parser.add_argument("--assignment", choices=("name", "point", "both"), default="both")
    args = parser.parse_args(argv)
    events = read_events(args.acled)
    gazetteer = Gazetteer.load("MLI")
    for assignment in (("name", "point") if args.assignment == "both" else (args.assignment,)):
        ours, facts = measure(events, gazetteer, assignment)
        print(f"\n## assignment = {assignment}: {facts['origins'][1]} origins h=1, {facts['origins'][4]} origins h=4, "
              f"{facts['rows_h1']} district-origins h=1 ({facts['nonzero_h1']:.1%} nonzero), "
              f"{facts['unassigned']} events unassigned, backtest {facts['seconds']:.1f} s")
        print(render(ours))
        reference_crps = np.array([[ref[0], ref[3]] for ref in REFERENCE.values()])
        gap = np.abs(ours[["crps_h1", "crps_h4"]].to_numpy(np.float64) - reference_crps).max()
        print(f"max |CRPS - reference| = {gap:.4f}")
        print("conflictology's Brier with its own P(count >= 1) (fraction of past windows > 0) instead of "
              f"1 - exp(-mean): h1 {ours.loc['conflictology', 'brier_dist_h1']:.4f}, "
              f"h4 {ours.loc['conflictology', 'brier_dist_h4']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
