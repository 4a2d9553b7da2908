"""Skill of Vigie's count and hazard models on the UCDP GED Mali events shipped with Vigie, walk-forward, against
the baselines and the reference's peers: the UCDP counterpart of bench/skill_mali.py.

    .venv/bin/python bench/skill_ucdp.py [--ucdp PATH] [--periods validation,test] [--refit-every 4]
                                         [--reference PATH] [--no-reference-rerun] [--quick]
                                         [--tracking-uri URI] [--no-tracking]

Data: features/data/events/MLI/ucdp_ged_mali_1990-2022.csv (UCDP GED, CC BY 4.0; the same file as
../shared/data/ucdp/mli_ucdp_ged_1990-2022.csv), read in place by features/sources/ucdp.py. The table is built
as the weekly flow builds it for source "ucdp" (flows.tasks.build_features): events placed by
features.gazetteer.Gazetteer.assign (the OCHA polygon holding the point; where_prec 5 by its adm_2 name; events
located only to a region or the country left out), history from 2011-01-03, Registries.load("MLI"), the
settings' feature config, forecast week 2023-01-02 (the Monday after the newest event's week: the file holds
events with date_start before 2023-01-01, the newest dated 2022-12-26); models train on rows from panel_start =
2012-01-02. Every UCDP event is a violent event (its three
type_of_violence values map onto Battles / Violence against civilians).

Periods, weekly origins, a forecast at origin t using only rows whose target window closed before t, every model
refitted every ``--refit-every`` origins (default 4, the weekly flow's cadence) on all rows from 2012-01-02:

* validation = the reference's period V: origins 2016-01-04 .. 2018-12-31 (the last target week; h = 4 to
  2018-12-10). The champion of each horizon is chosen here, by skill_mali's rule (lowest CRPS; a candidate
  within 0.5% of it listed earlier in ``--candidates`` wins the near tie). The model settings of models/suite.py
  were chosen on ACLED validation origins 2016-2017, never on UCDP;
* test: origins 2019-01-07 .. 2022-12-26 (h = 4 to 2022-12-05, the last origin whose 4-week window closes by
  2023-01-01, the end of the last observed week), reported once; and its sub-period T = the reference's period
  T, origins 2021-01-04 .. 2022-12-26 (h = 4 to 2022-12-05), reported separately (the same forecasts, fewer
  origins).

Printed per period and horizon, as skill_mali prints them: CRPS of every model (candidates and every baseline of
models/baselines.py), the best baseline, skill against it with a bootstrap 90% interval over origins, 90% / 50%
central-interval coverage and randomised-PIT coverage on active districts, average precision, the Brier skill of
P(any event within 4 weeks) against the base rates, the major-attack hazards' Brier, and where the champion fails
(worst districts, skill by year).

Against the peers (periods V and T: the reference's table "UCDP GED Mali", protocol "ucdp-mali-weekly-v1", in
``--reference``): the reference placed each event by its ``adm_2`` name (" cercle" removed, accents and case
stripped, Anderamboukane / Inekar / Tidermene -> Menaka; empty adm_2 left out), counted every type_of_violence
in the Monday week of date_start, from a panel starting 2012-01-02, and scored the Poisson CRPS around each
forecast mean. The candidates are backtested again on a table whose events are placed that way, on V's and T's
origins, and scored that way; our baselines on the same rows are printed next to the reference's values (max
|difference|; the reference's last week of T also held 2 events dated 2023-01-01 that the file does not). The
skills against the best peer row and the best row overall of each column have no interval (the reference gives
one number per method). ``--no-reference-rerun`` skips the second backtests (the comparison then uses the
Poisson CRPS on Vigie's rows, and says so).

Outputs: the printed tables, bench/out/skill_ucdp.json (every number), bench/out/skill_ucdp.md (a ready-to-paste
README subsection "#### UCDP GED (shipped data)") and one MLflow run in the experiment "vigie-bench-skill-ucdp"
(params, CRPS and skills as metrics, the json and md as artifacts) in the settings' tracking store
(``--tracking-uri`` to choose another; ``--no-tracking`` to skip it).

``--quick`` keeps the first 12 origins of V and of T (the test period then starts at T), with 200 bootstrap
draws: a check that the script and its reports run; its numbers are not comparable with anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.reference import DEFAULT_PATH as REFERENCE  # noqa: E402
from bench.reference import UCDP_PROTOCOL, ReferenceError, best_value, read_reference  # noqa: E402
from bench.skill_common import (  # noqa: E402
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
    build_table,
    candidate_skills,
    choose_champions,
    count_specs,
    period_summary,
    render,
    render_candidate_skills,
    restrict,
    specs,
    target_status,
)
from features.gazetteer import Gazetteer  # noqa: E402
from features.ingest import dataset_digest  # noqa: E402
from features.sources.detect import read_events  # noqa: E402
from flows.settings import Settings  # noqa: E402
from models import suite  # noqa: E402
from models.backtest import BacktestConfig, BacktestResult, run_backtest  # noqa: E402
from publish import tracking  # noqa: E402
from publish.secrets import redact_url  # noqa: E402

UCDP = ROOT / "features" / "data" / "events" / "MLI" / "ucdp_ged_mali_1990-2022.csv"
OUT = ROOT / "bench" / "out" / "skill_ucdp.json"
#: The Monday after the newest event's week (the newest event, 2022-12-26, opens the last week), as the weekly
#: flow sets it; the week of 2022-12-26 .. 2023-01-01 is the last one observed.
FORECAST_WEEK = pd.Timestamp("2023-01-02")
#: (first origin, last target week); h = 4's last origin is 3 weeks before the last target week.
PERIODS = {"validation": ("2016-01-04", "2018-12-31"), "test": ("2019-01-07", "2022-12-26")}
#: The reference's periods: V is the validation period, T a sub-period of the test period.
SUB_PERIOD = ("T", "2021-01-04", "2022-12-26")
REFERENCE_PERIODS = {"V": PERIODS["validation"], "T": SUB_PERIOD[1:]}
#: Our baselines -> their rows in the reference's UCDP table (same definitions: the reproduction check).
REFERENCE_BASELINES = {"zero": "zero", "last_week": "last_week", "mean_4": "roll4", "mean_13": "roll13",
                       "mean_52": "roll52", "conflictology": "conflictology", "tsb": "TSB",
                       "croston_sba": "CrostonSBA", "adida": "ADIDA", "imapa": "IMAPA"}
#: Our array versions of statsforecast's intermittent-demand methods (their reproduction is reported apart).
PEERS = ("tsb", "croston_sba", "adida", "imapa")
EXPERIMENT = "vigie-bench-skill-ucdp"
#: Our baselines "reproduce" a reference column when no CRPS differs by more than this (4-decimal rounding, and
#: the 2 events of 2023-01-01 in the reference's last week of T).
REPRODUCTION_TOLERANCE = 0.0005
REFERENCE_PROTOCOL_LABEL = (f'the reference\'s protocol "{UCDP_PROTOCOL}": events placed by adm_2 name (empty adm_2 '
                            "left out), Poisson CRPS around the forecast mean")
MD_HEADING = "#### UCDP GED (shipped data)"


# ---------------------------------------------------------------------------------------------- data


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def placement_facts(path: Path) -> dict:
    """How the events of ``path`` are placed under Vigie's rules and under the reference's (by adm_2 name)."""
    events = read_events(path)
    gazetteer = Gazetteer.load("MLI")
    point = gazetteer.assign(events)
    name = gazetteer.assign(events.assign(latitude=np.nan, longitude=np.nan).drop(columns="geo_precision"))
    since = (pd.to_datetime(events["event_date"]) >= PANEL_START).to_numpy()
    unplaced = point["district_code"].isna().to_numpy()
    precision = pd.to_numeric(events["geo_precision"]).astype("Float64")
    both = point["district_code"].notna() & name["district_code"].notna()
    return {
        "events": int(len(events)), "events_from_panel_start": int(since.sum()),
        "first_event": str(pd.to_datetime(events["event_date"]).min().date()),
        "last_event": str(pd.to_datetime(events["event_date"]).max().date()),
        "dataset_digest": dataset_digest(events), "file_sha256": file_sha256(path),
        "vigie": {k: int(v) for k, v in point["assignment"].value_counts().items()},
        "vigie_unplaced_from_panel_start": int((unplaced & since).sum()),
        "vigie_unplaced_by_where_prec": {("none" if pd.isna(k) else str(int(k))): int(v) for k, v in
                                         precision[unplaced].value_counts(dropna=False).sort_index().items()},
        "vigie_name_placed_where_prec5": int(((point["assignment"] == "name") & (precision == 5)).sum()),
        "reference_empty_adm2": int(events["admin2"].isna().sum()),
        "reference_empty_adm2_from_panel_start": int((events["admin2"].isna().to_numpy() & since).sum()),
        "reference_placed": int(name["district_code"].notna().sum()),
        "placed_both_different_district": int((both & (point["district_code"] != name["district_code"])).sum()),
        "placed_by_vigie_only": int((point["district_code"].notna() & name["district_code"].isna()).sum()),
        "placed_by_reference_only": int((point["district_code"].isna() & name["district_code"].notna()).sum()),
    }


def windows(period: str, quick: bool) -> tuple[str, str]:
    """(first origin, last target week) of ``period``; --quick: the first QUICK_ORIGINS origins of V, and of T
    for the test period."""
    start, end = PERIODS[period]
    if quick:
        start = PERIODS["validation"][0] if period == "validation" else SUB_PERIOD[1]
        end = str((pd.Timestamp(start) + pd.Timedelta(weeks=QUICK_ORIGINS - 1)).date())
    return start, end


def event_share(result: BacktestResult, h: int = 1) -> float:
    """Share of district-weeks (h = 1 rows) with an event: the reference gives 3.9% (V) and 7.9% (T)."""
    p = result.predictions
    rows = p[(p["model"] == "zero") & (p["horizon"] == h)]
    return float(rows["event"].mean()) if len(rows) else float("nan")


# ---------------------------------------------------------------------------------------------- the reference


def reference_comparison(reference: pd.DataFrame, period: str, vigie: BacktestResult, rerun: BacktestResult | None,
                         candidates: tuple[str, ...], champion: dict[int, str], quick: bool = False) -> dict:
    """Skill of each candidate against the best peer row and the best row overall of column ``period`` ("V" or
    "T") of the reference's UCDP table, per horizon.

    ``vigie``: the backtest on Vigie's table restricted to the period's origins; ``rerun``: the same origins on
    the table whose events are placed by adm_2 name (None: not run). ``crps_reference_protocol`` is the Poisson
    CRPS of the candidate's mean on the rerun's rows (the fair figure); without a rerun the skills fall back to
    the Poisson CRPS on Vigie's rows (``rows`` says which). ``reproduction``: our baselines' own CRPS (Poisson
    for the rolling means, the empirical distribution for conflictology, as the reference scores them) on the
    same rows against the reference's values.
    """
    out: dict = {"protocol": UCDP_PROTOCOL, "period": period, "origins": list(REFERENCE_PERIODS[period]),
                 "rows": "reference" if rerun is not None else "vigie", "quick": quick, "horizons": {}}
    table = reference[(reference["protocol"] == UCDP_PROTOCOL) & (reference["period"] == period)
                      & (reference["metric"] == "crps")]
    for h in HORIZONS:
        best = {kind: best_value(reference, "crps", h, protocol=UCDP_PROTOCOL, kind=kind, period=period)
                for kind in ("peer", "baseline", None)}
        models = candidate_skills(vigie, rerun, candidates, h, best["peer"]["value"], best[None]["value"])
        reproduction = {}
        if rerun is not None:
            rerun_own = rerun.metrics[(rerun.metrics["kind"] == "count") & (rerun.metrics["horizon"] == h)
                                      & (rerun.metrics["metric"] == "crps")].set_index("model")["value"]
            for ours, label in REFERENCE_BASELINES.items():
                hit = table[(table["label"] == label) & (table["horizon"] == h)]
                if ours in rerun_own.index and len(hit):
                    reproduction[ours] = {"ours": float(rerun_own[ours]), "reference": float(hit["value"].iloc[0]),
                                          "reference_label": label}
        preds = (rerun if rerun is not None else vigie).predictions
        count_rows = preds[(preds["horizon"] == h) & (preds["kind"] == "count")]
        out["horizons"][h] = {
            "best_peer": {"method": str(best["peer"]["label"]), "crps": float(best["peer"]["value"])},
            "best_row": {"method": str(best[None]["label"]), "crps": float(best[None]["value"])},
            "best_baseline_row": {"method": str(best["baseline"]["label"]), "crps": float(best["baseline"]["value"])},
            "champion": champion.get(h), "models": models, "reproduction": reproduction,
            "max_reproduction_gap": max((abs(r["ours"] - r["reference"]) for r in reproduction.values()), default=None),
            "n_origins": int(count_rows["origin"].nunique()),
            "first_origin": str(pd.Timestamp(count_rows["origin"].min()).date()),
            "last_origin": str(pd.Timestamp(count_rows["origin"].max()).date()),
        }
    if rerun is not None:
        out["event_share_h1"] = event_share(rerun)
    out["event_share_h1_vigie_rows"] = event_share(vigie)
    return out


def render_reference(comparison: dict, path: Path) -> str:
    """The comparison of :func:`reference_comparison` as text, each figure labelled with its protocol."""
    on_reference = comparison["rows"] == "reference"
    period = comparison["period"]
    lines = [f"\n=== period {period} (origins {' .. '.join(comparison['origins'])}): skill against the reference's "
             f"best rows ({path}, UCDP table) ===",
             f"reference figures: {REFERENCE_PROTOCOL_LABEL}",
             f"Vigie figures:     {VIGIE_PROTOCOL_LABEL} (UCDP: where_prec 5 by adm_2 name, 4/6/7 left out)"]
    share = comparison.get("event_share_h1")
    if share is not None:
        lines.append(f"district-weeks with an event on the reference's rows: {share:.1%} (Vigie's rows "
                     f"{comparison['event_share_h1_vigie_rows']:.1%})")
    if not on_reference:
        lines.append("NOTE: no rerun on the reference's rows (--no-reference-rerun): the skills below use the "
                     "Poisson CRPS on Vigie's rows (events placed by polygon), not the reference's rows")
    if comparison["quick"]:
        lines.append("NOTE: --quick run: a few origins only, not the reference's: not comparable")
    for h, c in comparison["horizons"].items():
        peer, row, base = c["best_peer"], c["best_row"], c["best_baseline_row"]
        lines.append(f"\n-- {period} h = {h} ({c['n_origins']} origins {c['first_origin']} .. {c['last_origin']}): best "
                     f"peer row {peer['method']} {peer['crps']:.4f}; best row overall {row['method']} {row['crps']:.4f}; "
                     f"best baseline row {base['method']} {base['crps']:.4f}")
        lines += render_candidate_skills(c, on_reference)
    lines.append("(skill = 1 - CRPS / reference CRPS; the reference prints one number per method, so no interval)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- verdict


def verdict(report: dict) -> str:
    lines = ["\n=== test periods vs the targets (champions chosen on the validation period V) ==="]
    for period in ("test", SUB_PERIOD[0]):
        summary = report["periods"].get(period)
        if summary is None:
            continue
        for h, s in summary["horizons"].items():
            c = s["models"][s["champion"]]
            status = target_status(c["skill"])
            lines.append(f"{period} h={h}: {s['champion']} CRPS {c['crps']:.4f} vs {s['best_baseline']} "
                         f"{s['best_baseline_crps']:.4f}: skill {c['skill']:+.1%} [{c['skill_lower']:+.1%}, "
                         f"{c['skill_upper']:+.1%}] (target >= {TARGET_SKILL:.0%}: {status}); 90% coverage on active "
                         f"districts {c['coverage90_active']:.1%} (target {TARGET_COVERAGE[0]:.0%}-"
                         f"{TARGET_COVERAGE[1]:.0%}), PIT90 {c['pit_coverage90_active']:.1%}")
        champ = summary["horizons"][BRIER_HORIZON]["champion"]
        b = summary["brier_any_event_4w"][champ]
        lines.append(f"{period}: P(any event within 4 weeks) by {champ}: BSS vs base rate {b['bss_vs_base_rate']:+.3f}, "
                     f"vs per-district rate {b['bss_vs_district_rate']:+.3f} (target >= {TARGET_BSS:.2f})")
    for period, comparison in report.get("reference", {}).items():
        rows = "the reference's rows" if comparison["rows"] == "reference" else "Vigie's rows"
        for h, ref in comparison["horizons"].items():
            r = ref["models"][ref["champion"]]
            lines.append(f"{period} h={h}: {ref['champion']} vs the best peer row {ref['best_peer']['method']} "
                         f"{ref['best_peer']['crps']:.4f}: skill {r['skill_vs_best_peer']:+.1%}; vs the best row "
                         f"{ref['best_row']['method']} {ref['best_row']['crps']:.4f}: {r['skill_vs_best_row']:+.1%} "
                         f"(Poisson CRPS of the mean on {rows})" + (" [--quick: not comparable]" if comparison["quick"] else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- markdown


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x * 100:+.{digits}f}%".replace("-", "−")


def _lose(x: float) -> str:
    return f"**{_pct(x)}** (we lose)" if x < 0 else _pct(x)


def _events(n: float) -> str:
    return f"{n:.0f} event{'' if round(n) == 1 else 's'}"


def markdown(report: dict) -> str:
    """The README subsection: peers first, then the baselines on Vigie's protocol, calibration, failures."""
    facts, periods, comparisons = report["data"], report["periods"], report.get("reference", {})
    lines = [MD_HEADING, ""]
    if report["quick"]:
        lines += ["> **--quick run**: a few origins per period only; these numbers are not comparable with anything.", ""]
    lines += [
        f"On the UCDP GED events shipped with Vigie (`features/data/events/MLI/ucdp_ged_mali_1990-2022.csv`, "
        f"{facts['events']:,} events, `date_start` {facts['first_event']} .. {facts['last_event']}, CC BY 4.0), the table built "
        "as the weekly flow builds it for `--source ucdp`, every model refitted every "
        f"{report['refit_every']} origins on all rows from 2012-01-02. The champion of each horizon was chosen on the "
        "reference's period V (weekly origins 2016-01-04 .. 2018-12-31) by the same rule as for ACLED; the model "
        "settings themselves were tuned on ACLED 2016–2017 only, never on UCDP. The test period "
        f"{PERIODS['test'][0]} .. {PERIODS['test'][1]} was then run once; its sub-period T (2021-01-04 .. "
        "2022-12-26) is where the reference has peer rows.",
        "",
    ]
    if comparisons:
        on_reference = all(c["rows"] == "reference" for c in comparisons.values())
        lines += [
            "**Against the best peer first**, on the reference's protocol "
            f"(`../shared/reference/skill-reference.md`, \"{UCDP_PROTOCOL}\": events placed by their `adm_2` name, "
            "empty `adm_2` left out, Poisson CRPS around each forecast mean, the same weekly origins"
            + ("" if on_reference else "; **here on Vigie's rows, not rerun**: `--no-reference-rerun`") + "):",
            "",
            "| period | horizon | origins | best peer row (CRPS) | best row overall (CRPS) | model | CRPS on the same "
            "rows | skill vs the best peer | skill vs the best row |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for period, c in comparisons.items():
            for h, ch in c["horizons"].items():
                order = sorted(ch["models"], key=lambda n: (n != ch["champion"], report["candidates"].index(n)))
                for i, name in enumerate(order):
                    r = ch["models"][name]
                    crps = r["crps_reference_protocol"] if r["crps_reference_protocol"] is not None else r[
                        "crps_poisson_vigie_rows"]
                    label = f"`{name}` (champion)" if name == ch["champion"] else f"`{name}`"
                    head = (f"| {period} | {h} week{'s' if h > 1 else ''} | {ch['n_origins']} | {ch['best_peer']['method']} "
                            f"({ch['best_peer']['crps']:.4f}) | {ch['best_row']['method']} ({ch['best_row']['crps']:.4f})"
                            if i == 0 else "| | | | | ")
                    lines.append(f"{head} | {label} | {crps:.4f} | {_lose(r['skill_vs_best_peer'])} | "
                                 f"{_lose(r['skill_vs_best_row'])} |")
        def gap(ch: dict, names) -> float | None:
            found = [abs(r["ours"] - r["reference"]) for k, r in ch["reproduction"].items() if k in names]
            return max(found) if found else None

        classic = [k for k in REFERENCE_BASELINES if k not in PEERS]
        gaps = {(p, h): gap(ch, classic) for p, c in comparisons.items() for h, ch in c["horizons"].items()
                if gap(ch, classic) is not None}
        if gaps:
            match = max(gaps.values()) <= REPRODUCTION_TOLERANCE
            lines += ["", f"Our {len(classic)} classic baselines on the same rows {'reproduce' if match else '**do not reproduce**'} the "
                      "reference's rows (largest |difference| per column: "
                      + ", ".join(f"{p} h={h} {g:.4f}" for (p, h), g in gaps.items())
                      + "; the reference's last week of T also counted 2 events dated 2023-01-01, which the file does "
                      "not hold). The reference gives one number per method, so these skills have no interval."]
        peer_rows = [f"{p} h={h}: " + ", ".join(f"{k} {r['ours']:.4f} ({r['reference']:.4f})"
                                               for k, r in ch["reproduction"].items() if k in PEERS)
                     for p, c in comparisons.items() for h, ch in c["horizons"].items()
                     if any(k in PEERS for k in ch["reproduction"])]
        if peer_rows:
            lines += ["", "Our array versions of the peers (models/baselines.py, checked against statsforecast 2.1.1 on "
                      "hand-made series; they read the last 156 weeks, the reference's the whole series from 2012) on "
                      "the same rows, reference value in brackets: " + "; ".join(peer_rows) + "."]
        lines.append("")
    lines += [
        "Against the baselines on Vigie's protocol (events placed by the OCHA polygon holding the point, CRPS of each "
        "model's own predictive distribution, 90% bootstrap interval over origins):",
        "",
        "| period | horizon | origins | champion | CRPS | best baseline (CRPS) | skill [90% CI] | target ≥ 10% |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = {"validation": "V 2016–2018 (selection)", "test": "test 2019–2022", "T": "T 2021–2022"}
    for period in ("test", "T", "validation"):
        s = periods.get(period)
        if s is None:
            continue
        for h, sh in s["horizons"].items():
            c = sh["models"][sh["champion"]]
            status = target_status(c["skill"], markdown=True)
            lines.append(f"| {names[period]} | {h} week{'s' if h > 1 else ''} | {sh['n_origins']} | `{sh['champion']}` | "
                         f"{c['crps']:.4f} | {sh['best_baseline']} ({sh['best_baseline_crps']:.4f}) | "
                         f"{_pct(c['skill'])} [{_pct(c['skill_lower'])}, {_pct(c['skill_upper'])}] | {status} |")
    lines.append("")
    others = []
    for period in ("test", "T"):
        s = periods.get(period)
        if s is None:
            continue
        for h, sh in s["horizons"].items():
            items = [f"`{n}` {_pct(sh['models'][n]['skill'])} [{_pct(sh['models'][n]['skill_lower'])}, "
                     f"{_pct(sh['models'][n]['skill_upper'])}]" for n in report["candidates"]]
            others.append(f"{names[period]} h={h}: " + ", ".join(items))
    lines += ["- Every candidate against the best baseline: " + "; ".join(others) + "."]
    test = periods.get("test")
    if test is not None:
        champ4 = test["horizons"][BRIER_HORIZON]["champion"]
        parts = []
        for period in ("test", "T"):
            s = periods.get(period)
            if s is not None:
                b = s["brier_any_event_4w"][champ4]
                parts.append(f"{names[period]}: Brier {b['brier']:.4f} (event rate {b['event_rate']:.1%}), skill "
                             f"{b['bss_vs_base_rate']:+.2f} against the overall base rate, {b['bss_vs_district_rate']:+.2f} "
                             "against each district's own rate")
        b = test["brier_any_event_4w"][champ4]
        met = "met" if b["bss_vs_base_rate"] >= TARGET_BSS else "**not met**"
        lines.append(f"- P(any event within 4 weeks) = P(N ≥ 1) of `{champ4}` at h=4: " + "; ".join(parts)
                     + f": target ≥ {TARGET_BSS:.2f} {met} (2019–2022, against the base rate).")
        cov = []
        for h, sh in test["horizons"].items():
            c = sh["models"][sh["champion"]]
            cov.append(f"{c['coverage90_active']:.1%} (h={h}, randomised-PIT coverage {c['pit_coverage90_active']:.1%})")
        inside = all(TARGET_COVERAGE[0] <= sh["models"][sh["champion"]]["coverage90_active"] <= TARGET_COVERAGE[1]
                     for sh in test["horizons"].values())
        lines.append(f"- 90% interval coverage on active districts, 2019–2022: {' and '.join(cov)}; target "
                     f"{TARGET_COVERAGE[0]:.0%}–{TARGET_COVERAGE[1]:.0%} {'met' if inside else '**not met**'} (a count "
                     "interval with whole-number ends covers more than its level; the PIT coverage removes that).")
        for h, sh in test["horizons"].items():
            f = sh["failures"]
            worst = ", ".join(f"{NAMES.get(d['district_code'], d['district_code'])} {_pct(d['skill'], 0)} "
                              f"({_events(d['events'])})" for d in f["worst_districts"])
            years = ", ".join(f"{d['year']} {_pct(d['skill'])}" for d in sorted(f["years"], key=lambda d: d["year"]))
            lines.append(f"- Where `{sh['champion']}` fails at h={h} (2019–2022, skill against {sh['best_baseline']}): "
                         f"worst districts {worst}; by year {years}.")
        hz = test["major_attack_hazard_brier_h4"]
        lines.append("- Major attack (≥ 5 deaths) within 4 weeks, Brier 2019–2022: "
                     + ", ".join(f"`{k}` {v:.4f}" for k, v in sorted(hz.items(), key=lambda kv: kv[1])) + ".")
    un = facts["vigie_unplaced_by_where_prec"]
    lines.append(
        f"- Placement: the reference left out the {facts['reference_empty_adm2']} events with an empty `adm_2` (its "
        "text says 191). Vigie places by the point (`where_prec` 1–3, whether or not `adm_2` is filled), places "
        f"`where_prec` 5 (a wider area) by its `adm_2` name ({facts['vigie_name_placed_where_prec5']} events) and leaves "
        f"out the {sum(un.values())} events located only to a region, a wider area without `adm_2` or the country "
        f"(by `where_prec`: {', '.join(f'{k}: {v}' for k, v in un.items())}); "
        f"{facts['placed_both_different_district']} events placed by both land in another cercle by point than by name.")
    lines += ["", f"Reproduce with `{report['command']}` (about {report['seconds'] / 60:.0f} minutes on 2 busy cores: "
              "the walk-forward of V and 2019–2022, then V's and T's origins again on events placed by `adm_2` name; "
              "`--no-reference-rerun` skips the second part, `--quick` checks that it runs). It writes "
              "`bench/out/skill_ucdp.json` and logs one MLflow run (experiment `vigie-bench-skill-ucdp`)."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- MLflow


def metric_name(*parts: object) -> str:
    """An MLflow metric name from its parts: ``crps/test/h1/hawkes_nb`` (other characters become ``_``)."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", "/".join(str(p) for p in parts))


def tracking_metrics(report: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for period, s in report["periods"].items():
        for h, sh in s["horizons"].items():
            out[metric_name("crps", period, f"h{h}", "best_baseline")] = sh["best_baseline_crps"]
            for name, m in sh["models"].items():
                for key in ("crps", "skill", "skill_lower", "skill_upper", "coverage90_active", "pit_coverage90_active",
                            "average_precision"):
                    out[metric_name(key, period, f"h{h}", name)] = m[key]
        for name, b in s["brier_any_event_4w"].items():
            out[metric_name("bss_vs_base_rate", period, name)] = b["bss_vs_base_rate"]
            out[metric_name("bss_vs_district_rate", period, name)] = b["bss_vs_district_rate"]
        for name, v in s["major_attack_hazard_brier_h4"].items():
            out[metric_name("hazard_brier", period, "h4", name)] = v
    for period, c in report.get("reference", {}).items():
        for h, ch in c["horizons"].items():
            out[metric_name("reference", period, f"h{h}", "best_peer_crps")] = ch["best_peer"]["crps"]
            out[metric_name("reference", period, f"h{h}", "best_row_crps")] = ch["best_row"]["crps"]
            if ch["max_reproduction_gap"] is not None:
                out[metric_name("reference", period, f"h{h}", "max_reproduction_gap")] = ch["max_reproduction_gap"]
            for name, m in ch["models"].items():
                fair = m["crps_reference_protocol"] if m["crps_reference_protocol"] is not None else m["crps_poisson_vigie_rows"]
                out[metric_name("crps_reference_protocol", period, f"h{h}", name)] = fair
                out[metric_name("skill_vs_best_peer", period, f"h{h}", name)] = m["skill_vs_best_peer"]
                out[metric_name("skill_vs_best_row", period, f"h{h}", name)] = m["skill_vs_best_row"]
            for name, r in ch["reproduction"].items():
                out[metric_name("crps_reference_protocol", period, f"h{h}", name)] = r["ours"]
    return out


def tracking_params(report: dict, args: argparse.Namespace) -> dict[str, object]:
    champions = report.get("champions", {})
    return {
        "protocol": f"vigie (polygon placement, own CRPS); peers: {UCDP_PROTOCOL}",
        "periods": json.dumps({p: s["origins"] for p, s in report["periods"].items()}),
        "reference_periods": json.dumps(REFERENCE_PERIODS),
        "refit_every": report["refit_every"], "candidates": ",".join(report["candidates"]),
        "hazard_models": ",".join(HAZARD_MODELS), "baselines": ",".join(suite.BASELINES),
        "champion_h1": champions.get(1), "champion_h4": champions.get(4),
        "data_file": str(args.ucdp), "data_sha256": report["data"]["file_sha256"],
        "dataset_digest": report["data"]["dataset_digest"], "reference_file": str(args.reference),
        "reference_sha256": file_sha256(args.reference) if Path(args.reference).is_file() else None,
        "reference_rerun": not args.no_reference_rerun, "n_boot": report["n_boot"], "quick": report["quick"],
        "forecast_week": str(FORECAST_WEEK.date()), "train_start": str(PANEL_START.date()),
    }


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ucdp", type=Path, default=UCDP, help="the UCDP GED file (default: the shipped one)")
    parser.add_argument("--periods", default="validation,test",
                        help="validation (= the reference's V) and/or test (2019-2022, with its sub-period T)")
    parser.add_argument("--refit-every", type=int, default=4)
    parser.add_argument("--candidates", default=",".join(COUNT_CANDIDATES))
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=OUT, help="the json; the md snippet goes beside it (.md)")
    parser.add_argument("--reference", type=Path, default=REFERENCE,
                        help="the reference tables (default ../shared/reference/skill-reference.md)")
    parser.add_argument("--no-reference-rerun", action="store_true",
                        help="compare with the peers on Vigie's rows, without the second backtests on events "
                             "placed by adm_2 name")
    parser.add_argument("--quick", action="store_true",
                        help=f"only the first {QUICK_ORIGINS} origins of V and of T, 200 bootstrap draws (checks that "
                             "the script runs; numbers not comparable)")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: the settings', sqlite:///<VIGIE_HOME>/mlflow.db)")
    parser.add_argument("--no-tracking", action="store_true", help="do not log the MLflow run")
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "bench/skill_ucdp.py", *(sys.argv[1:] if argv is None else argv)])
    candidates = tuple(c for c in args.candidates.split(",") if c)
    n_boot = min(args.boot, 200) if args.quick else args.boot
    try:
        reference = read_reference(args.reference)
    except ReferenceError as exc:
        reference = None
        print(f"no comparison with the peers: {exc}")
    t0 = time.perf_counter()
    facts = placement_facts(args.ucdp)
    table = build_table(args.ucdp, FORECAST_WEEK)
    print(f"{args.ucdp}: {facts['events']} events {facts['first_event']} .. {facts['last_event']}; Vigie places "
          f"{facts['vigie']}, the reference's rule {facts['reference_placed']} (empty adm_2: "
          f"{facts['reference_empty_adm2']})")
    print(f"table: {len(table.frame)} rows x {len(table.specs)} features, built in {time.perf_counter() - t0:.1f} s; "
          f"refit every {args.refit_every} origins, training rows from {PANEL_START.date()}")
    by_name = None
    champion = {h: suite.DEFAULT_COUNT_CANDIDATES[0] for h in HORIZONS}  # the validation choice, when not run
    report: dict = {"source": "ucdp", "data_file": str(args.ucdp), "data": facts, "refit_every": args.refit_every,
                    "candidates": list(candidates), "hazard_models": list(HAZARD_MODELS), "quick": args.quick,
                    "n_boot": n_boot, "command": command, "forecast_week": str(FORECAST_WEEK.date()),
                    "periods": {}, "reference": {}}

    def summarise(name: str, result: BacktestResult, start: str, end: str, seconds: float) -> None:
        summary = period_summary(table, result, champion, n_boot)
        pred = result.predictions
        summary |= {"seconds": seconds, "origins": [start, end], "last_origin": {
            h: str(pd.Timestamp(pred.loc[pred["horizon"] == h, "origin"].max()).date()) for h in HORIZONS}}
        report["periods"][name] = summary
        print(render(f"{name}: origins {start} .. last target week {end} ({seconds:.0f} s)", summary))

    for period in [p for p in args.periods.split(",") if p]:
        start, end = windows(period, args.quick)
        t1 = time.perf_counter()
        config = BacktestConfig(start=start, end=end, refit_every=args.refit_every, train_start=PANEL_START)
        result = run_backtest(table, specs(candidates, table.specs), config)
        if period == "validation":
            champion = choose_champions(result, candidates)
            report["champions"] = champion
        summarise(period, result, start, end, time.perf_counter() - t1)
        letter = "V" if period == "validation" else SUB_PERIOD[0]
        ref_start, ref_end = (start, end) if (period == "validation" or args.quick) else SUB_PERIOD[1:]
        vigie_rows = result
        if period == "test":
            vigie_rows = restrict(result, ref_start, ref_end)
            offset = (pd.Timestamp(ref_start) - pd.Timestamp(start)).days // 7
            report["t_refits_aligned_with_test"] = offset % args.refit_every == 0
            if vigie_rows.predictions.empty:
                print(f"no origin of {SUB_PERIOD[0]} in the test run ({start} .. {end})")
                continue
            summarise(SUB_PERIOD[0], vigie_rows, ref_start, ref_end, 0.0)
        if reference is None:
            continue
        t2 = time.perf_counter()
        rerun = None
        if not args.no_reference_rerun:  # the same origins on events placed by adm_2 name
            by_name = by_name if by_name is not None else build_table(args.ucdp, FORECAST_WEEK, assignment="name")
            rerun_config = BacktestConfig(start=ref_start, end=ref_end, refit_every=args.refit_every,
                                          train_start=PANEL_START)
            rerun = run_backtest(by_name, count_specs(candidates, by_name.specs), rerun_config)
        comparison = reference_comparison(reference, letter, vigie_rows, rerun, candidates, champion, args.quick)
        comparison["seconds"] = time.perf_counter() - t2
        report["reference"][letter] = comparison
        print(render_reference(comparison, args.reference))
    print(verdict(report))
    report["seconds"] = time.perf_counter() - t0
    md_path = args.out.with_suffix(".md")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    md_path.write_text(markdown(report))
    print(f"\nnumbers written to {args.out}; README subsection to {md_path} (total {report['seconds'] / 60:.1f} min)")
    if not args.no_tracking:
        settings = Settings()
        uri = args.tracking_uri or settings.tracking_uri
        run_id = tracking.log_bench_run(
            EXPERIMENT, f"skill-ucdp{'-quick' if args.quick else ''}", tracking_params(report, args),
            tracking_metrics(report), [args.out, md_path], uri, artifact_root=settings.artifact_root,
            tags={"source": "ucdp", "bench": "bench/skill_ucdp.py", "quick": str(args.quick).lower()})
        print(f"MLflow run {run_id} (experiment {EXPERIMENT}) in {redact_url(uri)}; browse it with "
              f"`.venv/bin/mlflow ui --backend-store-uri {redact_url(uri)}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
