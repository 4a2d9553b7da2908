"""The model slots a published week needs: one count model per horizon and one hazard model.

The horizons are part of the published schema (``horizon_weeks`` in 1, 4, 13 and the 4-week columns
``p_any_violence_4w`` / ``p_major_attack_4w``, with the database's CHECK constraint), so they are fixed here,
once, rather than settings: changing them changes the consumers' contract and needs a schema migration.
Backtests may still evaluate other horizons (``vigie backtest --horizons``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Count horizons (weeks) published every week.
HORIZONS: tuple[int, ...] = (1, 4, 13)
#: Horizon (weeks) of the published major-attack probability and of ``p_any_violence_4w``.
HAZARD_HORIZON: int = 4
KINDS = ("count", "hazard")


@dataclass(frozen=True)
class Slot:
    """One model the weekly scores need: ``kind`` "count" or "hazard" and its horizon in weeks."""

    kind: str
    horizon: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"slot kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def metric(self) -> str:
        """The selection metric (lower is better): CRPS of counts, Brier score of hazard probabilities."""
        return "crps" if self.kind == "count" else "brier"

    @property
    def label(self) -> str:
        return f"{self.kind}-h{self.horizon}"

    def __str__(self) -> str:
        return f"{self.kind} h={self.horizon}"


def model_slots(horizons: tuple[int, ...] = HORIZONS, hazard_horizon: int = HAZARD_HORIZON) -> tuple[Slot, ...]:
    """Every slot of a published week, count horizons first."""
    return (*(Slot("count", h) for h in horizons), Slot("hazard", hazard_horizon))


SLOTS: tuple[Slot, ...] = model_slots()
