"""Week-of-year terms. Mali's rainy season (July to September) slows movement and fighting."""

from __future__ import annotations

import numpy as np

from features.panel import Panel
from features.spec import FeatureBlock, FeatureSpec

FAMILY = "seasonality"


def seasonality_features(panel: Panel) -> FeatureBlock:
    """``season_sin``/``season_cos`` (annual harmonic of the week's ISO week) and ``rainy_season``
    (1 when week_start falls in July, August or September). Calendar facts, known in advance."""
    n_d = panel.shape[0]
    iso_week = panel.weeks.isocalendar().week.to_numpy(dtype=np.float64)
    angle = 2 * np.pi * iso_week / 52.18
    rainy = np.isin(panel.weeks.month, (7, 8, 9)).astype(np.float32)
    block = FeatureBlock()
    when = "calendar of week_start (known in advance)"
    block.add(FeatureSpec("season_sin", FAMILY, "sine of the week of year (annual cycle)", "unitless", None, when),
              np.broadcast_to(np.sin(angle), (n_d, len(angle))))
    block.add(FeatureSpec("season_cos", FAMILY, "cosine of the week of year (annual cycle)", "unitless", None, when),
              np.broadcast_to(np.cos(angle), (n_d, len(angle))))
    block.add(FeatureSpec("rainy_season", FAMILY, "1 if week_start is in July-September (rainy season)", "indicator", None, when),
              np.broadcast_to(rainy, (n_d, len(angle))))
    return block
