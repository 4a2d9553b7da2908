"""Skill of Vigie's count and hazard models on the real Mali ACLED data, walk-forward, against the baselines.

    .venv/bin/python bench/skill_mali.py [--acled PATH] [--periods validation,test] [--refit-every 4]
                                         [--reference PATH] [--no-reference-rerun] [--quick]

The table is built as the weekly flow builds it (flows.tasks.build_features): events assigned to districts by
the OCHA polygons, history from 2011-01-03 (panel_start - 52 weeks), Registries.load("MLI") (foreign-force and
political features), the settings' feature config; models train on rows from panel_start = 2012-01-02.
The data file is read in place, never copied.

Two periods, protocol "mali-weekly-v1" (../shared/reference/skill-reference.md), weekly origins:

* validation: origins 2016-01-04 .. 2017-12-25 (last target week). Every model setting in models/suite.py
  was chosen on these origins (or earlier ones), and the bench's champion of each horizon is the candidate
  with the lowest validation CRPS (a candidate within 0.5% of it that is simpler, i.e. listed earlier in
  ``--candidates``, wins the near tie);
* test: origins 2018-01-01 .. 2020-07-20 (h = 1: 134 origins; h = 4: to 2020-06-29, 131 origins), reported
  once with those settings.

A forecast at origin t uses only rows whose target window closed before t; every model is refitted every
``--refit-every`` origins (default 4, the weekly flow's retraining cadence) on all rows from 2012-01-02.

Printed per period and horizon: CRPS of every model, the best baseline, skill against it with a bootstrap
90% interval over origins, the Brier skill score of P(any violent event within 4 weeks) (the h = 4 count
model's P(N >= 1)) against the base rate (overall, and per district), 90% / 50% central-interval coverage on
active districts (a violent event in the 52 weeks before the origin; "cov90", "cov50", endpoints included),
"PIT90" = the share of randomised PIT values within [0.05, 0.95] on active districts (what a calibrated
count forecast attains: 90%; the inclusive discrete interval covers more, since a count's quantiles jump),
average precision, and where the champion fails (the 5 districts, with their skill and events, and the year
with the worst skill). All numbers go to bench/out/skill_mali.json.

Against the reference's peers (test period only: its origins are the reference's). The reference
(``--reference``, default ../shared/reference/skill-reference.md, read by bench/reference.py) prints one CRPS
per method for statsforecast TSB / IMAPA / ADIDA and mlforecast (the peers) and for the baselines, measured
under its own protocol, which differs from Vigie's in two ways: events are placed by their ACLED admin2 name
(Vigie: the OCHA polygon holding the point), and the CRPS is that of a Poisson distribution around the
forecast mean (Vigie: the model's own predictive distribution). So the skill against the best peer row
(the best of the peers) and against the best row overall is computed on the reference's protocol: the
candidates are backtested again on a table whose events are placed by name, on the same origins, and scored
by the Poisson CRPS of their mean, as bench/baselines_reference.py does for the baselines; the baselines of
that run are printed next to their reference values to show the rows match (max |difference|). The
Vigie-protocol CRPS is printed beside it, labelled, and the Poisson CRPS of the same means on Vigie's rows
isolates the scoring rule. ``--no-reference-rerun`` skips the second backtest (the comparison then uses
Vigie's rows, and says so). The reference gives one number per method, so these skills have no interval;
the candidates refit every ``--refit-every`` origins (the reference's TSB: every origin).

``--quick`` keeps the first few origins of each period (a check that the script and its reports run, in a
minute or two; its numbers are not comparable with anything).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.reference import ACLED_PROTOCOL, ReferenceError, best_value, read_reference  # noqa: E402
from bench.reference import DEFAULT_PATH as REFERENCE  # noqa: E402
from bench.skill_common import (  # noqa: E402, F401 - the shared pieces, importable from here as before
    BRIER_HORIZON,
    COUNT_CANDIDATES,
    HAZARD_MODELS,
    HORIZONS,
    NAMES,
    PANEL_START,
    QUICK_ORIGINS,
    TARGET_BSS,
    TARGET_COVERAGE,
    TARGET_SKILL,
    VIGIE_PROTOCOL_LABEL,
    base_rate_forecasts,
    brier_skill,
    candidate_skills,
    choose_champions,
    count_specs,
    failures,
    period_summary,
    poisson_crps,
    render,
    render_candidate_skills,
    specs,
    target_status,
)
from bench.skill_common import build_table as build_event_table  # noqa: E402
from features.table import FeatureTable  # noqa: E402
from models import suite  # noqa: E402
from models.backtest import BacktestConfig, BacktestResult, run_backtest  # noqa: E402

ACLED = ROOT.parent / "shared" / "data" / "acled" / "mli_acled_1997-01-01_2020-07-31.csv"
OUT = ROOT / "bench" / "out" / "skill_mali.json"
FORECAST_WEEK = pd.Timestamp("2020-08-03")
PERIODS = {"validation": ("2016-01-04", "2017-12-25"), "test": ("2018-01-01", "2020-07-20")}
#: The period whose origins are the reference's (2018-01-01 .. 2020-07-20; h = 4 to 2020-06-29).
REFERENCE_PERIOD = "test"
#: Our baselines -> their rows in the reference table (same definitions: the reproduction check).
REFERENCE_BASELINES = {"zero": "zero", "last_week": "last week", "mean_4": "mean of last 4 weeks",
                       "mean_13": "mean of last 13 weeks", "mean_52": "mean of last 52 weeks",
                       "tsb": "statsforecast TSB (0.1, 0.1), refit each origin", "imapa": "statsforecast IMAPA",
                       "adida": "statsforecast ADIDA"}
REFERENCE_PROTOCOL_LABEL = ('the reference\'s protocol "mali-weekly-v1": events placed by ACLED admin2 name, '
                            "Poisson CRPS around the forecast mean")


def build_table(acled: Path, assignment: str = "point") -> FeatureTable:
    """The feature table as flows.tasks.build_features builds it for the default settings.

    ``assignment`` "point": events placed as the pipeline places them (the OCHA polygon holding the point);
    "name": by their ACLED admin2 name through the gazetteer's aliases, coordinates ignored for the placement
    only, as the reference did (bench/baselines_reference.py).
    """
    return build_event_table(acled, FORECAST_WEEK, assignment)


def reference_comparison(reference: pd.DataFrame, vigie: BacktestResult, rerun: BacktestResult | None,
                         candidates: tuple[str, ...], champion: dict[int, str], quick: bool = False) -> dict:
    """Skill of each candidate against the best peer row and the best row overall of the reference's ACLED
    table (protocol "mali-weekly-v1"), per horizon.

    ``vigie``: the backtest on Vigie's table (events placed by polygon); ``rerun``: the same origins on the
    table whose events are placed by ACLED admin2 name (None: not run). The fair figure,
    ``crps_reference_protocol``, is the Poisson CRPS of the candidate's mean on the rerun's rows; without a
    rerun, ``skill_vs_best_peer`` falls back to the Poisson CRPS on Vigie's rows (``rows`` says which).
    ``skill_vs_best_peer_vigie_protocol`` compares the candidate's own CRPS on Vigie's rows with the peer's
    reference value: two protocols, printed for what it is. ``reproduction``: our baselines on the same rows
    against their reference values (the rows match when these agree).
    """
    out: dict = {"protocol": ACLED_PROTOCOL, "rows": "reference" if rerun is not None else "vigie", "quick": quick,
                 "horizons": {}}
    acled = reference[reference["protocol"] == ACLED_PROTOCOL]
    for h in HORIZONS:
        rows = {kind: best_value(reference, "crps", h, protocol=ACLED_PROTOCOL, kind=kind)
                for kind in ("peer", "baseline", None)}
        models = candidate_skills(vigie, rerun, candidates, h, rows["peer"]["value"], rows[None]["value"])
        on_reference_rows = poisson_crps(rerun.predictions, h) if rerun is not None else {}
        reproduction = {}
        for ours, label in REFERENCE_BASELINES.items():
            hit = acled[(acled["label"] == label) & (acled["metric"] == "crps") & (acled["horizon"] == h)]
            if ours in on_reference_rows and len(hit):
                reproduction[ours] = {"ours": on_reference_rows[ours], "reference": float(hit["value"].iloc[0])}
        preds = (rerun if rerun is not None else vigie).predictions
        out["horizons"][h] = {
            "best_peer": {"method": str(rows["peer"]["label"]), "crps": float(rows["peer"]["value"])},
            "best_row": {"method": str(rows[None]["label"]), "crps": float(rows[None]["value"])},
            "best_baseline_row": {"method": str(rows["baseline"]["label"]), "crps": float(rows["baseline"]["value"])},
            "champion": champion.get(h), "models": models, "reproduction": reproduction,
            "max_reproduction_gap": max((abs(r["ours"] - r["reference"]) for r in reproduction.values()), default=None),
            "n_origins": int(preds.loc[(preds["horizon"] == h) & (preds["kind"] == "count"), "origin"].nunique()),
        }
    return out


def render_reference(comparison: dict, path: Path) -> str:
    """The comparison of :func:`reference_comparison` as text, each figure labelled with its protocol."""
    on_reference = comparison["rows"] == "reference"
    lines = [f"\n=== skill against the reference's best rows ({path}, ACLED table) ===",
             f"reference figures: {REFERENCE_PROTOCOL_LABEL}",
             f"Vigie figures:     {VIGIE_PROTOCOL_LABEL}"]
    if not on_reference:
        lines.append("NOTE: no rerun on the reference's rows (--no-reference-rerun): the skills below use the "
                     "Poisson CRPS on Vigie's rows (events placed by polygon), not the reference's rows")
    if comparison["quick"]:
        lines.append("NOTE: --quick run: a few origins only, not the reference's 134 (h=1) / 131 (h=4): not comparable")
    for h, c in comparison["horizons"].items():
        peer, row, base = c["best_peer"], c["best_row"], c["best_baseline_row"]
        lines.append(f"\n-- h = {h} ({c['n_origins']} origins): best peer row {peer['method']} {peer['crps']:.4f}; "
                     f"best row overall {row['method']} {row['crps']:.4f}; best baseline row {base['method']} "
                     f"{base['crps']:.4f}")
        lines += render_candidate_skills(c, on_reference)
    lines.append("(skill = 1 - CRPS / reference CRPS; the reference prints one number per method, so no interval)")
    return "\n".join(lines)



def verdict(summary: dict) -> str:
    lines = ["\n=== test period vs the targets (champions chosen on the validation period) ==="]
    for h, s in summary["horizons"].items():
        c = s["models"][s["champion"]]
        status = target_status(c["skill"])
        lines.append(f"h={h}: {s['champion']} CRPS {c['crps']:.4f} vs {s['best_baseline']} {s['best_baseline_crps']:.4f}: "
                     f"skill {c['skill']:+.1%} (target >= {TARGET_SKILL:.0%}: {status}); "
                     f"90% coverage on active districts {c['coverage90_active']:.1%} (target "
                     f"{TARGET_COVERAGE[0]:.0%}-{TARGET_COVERAGE[1]:.0%})")
        ref = summary.get("reference", {}).get("horizons", {}).get(h)
        if ref is not None:
            r = ref["models"][s["champion"]]
            rows = "the reference's rows" if summary["reference"]["rows"] == "reference" else "Vigie's rows"
            lines.append(f"     vs the best peer row {ref['best_peer']['method']} {ref['best_peer']['crps']:.4f}: skill "
                         f"{r['skill_vs_best_peer']:+.1%}; vs the best row {ref['best_row']['method']}: "
                         f"{r['skill_vs_best_row']:+.1%} (Poisson CRPS of the mean on {rows})"
                         + (" [--quick: not comparable]" if summary["reference"]["quick"] else ""))
    champ = summary["horizons"][BRIER_HORIZON]["champion"]
    b = summary["brier_any_event_4w"][champ]
    lines.append(f"P(any event within 4 weeks) by {champ}: BSS vs base rate {b['bss_vs_base_rate']:+.3f}, vs per-district "
                 f"rate {b['bss_vs_district_rate']:+.3f} (target >= {TARGET_BSS:.2f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acled", type=Path, default=ACLED)
    parser.add_argument("--periods", default="validation,test")
    parser.add_argument("--refit-every", type=int, default=4)
    parser.add_argument("--candidates", default=",".join(COUNT_CANDIDATES))
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--reference", type=Path, default=REFERENCE,
                        help="the reference tables (default ../shared/reference/skill-reference.md)")
    parser.add_argument("--no-reference-rerun", action="store_true",
                        help="compare with the peers on Vigie's rows, without the second backtest on events "
                             "placed by ACLED admin2 name")
    parser.add_argument("--quick", action="store_true",
                        help=f"only the first {QUICK_ORIGINS} origins of each period and 200 bootstrap draws "
                             "(checks that the script runs; numbers not comparable)")
    args = parser.parse_args(argv)
    candidates = tuple(c for c in args.candidates.split(",") if c)
    n_boot = min(args.boot, 200) if args.quick else args.boot
    try:
        reference = read_reference(args.reference)
    except ReferenceError as exc:
        reference = None
        print(f"no comparison with the peers: {exc}")
    t0 = time.perf_counter()
    table = build_table(args.acled)
    print(f"table: {len(table.frame)} rows x {len(table.specs)} features, built in {time.perf_counter() - t0:.1f} s; "
          f"refit every {args.refit_every} origins, training rows from {PANEL_START.date()}")
    champion = {h: suite.DEFAULT_COUNT_CANDIDATES[0] for h in HORIZONS}  # the validation choice, when not rerun
    report = {"refit_every": args.refit_every, "candidates": candidates, "quick": args.quick, "periods": {}}
    for period in [p for p in args.periods.split(",") if p]:
        start, end = PERIODS[period]
        if args.quick:
            end = str((pd.Timestamp(start) + pd.Timedelta(weeks=QUICK_ORIGINS - 1)).date())
        t1 = time.perf_counter()
        config = BacktestConfig(start=start, end=end, refit_every=args.refit_every, train_start=PANEL_START)
        result = run_backtest(table, specs(candidates, table.specs), config)
        if period == "validation":
            champion = choose_champions(result, candidates)
        summary = period_summary(table, result, champion, n_boot)
        summary["seconds"] = time.perf_counter() - t1
        summary["origins"] = [start, end]
        report["periods"][period] = summary
        print(render(f"{period}: origins {start} .. last target week {end} ({summary['seconds']:.0f} s)", summary))
        if period == REFERENCE_PERIOD and reference is not None:
            t2 = time.perf_counter()
            rerun = None
            if not args.no_reference_rerun:  # the same origins on events placed by ACLED admin2 name
                by_name = build_table(args.acled, assignment="name")
                rerun = run_backtest(by_name, count_specs(candidates, by_name.specs), config)
            summary["reference"] = reference_comparison(reference, result, rerun, candidates, champion, args.quick)
            summary["reference"]["seconds"] = time.perf_counter() - t2
            print(render_reference(summary["reference"], args.reference))
    if "test" in report["periods"]:
        print(verdict(report["periods"]["test"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nnumbers written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
