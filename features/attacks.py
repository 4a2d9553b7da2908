"""Recent-attack features: windowed sums, decayed sums, lags, time since the last event and trends of the
panel's measures, in the district, its neighbours, a distance kernel or the whole country.

What is built is data: a recipe, a tuple of :class:`WindowSet` rows (``FeatureConfig.recipe``), each naming
measures (:mod:`features.measures`), a spatial scope (:mod:`features.spatial`) and the time transforms
to apply. Every value for week t uses only the weeks before t (see :mod:`features.windows`).

Generated names (``<p>`` is the scope prefix: "" own, "nbr_", "kernel_", "national_"):

* ``<p><measure>_sum_w<w>``: total of the w weeks before week_start (events dated in
  [week_start - w weeks, week_start));
* ``<p><measure>_ewm_hl<h>``: exponentially decayed sum of the weeks before week_start, the week k weeks
  before weighted 0.5 ** ((k - 1) / h);
* ``<p><measure>_lag<k>``: the single week k weeks before week_start;
* ``weeks_since_<p><measure>``: weeks since the last week before week_start with a non-zero value
  (1 = the week just before), capped (the cap also means "none since the panel start");
* ``<p><measure>_trend_w<s>_w<l>``: log((sum_w<s> / s + c) / (sum_w<l> / l + c)), the recent weekly rate
  against the longer one, c = ``trend_offset`` per week (0 when both windows are empty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from features.panel import Panel
from features.spatial import SCOPES, Scope
from features.spec import FeatureBlock, FeatureSpec
from features.windows import decayed_sum, lag, log_ratio_trend, past_sums, weeks_since

FAMILY = "recent_attacks"
WEEKS_SINCE_CAP = 104
TREND_OFFSET = 0.1


@dataclass(frozen=True)
class WindowSet:
    """One row of the feature recipe: which measures get which time transforms, seen from which scope.

    ``family`` labels the generated features in the catalog; ``scope`` is one of
    :data:`features.spatial.SCOPES`; ``windows`` (weeks), ``half_lives`` (weeks), ``lags`` (weeks),
    ``weeks_since`` and ``trends`` ((short, long) window pairs) say what to build for every measure.
    """

    family: str
    measures: tuple[str, ...]
    scope: str = "own"
    windows: tuple[int, ...] = ()
    half_lives: tuple[float, ...] = ()
    lags: tuple[int, ...] = ()
    weeks_since: bool = False
    trends: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"WindowSet {self.family!r}: scope must be one of {SCOPES}, got {self.scope!r}")
        if any(w < 1 for w in self.windows) or any(k < 1 for k in self.lags) or any(h <= 0 for h in self.half_lives):
            raise ValueError(f"WindowSet {self.family!r}: windows and lags must be >= 1 and half-lives > 0")
        if any(not (1 <= s < l) for s, l in self.trends):
            raise ValueError(f"WindowSet {self.family!r}: trends need 1 <= short < long, got {self.trends}")

    def feature_count(self) -> int:
        per_measure = (len(self.windows) + len(self.half_lives) + len(self.lags) + int(self.weeks_since)
                       + len(self.trends))
        return per_measure * len(self.measures)


def _spec(name: str, family: str, description: str, unit: str, window: int | None, alignment: str) -> FeatureSpec:
    return FeatureSpec(name, family, description, unit, window, alignment)


def window_features(
    panel: Panel,
    recipe: Sequence[WindowSet],
    scopes: Mapping[str, Scope],
    *,
    weeks_since_cap: int = WEEKS_SINCE_CAP,
    trend_offset: float = TREND_OFFSET,
) -> FeatureBlock:
    """The features of ``recipe`` (names and alignment in the module docstring) as ``panel``-shaped float32.

    ``scopes`` maps each scope name used by the recipe to a :class:`features.spatial.Scope`. Each
    (scope, measure) array is computed once; windows share one cumulative sum per array. National
    features are broadcast views over the districts.
    """
    n_d, n_w = panel.shape
    block = FeatureBlock()

    def add(spec: FeatureSpec, value: np.ndarray) -> None:
        block.add(spec, np.broadcast_to(value, (n_d, n_w)) if value.shape[0] != n_d else value)

    scoped_cache: dict[tuple[str, str], np.ndarray] = {}
    for row in recipe:
        if row.scope not in scopes:
            raise ValueError(f"recipe row {row.family!r} needs scope {row.scope!r}, not given")
        scope = scopes[row.scope]
        for m in row.measures:
            if m not in panel.measures:
                raise ValueError(f"recipe row {row.family!r} needs measure {m!r}, not in the panel")
            key = (row.scope, m)
            if key not in scoped_cache:
                scoped_cache[key] = scope.apply(panel.measures[m])
            x = scoped_cache[key]
            desc, unit = panel.descriptions[m]
            what = f"{desc} {scope.phrase}"
            name = f"{scope.prefix}{m}"
            needed = sorted(set(row.windows) | {w for pair in row.trends for w in pair})
            sums = past_sums(x, needed) if needed else {}
            for w in row.windows:
                add(_spec(f"{name}_sum_w{w}", row.family, f"{what}, dated in the {w} weeks before week_start", unit, w,
                          f"events dated in [week_start - {w} weeks, week_start)"), sums[w])
            for h in row.half_lives:
                add(_spec(f"{name}_ewm_hl{h:g}", row.family,
                          f"{what}, exponentially decayed sum of the weeks before week_start (half-life {h:g} weeks; "
                          "the week just before has weight 1)", unit, None, "events dated before week_start"),
                    decayed_sum(x, h))
            for k in row.lags:
                add(_spec(f"{name}_lag{k}", row.family, f"{what}, in the single week {k} week(s) before week_start",
                          unit, k, f"events dated in [week_start - {k} weeks, week_start - {k - 1} weeks)"), lag(x, k))
            if row.weeks_since:
                add(_spec(f"weeks_since_{name}", row.family,
                          f"weeks since the last week with {what} (1 = the week just before week_start; "
                          f"capped at {weeks_since_cap}, also when none)", "weeks", None,
                          "events dated before week_start"), weeks_since(x, weeks_since_cap))
            for short, long in row.trends:
                add(_spec(f"{name}_trend_w{short}_w{long}", row.family,
                          f"trend of {what}: log((last {short} weeks / {short} + {trend_offset:g}) / "
                          f"(last {long} weeks / {long} + {trend_offset:g})), weekly rates", "log ratio", long,
                          f"events dated in [week_start - {long} weeks, week_start)"),
                    log_ratio_trend(sums[short], short, sums[long], long, trend_offset))
            del sums
    return block


def recent_attack_features(
    panel: Panel,
    measures: Sequence[str],
    *,
    lags: Sequence[int] = (),
    windows: Sequence[int] = (4, 13, 52),
    half_lives: Sequence[float] = (4,),
    weeks_since_measures: Sequence[str] = ("violent_events", "major_attacks"),
) -> FeatureBlock:
    """Own-district history of each measure (a one-family recipe, no spatial scope).

    Names: ``{measure}_sum_w{w}``, ``{measure}_ewm_hl{h}``, ``{measure}_lag{k}`` and
    ``weeks_since_{measure}`` (see the module docstring).
    """
    own = {"own": Scope("own", "", "in the district")}
    recipe = [WindowSet(FAMILY, tuple(measures), windows=tuple(windows), half_lives=tuple(half_lives),
                        lags=tuple(lags))]
    if weeks_since_measures:
        recipe.append(WindowSet(FAMILY, tuple(weeks_since_measures), weeks_since=True))
    return window_features(panel, recipe, own)
