"""Backtest and publication figures. Each function returns a new :class:`matplotlib.figure.Figure`, drawn
without pyplot (no global state, Agg canvas), ready for ``fig.savefig(path)`` or ``mlflow.log_figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float, height: float) -> Figure:
    # imported by the first figure, not by every command
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def reliability_diagram(panels: Mapping[str, Mapping[str, pd.DataFrame]], title: str = "Reliability") -> Figure:
    """Small multiples, one column per panel (e.g. per slot): observed frequency against mean predicted
    probability, one line per model over the diagonal, and below it the rows in each bin (log scale).

    ``panels`` maps a panel title to {model: :func:`models.metrics.reliability_table`}. A model keeps its colour
    in every panel; one legend below the panels. Axes: [row 0: diagrams, row 1: counts] x panels.
    """
    n = max(len(panels), 1)
    models = list(dict.fromkeys(m for tables in panels.values() for m in tables))
    colours = {m: f"C{i % 10}" for i, m in enumerate(models)}
    styles = {m: "-" if i < 10 else "--" for i, m in enumerate(models)}
    fig = _figure(3.3 * n + 0.4, 5.6 + 0.22 * -(-len(models) // 4))
    axes = fig.subplots(2, n, sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 1]})
    for col, (panel, tables) in enumerate(panels.items()):
        top, bottom = axes[0, col], axes[1, col]
        top.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
        for name, table in tables.items():
            seen = table[table["count"] > 0]
            top.plot(seen["mean_predicted"], seen["observed_frequency"], marker="o", markersize=3, linewidth=1.2,
                     color=colours[name], linestyle=styles[name], label=name)
            mid = ((table["bin_lower"] + table["bin_upper"]) / 2).to_numpy()
            bottom.plot(mid, table["count"].to_numpy(), color=colours[name], linestyle=styles[name], linewidth=1)
        top.set(xlim=(0, 1), ylim=(0, 1), title=panel)
        bottom.set_yscale("symlog", linthresh=1)
        bottom.set_ylim(bottom=0)
        bottom.set_xlabel("predicted probability")
    axes[0, 0].set_ylabel("observed frequency")
    axes[1, 0].set_ylabel("rows per bin")
    lines: dict[str, object] = {}
    for ax in axes[0]:
        for line in ax.get_lines()[1:]:  # the first line is the diagonal
            lines.setdefault(line.get_label(), line)
    fig.legend(handles=list(lines.values()), loc="outside lower center", ncol=min(4, max(len(lines), 1)), fontsize="small")
    fig.suptitle(title)
    return fig


def pit_histogram(pit: Mapping[str, np.ndarray], bins: int = 10, title: str = "PIT histogram",
                  panels: Mapping[str, Sequence[str]] | None = None) -> Figure:
    """Histogram of randomised PIT values, as densities with the uniform density 1 drawn as a reference: a U
    shape means too narrow, a hump too wide, a slope a biased mean.

    One axes per model; or, with ``panels`` (panel title -> the models it holds, e.g. one panel per horizon),
    one axes per panel with each model's histogram drawn as a step line (small multiples a reader can compare)."""
    groups = panels or {name: [name] for name in pit}
    fig = _figure(3.6 * max(len(groups), 1), 3.4)
    axes = np.atleast_1d(fig.subplots(1, max(len(groups), 1), sharey=True, squeeze=False)[0])
    for ax, (panel, names) in zip(axes, groups.items()):
        for name in names:
            values = np.asarray(pit[name], dtype=np.float64)
            if panels is None:
                ax.hist(values[np.isfinite(values)], bins=bins, range=(0, 1), density=True, color="tab:blue", alpha=0.8)
            else:
                ax.hist(values[np.isfinite(values)], bins=bins, range=(0, 1), density=True, histtype="step",
                        linewidth=1.4, label=name)
        ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1)
        ax.set(title=panel, xlabel="PIT", xlim=(0, 1))
        if panels is not None:
            ax.legend(fontsize="x-small", loc="upper center")
    axes[0].set_ylabel("density")
    fig.suptitle(title)
    return fig


def predicted_vs_observed(predictions: pd.DataFrame, models: Sequence[str] | None = None,
                          title: str = "Violent events, national total per origin") -> Figure:
    """National sum over districts of observed and predicted-mean events per origin, one axes per horizon.

    ``predictions`` is :attr:`models.backtest.BacktestResult.predictions` (count rows are used); ``models``
    restricts the lines drawn (default: every count model). The observed line is drawn once per horizon.
    """
    rows = predictions[predictions["kind"] == "count"]
    if models is not None:
        rows = rows[rows["model"].isin(list(models))]
    horizons = sorted(rows["horizon"].unique())
    fig = _figure(9, 3 * max(len(horizons), 1))
    axes = np.atleast_1d(fig.subplots(max(len(horizons), 1), 1, sharex=True, squeeze=False)[:, 0])
    for ax, h in zip(axes, horizons):
        at_h = rows[rows["horizon"] == h]
        sums = at_h.groupby(["origin", "model"])[["y", "mean"]].sum().reset_index()
        observed = sums.groupby("origin")["y"].first()
        ax.plot(observed.index, observed.to_numpy(), color="black", linewidth=1.5, label="observed")
        wide = sums.pivot(index="origin", columns="model", values="mean")
        for name in wide.columns:
            ax.plot(wide.index, wide[name].to_numpy(), linewidth=1, label=name)
        ax.set(ylabel=f"events in {h} week(s)", title=f"h = {h}")
        ax.legend(loc="upper left", fontsize="small", ncol=2)
    axes[-1].set_xlabel("forecast origin")
    fig.suptitle(title)
    return fig


def feature_importance(importance: pd.Series, top: int = 20, title: str = "Feature importance") -> Figure:
    """Horizontal bars of the ``top`` largest absolute importances (largest at the top), signed values kept."""
    ranked = importance.reindex(importance.abs().sort_values(ascending=False).index)[:top][::-1]
    fig = _figure(7, 0.3 * len(ranked) + 1.2)
    ax = fig.subplots()
    colors = np.where(ranked.to_numpy() >= 0, "tab:red", "tab:blue")
    ax.barh([str(i) for i in ranked.index], ranked.to_numpy(), color=colors)
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set(xlabel=importance.name or "importance", title=title)
    return fig


# --------------------------------------------------------------------------------------------------
# The figures a run logs
# --------------------------------------------------------------------------------------------------


def _drawn_models(metrics: pd.DataFrame, baselines: Sequence[str]) -> set[tuple[str, int]]:
    """(model, horizon) pairs a reliability panel draws: every candidate, and of the ``baselines`` only the one
    with the best point score at that horizon (CRPS for counts, Brier for hazards)."""
    scored = metrics[((metrics["kind"] == "count") & (metrics["metric"] == "crps"))
                     | ((metrics["kind"] == "hazard") & (metrics["metric"] == "brier"))]
    keep = {(m, int(h)) for m, h in scored.loc[~scored["model"].isin(list(baselines)), ["model", "horizon"]].itertuples(index=False)}
    base = scored[scored["model"].isin(list(baselines)) & (scored["model"] != "zero")]
    best = base.sort_values("value").groupby(["kind", "horizon"]).head(1)
    return keep | {(m, int(h)) for m, h in best[["model", "horizon"]].itertuples(index=False)}


def backtest_figures(result, baselines: Sequence[str] = ()) -> dict[str, Figure]:
    """Reliability of P(event) per slot, PIT histograms and predicted against observed, of a backtest result
    (:class:`models.backtest.BacktestResult`); the always-zero baseline is left out of the first two, and the
    reliability panels draw of the ``baselines`` only the best at each slot (all models when none are given)."""
    rel = result.reliability()
    kinds = result.predictions.groupby(["model", "horizon"])["kind"].first()
    drawn = _drawn_models(result.metrics, baselines)
    slots: dict[tuple[bool, int], dict[str, pd.DataFrame]] = {}
    for (m, h), g in rel.groupby(["model", "horizon"]):
        if m != "zero" and (m, int(h)) in drawn:
            slots.setdefault((kinds[(m, h)] == "hazard", int(h)), {})[m] = g
    slots = {(f"P(major attack) in {h} weeks" if hazard else f"P(any event) in {h} week(s)"): slots[(hazard, h)]
             for hazard, h in sorted(slots)}
    counts = result.predictions[result.predictions["kind"] == "count"]
    pits = {f"{m} h{h}": g["pit"].to_numpy() for (m, h), g in counts.groupby(["model", "horizon"]) if m != "zero"}
    panels: dict[str, list[str]] = {}
    for (m, h) in counts.groupby(["model", "horizon"]).groups:
        if m != "zero":
            panels.setdefault(f"{h}-week counts", []).append(f"{m} h{h}")
    return {"reliability": reliability_diagram(slots, "Reliability by slot in the backtest"),
            "pit_histogram": pit_histogram(pits, panels=panels),
            "predicted_vs_observed": predicted_vs_observed(result.predictions)}


def importance_figures(importance: Mapping, names: Mapping) -> dict[str, Figure]:
    """One bar chart per slot whose model is explainable ({slot: (recipe, importance Series)} in)."""
    return {f"feature_importance_{slot.kind}_h{slot.horizon}": feature_importance(values, title=f"{names[slot]}: {recipe}")
            for slot, (recipe, values) in importance.items()}


def event_study_figure(table: pd.DataFrame,
                       title: str = "Violent events around a force's withdrawal (IRR by relative week)") -> Figure:
    """Pooled IRR by relative-week bin of :func:`models.event_study.event_study` (its ``.table``), one panel per
    scope: [own district, neighbouring districts].

    x = bin midpoint in weeks ((rel_start + rel_end) / 2; week 0 is the first week without the force), y = IRR
    on a log scale with its 95% CI as error bars, a dashed line at 1 (no change) and a vertical line at 0 (the
    withdrawal). Bins without an estimate are left out.
    """
    columns = ["group", "scope", "rel_start", "rel_end", "irr", "ci_low", "ci_high"]
    table = table if len(table) else pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    from matplotlib import ticker

    pooled = table[table["group"] == "pooled"]
    fig = _figure(8, 3.4)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (scope, name) in zip(axes, (("district", "Own district"), ("neighbours", "Neighbouring districts"))):
        rows = pooled[(pooled["scope"] == scope) & np.isfinite(pooled["irr"]) & np.isfinite(pooled["ci_low"])
                      & np.isfinite(pooled["ci_high"]) & (pooled["ci_low"] > 0)]
        mid = (rows["rel_start"].to_numpy() + rows["rel_end"].to_numpy()) / 2.0
        irr = rows["irr"].to_numpy()
        ax.axhline(1.0, color="0.4", linestyle="--", linewidth=1)
        ax.axvline(0.0, color="0.4", linewidth=0.8)
        ax.errorbar(mid, irr, yerr=[irr - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - irr], fmt="o",
                    color="tab:red", ecolor="tab:red", capsize=2, markersize=4)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.FuncFormatter(
            lambda v, _: f"{v:g}" if round(v / 10 ** np.floor(np.log10(v)), 6) in (2, 5) else ""))
        ax.set(title=name, xlabel="weeks relative to the withdrawal")
    axes[0].set_ylabel("IRR (95% CI)")
    fig.suptitle(title)
    return fig
