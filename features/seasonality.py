"""Week-of-year terms, and the country's rainy season (Mali's, July to September, slows movement and fighting).

The rainy-season months are the country's (``rainy_season_months`` of its ``[country]`` table,
:mod:`features.country`); a country without one gets no ``rainy_season`` column."""

from __future__ import annotations

import numpy as np

from features.country import DEFAULT_RAINY_SEASON
from features.panel import Panel
from features.spec import FeatureBlock, FeatureSpec

FAMILY = "seasonality"
#: Months of Mali's rainy season (July to September): the default ``rainy_season`` months, and the trough of
#: the simulator's seasonal cycle (``features.sources.simulator.seasonal_effect``).
RAINY_SEASON_MONTHS: tuple[int, ...] = DEFAULT_RAINY_SEASON

_WHEN = "calendar of week_start (known in advance)"
#: The specs of the seasonal terms (the same for every panel): the annual harmonics of the ISO week
#: (statistic "sin" / "cos" of the measure "week_of_year") and the rainy-season indicator of the month.
SEASON_SIN = FeatureSpec("season_sin", FAMILY, "sine of the week of year (annual cycle)", "unitless", None, _WHEN,
                         measure="week_of_year", statistic="sin")
SEASON_COS = FeatureSpec("season_cos", FAMILY, "cosine of the week of year (annual cycle)", "unitless", None, _WHEN,
                         measure="week_of_year", statistic="cos")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def rainy_season_spec(months: tuple[int, ...] = RAINY_SEASON_MONTHS) -> FeatureSpec:
    """The ``rainy_season`` indicator of ``months`` (1-12)."""
    named = ", ".join(_MONTHS[m - 1] for m in sorted(months))
    return FeatureSpec("rainy_season", FAMILY, f"1 if week_start is in the rainy season ({named})", "indicator", None,
                       _WHEN, measure="month", statistic="indicator")


RAINY_SEASON = rainy_season_spec()


def seasonality_features(panel: Panel, rainy_months: tuple[int, ...] = RAINY_SEASON_MONTHS) -> FeatureBlock:
    """``season_sin``/``season_cos`` (annual harmonic of the week's ISO week) and ``rainy_season`` (1 when
    week_start falls in one of ``rainy_months``; no column when there are none). Calendar facts, known in advance."""
    n_d = panel.shape[0]
    iso_week = panel.weeks.isocalendar().week.to_numpy(dtype=np.float64)
    angle = 2 * np.pi * iso_week / 52.18
    block = FeatureBlock()
    block.add(SEASON_SIN, np.broadcast_to(np.sin(angle), (n_d, len(angle))))
    block.add(SEASON_COS, np.broadcast_to(np.cos(angle), (n_d, len(angle))))
    if rainy_months:
        rainy = np.isin(panel.weeks.month, rainy_months).astype(np.float32)
        block.add(rainy_season_spec(tuple(rainy_months)), np.broadcast_to(rainy, (n_d, len(angle))))
    return block
