"""How close Vigie's count models get to the oracle on simulated Mali data (the truth is known there).

    .venv/bin/python bench/skill_simulated.py [--seed 20130111] [--weeks 520] [--test-weeks 104] [--refit-every 4]

Simulates Mali (features.sources.simulator.simulate on Gazetteer.load("MLI"), from 2012-01-02 for ``--weeks``
weeks, fixed seed), writes the ACLED-format export to a temporary folder and ingests it as the pipeline does
(read_events + Gazetteer.assign), builds the feature table as the weekly flow does (history from 52 weeks
before 2012-01-02, Registries.load("MLI")), and backtests the baselines and candidates over the last
``--test-weeks`` weekly origins (models trained on rows from 2012-01-02, refitted every ``--refit-every``
origins).

The oracle knows the simulator's expected count of each district-week: at h = 1 it forecasts
NB(mean = true lambda, dispersion k = SimulationParams.dispersion; Var = lambda + lambda^2 / k), the best
forecast there is. Printed: each model's mean h = 1 CRPS, the oracle's on the same rows and their ratio
(target: within 5%, ratio <= 1.05); the h = 4 CRPS for information. Numbers go to bench/out/skill_simulated.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.gazetteer import Gazetteer  # noqa: E402
from features.sources.detect import read_events  # noqa: E402
from features.sources.simulator import simulate, write_simulation  # noqa: E402
from features.table import FeatureConfig, Registries, build_feature_table  # noqa: E402
from flows.settings import Settings  # noqa: E402
from models import suite  # noqa: E402
from models.backtest import BacktestConfig, run_backtest  # noqa: E402
from models.distributions import NegativeBinomial  # noqa: E402

OUT = ROOT / "bench" / "out" / "skill_simulated.json"
START = pd.Timestamp("2012-01-02")
CANDIDATES = ("hawkes_nb", "lgbm_boost", "nb_glm", "lgbm_poisson")
BASELINES = ("mean_4", "mean_13", "mean_52", "conflictology")
TARGET_RATIO = 1.05


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=settings.simulation_seed)
    parser.add_argument("--weeks", type=int, default=520)
    parser.add_argument("--test-weeks", type=int, default=104)
    parser.add_argument("--refit-every", type=int, default=4)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    candidates = tuple(c for c in args.candidates.split(",") if c)

    t0 = time.perf_counter()
    gazetteer = Gazetteer.load("MLI")
    end = START + pd.Timedelta(weeks=args.weeks) - pd.Timedelta(days=1)
    sim = simulate(gazetteer.districts, gazetteer.neighbours, start=START.date(), end=end.date(), seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_simulation(sim, Path(tmp) / "sim")
        events = read_events(paths["events"])
    events = events.assign(district_code=gazetteer.assign(events)["district_code"])
    config = FeatureConfig(horizons=tuple(settings.horizons), major_min_fatalities=settings.major_attack.min_fatalities,
                           major_military_targets=settings.major_attack.military_targets)
    forecast_week = end + pd.Timedelta(days=1)
    table = build_feature_table(events, gazetteer, start=START - pd.Timedelta(weeks=settings.training.history_weeks),
                                forecast_week=forecast_week, config=config, registries=Registries.load("MLI"))
    last = forecast_week - pd.Timedelta(weeks=1)
    first = last - pd.Timedelta(weeks=args.test_weeks - 1)
    print(f"simulated {len(events)} events (seed {args.seed}, {args.weeks} weeks from {START.date()}), table "
          f"{len(table.frame)} rows x {len(table.specs)} features in {time.perf_counter() - t0:.1f} s; origins "
          f"{first.date()} .. {last.date()}, refit every {args.refit_every}")

    specs = [suite.count_spec(n, h, table.specs) for h in (1, 4) for n in (*BASELINES, *candidates)]
    t1 = time.perf_counter()
    result = run_backtest(table, specs, BacktestConfig(start=first, end=last, refit_every=args.refit_every,
                                                       train_start=START))
    pred = result.predictions
    truth = sim.truth.assign(district_code=sim.truth["district_code"].astype(str),
                             week_start=pd.to_datetime(sim.truth["week_start"]))
    h1 = pred[pred["horizon"] == 1].merge(truth, left_on=["district_code", "origin"],
                                          right_on=["district_code", "week_start"], how="left", validate="many_to_one")
    if not (h1["y"] == h1["violent_events"]).all():
        raise AssertionError("the panel's counts differ from the simulator's: ingest or assignment lost events")
    k = sim.params.dispersion
    oracle = NegativeBinomial(h1["expected_violent_events"].to_numpy(), 1.0 / k).crps(h1["y"].to_numpy())
    h1 = h1.assign(oracle=oracle)
    g = h1.groupby("model").agg(crps=("crps", "mean"), oracle=("oracle", "mean"))
    g["ratio"] = g["crps"] / g["oracle"]
    h4 = result.table(["crps"])["crps"][4]
    print(f"backtest {time.perf_counter() - t1:.0f} s; {h1['origin'].nunique()} origins x "
          f"{h1['district_code'].nunique()} districts at h = 1\n")
    print(f"{'model':<15}{'CRPS h1':>9}{'oracle':>9}{'ratio':>8}{'CRPS h4':>9}")
    for name, r in g.sort_values("ratio").iterrows():
        flag = "" if name not in candidates else ("  within 5%" if r["ratio"] <= TARGET_RATIO else "  NOT within 5%")
        print(f"{name:<15}{r['crps']:>9.4f}{r['oracle']:>9.4f}{r['ratio']:>8.3f}{h4[name]:>9.4f}{flag}")
    out = {"seed": args.seed, "weeks": args.weeks, "test_weeks": args.test_weeks, "refit_every": args.refit_every,
           "dispersion_k": k, "h1": {n: {k2: float(v) for k2, v in r.items()} for n, r in g.iterrows()},
           "h4_crps": {n: float(v) for n, v in h4.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"\nnumbers written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
