"""Cox proportional-hazards model of major attacks, for interpretation (hazard ratios), not for scoring.

The district-week panel is read in counting-process form: each row (district d, week t) is one week at
risk, (entry, exit] = (a, a + 1], with ``status`` = 1 if a major attack happens that week. On the default
"gap" time scale, a is the number of weeks since the end of the district's last week with a major attack
(its first spell starts at ``weeks_since_major_attacks`` - 1 when that column is there, else at 0), so the
baseline hazard is a function of time since the last attack and national, time-varying covariates (a
coup, an upcoming election) remain identifiable. The "calendar" time scale (a = weeks since the first
week) compares districts within the same week instead; covariates equal for every district in a week are
then absorbed by the baseline. Covariates are time-varying (the row's values); the partial likelihood is
fitted by statsmodels PHReg (Efron ties); standard errors are robust to clustering by district
(:func:`cluster_robust_cov`, Breslow-form score residuals).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from models.design import feature_matrix

#: Covariates used when the caller gives none (those absent from the data are skipped with a note):
#: foreign-force presence by kind (:mod:`features.forces`), a recent base closure (the "vacuum"),
#: a coup in the last 13 weeks and an announced election in the coming 4 (:mod:`features.political`).
DEFAULT_COVARIATES = (
    "ff_foreign_combat_bases",
    "ff_peacekeeping_bases",
    "ff_private_military_bases",
    "ff_base_closed_w13",
    "pol_coup_w13",
    "pol_election_next4w",
)
#: Counts entered as presence indicators 1{x > 0} (hazard ratio: any base vs none).
DEFAULT_BINARIZE = ("ff_foreign_combat_bases", "ff_peacekeeping_bases", "ff_private_military_bases")
#: Controls, entered as log2(1 + x) so their hazard ratio is per doubling of (1 + x).
DEFAULT_CONTROLS = ("violent_events_sum_w52",)
#: Phrases for the sentences ("a district <phrase> has 1.8 times the weekly hazard ..."); the caller's
#: ``descriptions`` extend and override them.
DEFAULT_DESCRIPTIONS = {
    "ff_foreign_combat_bases": "hosting a foreign combat force base",
    "ff_peacekeeping_bases": "hosting a peacekeeping base",
    "ff_private_military_bases": "hosting a private military force base",
    "ff_base_closed_w13": "whose last base of a foreign or external force closed in the last 13 weeks",
    "pol_coup_w13": "in the 13 weeks after a coup",
    "pol_election_next4w": "in the 4 weeks before an announced election",
    "violent_events_sum_w52": "violent events in the 52 weeks before",
}

_RELATIVE_OPENINGS = ("whose ", "where ", "with ", "without ", "that ", "which ", "in ", "hosting ",
                      "having ", "near ", "after ", "during ", "under ")

TABLE_COLUMNS = ["term", "description", "scale", "hazard_ratio", "ci_low", "ci_high", "p_value", "sentence"]


def counting_process(X: pd.DataFrame, event: np.ndarray, *, time_scale: str = "gap",
                     duration_column: str | None = "weeks_since_major_attacks") -> pd.DataFrame:
    """One row per district-week: district_code, week_start, entry, exit (weeks), status (0/1).

    Returned in the order of ``X``'s rows. Weeks are counted from ``week_start`` (7-day steps), so a gap
    in a district's rows advances its clock. ``time_scale`` "gap": entry = weeks since the end of the last
    week with status 1 (see module doc); "calendar": entry = weeks since the panel's first week.
    """
    if time_scale not in ("gap", "calendar"):
        raise ValueError(f"time_scale must be 'gap' or 'calendar', not {time_scale!r}")
    status = (np.nan_to_num(np.asarray(event, dtype=np.float64)) > 0).astype(np.int64)
    weeks = pd.to_datetime(X["week_start"]).to_numpy()
    week_no = ((weeks - weeks.min()) // np.timedelta64(7, "D")).astype(np.int64)
    out = pd.DataFrame({"district_code": X["district_code"].to_numpy(), "week_start": X["week_start"].to_numpy(),
                        "week_no": week_no, "status": status}, index=np.arange(len(X)))
    if time_scale == "calendar":
        entry = week_no.astype(np.float64)
    else:
        ordered = out.sort_values(["district_code", "week_no"], kind="stable")
        g = ordered.groupby("district_code", sort=False)
        last_event = (ordered["week_no"].where(ordered["status"] == 1).groupby(ordered["district_code"], sort=False)
                      .shift(1))
        last_event = last_event.groupby(ordered["district_code"], sort=False).ffill()
        first_week = g["week_no"].transform("min")
        if duration_column is not None and duration_column in X.columns:
            start = feature_matrix(X, [duration_column])[:, 0]
            offset0 = pd.Series(np.nan_to_num(start - 1.0, nan=0.0).clip(0, None), index=out.index)[ordered.index]
            offset0 = offset0.groupby(ordered["district_code"], sort=False).transform("first")
        else:
            offset0 = pd.Series(0.0, index=ordered.index)
        entry_ordered = np.where(last_event.notna(), ordered["week_no"] - (last_event + 1),
                                 ordered["week_no"] - first_week + offset0)
        entry = pd.Series(entry_ordered, index=ordered.index).sort_index().to_numpy(np.float64)
    out["entry"] = entry
    out["exit"] = entry + 1.0
    return out[["district_code", "week_start", "entry", "exit", "status"]]


def cluster_robust_cov(Z: np.ndarray, beta: np.ndarray, exit_time: np.ndarray, status: np.ndarray,
                       groups: np.ndarray, naive_cov: np.ndarray, strata: np.ndarray | None = None) -> np.ndarray:
    """Sandwich covariance of Cox coefficients robust to dependence within ``groups`` (districts).

    For one-week rows (entry, exit] = (a, a + 1] a row is at risk at a single event time, its exit, so its
    score residual is (z_i - zbar(t)) (status_i - exp(z_i'beta) dLambda(t)), t = exit, with the risk-set
    weighted mean zbar(t) and the Breslow increment dLambda(t) = events(t) / sum exp(z'beta) (rows at risk
    at a time without events contribute 0). Returns V U'U V, U the residuals summed per group and V the
    model-based covariance (inverse information).
    """
    eta = Z @ beta
    w = np.exp(eta - eta.max())
    keys = pd.DataFrame({"t": exit_time, "s": 0 if strata is None else pd.factorize(strata)[0]})
    cell = keys.groupby(["s", "t"], sort=False).ngroup().to_numpy()
    n_cells = int(cell.max()) + 1
    s0 = np.bincount(cell, weights=w, minlength=n_cells)
    s1 = np.column_stack([np.bincount(cell, weights=w * Z[:, j], minlength=n_cells) for j in range(Z.shape[1])])
    d = np.bincount(cell, weights=status.astype(np.float64), minlength=n_cells)
    zbar = s1[cell] / s0[cell][:, None]
    resid = (Z - zbar) * (status - w * d[cell] / s0[cell])[:, None]
    group_ix = pd.factorize(groups)[0]
    U = np.column_stack([np.bincount(group_ix, weights=resid[:, j]) for j in range(Z.shape[1])])
    return naive_cov @ (U.T @ U) @ naive_cov


class CoxHazardRatios:
    """Hazard ratios of major attacks for interpretable covariates, from a Cox model on the panel.

    ``covariates``: foreign-force presence, "a base closed in the district in the last 13 weeks",
    political covariates... entered as they are (an indicator's hazard ratio compares 1 with 0), except
    the columns in ``binarize``, entered as 1{x > 0}; ``None`` uses :data:`DEFAULT_COVARIATES` (absent
    ones skipped). ``controls`` (default: the 52-week count of violent events) enter as log2(1 + x): hazard
    ratio per doubling of (1 + x). ``descriptions`` maps a column to the phrase used in the sentences, on top
    of :data:`DEFAULT_DESCRIPTIONS`; phrase an indicator's description as a relative clause ("whose foreign
    base closed in the last 13 weeks"). Columns without variation, indicators whose "on" or "off" rows
    never see a major attack (hazard ratio not estimable) and explicit columns absent from X are dropped
    and listed in ``notes_`` and at the end of the table.
    """

    def __init__(self, covariates: Sequence[str] | None = None, controls: Sequence[str] = DEFAULT_CONTROLS,
                 descriptions: Mapping[str, str] | None = None, *, binarize: Sequence[str] = DEFAULT_BINARIZE,
                 time_scale: str = "gap", strata: str | None = None, ties: str = "efron", robust: bool = True,
                 level: float = 0.95, name: str = "cox_ph"):
        self.covariates = None if covariates is None else list(covariates)
        self.controls = list(controls)
        self.descriptions = DEFAULT_DESCRIPTIONS | dict(descriptions or {})
        self.binarize = list(binarize)
        self.time_scale = time_scale
        self.strata = strata
        self.ties = ties
        self.robust = robust
        self.level = level
        self.name = name

    def _candidates(self, X: pd.DataFrame) -> tuple[list[str], list[str]]:
        """Covariates and controls to try; notes about the columns left out go to ``notes_``."""
        self.notes_ = notes = []
        wanted = list(DEFAULT_COVARIATES) if self.covariates is None else self.covariates
        covs = [c for c in wanted if c in X.columns and c not in self.controls]
        notes += [f"{c}: absent from the data, dropped" for c in wanted if c not in X.columns]
        controls = [c for c in self.controls if c in X.columns and c not in covs]
        notes += [f"{c}: control absent from the data, dropped" for c in self.controls if c not in X.columns]
        return covs, controls

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "CoxHazardRatios":
        """``X``: district-week rows (district_code, week_start, covariates); ``event``: 1 if the week starting
        at week_start has a major attack (``target_major_attack_h1``). Rows with a missing event or covariate
        are left out."""
        event = np.asarray(event, dtype=np.float64)
        covs, controls = self._candidates(X)
        spells = counting_process(X, np.nan_to_num(event), time_scale=self.time_scale)
        values = feature_matrix(X, covs + controls)
        for j, c in enumerate(covs):
            if c in self.binarize:
                values[:, j] = np.where(np.isnan(values[:, j]), np.nan, values[:, j] > 0)
        values[:, len(covs):] = np.log2(1.0 + np.clip(values[:, len(covs):], 0, None))
        ok = np.isfinite(event) & np.all(np.isfinite(values), axis=1)
        if (~ok).any():
            self.notes_.append(f"{int((~ok).sum())} rows with a missing event or covariate left out")
        status = spells["status"].to_numpy()[ok]
        kept, self._dropped = [], {}
        for j, term in enumerate(covs + controls):
            col = values[ok, j]
            levels = np.unique(col)
            if len(levels) < 2:
                self._dropped[term] = "no variation in the training rows"
            elif set(levels) <= {0.0, 1.0} and (status[col == 1].sum() == 0 or status[col == 0].sum() == 0):
                self._dropped[term] = "no major attack on one side of the indicator: hazard ratio not estimable"
            else:
                kept.append(j)
        self.notes_ += [f"{t}: {why}, dropped" for t, why in self._dropped.items()]
        self.terms_ = [(covs + controls)[j] for j in kept]
        self._log2 = set(controls)
        if not self.terms_:
            raise ValueError("no covariate left to fit: " + "; ".join(self.notes_))
        Z = values[ok][:, kept]
        self._binary = {t: set(np.unique(Z[:, i])) <= {0.0, 1.0} for i, t in enumerate(self.terms_)}
        strata = None if self.strata is None else X[self.strata].to_numpy()[ok]
        # PHReg counts a row at risk at its entry time too ([entry, exit]); event times are whole weeks, so
        # entry + 0.5 keeps each one-week row in the single risk set of its exit week, as (entry, exit] means.
        # imported by the fit that uses it, not by every command
        from statsmodels.duration.hazard_regression import PHReg

        model = PHReg(spells["exit"].to_numpy()[ok], Z, status=status, entry=spells["entry"].to_numpy()[ok] + 0.5,
                      strata=strata, ties=self.ties)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = model.fit()
            naive_cov = np.asarray(result.cov_params(), dtype=np.float64)
        self.params_ = np.asarray(result.params, dtype=np.float64)
        if self.robust:
            cov = cluster_robust_cov(Z, self.params_, spells["exit"].to_numpy()[ok], status,
                                     X["district_code"].to_numpy()[ok], naive_cov, strata)
        else:
            cov = naive_cov
        self.cov_ = cov
        self.bse_ = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        self.llf_ = float(result.llf)
        self.n_obs_, self.n_events_ = int(ok.sum()), int(status.sum())
        self.n_districts_ = int(pd.Series(X["district_code"].to_numpy()[ok]).nunique())
        return self

    def hazard_ratio_table(self) -> pd.DataFrame:
        """One row per term: hazard ratio with its confidence interval (``level``), Wald p-value and a sentence.

        Dropped columns are listed last with NaN estimates and the reason in ``sentence``.
        """
        zcrit = stats.norm.ppf(0.5 + self.level / 2.0)
        rows = []
        for term, beta, se in zip(self.terms_, self.params_, self.bse_):
            hr, lo, hi = np.exp(beta), np.exp(beta - zcrit * se), np.exp(beta + zcrit * se)
            p = float(2.0 * stats.norm.sf(abs(beta / se))) if se > 0 else np.nan
            scale = ("per doubling of (1 + x)" if term in self._log2
                     else "indicator (1 vs 0)" if self._binary[term] else "per unit")
            rows.append({"term": term, "description": self.descriptions.get(term, term), "scale": scale,
                         "hazard_ratio": float(hr), "ci_low": float(lo), "ci_high": float(hi), "p_value": p,
                         "sentence": self._sentence(term, scale, hr, lo, hi)})
        for term, why in self._dropped.items():
            rows.append({"term": term, "description": self.descriptions.get(term, term), "scale": "",
                         "hazard_ratio": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
                         "sentence": f"{self.descriptions.get(term, term)}: not estimated ({why})"})
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)

    def _sentence(self, term: str, scale: str, hr: float, lo: float, hi: float) -> str:
        desc = self.descriptions.get(term, term)
        ci = f"({self.level:.0%} CI {_fmt(lo)}\u2013{_fmt(hi)})"
        if scale.startswith("indicator"):
            clause = desc if desc.lower().startswith(_RELATIVE_OPENINGS) else f"with {desc}"
            return (f"a district {clause} has {_fmt(hr)} times the weekly hazard of a major attack {ci}, "
                    "other covariates equal")
        if scale.startswith("per doubling"):
            return f"each doubling of (1 + {desc}) multiplies the weekly hazard of a major attack by {_fmt(hr)} {ci}"
        return f"each additional unit of {desc} multiplies the weekly hazard of a major attack by {_fmt(hr)} {ci}"


def _fmt(x: float) -> str:
    """Two significant digits, without scientific notation for ratios people read."""
    if not np.isfinite(x):
        return "inf" if x > 0 else "nan"
    if x >= 10:
        return f"{x:.0f}"
    if x >= 0.1:
        return f"{x:.2g}" if x < 1 else f"{x:.1f}"
    return f"{x:.2g}"
