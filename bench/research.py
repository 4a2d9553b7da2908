"""The research search of issue 12: every idea tried, one MLflow run each, chosen on validation origins only.

    .venv/bin/python bench/research.py --source acled|ucdp [--period validation|test] [--refit-every 13]

One walk-forward backtest per (source, period) of the count baselines and peers, the count candidates and the
hazard models (the ones the suite ships, their out-of-sample recalibrations by isotonic, Platt and beta
calibration, and the naive district-history rule); then the ideas built from its predictions, on the same
rows: linear pools of forecast means (the candidate with the best peer, a negative binomial of dispersion
SELF_EXCITING_ALPHA around the pooled mean) and probability blends of a hazard model with the district-history
rule. Each idea is a run in the MLflow experiment ``vigie-research`` (params: source, period, idea, family;
metrics: CRPS and skill against the best baseline with its 90% bootstrap interval, PIT and inclusive coverage
of the central 80% / 90% intervals on active rows; for hazards Brier, AP, skill against the district-history
rule and the tier calibration).

Validation origins: ACLED 2015-01-05 .. 2017-12-25, UCDP 2016-01-04 .. 2018-12-31 (the issue's). The choice of
the best idea per slot is made there and written to bench/out/research_<source>_validation.json; ``--period
test`` (ACLED 2018-01-01 .. 2020-07-20, UCDP 2021-01-04 .. 2022-12-26) reads that file and reports the chosen
ideas once, next to the shipped defaults. Settings the suite ships with and that this script chooses: the
hazard recalibration (none unless a method wins on both sources' validation origins) and the count
candidates' blend with a peer (none unless it wins on both).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.skill_common import EVENT_FILES, PANEL_START, build_table  # noqa: E402
from features.spec import Select  # noqa: E402
from flows.settings import Settings  # noqa: E402
from models import suite  # noqa: E402
from models.backtest import BacktestConfig, ModelSpec, run_backtest  # noqa: E402
from models.calibration import METHODS  # noqa: E402
from models.design import catalog_specs  # noqa: E402
from models.distributions import NegativeBinomial  # noqa: E402
from models.metrics import (  # noqa: E402
    average_precision,
    bootstrap_skill,
    brier,
    tier_calibration,
)
from models.self_exciting import (  # noqa: E402
    DEFAULT_HAZARD_RATES,
    DEFAULT_RATE_FEATURES,
    SelfExcitingHazard,
    SelfExcitingNB,
)
from publish import tracking  # noqa: E402
from publish.secrets import redact_url  # noqa: E402

EXPERIMENT = "vigie-research"
PERIODS = {"acled": {"validation": ("2015-01-05", "2017-12-25"), "test": ("2018-01-01", "2020-07-20")},
           "ucdp": {"validation": ("2016-01-04", "2018-12-31"), "test": ("2021-01-04", "2022-12-26")}}
SOURCES = {source: (*EVENT_FILES[source], periods) for source, periods in PERIODS.items()}
OUT = ROOT / "bench" / "out"
HORIZONS = (1, 4)
COUNT_CANDIDATES = ("hawkes_nb", "hawkes_nb_forces", "lgbm_boost")
HAZARD_BASES = ("hawkes_hazard", "hazard_cloglog")
HAZARD_MODELS = (*suite.HAZARD_BASELINES, *HAZARD_BASES,
                 *(f"{b}_{m}" for b in HAZARD_BASES for m in METHODS))
PEERS = ("tsb", "croston_sba", "adida", "imapa")
POOL_WEIGHTS = (0.25, 0.5, 0.75)
BLEND_WEIGHTS = (0.5, 0.75)

#: Feature ideas: rates added to the self-exciting models' defaults (one idea each, for the count model
#: ``hawkes_nb+<idea>`` and the hazard ``hawkes_hazard+<idea>``; the counts are also pooled with IMAPA at the
#: shipped weights). "rings": the distance kernel (every district within 200 km, beyond the first ring of
#: neighbours); "fatalities": fatality-weighted excitation (deaths per week, decayed); "perpetrators": JNIM and
#: Islamic State excitation, own and next door, apart from the other actors'; "event_types": battles,
#: explosions and violence against civilians excite apart; "national": the country's whole violence.
RATE_IDEAS: dict[str, tuple[Select, ...]] = {
    "rings": (Select(measure="violent_events", scope="kernel", statistic="sum", windows=(13, 52)),),
    "fatalities": (Select(measure="fatalities", scope="own", statistic="ewm", half_lives=(4, 13)),),
    "perpetrators": (Select(measure=("by_jnim_aq_events", "by_islamic_state_events"), scope=("own", "neighbours"),
                            statistic="ewm", half_lives=(4, 13)),),
    "event_types": (Select(measure=("battles", "explosions", "civilian_violence"), scope="own", statistic="ewm",
                           half_lives=(4, 13)),),
    "national": (Select(measure="violent_events", scope="national", statistic="ewm", half_lives=(4, 13)),),
}


def backtest(source: str, period: str, refit_every: int):
    path, forecast_week, periods = SOURCES[source]
    table = build_table(path, forecast_week)
    specs = [suite.count_spec(n, h, table.specs) for h in HORIZONS for n in (*suite.BASELINES, *COUNT_CANDIDATES)]
    specs += [suite.hazard_spec(n, 4, table.specs) for n in HAZARD_MODELS]
    specs += rate_idea_specs(table.specs)
    start, end = periods[period]
    config = BacktestConfig(start=start, end=end, refit_every=refit_every, train_start=PANEL_START)
    return table, run_backtest(table, specs, config), (start, end)


def rate_idea_specs(catalog) -> list[ModelSpec]:
    """The self-exciting count (h = 1, 4) and hazard (h = 4) models with each :data:`RATE_IDEAS` entry's rates
    added to their defaults."""
    specs, catalog = [], catalog_specs(catalog)

    def count(h, extra, name):
        return lambda: SelfExcitingNB(h, catalog, rates=(*DEFAULT_RATE_FEATURES, *extra),
                                      dispersion=suite.SELF_EXCITING_ALPHA, name=name)

    def hazard(extra, name):
        return lambda: SelfExcitingHazard(4, catalog, rates=(*DEFAULT_HAZARD_RATES, *extra), name=name)

    for idea, extra in RATE_IDEAS.items():
        specs += [ModelSpec(f"hawkes_nb+{idea}", "count", h, count(h, extra, f"hawkes_nb+{idea}")) for h in HORIZONS]
        specs.append(ModelSpec(f"hawkes_hazard+{idea}", "hazard", 4, hazard(extra, f"hawkes_hazard+{idea}")))
    return specs


# ---------------------------------------------------------------------------------------------- ideas


def _pool(a: pd.DataFrame, b: pd.DataFrame, w: float, rng: np.random.Generator) -> pd.DataFrame:
    """Rows of the linear pool w a + (1 - w) b of two models' means (same rows, same order), a negative binomial
    of dispersion SELF_EXCITING_ALPHA around it."""
    mean = w * a["mean"].to_numpy() + (1 - w) * b["mean"].to_numpy()
    dist = NegativeBinomial(mean, suite.SELF_EXCITING_ALPHA)
    y = a["y"].to_numpy(np.float64)
    return a[["origin", "district_code", "active", "y"]].assign(
        mean=mean, crps=dist.crps(y), pit=dist.pit(y, rng), q05=dist.quantile(0.05), q10=dist.quantile(0.10),
        q90=dist.quantile(0.90), q95=dist.quantile(0.95))


def count_ideas(pred: pd.DataFrame, h: int) -> dict[str, pd.DataFrame]:
    """Each count idea's rows at horizon h (columns origin, district_code, active, y, mean, crps, pit, q10, q90,
    q05, q95): every model as it is, and the pools of each candidate's mean with each peer's."""
    rows = pred[(pred["kind"] == "count") & (pred["horizon"] == h)]
    by_model = {m: g.sort_values(["origin", "district_code"]).reset_index(drop=True) for m, g in rows.groupby("model")}
    ideas = dict(by_model)
    rng = np.random.default_rng(h)
    for cand in COUNT_CANDIDATES:
        for peer in PEERS:
            for w in POOL_WEIGHTS:
                ideas[f"pool_{cand}_{peer}_{w:g}"] = _pool(by_model[cand], by_model[peer], w, rng)
    for idea in RATE_IDEAS:
        ideas[f"pool_hawkes_nb+{idea}_imapa_{suite.POOL_WEIGHTS[0]:g}"] = _pool(
            by_model[f"hawkes_nb+{idea}"], by_model["imapa"], suite.POOL_WEIGHTS[0], rng)
    return ideas


def hazard_ideas(pred: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each hazard idea's rows (origin, district_code, event, p_event): every model, and the blends
    w p_model + (1 - w) p_district_history."""
    rows = pred[pred["kind"] == "hazard"]
    by_model = {m: g.sort_values(["origin", "district_code"]).reset_index(drop=True) for m, g in rows.groupby("model")}
    ideas = dict(by_model)
    for base in HAZARD_BASES:
        for w in BLEND_WEIGHTS:
            a, b = by_model[base], by_model["district_history"]
            ideas[f"blend_{base}_history_{w:g}"] = a[["origin", "district_code", "event"]].assign(
                p_event=w * a["p_event"].to_numpy() + (1 - w) * b["p_event"].to_numpy())
    return ideas


def count_figures(rows: pd.DataFrame, baseline: pd.DataFrame) -> dict[str, float]:
    """CRPS, skill against ``baseline`` (same rows) with its 90% bootstrap interval over origins, and the PIT
    and inclusive coverages of the central 80% / 90% intervals on active rows."""
    per = pd.DataFrame({"s": rows.groupby("origin")["crps"].mean(), "b": baseline.groupby("origin")["crps"].mean()})
    skill, lo, hi = bootstrap_skill(per["s"].to_numpy(), per["b"].to_numpy(), n_boot=1000)
    act = rows[rows["active"].astype(bool)]
    pit, y = act["pit"].to_numpy(), act["y"].to_numpy()
    return {"crps": float(rows["crps"].mean()), "skill": skill, "skill_lower": lo, "skill_upper": hi,
            "pit_coverage80_active": float(np.mean((pit >= 0.1) & (pit <= 0.9))),
            "pit_coverage90_active": float(np.mean((pit >= 0.05) & (pit <= 0.95))),
            "coverage80_active": float(np.mean((act["q10"] <= y) & (y <= act["q90"]))),
            "coverage90_active": float(np.mean((act["q05"] <= y) & (y <= act["q95"])))}


def hazard_figures(rows: pd.DataFrame, history: pd.DataFrame, tiers: tuple[float, ...]) -> dict[str, float]:
    """Brier, AP, Brier skill against the district-history rule (same rows) with its bootstrap interval, and
    how many tiers hold an observed rate within their bounds."""
    p, e = rows["p_event"].to_numpy(), rows["event"].to_numpy()
    sq = pd.DataFrame({"s": (rows["p_event"] - rows["event"]) ** 2, "b": (history["p_event"] - history["event"]) ** 2,
                       "origin": rows["origin"]}).groupby("origin").mean()
    skill, lo, hi = bootstrap_skill(sq["s"].to_numpy(), sq["b"].to_numpy(), n_boot=1000)
    cal = tier_calibration(p, e, tiers)
    used = cal[cal["count"] > 0]
    return {"brier": brier(p, e), "average_precision": average_precision(p, e), "skill_vs_history": skill,
            "skill_vs_history_lower": lo, "skill_vs_history_upper": hi,
            "history_average_precision": average_precision(history["p_event"], history["event"]),
            "tiers_within": float(used["within"].sum()), "tiers_used": float(len(used)),
            "tiers_consistent": float(used["consistent"].sum())}


def evaluate(pred: pd.DataFrame, tiers: tuple[float, ...]) -> dict:
    out: dict = {"count": {}, "hazard": {}}
    for h in HORIZONS:
        ideas = count_ideas(pred, h)
        best = min(suite.BASELINES, key=lambda b: ideas[b]["crps"].mean())
        out["count"][h] = {"best_baseline": best,
                           "ideas": {name: count_figures(rows, ideas[best]) for name, rows in ideas.items()}}
    ideas = hazard_ideas(pred)
    out["hazard"] = {"ideas": {name: hazard_figures(rows, ideas["district_history"], tiers)
                               for name, rows in ideas.items()}}
    return out


def choose(figures: dict) -> dict:
    """On validation: per count horizon the idea of lowest CRPS, and the hazard idea of lowest Brier."""
    return {"count": {h: min(f["ideas"], key=lambda n: f["ideas"][n]["crps"]) for h, f in figures["count"].items()},
            "hazard": min(figures["hazard"]["ideas"], key=lambda n: figures["hazard"]["ideas"][n]["brier"])}


def choose_shipped(by_source: dict[str, dict]) -> dict:
    """The settings the suite ships, from the validation figures of every source: the count idea of the
    highest skill averaged over sources and horizons (the pools are compared with the models as they are),
    and the hazard idea of the highest Brier skill against the district-history rule averaged over sources
    (among the shipped models, their recalibrations and blends)."""
    def mean_over(values):
        return float(np.mean(values))

    counts = [f["count"][h]["ideas"] for f in by_source.values() for h in f["count"]]
    common = set.intersection(*(set(c) for c in counts))
    count = {n: mean_over([c[n]["skill"] for c in counts]) for n in common}
    hazards = [f["hazard"]["ideas"] for f in by_source.values()]
    hazard = {n: mean_over([c[n]["skill_vs_history"] for c in hazards]) for n in set.intersection(*(set(c) for c in hazards))}
    return {"count": max(count, key=count.get), "count_skill": count,
            "hazard": max(hazard, key=hazard.get), "hazard_skill": hazard}


def render(figures: dict, highlight: set[str]) -> str:
    lines = []
    for h, f in figures["count"].items():
        lines.append(f"\n-- counts, h = {h}: best baseline {f['best_baseline']}")
        lines.append(f"{'idea':<38}{'CRPS':>8}{'skill':>8}{'90% CI':>18}{'PIT80':>7}{'PIT90':>7}{'inc80':>7}{'inc90':>7}")
        ranked = sorted(f["ideas"].items(), key=lambda kv: kv[1]["crps"])
        for name, r in [kv for kv in ranked[:12]] + [kv for kv in ranked[12:] if kv[0] in highlight]:
            mark = " *" if name in highlight else ""
            lines.append(f"{name + mark:<38}{r['crps']:>8.4f}{r['skill']:>+8.1%}   [{r['skill_lower']:+6.1%}, "
                         f"{r['skill_upper']:+6.1%}]{r['pit_coverage80_active']:>7.1%}{r['pit_coverage90_active']:>7.1%}"
                         f"{r['coverage80_active']:>7.1%}{r['coverage90_active']:>7.1%}")
    lines.append("\n-- major attack within 4 weeks")
    lines.append(f"{'idea':<38}{'Brier':>8}{'vs hist':>9}{'90% CI':>18}{'AP':>7}{'tiers in/used':>15}")
    for name, r in sorted(figures["hazard"]["ideas"].items(), key=lambda kv: kv[1]["brier"]):
        mark = " *" if name in highlight else ""
        lines.append(f"{name + mark:<38}{r['brier']:>8.4f}{r['skill_vs_history']:>+9.1%}   "
                     f"[{r['skill_vs_history_lower']:+6.1%}, {r['skill_vs_history_upper']:+6.1%}]"
                     f"{r['average_precision']:>7.3f}{r['tiers_within']:>9.0f}/{r['tiers_used']:.0f}")
    return "\n".join(lines)


def log_runs(figures: dict, source: str, period: str, origins: tuple[str, str], refit_every: int, command: str,
             chosen: dict, uri: str, artifact_root, artifacts: list[Path]) -> int:
    n = 0
    common = {"source": source, "period": period, "origins": f"{origins[0]}..{origins[1]}", "refit_every": refit_every,
              "command": command}
    for h, f in figures["count"].items():
        for name, r in f["ideas"].items():
            tracking.log_bench_run(EXPERIMENT, f"{source}-{period}-count-h{h}-{name}",
                                   common | {"idea": name, "family": "count", "horizon": h,
                                             "best_baseline": f["best_baseline"]}, r, [], uri,
                                   artifact_root=artifact_root,
                                   tags={"bench": "bench/research.py", "chosen": str(chosen["count"][h] == name).lower()})
            n += 1
    for name, r in figures["hazard"]["ideas"].items():
        tracking.log_bench_run(EXPERIMENT, f"{source}-{period}-hazard-{name}",
                               common | {"idea": name, "family": "hazard", "horizon": 4}, r,
                               artifacts if name == chosen["hazard"] else [], uri, artifact_root=artifact_root,
                               tags={"bench": "bench/research.py", "chosen": str(chosen["hazard"] == name).lower()})
        n += 1
    return n


def _int_keys(d: dict) -> dict:
    return {int(k) if k.isdigit() else k: v for k, v in d.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=sorted(SOURCES))
    parser.add_argument("--choose", action="store_true",
                        help="read every source's validation file and print the settings the suite ships")
    parser.add_argument("--period", choices=("validation", "test"), default="validation")
    parser.add_argument("--refit-every", type=int, default=13)
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: the settings')")
    parser.add_argument("--no-tracking", action="store_true")
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "bench/research.py", *(sys.argv[1:] if argv is None else argv)])
    if args.choose:
        by_source = {src: json.loads((OUT / f"research_{src}_validation.json").read_text(), object_hook=_int_keys)["figures"]
                     for src in SOURCES}
        shipped = choose_shipped(by_source)
        for kind in ("count", "hazard"):
            ranked = sorted(shipped[f"{kind}_skill"].items(), key=lambda kv: -kv[1])[:5]
            print(f"{kind}: {shipped[kind]} (mean validation skill over sources"
                  f"{' and horizons' if kind == 'count' else ''}: " + ", ".join(f"{n} {v:+.2%}" for n, v in ranked) + ")")
        (OUT / "research_choice.json").write_text(json.dumps(shipped, indent=1))
        return 0
    if args.source is None:
        parser.error("--source is required (or --choose)")
    settings = Settings()
    tiers = settings.tiers.thresholds()
    t0 = time.perf_counter()
    table, result, origins = backtest(args.source, args.period, args.refit_every)
    figures = evaluate(result.predictions, tiers)
    choice_file = OUT / f"research_{args.source}_validation.json"
    if args.period == "validation":
        chosen = choose(figures)
    else:
        if not choice_file.exists():
            parser.error(f"{choice_file} is missing: run --period validation first (the choice is made there)")
        chosen = json.loads(choice_file.read_text())["chosen"]
        chosen["count"] = {int(h): v for h, v in chosen["count"].items()}
    shipped = {*suite.DEFAULT_COUNT_CANDIDATES, *suite.DEFAULT_HAZARD_CANDIDATES}
    print(f"{args.source} {args.period}: origins {origins[0]} .. {origins[1]}, refit every {args.refit_every}, "
          f"{time.perf_counter() - t0:.0f} s; chosen on validation: {chosen}")
    print(render(figures, {*chosen["count"].values(), chosen["hazard"], *shipped}))
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"research_{args.source}_{args.period}.json"
    out.write_text(json.dumps({"command": command, "origins": origins, "refit_every": args.refit_every,
                               "chosen": chosen, "figures": figures}, indent=1, default=str))
    print(f"\nnumbers written to {out}")
    if not args.no_tracking:
        uri = args.tracking_uri or settings.tracking_uri
        n = log_runs(figures, args.source, args.period, origins, args.refit_every, command, chosen, uri,
                     settings.artifact_root, [out])
        print(f"{n} MLflow runs in the experiment {EXPERIMENT} of {redact_url(uri)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
