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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.reference import ACLED_PROTOCOL, ReferenceError, best_value, read_reference  # noqa: E402
from bench.reference import DEFAULT_PATH as REFERENCE  # noqa: E402
from features.gazetteer import Gazetteer  # noqa: E402
from features.sources.detect import read_events  # noqa: E402
from features.table import FeatureConfig, FeatureTable, Registries, build_feature_table  # noqa: E402
from flows.settings import Settings  # noqa: E402
from models import suite  # noqa: E402
from models.backtest import BacktestConfig, BacktestResult, run_backtest  # noqa: E402
from models.distributions import NegativeBinomial  # noqa: E402
from models.metrics import average_precision, brier  # noqa: E402

ACLED = ROOT.parent / "shared" / "data" / "acled" / "mli_acled_1997-01-01_2020-07-31.csv"
OUT = ROOT / "bench" / "out" / "skill_mali.json"
PANEL_START, FORECAST_WEEK = pd.Timestamp("2012-01-02"), pd.Timestamp("2020-08-03")
PERIODS = {"validation": ("2016-01-04", "2017-12-25"), "test": ("2018-01-01", "2020-07-20")}
HORIZONS = (1, 4)
BRIER_HORIZON = 4
COUNT_CANDIDATES = ("hawkes_nb", "lgbm_boost", "nb_glm", "lgbm_poisson")
HAZARD_MODELS = ("base_rate", "hawkes_hazard", "hazard_cloglog")
#: The issue's targets.
TARGET_SKILL, TARGET_BSS, TARGET_COVERAGE = 0.10, 0.10, (0.85, 0.95)
NAMES: dict[str, str] = {}  # district code -> name, filled by build_table
#: The period whose origins are the reference's (2018-01-01 .. 2020-07-20; h = 4 to 2020-06-29).
REFERENCE_PERIOD = "test"
#: Our baselines -> their rows in the reference table (same definitions: the reproduction check).
REFERENCE_BASELINES = {"zero": "zero", "last_week": "last week", "mean_4": "mean of last 4 weeks",
                       "mean_13": "mean of last 13 weeks", "mean_52": "mean of last 52 weeks"}
QUICK_ORIGINS = 12  #: origins per period with --quick (h = 4: 3 fewer)
VIGIE_PROTOCOL_LABEL = "Vigie's protocol: events placed by the OCHA polygon, CRPS of the model's own distribution"
REFERENCE_PROTOCOL_LABEL = ('the reference\'s protocol "mali-weekly-v1": events placed by ACLED admin2 name, '
                            "Poisson CRPS around the forecast mean")


def build_table(acled: Path, assignment: str = "point") -> FeatureTable:
    """The feature table as flows.tasks.build_features builds it for the default settings.

    ``assignment`` "point": events placed as the pipeline places them (the OCHA polygon holding the point);
    "name": by their ACLED admin2 name through the gazetteer's aliases, coordinates ignored for the placement
    only, as the reference did (bench/baselines_reference.py).
    """
    if assignment not in ("point", "name"):
        raise ValueError(f"assignment must be 'point' or 'name', got {assignment!r}")
    settings = Settings()
    config = FeatureConfig(horizons=tuple(settings.horizons), major_min_fatalities=settings.major_attack.min_fatalities,
                           major_military_targets=settings.major_attack.military_targets)
    events = read_events(acled)
    gazetteer = Gazetteer.load("MLI")
    NAMES.update(gazetteer.districts.set_index("district_code")["district_name"].astype(str).to_dict())
    located = events.assign(latitude=np.nan, longitude=np.nan) if assignment == "name" else events
    events = events.assign(district_code=gazetteer.assign(located)["district_code"])
    start = pd.Timestamp(settings.panel_start) - pd.Timedelta(weeks=settings.training.history_weeks)
    return build_feature_table(events, gazetteer, start=start, forecast_week=FORECAST_WEEK, config=config,
                               registries=Registries.load("MLI"))


def choose_champions(result: BacktestResult, candidates: tuple[str, ...], tolerance: float = 0.005) -> dict[int, str]:
    """Per horizon, the first candidate (they are listed simplest first) whose validation CRPS is within
    ``tolerance`` (relative) of the lowest: a near tie goes to the simpler model."""
    crps = result.table(["crps"])["crps"]
    return {h: next(n for n in candidates if crps.loc[n, h] <= (1 + tolerance) * crps.loc[list(candidates), h].min())
            for h in HORIZONS}


def count_specs(candidates: tuple[str, ...], catalog):
    return [suite.count_spec(n, h, catalog) for h in HORIZONS for n in (*suite.BASELINES, *candidates)]


def specs(candidates: tuple[str, ...], catalog):
    return count_specs(candidates, catalog) + [suite.hazard_spec(n, BRIER_HORIZON, catalog) for n in HAZARD_MODELS]


# ---------------------------------------------------------------------------------------------- base rates


def base_rate_forecasts(table: FeatureTable, origins: pd.DatetimeIndex, horizon: int,
                        prior_rows: float = 52.0) -> pd.DataFrame:
    """P(any violent event within ``horizon`` weeks) by the base rate, for each origin and district, from the
    rows a model could have seen (week_start >= panel start, target window closed by the origin): the
    overall rate, and each district's rate shrunk to it with ``prior_rows`` pseudo-rows."""
    f = table.frame[["district_code", "week_start", f"target_violent_events_h{horizon}"]].copy()
    f.columns = ["district_code", "week_start", "y"]
    f["district_code"] = f["district_code"].astype(str)
    f["event"] = (f["y"] >= 1).astype(float)
    train = f[(f["week_start"] >= PANEL_START) & f["y"].notna()]
    out = []
    for origin in origins:
        seen = train[train["week_start"] + pd.Timedelta(weeks=horizon) <= origin]
        rate = seen["event"].mean()
        g = seen.groupby("district_code")["event"].agg(["sum", "count"])
        district = (g["sum"] + prior_rows * rate) / (g["count"] + prior_rows)
        rows = f[f["week_start"] == origin]
        out.append(pd.DataFrame({"origin": origin, "district_code": rows["district_code"].to_numpy(),
                                 "p_overall": rate,
                                 "p_district": district.reindex(rows["district_code"]).fillna(rate).to_numpy()}))
    return pd.concat(out, ignore_index=True)


# ---------------------------------------------------------------------------------------------- summaries


def period_summary(table: FeatureTable, result: BacktestResult, champion: dict[int, str], n_boot: int) -> dict:
    pred = result.predictions
    counts = pred[pred["kind"] == "count"]
    m = result.metrics
    skill = result.skill(list(suite.BASELINES), "crps", n_boot=n_boot)
    summary: dict = {"horizons": {}}
    for h in HORIZONS:
        sk = skill[skill["horizon"] == h].set_index("model")
        mh = m[(m["horizon"] == h) & (m["kind"] == "count")].pivot_table(index="model", columns="metric", values="value")
        base = str(sk["baseline"].iloc[0])
        models = {}
        for name in mh.index:
            rows = counts[(counts["model"] == name) & (counts["horizon"] == h)]
            pit = rows.loc[rows["active"], "pit"].to_numpy()
            models[name] = {
                "crps": float(mh.loc[name, "crps"]), "skill": float(sk.loc[name, "skill"]),
                "skill_lower": float(sk.loc[name, "skill_lower"]), "skill_upper": float(sk.loc[name, "skill_upper"]),
                "coverage90_active": float(mh.loc[name, "coverage90_active"]),
                "coverage50_active": float(mh.loc[name, "coverage50_active"]),
                "pit_coverage90_active": float(np.mean((pit >= 0.05) & (pit <= 0.95))),
                "average_precision": float(mh.loc[name, "average_precision"]),
                "brier": float(mh.loc[name, "brier"]), "log_score": float(mh.loc[name, "log_score"]),
            }
        summary["horizons"][h] = {"best_baseline": base, "best_baseline_crps": float(mh.loc[base, "crps"]),
                                  "champion": champion[h], "models": models,
                                  "n_origins": int(counts.loc[counts["horizon"] == h, "origin"].nunique()),
                                  "n_rows": int(((counts["horizon"] == h) & (counts["model"] == base)).sum()),
                                  "failures": failures(result, h, champion[h], base)}
    summary["brier_any_event_4w"] = brier_skill(table, counts)
    hz = m[(m["kind"] == "hazard") & (m["metric"] == "brier")].set_index("model")["value"]
    summary["major_attack_hazard_brier_h4"] = {k: float(v) for k, v in hz.items()}
    return summary


def brier_skill(table: FeatureTable, counts: pd.DataFrame) -> dict:
    rows = counts[counts["horizon"] == BRIER_HORIZON]
    origins = pd.DatetimeIndex(sorted(rows["origin"].unique()))
    rates = base_rate_forecasts(table, origins, BRIER_HORIZON)
    out = {}
    for name, g in rows.groupby("model"):
        g = g.merge(rates, on=["origin", "district_code"], how="left", validate="one_to_one")
        b = brier(g["p_event"], g["event"])
        out[name] = {"brier": b, "brier_base_rate": brier(g["p_overall"], g["event"]),
                     "brier_district_rate": brier(g["p_district"], g["event"]),
                     "bss_vs_base_rate": 1.0 - b / brier(g["p_overall"], g["event"]),
                     "bss_vs_district_rate": 1.0 - b / brier(g["p_district"], g["event"]),
                     "average_precision": average_precision(g["p_event"], g["event"]),
                     "event_rate": float(g["event"].mean())}
    return out


def failures(result: BacktestResult, h: int, model: str, base: str) -> dict:
    """Per-district and per-year CRPS skill of ``model`` against ``base``: the 5 worst districts (among
    districts where the baseline's mean CRPS is at least 0.01, i.e. with some violence) and the worst year."""
    pred = result.predictions
    sub = pred[(pred["horizon"] == h) & pred["model"].isin([model, base])]
    out = {}
    for key in ("district_code", "year"):
        t = sub.pivot_table(index=key, columns="model", values="crps", aggfunc="mean")
        ev = sub[sub["model"] == base].groupby(key)["y"].sum()
        t = t.assign(skill=1.0 - t[model] / t[base], events=ev)
        if key == "district_code":
            t = t[t[base] >= 0.01]
        t = t.sort_values("skill")
        out[key] = [{key: str(i), "skill": float(r["skill"]), "crps": float(r[model]), "baseline_crps": float(r[base]),
                     "events": float(r["events"])} for i, r in t.iterrows()]
    return {"worst_districts": out["district_code"][:5], "years": out["year"]}


# ---------------------------------------------------------------------------------------------- the reference


def poisson_crps(predictions: pd.DataFrame, horizon: int) -> dict[str, float]:
    """Mean CRPS of a Poisson distribution around each count model's forecast mean at ``horizon``: the
    reference's scoring rule (for a Poisson baseline it equals the model's own CRPS)."""
    rows = predictions[(predictions["kind"] == "count") & (predictions["horizon"] == horizon)]
    crps = NegativeBinomial(rows["mean"].to_numpy(np.float64), 0.0).crps(rows["y"].to_numpy(np.float64))
    by_model = pd.Series(crps, index=rows.index).groupby(rows["model"].astype(str)).mean()
    return {name: float(v) for name, v in by_model.items()}


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
        own = vigie.metrics[(vigie.metrics["kind"] == "count") & (vigie.metrics["horizon"] == h)
                            & (vigie.metrics["metric"] == "crps")].set_index("model")["value"]
        on_vigie_rows = poisson_crps(vigie.predictions, h)
        on_reference_rows = poisson_crps(rerun.predictions, h) if rerun is not None else {}
        models = {}
        for name in candidates:
            fair = on_reference_rows.get(name, on_vigie_rows[name])
            models[name] = {
                "crps_reference_protocol": on_reference_rows.get(name),
                "crps_poisson_vigie_rows": on_vigie_rows[name], "crps_vigie_protocol": float(own[name]),
                "skill_vs_best_peer": 1.0 - fair / rows["peer"]["value"],
                "skill_vs_best_row": 1.0 - fair / rows[None]["value"],
                "skill_vs_best_peer_vigie_protocol": 1.0 - float(own[name]) / rows["peer"]["value"],
            }
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
    fair = "CRPS ref.rows" if on_reference else "CRPS Vig.rows"
    for h, c in comparison["horizons"].items():
        peer, row, base = c["best_peer"], c["best_row"], c["best_baseline_row"]
        lines.append(f"\n-- h = {h} ({c['n_origins']} origins): best peer row {peer['method']} {peer['crps']:.4f}; "
                     f"best row overall {row['method']} {row['crps']:.4f}; best baseline row {base['method']} "
                     f"{base['crps']:.4f}")
        if c["reproduction"]:
            rep_ = ", ".join(f"{k} {r['ours']:.4f} ({r['reference']:.4f})" for k, r in c["reproduction"].items())
            lines.append(f"   our baselines on the same rows (reference value): {rep_}; max |diff| "
                         f"{c['max_reproduction_gap']:.4f}")
        lines.append(f"   {'model':<15}{fair:>14}{'vs peer':>9}{'vs best':>9}   |{'Poisson, Vigie rows':>21}"
                     f"{'own CRPS, Vigie':>17}{'own vs peer (protocols differ)':>32}")
        for name, r in sorted(c["models"].items(), key=lambda kv: kv[1]["skill_vs_best_peer"], reverse=True):
            mark = " *" if name == c["champion"] else ""
            crps = r["crps_reference_protocol"] if on_reference else r["crps_poisson_vigie_rows"]
            lines.append(f"   {name + mark:<15}{crps:>14.4f}{r['skill_vs_best_peer']:>+9.1%}{r['skill_vs_best_row']:>+9.1%}"
                         f"   |{r['crps_poisson_vigie_rows']:>21.4f}{r['crps_vigie_protocol']:>17.4f}"
                         f"{r['skill_vs_best_peer_vigie_protocol']:>+32.1%}")
    lines.append("(skill = 1 - CRPS / reference CRPS; the reference prints one number per method, so no interval)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- printing


def render(period: str, summary: dict) -> str:
    lines = [f"\n=== {period} ==="]
    for h, s in summary["horizons"].items():
        lines.append(f"\n-- h = {h}: {s['n_origins']} origins, {s['n_rows']} district-origins; best baseline "
                     f"{s['best_baseline']} CRPS {s['best_baseline_crps']:.4f}; champion {s['champion']}")
        lines.append(f"{'model':<15}{'CRPS':>8}{'skill':>8}{'90% CI':>18}{'cov90':>7}{'cov50':>7}"
                     f"{'PIT90':>7}{'AP':>7}{'Brier':>8}")
        for name, r in sorted(s["models"].items(), key=lambda kv: kv[1]["crps"]):
            mark = " *" if name == s["champion"] else ""
            lines.append(f"{name + mark:<15}{r['crps']:>8.4f}{r['skill']:>+8.1%}"
                         f"   [{r['skill_lower']:+6.1%}, {r['skill_upper']:+6.1%}]{r['coverage90_active']:>7.1%}"
                         f"{r['coverage50_active']:>7.1%}{r['pit_coverage90_active']:>7.1%}{r['average_precision']:>7.3f}"
                         f"{r['brier']:>8.4f}")
        f = s["failures"]
        worst = ", ".join(f"{d['district_code']} {NAMES.get(d['district_code'], '')} {d['skill']:+.1%} "
                          f"({d['events']:.0f} ev.)" for d in f["worst_districts"])
        years = ", ".join(f"{d['year']} {d['skill']:+.1%}" for d in f["years"])
        lines.append(f"where {s['champion']} fails: worst districts {worst}; skill by year {years}")
    b = summary["brier_any_event_4w"]
    lines.append(f"\n-- P(any violent event within {BRIER_HORIZON} weeks) = P(N >= 1) of the h={BRIER_HORIZON} count models "
                 f"(event rate {next(iter(b.values()))['event_rate']:.1%}; Brier of the base rate "
                 f"{next(iter(b.values()))['brier_base_rate']:.4f}, of the per-district rate "
                 f"{next(iter(b.values()))['brier_district_rate']:.4f})")
    for name, r in sorted(b.items(), key=lambda kv: kv[1]["brier"]):
        lines.append(f"{name:<15} Brier {r['brier']:.4f}  BSS vs base rate {r['bss_vs_base_rate']:+.3f}  "
                     f"vs district rate {r['bss_vs_district_rate']:+.3f}  AP {r['average_precision']:.3f}")
    hz = summary["major_attack_hazard_brier_h4"]
    lines.append("-- major attack within 4 weeks (hazard models), Brier: "
                 + ", ".join(f"{k} {v:.4f}" for k, v in sorted(hz.items(), key=lambda kv: kv[1])))
    return "\n".join(lines)


def verdict(summary: dict) -> str:
    lines = ["\n=== test period vs the targets (champions chosen on the validation period) ==="]
    for h, s in summary["horizons"].items():
        c = s["models"][s["champion"]]
        gap = TARGET_SKILL - c["skill"]
        status = "met" if gap <= 0 else f"short by {gap:.1%} points"
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
