"""Do the force-aware models forecast better than the force-blind ones? Walk-forward on the shipped UCDP GED
Mali events, overall and on the district-weeks just after a force withdrew from the district or a neighbour.

    .venv/bin/python bench/forces_ucdp.py [--periods validation,test] [--refit-every 4] [--boot 2000] [--quick]

The table and periods are those of bench/skill_ucdp.py (validation V = origins 2016-01-04 .. 2018-12-31, test
= 2019-01-07 .. 2022-12-26, h = 1 and 4, refit every 4 origins on rows from 2012-01-02). Pairs compared, each
force-aware model against its force-blind twin with the same settings (models/suite.py):

* counts: ``hawkes_nb_forces`` against ``hawkes_nb`` (mean CRPS, h = 1 and 4);
* major attack within 4 weeks: ``hazard_cloglog_forces`` against ``hazard_cloglog`` (Brier).

Rows "near a withdrawal": the origin falls in the 26 weeks from the first week without a kind of force in the
district or in a neighbouring district (features.forces.departures over the shipped registry, handovers
included). Skill = 1 - score(force-aware) / score(force-blind), with a 90% bootstrap interval over origins
(the same resampled origins for both). The best baseline of each horizon is printed beside them. Writes
bench/out/forces_ucdp.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.skill_common import HORIZONS, PANEL_START, QUICK_ORIGINS, build_table  # noqa: E402
from bench.skill_ucdp import FORECAST_WEEK, PERIODS, UCDP  # noqa: E402
from features.forces import departures  # noqa: E402
from features.gazetteer import Gazetteer  # noqa: E402
from features.registries import assign_deployments, load_foreign_forces  # noqa: E402
from models import suite  # noqa: E402
from models.backtest import BacktestConfig, ModelSpec, run_backtest  # noqa: E402
from models.design import catalog_specs  # noqa: E402
from models.self_exciting import SelfExcitingNB  # noqa: E402

OUT = ROOT / "bench" / "out" / "forces_ucdp.json"
PAIRS = {"count": ("hawkes_nb_forces", "hawkes_nb"), "hazard": ("hazard_cloglog_forces", "hazard_cloglog")}
NEAR_WEEKS = 26
HAZARD_HORIZON = 4


def near_withdrawal(origins: pd.Series, districts: pd.Series, gazetteer: Gazetteer) -> np.ndarray:
    """True where ``origins`` lies within NEAR_WEEKS weeks from a departure's first week without the force, in
    the district or a neighbour."""
    deps = assign_deployments(load_foreign_forces(), gazetteer.assign)
    table = departures(deps, PANEL_START, FORECAST_WEEK)
    nbr = gazetteer.neighbours[["district_code", "neighbour_code"]].astype("string")
    hit = pd.concat([table[["district_code", "week_start"]],
                     table[["district_code", "week_start"]].merge(nbr, on="district_code")
                     [["neighbour_code", "week_start"]].rename(columns={"neighbour_code": "district_code"})])
    rows = pd.DataFrame({"district_code": districts.astype("string").to_numpy(),
                         "origin": pd.to_datetime(origins).to_numpy(), "row": np.arange(len(origins))})
    pairs = rows.merge(hit, on="district_code")
    weeks = (pairs["origin"] - pairs["week_start"]).dt.days // 7
    near = pairs.loc[(weeks >= 0) & (weeks < NEAR_WEEKS), "row"].unique()
    out = np.zeros(len(origins), dtype=bool)
    out[near] = True
    return out


def paired_skill(rows: pd.DataFrame, score: str, aware: str, blind: str, n_boot: int, seed: int = 0) -> dict:
    """Skill of ``aware`` against ``blind`` on the same rows, with a 90% bootstrap interval over origins."""
    wide = rows.pivot_table(index=["origin", "district_code"], columns="model", values=score)
    if wide.empty or aware not in wide or blind not in wide:
        return {"rows": 0}
    per_origin = wide[[aware, blind]].groupby(level="origin").sum()
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(per_origin), size=(n_boot, len(per_origin)))
    a, b = per_origin[aware].to_numpy(), per_origin[blind].to_numpy()
    boot = 1.0 - a[draws].sum(axis=1) / b[draws].sum(axis=1)
    return {"rows": int(len(wide)), "origins": int(len(per_origin)), aware: float(wide[aware].mean()),
            blind: float(wide[blind].mean()), "skill": float(1.0 - a.sum() / b.sum()),
            "skill_lower": float(np.quantile(boot, 0.05)), "skill_upper": float(np.quantile(boot, 0.95))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", default="validation,test")
    parser.add_argument("--refit-every", type=int, default=4)
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help=f"the first {QUICK_ORIGINS} origins of each period")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--l2-grid", default="",
                        help="also backtest hawkes_nb_forces with these ridge penalties on the force terms (e.g. "
                             "0.1,1,10): how models/suite.py's FORCE_L2 was chosen, on the validation period only")
    args = parser.parse_args(argv)
    grid = {f"hawkes_nb_forces_l2_{float(v):g}": float(v) for v in args.l2_grid.split(",") if v}
    variants = tuple(grid)
    t0 = time.perf_counter()
    table = build_table(UCDP, FORECAST_WEEK)
    gazetteer = Gazetteer.load("MLI")
    catalog = catalog_specs(table.specs)
    specs = [suite.count_spec(n, h, table.specs) for h in HORIZONS for n in (*suite.BASELINES, *PAIRS["count"])]
    specs += [ModelSpec(name, "count", h, partial(SelfExcitingNB, h, catalog, modifiers=(suite.FORCE_TERMS,), l2=l2,
                                                  dispersion=suite.SELF_EXCITING_ALPHA, name=name))
              for h in HORIZONS for name, l2 in grid.items()]
    specs += [suite.hazard_spec(n, HAZARD_HORIZON, table.specs) for n in ("base_rate", *PAIRS["hazard"])]
    report: dict = {"command": " ".join([".venv/bin/python", "bench/forces_ucdp.py", *(argv or sys.argv[1:])]),
                    "near_weeks": NEAR_WEEKS, "periods": {}}
    for period in [p for p in args.periods.split(",") if p]:
        start, end = PERIODS[period]
        if args.quick:
            end = str((pd.Timestamp(start) + pd.Timedelta(weeks=QUICK_ORIGINS - 1)).date())
        t1 = time.perf_counter()
        result = run_backtest(table, specs, BacktestConfig(start=start, end=end, refit_every=args.refit_every,
                                                           train_start=PANEL_START))
        pred = result.predictions.copy()
        pred["near"] = near_withdrawal(pred["origin"], pred["district_code"], gazetteer)
        pred["brier"] = (pred["p_event"] - pred["event"]) ** 2
        out: dict = {"origins": [start, end], "seconds": time.perf_counter() - t1}
        best = result.skill(list(suite.BASELINES), "crps", n_boot=10)
        for h in HORIZONS:
            rows = pred[(pred["kind"] == "count") & (pred["horizon"] == h)]
            base = str(best.loc[best["horizon"] == h, "baseline"].iloc[0])
            out[f"count_h{h}"] = {
                "best_baseline": base,
                "best_baseline_crps": float(rows.loc[rows["model"] == base, "crps"].mean()),
                "best_baseline_crps_near": float(rows.loc[(rows["model"] == base) & rows["near"], "crps"].mean()),
                "all": paired_skill(rows, "crps", *PAIRS["count"], args.boot),
                "near": paired_skill(rows[rows["near"]], "crps", *PAIRS["count"], args.boot)}
            for name in variants:
                out[f"count_h{h}_{name}"] = {"all": paired_skill(rows, "crps", name, PAIRS["count"][1], args.boot),
                                             "near": paired_skill(rows[rows["near"]], "crps", name,
                                                                  PAIRS["count"][1], args.boot)}
        rows = pred[pred["kind"] == "hazard"]
        out[f"hazard_h{HAZARD_HORIZON}"] = {
            "base_rate_brier": float(rows.loc[rows["model"] == "base_rate", "brier"].mean()),
            "all": paired_skill(rows, "brier", *PAIRS["hazard"], args.boot),
            "near": paired_skill(rows[rows["near"]], "brier", *PAIRS["hazard"], args.boot)}
        report["periods"][period] = out
        print(f"\n=== {period}: origins {start} .. {end} ({out['seconds']:.0f} s) ===")
        for key, res in out.items():
            if not isinstance(res, dict):
                continue
            for subset in ("all", "near"):
                r = res[subset]
                if not r.get("rows"):
                    print(f"{key} {subset}: no rows")
                    continue
                aware, blind = [k for k in r if k not in ("rows", "origins", "skill", "skill_lower", "skill_upper")]
                print(f"{key:<10} {subset:<5} {r['rows']:>6} rows  {aware} {r[aware]:.4f}  {blind} {r[blind]:.4f}  "
                      f"skill {r['skill']:+.1%} [{r['skill_lower']:+.1%}, {r['skill_upper']:+.1%}]")
            if "best_baseline" in res:
                print(f"{'':<10} best baseline {res['best_baseline']} {res['best_baseline_crps']:.4f} "
                      f"(near: {res['best_baseline_crps_near']:.4f})")
    report["seconds"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nnumbers written to {args.out} ({report['seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
