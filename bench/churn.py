"""Champion churn over a year of weekly runs: the old selection rule against the stable-champion rule.

    .venv/bin/python bench/churn.py --source acled|ucdp [--selection-weeks 26] [--retrain-every 4] [--refit-every 4]

One walk-forward backtest (weekly origins from ``selection_weeks`` weeks before the year's first run to its
end, refit every ``--refit-every`` origins, training rows from PANEL_START) of the count baselines and
candidates at h = 1 and 4 and of the hazard baselines and candidates at h = 4. The weekly runs of the year
(ACLED: forecast weeks 2019-07-01 .. 2020-06-29; UCDP: 2022-01-03 .. 2022-12-26) are then simulated: every
``--retrain-every`` weeks a retraining at forecast week t scores each model on the backtest's origins o with
t - selection_weeks weeks <= o and o + h weeks <= t (outcomes known at t), and models.selection.decide_slot
decides each slot twice, under the old rule (point scores only) and the stable rule (``origin_scores``: a new
recipe only when the lower end of the 90% bootstrap interval of its gain on the champion's recipe is above 0).
A promotion makes the challenger's recipe champion. The week's published forecast of a district is the
backtest prediction (count: ``mean``, hazard: ``p_event``) of the current champion's recipe at that origin.

Figures per slot and rule: the champions, the number of recipe changes, (a) the mean absolute week-to-week
change of the published value (all weeks; at change weeks; at the other weeks), (b) at the change weeks the
mean absolute difference between the new and the old recipe's forecasts of that same week (the jump due to
the model change alone), (c) that difference averaged over every week of the year (its usual size), and the
mean CRPS (count) / Brier (hazard) of the published forecasts over the year: the cost of stability.

Caveat: the simulation reads one walk-forward (refit every --refit-every origins) instead of running a
separate selection backtest at each retraining (the weekly flow refits every training.selection_refit_every
origins there), and a published forecast is the walk-forward fit of its block, not a model fitted at the
retraining on all rows. Forecasts whose targets are not yet observed are not in the backtest: for UCDP the
h = 4 forecasts of the year's last 3 weeks are missing and left out of the figures.
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

from bench.skill_common import EVENT_FILES, PANEL_START, build_table
from models.backtest import BacktestConfig, run_backtest
from models.selection import ChampionInfo, decide_slot, slot_origin_scores
from models.slots import Slot
from models.suite import (
    BASELINES,
    DEFAULT_COUNT_CANDIDATES,
    DEFAULT_HAZARD_CANDIDATES,
    HAZARD_BASELINES,
    count_spec,
    hazard_spec,
)

WEEK = pd.Timedelta(days=7)
#: source: first and last forecast week of the simulated year (its event file and data end: EVENT_FILES)
YEARS = {"acled": ("2019-07-01", "2020-06-29"), "ucdp": ("2022-01-03", "2022-12-26")}
SOURCES = {source: (*EVENT_FILES[source], year) for source, year in YEARS.items()}
OUT = ROOT / "bench" / "out"
SLOTS = (Slot("count", 1), Slot("count", 4), Slot("hazard", 4))
RULES = ("old", "stable")


def pools(slot: Slot) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(candidates, baselines) of ``slot``."""
    if slot.kind == "count":
        return DEFAULT_COUNT_CANDIDATES, BASELINES
    return DEFAULT_HAZARD_CANDIDATES, HAZARD_BASELINES


def backtest(source: str, selection_weeks: int, refit_every: int):
    """The one walk-forward of every slot's models, and the year's forecast weeks."""
    path, forecast_week, (first, last) = SOURCES[source]
    year = pd.date_range(first, last, freq="7D")
    table = build_table(path, forecast_week)
    specs = [count_spec(n, h, table.specs) for h in (1, 4) for n in (*BASELINES, *DEFAULT_COUNT_CANDIDATES)]
    specs += [hazard_spec(n, 4, table.specs) for n in (*HAZARD_BASELINES, *DEFAULT_HAZARD_CANDIDATES)]
    # ``end`` is the last target week: the year's last h = 4 origin needs 3 more weeks, the data end caps it
    end = min(year[-1] + 3 * WEEK, forecast_week - WEEK)
    config = BacktestConfig(start=year[0] - selection_weeks * WEEK, end=end, origin_every=1,
                            refit_every=refit_every, train_start=PANEL_START)
    return run_backtest(table, specs, config), year


def simulate(per_origin: pd.DataFrame, slot: Slot, run_weeks: pd.DatetimeIndex, selection_weeks: int,
             stable: bool) -> list[dict]:
    """The slot's decision at each retraining week under the old or the stable rule."""
    candidates, baselines = pools(slot)
    mine = per_origin[(per_origin["horizon"] == slot.horizon) & per_origin["model"].isin([*candidates, *baselines])]
    champion, runs = None, []
    for t in run_weeks:
        window = mine[(mine["origin"] >= t - selection_weeks * WEEK) & (mine["origin"] + slot.horizon * WEEK <= t)]
        means = window.groupby("model")[slot.metric].mean()
        scores = means[np.isfinite(means)].to_dict()
        origin_scores = slot_origin_scores(window, slot, list(scores)) if stable else None
        info = None if champion is None else ChampionInfo("sim", champion, t - WEEK)
        d = decide_slot(scores, slot, candidates=candidates, baselines=baselines, champion=info,
                        champion_usable=champion is not None, origin_scores=origin_scores)
        champion = d.challenger if d.promote else champion
        runs.append({"week": str(t.date()), "champion": champion, "challenger": d.challenger, "promote": d.promote,
                     "n_origins": int(window["origin"].nunique()), "numbers": d.numbers})
    return runs


def cube(predictions: pd.DataFrame, slot: Slot, models: list[str], weeks: pd.DatetimeIndex, column: str) -> np.ndarray:
    """(week, district, model) array of ``column`` of the slot's predictions; NaN where a forecast is missing."""
    rows = predictions[(predictions["kind"] == slot.kind) & (predictions["horizon"] == slot.horizon)]
    wide = rows.pivot(index="origin", columns=["model", "district_code"], values=column).reindex(weeks)
    districts = sorted(rows["district_code"].unique())
    return np.stack([wide[m].reindex(columns=districts).to_numpy(np.float64) for m in models], axis=-1)


def jumps(values: np.ndarray, scores: np.ndarray, champ: np.ndarray) -> dict:
    """The figures of one champion sequence ``champ`` (model index per week); see the module doc."""
    weeks = np.arange(len(champ))
    published = values[weeks, :, champ]  # (week, district)
    step = np.abs(np.diff(published, axis=0))  # step[w - 1]: week w against week w - 1
    change = np.flatnonzero(champ[1:] != champ[:-1]) + 1
    out = {"n_changes": int(change.size), "change_weeks": change.tolist(),
           "mean_abs_weekly_change": float(np.nanmean(step)),
           "mean_abs_weekly_change_at_changes": float(np.nanmean(step[change - 1])) if change.size else None,
           "mean_abs_weekly_change_other_weeks": float(np.nanmean(np.delete(step, change - 1, axis=0))),
           "mean_abs_new_minus_old_at_change": None, "mean_abs_new_minus_old_all_weeks": None,
           "published_score": float(np.nanmean(scores[weeks, :, champ])),
           "published_rows": int(np.isfinite(scores[weeks, :, champ]).sum())}
    if change.size:
        new, old = values[change, :, champ[change]], values[change, :, champ[change - 1]]
        out["mean_abs_new_minus_old_at_change"] = float(np.nanmean(np.abs(new - old)))
        gap = np.abs(values[:, :, champ[change]] - values[:, :, champ[change - 1]])  # (week, district, change)
        out["mean_abs_new_minus_old_all_weeks"] = float(np.nanmean(gap))
    return out


def churn(result, year: pd.DatetimeIndex, selection_weeks: int, retrain_every: int) -> dict:
    """Per slot: each rule's runs and figures, and every model's score over the year (for scale)."""
    run_weeks = year[::retrain_every]
    pred = result.predictions.assign(score=lambda p: np.where(p["kind"] == "count", p["crps"],
                                                              (p["p_event"] - p["event"]) ** 2))
    out = {}
    for slot in SLOTS:
        models = sorted(m for m in set(sum(pools(slot), ())) if m in set(pred["model"]))
        values = cube(pred, slot, models, year, "mean" if slot.kind == "count" else "p_event")
        scores = cube(pred, slot, models, year, "score")
        entry = {"metric": slot.metric, "year_scores": dict(zip(models, np.nanmean(scores, axis=(0, 1)).tolist()))}
        for rule in RULES:
            runs = simulate(result.per_origin, slot, run_weeks, selection_weeks, rule == "stable")
            by_week = pd.Series([r["champion"] for r in runs], index=run_weeks).reindex(year, method="ffill")
            champ = np.array([models.index(m) for m in by_week])
            entry[rule] = {"runs": runs, **jumps(values, scores, champ)}
            entry[rule]["change_weeks"] = [str(year[i].date()) for i in entry[rule]["change_weeks"]]
        out[slot.label] = entry
    return out


def render(figures: dict) -> str:
    """The printed table: one line per slot and rule, then the year's best models of the slot."""
    def fmt(v: float | None, w: int = 9) -> str:
        return f"{v:>{w}.4f}" if v is not None else f"{'-':>{w}}"

    lines = [(f"{'slot':<10}{'rule':<8}{'changes':>8}{'|dw| all':>10}{'at chg':>9}{'other':>9}{'new-old':>9}"
              f"{'(all wk)':>9}{'score':>9}   champions (run week: recipe, at changes)")]
    for label, entry in figures.items():
        for rule in RULES:
            f = entry[rule]
            seq, last = [], None
            for r in f["runs"]:
                if r["champion"] != last:
                    seq.append(f"{r['week']}: {r['champion']}")
                last = r["champion"]
            lines.append(f"{label:<10}{rule:<8}{f['n_changes']:>8}{fmt(f['mean_abs_weekly_change'], 10)}"
                         f"{fmt(f['mean_abs_weekly_change_at_changes'])}{fmt(f['mean_abs_weekly_change_other_weeks'])}"
                         f"{fmt(f['mean_abs_new_minus_old_at_change'])}{fmt(f['mean_abs_new_minus_old_all_weeks'])}"
                         f"{fmt(f['published_score'])}   " + "; ".join(seq))
        best = sorted(entry["year_scores"].items(), key=lambda kv: kv[1])[:4]
        lines.append(f"{'':<18}year {entry['metric']} of each model (best 4): "
                     + ", ".join(f"{m} {v:.4f}" for m, v in best))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=sorted(SOURCES), required=True)
    parser.add_argument("--selection-weeks", type=int, default=26)
    parser.add_argument("--retrain-every", type=int, default=4)
    parser.add_argument("--refit-every", type=int, default=4)
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "bench/churn.py", *(sys.argv[1:] if argv is None else argv)])
    t0 = time.perf_counter()
    result, year = backtest(args.source, args.selection_weeks, args.refit_every)
    figures = churn(result, year, args.selection_weeks, args.retrain_every)
    print(f"{args.source}: weekly runs {year[0].date()} .. {year[-1].date()}, retraining every {args.retrain_every} "
          f"weeks ({len(year[::args.retrain_every])} retrainings), selection on {args.selection_weeks} weeks, "
          f"walk-forward refit every {args.refit_every}; {time.perf_counter() - t0:.0f} s")
    print("|dw|: mean |published(w) - published(w-1)| over districts and weeks (all / at change weeks / other);"
          " new-old: mean |new - old recipe| at the change weeks (all wk: over the year); score: CRPS or Brier")
    print(render(figures))
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"churn_{args.source}.json"
    out.write_text(json.dumps({"command": command, "year": [str(year[0].date()), str(year[-1].date())],
                               "selection_weeks": args.selection_weeks, "retrain_every": args.retrain_every,
                               "refit_every": args.refit_every, "slots": figures}, indent=1, default=str))
    print(f"\nnumbers written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
