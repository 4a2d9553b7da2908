"""Week-of-year terms. Mali's rainy season (July to September) slows movement and fighting."""

from __future__ import annotations

import numpy as np

from features.panel import Panel
from features.spec import FeatureBlock, FeatureSpec

FAMILY = "seasonality"
#: Months of Mali's rainy season (July to September): the ``rainy_season`` feature, and the trough of the
#: simulator's seasonal cycle (``features.sources.simulator.seasonal_effect``).
RAINY_SEASON_MONTHS: tuple[int, ...] = (7, 8, 9)

_WHEN = "calendar of week_start (known in advance)"
#: The specs of the seasonal terms (the same for every panel): the annual harmonics of the ISO week
#: (statistic "sin" / "cos" of the measure "week_of_year") and the rainy-season indicator of the month.
SEASON_SIN = FeatureSpec("season_sin", FAMILY, "sine of the week of year (annual cycle)", "unitless", None, _WHEN,
                         measure="week_of_year", statistic="sin")
SEASON_COS = FeatureSpec("season_cos", FAMILY, "cosine of the week of year (annual cycle)", "unitless", None, _WHEN,
                         measure="week_of_year", statistic="cos")
RAINY_SEASON = FeatureSpec("rainy_season", FAMILY, "1 if week_start is in July-September (rainy season)", "indicator",
                           None, _WHEN, measure="month", statistic="indicator")


def seasonality_features(panel: Panel) -> FeatureBlock:
    """``season_sin``/``season_cos`` (annual harmonic of the week's ISO week) and ``rainy_season``
    (1 when week_start falls in July, August or September). Calendar facts, known in advance."""
    n_d = panel.shape[0]
    iso_week = panel.weeks.isocalendar().week.to_numpy(dtype=np.float64)
    angle = 2 * np.pi * iso_week / 52.18
    rainy = np.isin(panel.weeks.month, RAINY_SEASON_MONTHS).astype(np.float32)
    block = FeatureBlock()
    block.add(SEASON_SIN, np.broadcast_to(np.sin(angle), (n_d, len(angle))))
    block.add(SEASON_COS, np.broadcast_to(np.cos(angle), (n_d, len(angle))))
    block.add(RAINY_SEASON, np.broadcast_to(rainy, (n_d, len(angle))))
    return block
