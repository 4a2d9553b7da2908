"""Shared pieces of the skill benches on real Mali data (bench/skill_mali.py for ACLED, bench/skill_ucdp.py for
the shipped UCDP GED file): the feature table as the weekly flow builds it, the model lists, the champion
rule, the per-period summary (CRPS, skill against the best baseline with a bootstrap interval over origins,
coverage, PIT, average precision, the Brier skill of P(any violent event within 4 weeks), where the champion
fails), the Poisson CRPS of the reference's protocol and the printed period table.

Nothing here reads a file by itself or chooses a period: the benches pass the data file, the forecast week
and the origins.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.gazetteer import Gazetteer  # noqa: E402
from features.sources.detect import read_events  # noqa: E402
from features.table import FeatureTable, Registries, build_feature_table  # noqa: E402
from flows.settings import Settings  # noqa: E402
from models import suite  # noqa: E402
from models.backtest import BacktestResult  # noqa: E402
from models.distributions import NegativeBinomial  # noqa: E402
from models.metrics import average_precision, brier, metrics_by, per_origin_scores  # noqa: E402

#: Training rows from the settings' panel start (the history before it only fills feature windows).
PANEL_START = pd.Timestamp("2012-01-02")
#: source: (its Mali event file, the forecast week after its data ends)
EVENT_FILES = {
    "acled": (ROOT.parent / "shared" / "data" / "acled" / "mli_acled_1997-01-01_2020-07-31.csv", pd.Timestamp("2020-08-03")),
    "ucdp": (ROOT / "features" / "data" / "events" / "MLI" / "ucdp_ged_mali_1990-2022.csv", pd.Timestamp("2023-01-02")),
}
HORIZONS = (1, 4)
BRIER_HORIZON = 4
#: The count candidates the suite ships (the first is the validation choice of bench/research.py), then the
#: older ones for comparison.
COUNT_CANDIDATES = (*suite.DEFAULT_COUNT_CANDIDATES, "nb_glm", "lgbm_poisson")
HAZARD_MODELS = (*suite.HAZARD_BASELINES, *suite.DEFAULT_HAZARD_CANDIDATES)
#: The issue's targets.
TARGET_SKILL, TARGET_BSS, TARGET_COVERAGE = 0.10, 0.10, (0.85, 0.95)
NAMES: dict[str, str] = {}  # district code -> name, filled by build_table
QUICK_ORIGINS = 12  #: origins per period with --quick (h = 4: 3 fewer)
VIGIE_PROTOCOL_LABEL = "Vigie's protocol: events placed by the OCHA polygon, CRPS of the model's own distribution"


def build_table(path: Path, forecast_week: pd.Timestamp, assignment: str = "point") -> FeatureTable:
    """The feature table as flows.tasks.build_features builds it for the default settings, from the event file
    ``path`` (an ACLED export or a UCDP GED file, read by features.sources.detect.read_events), up to
    ``forecast_week`` (the week after the newest event's week, as the weekly flow sets it).

    ``assignment`` "point": events placed as the pipeline places them (features.gazetteer.Gazetteer.assign:
    the OCHA polygon holding the point; UCDP events located only to a region, a wider area or the country by
    its rules); "name": by their admin2 name through the gazetteer's aliases (UCDP's " cercle" suffix
    dropped), coordinates and precision codes ignored for the placement only, as the reference did (events
    without an admin2 name are then left out).
    """
    if assignment not in ("point", "name"):
        raise ValueError(f"assignment must be 'point' or 'name', got {assignment!r}")
    settings = Settings()
    events = read_events(path)
    gazetteer = Gazetteer.load("MLI")
    NAMES.update(gazetteer.districts.set_index("district_code")["district_name"].astype(str).to_dict())
    located = (events.assign(latitude=np.nan, longitude=np.nan).drop(columns="geo_precision", errors="ignore")
               if assignment == "name" else events)
    events = events.assign(district_code=gazetteer.assign(located)["district_code"])
    return build_feature_table(events, gazetteer, start=settings.history_start(), forecast_week=forecast_week,
                               config=settings.feature_config(), registries=Registries.load("MLI"))


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



def poisson_crps(predictions: pd.DataFrame, horizon: int) -> dict[str, float]:
    """Mean CRPS of a Poisson distribution around each count model's forecast mean at ``horizon``: the
    reference's scoring rule (for a Poisson baseline it equals the model's own CRPS)."""
    rows = predictions[(predictions["kind"] == "count") & (predictions["horizon"] == horizon)]
    crps = NegativeBinomial(rows["mean"].to_numpy(np.float64), 0.0).crps(rows["y"].to_numpy(np.float64))
    by_model = pd.Series(crps, index=rows.index).groupby(rows["model"].astype(str)).mean()
    return {name: float(v) for name, v in by_model.items()}



def restrict(result: BacktestResult, start: str | pd.Timestamp, end: str | pd.Timestamp) -> BacktestResult:
    """The part of ``result`` whose origins lie in [start, end], its metrics and per-origin scores recomputed
    as run_backtest computes them (a sub-period of a backtest: the same fits, fewer origins)."""
    pred = result.predictions
    pred = pred[(pred["origin"] >= pd.Timestamp(start)) & (pred["origin"] <= pd.Timestamp(end))].reset_index(drop=True)
    fits = result.fits
    if len(fits):
        fits = fits[(fits["origin"] >= pd.Timestamp(start)) & (fits["origin"] <= pd.Timestamp(end))]
    return BacktestResult(pred, metrics_by(pred, ["model", "kind", "horizon"]), per_origin_scores(pred), fits)


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


# ---------------------------------------------------------------------------------------------- the reference


def candidate_skills(vigie: BacktestResult, rerun: BacktestResult | None, candidates: tuple[str, ...], h: int,
                     best_peer: float, best_row: float) -> dict[str, dict]:
    """Per candidate at horizon ``h``: its CRPS under the reference's protocol (the Poisson CRPS of its mean on
    the ``rerun``'s rows, events placed by admin2 name; None without a rerun), the Poisson CRPS on Vigie's rows,
    its own CRPS on Vigie's rows, and its skill against the reference's best peer row (CRPS ``best_peer``) and
    best row overall (``best_row``): on the reference's rows when there was a rerun, else on Vigie's rows.
    ``skill_vs_best_peer_vigie_protocol`` compares its own CRPS with the peer's value: two protocols."""
    m = vigie.metrics
    own = m[(m["kind"] == "count") & (m["horizon"] == h) & (m["metric"] == "crps")].set_index("model")["value"]
    on_vigie_rows = poisson_crps(vigie.predictions, h)
    on_reference_rows = poisson_crps(rerun.predictions, h) if rerun is not None else {}
    models = {}
    for name in candidates:
        fair = on_reference_rows.get(name, on_vigie_rows[name])
        models[name] = {
            "crps_reference_protocol": on_reference_rows.get(name),
            "crps_poisson_vigie_rows": on_vigie_rows[name], "crps_vigie_protocol": float(own[name]),
            "skill_vs_best_peer": 1.0 - fair / best_peer, "skill_vs_best_row": 1.0 - fair / best_row,
            "skill_vs_best_peer_vigie_protocol": 1.0 - float(own[name]) / best_peer,
        }
    return models


def render_candidate_skills(c: dict, on_reference: bool) -> list[str]:
    """The lines of one horizon's comparison ``c`` (as the benches' reference_comparison builds it): our
    baselines against their reference values, then each candidate's skill against the best rows."""
    lines = []
    if c["reproduction"]:
        rep_ = ", ".join(f"{k} {r['ours']:.4f} ({r['reference']:.4f})" for k, r in c["reproduction"].items())
        lines.append(f"   our baselines on the same rows (reference value): {rep_}; max |diff| "
                     f"{c['max_reproduction_gap']:.4f}")
    fair = "CRPS ref.rows" if on_reference else "CRPS Vig.rows"
    lines.append(f"   {'model':<15}{fair:>14}{'vs peer':>9}{'vs best':>9}   |{'Poisson, Vigie rows':>21}"
                 f"{'own CRPS, Vigie':>17}{'own vs peer (protocols differ)':>32}")
    for name, r in sorted(c["models"].items(), key=lambda kv: kv[1]["skill_vs_best_peer"], reverse=True):
        mark = " *" if name == c["champion"] else ""
        crps = r["crps_reference_protocol"] if on_reference else r["crps_poisson_vigie_rows"]
        lines.append(f"   {name + mark:<15}{crps:>14.4f}{r['skill_vs_best_peer']:>+9.1%}{r['skill_vs_best_row']:>+9.1%}"
                     f"   |{r['crps_poisson_vigie_rows']:>21.4f}{r['crps_vigie_protocol']:>17.4f}"
                     f"{r['skill_vs_best_peer_vigie_protocol']:>+32.1%}")
    return lines


def target_status(skill: float, markdown: bool = False) -> str:
    """Whether a skill meets TARGET_SKILL, and by how much it falls short."""
    gap = TARGET_SKILL - skill
    if gap <= 0:
        return "met"
    return f"**not met** (short by {gap * 100:.1f} points)" if markdown else f"short by {gap:.1%} points"
