"""Recent-attack features: lags, windowed sums, decayed sums and time since the last event, per district.

Each value for week t is computed from the weeks before t (see :mod:`features.windows`).
"""

from __future__ import annotations

from collections.abc import Sequence

from features.panel import Panel
from features.spec import FeatureBlock, FeatureSpec
from features.windows import decayed_sum, lag, past_sum, weeks_since

FAMILY = "recent_attacks"
WEEKS_SINCE_CAP = 104


def recent_attack_features(
    panel: Panel,
    measures: Sequence[str],
    *,
    lags: Sequence[int] = (1, 2),
    windows: Sequence[int] = (4, 13, 52),
    half_lives: Sequence[float] = (4,),
    weeks_since_measures: Sequence[str] = ("violent_events", "major_attacks"),
) -> FeatureBlock:
    """Own-district history of each measure.

    Names: ``{measure}_lag{k}`` (the week k weeks before week_start), ``{measure}_sum_w{w}`` (the w weeks
    before week_start), ``{measure}_ewm_hl{h}`` (decayed sum, half-life h weeks) and
    ``weeks_since_{measure}`` (1 = in the week just before week_start; capped at 104).
    """
    block = FeatureBlock()
    for m in measures:
        x = panel.measures[m]
        desc, unit = panel.descriptions[m]
        for k in lags:
            block.add(FeatureSpec(f"{m}_lag{k}", FAMILY, f"{desc} in the week {k} week(s) before week_start", unit, k), lag(x, k))
        for w in windows:
            block.add(FeatureSpec(f"{m}_sum_w{w}", FAMILY, f"{desc} in the {w} weeks before week_start", unit, w), past_sum(x, w))
        for h in half_lives:
            block.add(
                FeatureSpec(f"{m}_ewm_hl{h:g}", FAMILY, f"{desc}, exponentially decayed sum of past weeks (half-life {h:g} weeks)", unit),
                decayed_sum(x, h),
            )
    for m in weeks_since_measures:
        desc, _ = panel.descriptions[m]
        block.add(
            FeatureSpec(f"weeks_since_{m}", FAMILY, f"weeks since the last week with {desc} (capped at {WEEKS_SINCE_CAP})", "weeks"),
            weeks_since(panel.measures[m], WEEKS_SINCE_CAP),
        )
    return block
