"""Which models score a week: when to retrain, which recipe each slot's challenger is, and whether it is
promoted to champion. Pure: metrics and what the registry says of the champions in, decisions out.

Rules (documented in the README, *Models, backtests and the champion*):

* A champion may score the forecast week t only if it is **usable**: it exists, its training data ended
  on or before t (a model trained on t's future never scores t), it is younger than
  ``max_champion_age_weeks``, and the feature table still has every feature it reads.
* ``retrain="auto"`` retrains when any slot's champion is not usable or is ``retrain_every_weeks`` old;
  ``"always"`` retrains; ``"never"`` does not, and the run refuses (:class:`ChampionRefused`) when a champion
  is not usable.
* The challenger of a slot is the candidate with the best selection-backtest score (lower is better); it
  becomes champion when it beats the best baseline and the current champion's recipe by the margins of
  the :class:`models.promotion.PromotionRule`. When the slot has no usable champion and the challenger
  fails that test, the best model of the selection backtest, baselines included, is fitted and becomes
  champion, so that a week can be published with the best forecast there is (and the decision says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.panel import monday_on_or_before
from models.backtest import BacktestConfig
from models.metrics import bootstrap_skill
from models.promotion import PromotionRule, decide
from models.slots import Slot
from models.suite import BASELINES, HAZARD_BASELINES

WEEK = pd.Timedelta(days=7)
RETRAIN_MODES = ("auto", "always", "never")


class ChampionRefused(RuntimeError):
    """A champion may not score the forecast week and retraining was not allowed; nothing is published."""


@dataclass(frozen=True)
class ChampionInfo:
    """What the model registry records of a slot's champion."""

    version: str
    recipe: str | None
    data_cutoff: pd.Timestamp | None
    features: tuple[str, ...] = ()
    #: The event sources the model was trained on ("acled", "ucdp", "simulated"); () when not recorded.
    sources: tuple[str, ...] = ()

    @classmethod
    def from_tags(cls, version: str, tags: Mapping[str, str]) -> "ChampionInfo":
        """From a registered model version's tags (``spec``, ``data_cutoff``, ``features``, ``sources``)."""
        cutoff = tags.get("data_cutoff")
        features = tuple(f for f in tags.get("features", "").split(",") if f)
        sources = tuple(s for s in tags.get("sources", "").split(",") if s)
        return cls(str(version), tags.get("spec"), pd.Timestamp(cutoff) if cutoff else None, features, sources)


def champion_problem(info: ChampionInfo | None, slot: Slot, forecast_week: pd.Timestamp,
                     feature_names: Sequence[str], max_age_weeks: int, sources: Sequence[str] = ()) -> str | None:
    """Why the champion of ``slot`` may not score ``forecast_week`` from events of ``sources`` (None when it may).

    A model is only used on the features of the source it was trained on: UCDP counts far fewer events than
    ACLED for the same place and week, so a model of one source is miscalibrated on the other."""
    week = pd.Timestamp(forecast_week)
    if info is None:
        return f"no champion for {slot}"
    if sources and tuple(info.sources) != tuple(sources):
        trained = "/".join(info.sources) if info.sources else "events of an unrecorded source"
        return (f"champion {slot} v{info.version} was trained on {trained}; this run's events are "
                f"{'/'.join(sources)}: a model is never used on another source's features")
    if info.data_cutoff is None:
        return f"champion {slot} v{info.version} records no data cutoff"
    cutoff = info.data_cutoff.date()
    if info.data_cutoff > week:
        return (f"champion {slot} v{info.version} was trained on data up to {cutoff}, after the forecast week "
                f"{week.date()}: a forecast may only use models trained on data before its week")
    if week - info.data_cutoff >= max_age_weeks * WEEK:
        return (f"champion {slot} v{info.version} was trained on data up to {cutoff}, "
                f"{(week - info.data_cutoff).days // 7} weeks before the forecast week {week.date()}: "
                f"older than training.max_champion_age_weeks = {max_age_weeks}")
    missing = sorted(set(info.features) - set(feature_names))
    if missing:
        return f"champion {slot} v{info.version} needs features the table no longer has: {', '.join(missing[:5])}"
    return None


def check_retrain_mode(mode: str) -> str:
    """``mode`` when it is one of :data:`RETRAIN_MODES`, else ValueError."""
    if mode not in RETRAIN_MODES:
        raise ValueError(f"retrain must be one of {', '.join(RETRAIN_MODES)}, not {mode!r}")
    return mode


def retrain_reason(champions: Mapping[Slot, ChampionInfo | None], forecast_week: pd.Timestamp,
                   feature_names: Sequence[str], *, mode: str, retrain_every_weeks: int,
                   max_age_weeks: int, sources: Sequence[str] = ()) -> str | None:
    """Why the models are retrained this week, or None (``mode``: auto, always or never)."""
    if check_retrain_mode(mode) == "always":
        return "retraining was asked for"
    if mode == "never":
        return None
    week = pd.Timestamp(forecast_week)
    for slot, info in champions.items():
        problem = champion_problem(info, slot, week, feature_names, max_age_weeks, sources)
        if problem:
            return problem
        if week - info.data_cutoff >= retrain_every_weeks * WEEK:
            return (f"champion {slot} was trained on data up to {info.data_cutoff.date()}: "
                    f"due every {retrain_every_weeks} weeks")
    return None


def check_champions(champions: Mapping[Slot, ChampionInfo | None], forecast_week: pd.Timestamp,
                    feature_names: Sequence[str], max_age_weeks: int, sources: Sequence[str] = ()) -> None:
    """Raise :class:`ChampionRefused` naming every slot whose champion may not score ``forecast_week``."""
    problems = [p for slot, info in champions.items()
                if (p := champion_problem(info, slot, forecast_week, feature_names, max_age_weeks, sources))]
    if problems:
        raise ChampionRefused("; ".join(problems) + " (run with --retrain auto or always to train new champions)")


@dataclass
class SlotDecision:
    """The outcome of a slot's selection: the recipe to fit (the challenger) and whether it becomes champion."""

    slot: Slot
    challenger: str
    promote: bool
    reasons: list[str] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["slot"] = self.slot.label
        return out


def slot_scores(metrics: pd.DataFrame, slot: Slot) -> dict[str, float]:
    """Finite selection-backtest scores of ``slot``'s metric per model (long metrics table of the backtest)."""
    m = metrics[(metrics["kind"] == slot.kind) & (metrics["horizon"] == slot.horizon) & (metrics["metric"] == slot.metric)]
    values = m.set_index("model")["value"].astype(float)
    return values[np.isfinite(values)].to_dict()


def slot_origin_scores(per_origin: pd.DataFrame, slot: Slot, models: Sequence[str]) -> pd.DataFrame:
    """Per-origin mean of ``slot``'s metric (rows: origins, columns: those of ``models`` that were scored at
    the slot's horizon), from :attr:`models.backtest.BacktestResult.per_origin`."""
    rows = per_origin[(per_origin["horizon"] == slot.horizon) & per_origin["model"].isin(list(models))]
    return rows.pivot_table(index="origin", columns="model", values=slot.metric)


def decide_slot(scores: Mapping[str, float], slot: Slot, *, candidates: Sequence[str], baselines: Sequence[str],
                champion: ChampionInfo | None, champion_usable: bool, min_gain_vs_champion: float = 0.0,
                min_skill_vs_baseline: float = 0.0, origin_scores: pd.DataFrame | None = None,
                stability_level: float = 0.90, n_boot: int = 1000) -> SlotDecision:
    """Pick ``slot``'s challenger among ``candidates`` and decide its promotion (see the module doc); the margins
    are relative (0.01: 1% better than the champion's recipe / the best baseline on the same origins).

    Stable champions: with ``origin_scores`` (per-origin scores of the selection backtest,
    :func:`slot_origin_scores`), a recipe other than the usable champion's becomes the challenger only when
    the lower end of the ``stability_level`` bootstrap interval (over origins) of its gain on the champion's
    recipe is above ``min_gain_vs_champion``; otherwise the champion's recipe is retrained on the newer data
    (and still has to beat the best baseline)."""
    base = [b for b in baselines if b in scores]
    if not base:
        raise ValueError(f"{slot}: no baseline has a finite {slot.metric} in the selection backtest")
    pool = [c for c in candidates if c in scores] or base
    best = min(pool, key=scores.__getitem__)
    best_base = min(scores[b] for b in base)
    champ_recipe = champion.recipe if champion is not None and champion_usable else None
    reasons: list[str] = []
    numbers: dict[str, float] = {}
    if origin_scores is not None and champ_recipe in scores and champ_recipe != best:
        both = origin_scores[[best, champ_recipe]].dropna()
        gain, lower, _ = bootstrap_skill(both[best].to_numpy(), both[champ_recipe].to_numpy(), n_boot=n_boot,
                                         level=stability_level)
        numbers |= {f"h{slot.horizon}_gain_vs_champion_recipe": gain,
                    f"h{slot.horizon}_gain_vs_champion_recipe_lower": lower}
        if lower <= min_gain_vs_champion:
            reasons.append(f"{best!r} scores {gain:+.3f} against the champion's recipe {champ_recipe!r} but the lower "
                           f"end of its {stability_level:.0%} bootstrap interval over {len(both)} origins, "
                           f"{lower:+.3f}, is not above {min_gain_vs_champion:+.3f}: the champion's recipe is kept")
            best = champ_recipe
    champ_score = {slot.horizon: scores[champ_recipe]} if champ_recipe in scores and champ_recipe != best else None
    rule = PromotionRule(slot.metric, (slot.horizon,), min_gain_vs_champion, min_skill_vs_baseline)
    decision = decide({slot.horizon: scores[best]}, champ_score, {slot.horizon: best_base}, rule)
    reasons += decision.reasons
    if champ_recipe is not None and champ_recipe == best:
        reasons.append(f"the challenger retrains the champion's recipe {best!r} on newer data")
    promote = decision.promote
    if not champion_usable and not promote:
        overall = min([*pool, *base], key=scores.__getitem__)
        reasons.append(f"no usable champion: the best model of the selection backtest, {overall!r} "
                       f"({slot.metric} {scores[overall]:.4f}), becomes champion")
        best, promote = overall, True
    return SlotDecision(slot, best, promote, reasons, numbers | dict(decision.numbers), dict(scores))


def selection_config(forecast_week: pd.Timestamp, weeks: int, refit_every: int, train_start: pd.Timestamp) -> BacktestConfig:
    """The selection backtest of a weekly run: weekly origins over the ``weeks`` weeks before the forecast
    week (the last target week is the week before it), refit every ``refit_every`` origins."""
    week = pd.Timestamp(forecast_week)
    return BacktestConfig(start=week - weeks * WEEK, end=week - WEEK, origin_every=1, refit_every=refit_every,
                          train_start=pd.Timestamp(train_start))


def backtest_window(start, end_week: pd.Timestamp, default_weeks: int = 104) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first origin, forecast week) of a backtest whose last target week is ``end_week``: the first origin is
    the Monday on or before ``start`` (default ``default_weeks`` before ``end_week``); the feature table is
    built up to the week after ``end_week``, so every target week up to ``end_week`` is observed."""
    end_week = pd.Timestamp(end_week)
    first = end_week - default_weeks * WEEK if start is None else monday_on_or_before(start)
    return first, end_week + WEEK


def decide_slots(metrics: pd.DataFrame, champions: Mapping[Slot, ChampionInfo | None], forecast_week: pd.Timestamp,
                 feature_names: Sequence[str], *, candidates: Mapping[str, Sequence[str]], max_age_weeks: int,
                 min_gain_vs_champion: float = 0.0, min_skill_vs_baseline: float = 0.0,
                 sources: Sequence[str] = (), per_origin: pd.DataFrame | None = None,
                 stability_level: float = 0.90) -> dict[Slot, SlotDecision]:
    """:func:`decide_slot` for every slot of ``champions`` (``candidates`` by kind: "count", "hazard");
    ``per_origin`` (the selection backtest's per-origin scores) turns on the stable-champion rule."""
    decisions = {}
    for slot, info in champions.items():
        usable = champion_problem(info, slot, forecast_week, feature_names, max_age_weeks, sources) is None
        scores = slot_scores(metrics, slot)
        origin_scores = None if per_origin is None else slot_origin_scores(per_origin, slot, list(scores))
        decisions[slot] = decide_slot(scores, slot, candidates=candidates[slot.kind],
                                      baselines=BASELINES if slot.kind == "count" else HAZARD_BASELINES,
                                      champion=info, champion_usable=usable, min_gain_vs_champion=min_gain_vs_champion,
                                      min_skill_vs_baseline=min_skill_vs_baseline, origin_scores=origin_scores,
                                      stability_level=stability_level)
    return decisions
