"""The champion rule: a newly trained model becomes champion only if, on the same backtest origins, it beats
both the current champion and the best baseline by the margins in config. Pure; tracking logs the decision."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class PromotionRule:
    """Scores are "lower is better" (CRPS by default), compared per horizon on identical origins."""

    metric: str = "crps"
    horizons: tuple[int, ...] = (1, 4)
    min_gain_vs_champion: float = 0.0   # relative: 0.01 = the challenger must be 1% better than the champion
    min_skill_vs_baseline: float = 0.0  # relative: 0.0 = merely better than the best baseline


@dataclass
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def decide(challenger: dict[int, float], champion: dict[int, float] | None, best_baseline: dict[int, float],
           rule: PromotionRule = PromotionRule()) -> Decision:
    """Compare per-horizon scores; every horizon of the rule must pass. No champion yet: the baseline test alone."""
    decision = Decision(promote=True)
    for h in rule.horizons:
        if h not in challenger or h not in best_baseline:
            decision.promote = False
            decision.reasons.append(f"h={h}: no {rule.metric} for the challenger or the baselines")
            continue
        c, b = challenger[h], best_baseline[h]
        skill = 1.0 - c / b if b > 0 else 0.0
        decision.numbers |= {f"h{h}_challenger_{rule.metric}": c, f"h{h}_best_baseline_{rule.metric}": b, f"h{h}_skill_vs_baseline": skill}
        if skill <= rule.min_skill_vs_baseline:
            decision.promote = False
            decision.reasons.append(f"h={h}: skill vs best baseline {skill:+.3f} is not above {rule.min_skill_vs_baseline:+.3f}")
        else:
            decision.reasons.append(f"h={h}: beats the best baseline ({c:.4f} < {b:.4f}, skill {skill:+.3f})")
        if champion is not None and h in champion:
            gain = 1.0 - c / champion[h] if champion[h] > 0 else 0.0
            decision.numbers |= {f"h{h}_champion_{rule.metric}": champion[h], f"h{h}_gain_vs_champion": gain}
            if gain <= rule.min_gain_vs_champion:
                decision.promote = False
                decision.reasons.append(f"h={h}: gain vs champion {gain:+.3f} is not above {rule.min_gain_vs_champion:+.3f}")
            else:
                decision.reasons.append(f"h={h}: beats the champion ({c:.4f} < {champion[h]:.4f})")
    if champion is None:
        decision.reasons.append("no current champion")
    return decision
