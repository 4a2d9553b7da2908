"""The model suite: which baselines and candidate models Vigie backtests and may promote, as data.

Each entry is a :class:`models.backtest.ModelSpec` built by name, so a config (or a CLI flag) can list the
candidates it wants and a registered model records the spec name it was built from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from models.backtest import ModelSpec
from models.baselines import Conflictology, HazardBaseRate, LastWeek, RollingMean, Zero
from models.count import (
    BoostedCount,
    LightGBMCount,
    NegativeBinomialGLM,
    SelfExcitingNB,
    ZeroInflatedNegativeBinomialGLM,
)
from models.hazard import DiscreteTimeHazard, LightGBMHazard, SelfExcitingHazard

#: Settings chosen on the validation origins 2016-01-04 .. 2017-12-25 of the real Mali data (weekly origins,
#: refit every 13, training rows from 2012-01-02; see bench/skill_mali.py), never on 2018 or later:
#: the NB2 dispersion of the self-exciting models (0.3 beat 0.15, 0.5, the likelihood's ~1.5 and a CRPS
#: choice on the training rows), nb_glm's ridge (0.01; the former 1.0 shrank every coefficient to nothing),
#: the boosted model's size (50 rounds on own / neighbour / kernel / national history, time since, season).
SELF_EXCITING_ALPHA = 0.3
BOOST_FEATURE_PREFIXES = ("violent_events_", "fatalities_", "nbr_", "kernel_", "national_", "weeks_since", "season_")

BASELINES = ("zero", "last_week", "mean_4", "mean_13", "mean_52", "conflictology")
HAZARD_BASELINES = ("base_rate",)

_COUNT: dict[str, Callable[[int], object]] = {
    "zero": lambda h: Zero(h),
    "last_week": lambda h: LastWeek(h),
    "mean_4": lambda h: RollingMean(h, 4, name="mean_4"),
    "mean_13": lambda h: RollingMean(h, 13, name="mean_13"),
    "mean_52": lambda h: RollingMean(h, 52, name="mean_52"),
    "conflictology": lambda h: Conflictology(h),
    "nb_glm": lambda h: NegativeBinomialGLM(h, name="nb_glm", l2=0.01),
    "zinb_glm": lambda h: ZeroInflatedNegativeBinomialGLM(h, name="zinb_glm"),
    "lgbm_poisson": lambda h: LightGBMCount(h, objective="poisson", n_estimators=200, n_jobs=1, name="lgbm_poisson"),
    "lgbm_tweedie": lambda h: LightGBMCount(h, objective="tweedie", n_estimators=200, n_jobs=1, name="lgbm_tweedie"),
    "hawkes_nb": lambda h: SelfExcitingNB(h, dispersion=SELF_EXCITING_ALPHA, name="hawkes_nb"),
    "lgbm_boost": lambda h: BoostedCount(h, SelfExcitingNB(h, dispersion=SELF_EXCITING_ALPHA),
                                         feature_prefixes=BOOST_FEATURE_PREFIXES, n_estimators=50,
                                         dispersion=SELF_EXCITING_ALPHA, n_jobs=1, name="lgbm_boost"),
}
#: name -> (factory(horizon), fit on weekly rows?)
_HAZARD: dict[str, tuple[Callable[[int], object], bool]] = {
    "base_rate": (lambda h: HazardBaseRate(h, per_district=True, name="base_rate"), False),
    "hazard_cloglog": (lambda h: DiscreteTimeHazard(h, link="cloglog", name="hazard_cloglog"), True),
    "lgbm_hazard": (lambda h: LightGBMHazard(h, n_estimators=200, n_jobs=1, name="lgbm_hazard"), False),
    "hawkes_hazard": (lambda h: SelfExcitingHazard(h, name="hawkes_hazard"), False),
}

#: The self-exciting NB won the validation backtest at both horizons; the boosted one is its challenger.
DEFAULT_COUNT_CANDIDATES = ("hawkes_nb", "lgbm_boost")
DEFAULT_HAZARD_CANDIDATES = ("hawkes_hazard", "hazard_cloglog")


def count_spec(name: str, horizon: int) -> ModelSpec:
    if name not in _COUNT:
        raise KeyError(f"unknown count model {name!r}; known: {sorted(_COUNT)}")
    return ModelSpec(name, "count", horizon, lambda: _COUNT[name](horizon))


def hazard_spec(name: str, horizon: int) -> ModelSpec:
    if name not in _HAZARD:
        raise KeyError(f"unknown hazard model {name!r}; known: {sorted(_HAZARD)}")
    factory, weekly = _HAZARD[name]
    return ModelSpec(name, "hazard", horizon, lambda: factory(horizon), fit_horizon=1 if weekly else None)


def suite(horizons: Sequence[int], count_candidates: Sequence[str] = DEFAULT_COUNT_CANDIDATES,
          hazard_candidates: Sequence[str] = DEFAULT_HAZARD_CANDIDATES, hazard_horizon: int = 4,
          baselines: Sequence[str] = BASELINES) -> list[ModelSpec]:
    """Baselines and candidates for every count horizon, and the hazard models of ``hazard_horizon``."""
    specs = [count_spec(n, h) for h in horizons for n in (*baselines, *count_candidates)]
    specs += [hazard_spec(n, hazard_horizon) for n in (*HAZARD_BASELINES, *hazard_candidates)]
    return specs


def build(spec_name: str, kind: str, horizon: int):
    """A fresh, unfitted model of a suite entry (for the final fit on all rows)."""
    return (count_spec if kind == "count" else hazard_spec)(spec_name, horizon).factory()
