"""Cox proportional-hazards model of major attacks, for interpretation (hazard ratios), not for scoring.

The district-week panel is read in counting-process form: each row (district d, week t) is one week at
risk, (entry, exit] = (a, a + 1], with ``status`` = 1 if a major attack happens that week. On the default
"gap" time scale, a is the number of weeks since the end of the district's last week with a major attack
(its first spell starts at ``weeks_since_major_attacks`` - 1 when that column is there, else at 0), so the
baseline hazard is a function of time since the last attack and national, time-varying covariates (a
coup, an upcoming election) remain identifiable. The "calendar" time scale (a = weeks since the first
week) compares districts within the same week instead; covariates equal for every district in a week are
then absorbed by the baseline. Covariates are time-varying (the row's values); the partial likelihood is
fitted by statsmodels PHReg (Efron ties) with standard errors robust to clustering by district.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg

from models.count import feature_matrix

#: Covariates picked up when the caller gives none: foreign-force presence, base-closure ("vacuum")
#: indicators and political-calendar covariates, recognised by these name prefixes.
DEFAULT_COVARIATE_PREFIXES = ("force_", "base_closed", "vacuum", "coup", "election", "political_")
#: Controls, entered as log2(1 + x) so their hazard ratio is per doubling of (1 + x).
DEFAULT_CONTROLS = ("violent_events_sum_w52",)

_RELATIVE_OPENINGS = ("whose ", "where ", "with ", "without ", "that ", "which ", "in which ", "hosting ",
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


class CoxHazardRatios:
    """Hazard ratios of major attacks for interpretable covariates, from a Cox model on the panel.

    ``covariates``: foreign-force presence, "a base closed in the district in the last 13 weeks",
    political covariates... entered as they are (an indicator's hazard ratio compares 1 with 0);
    ``None`` picks the columns whose names start with :data:`DEFAULT_COVARIATE_PREFIXES`.
    ``controls`` (default: the 52-week count of violent events) enter as log2(1 + x): hazard ratio per
    doubling of (1 + x). ``descriptions`` maps a column to the phrase used in the sentences; phrase an
    indicator's description as a relative clause ("whose foreign base closed in the last 13 weeks").
    Columns without variation, indicators whose "on" or "off" rows never see a major attack (hazard ratio
    not estimable) and explicit columns absent from X are dropped and listed in ``notes_`` and in the table.
    """

    def __init__(self, covariates: Sequence[str] | None = None, controls: Sequence[str] = DEFAULT_CONTROLS,
                 descriptions: Mapping[str, str] | None = None, *, time_scale: str = "gap",
                 strata: str | None = None, ties: str = "efron", robust: bool = True, level: float = 0.95,
                 name: str = "cox_ph"):
        self.covariates = None if covariates is None else list(covariates)
        self.controls = list(controls)
        self.descriptions = dict(descriptions or {})
        self.time_scale = time_scale
        self.strata = strata
        self.ties = ties
        self.robust = robust
        self.level = level
        self.name = name

    def _candidates(self, X: pd.DataFrame) -> tuple[list[str], list[str]]:
        notes: list[str] = []
        if self.covariates is None:
            covs = [c for c in X.columns if str(c).startswith(DEFAULT_COVARIATE_PREFIXES) and c not in self.controls]
            if not covs:
                notes.append(f"no column starts with {DEFAULT_COVARIATE_PREFIXES}: controls only")
        else:
            covs = [c for c in self.covariates if c in X.columns]
            notes += [f"{c}: absent from the data, dropped" for c in self.covariates if c not in X.columns]
        controls = [c for c in self.controls if c in X.columns and c not in covs]
        notes += [f"{c}: control absent from the data, dropped" for c in self.controls if c not in X.columns]
        return covs, controls

    def fit(self, X: pd.DataFrame, event: np.ndarray) -> "CoxHazardRatios":
        """``X``: district-week rows (district_code, week_start, covariates); ``event``: 1 if the week starting
        at week_start has a major attack (``target_major_attack_h1``). Rows with a missing event or covariate are left out."""
        event = np.asarray(event, dtype=np.float64)
        covs, controls = self._candidates(X)
        self.notes_ = []
        spells = counting_process(X, np.nan_to_num(event), time_scale=self.time_scale)
        values = feature_matrix(X, covs + controls)
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
        model = PHReg(spells["exit"].to_numpy()[ok], Z, status=status, entry=spells["entry"].to_numpy()[ok],
                      strata=strata, ties=self.ties)
        groups = X["district_code"].to_numpy()[ok] if self.robust else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = model.fit(groups=groups)
            self.bse_ = np.asarray(result.bse, dtype=np.float64)
        self.params_ = np.asarray(result.params, dtype=np.float64)
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
