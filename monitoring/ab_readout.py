"""A/B readout: per-variant engagement with confidence intervals, a sequential-safe verdict and
responsible-play guardrails.

Inputs are the logged exposures and outcomes, as frames:

- impressions: `request_id, user_id, variant` (one row per shown tile or per list; a served
  list, identified by its `request_id`, is one exposure);
- clicks: `request_id, slot_id` (optionally `occurred_at`);
- plays: `request_id, user_id, slot_id, minutes` (optionally `occurred_at`, `session_id`,
  `volatility`): play attributed to a recommendation through its `request_id`.

Metrics, each per exposure so they share one denominator:

- `ctr`: share of exposures with at least one click;
- `play_through`: share of exposures where a clicked slot was then played (a click followed by
  play of the same slot, from the same list);
- `minutes`: minutes played after the recommendation (attributed plays) per exposure.

Statistics. Players, not requests, are randomised (assignment hashes the user id), so requests
of one player are correlated; every ratio metric's variance is taken at the player level with
the delta method (`Σx / Σn`, variance of `x − R·n` over players). The verdict uses the mixture
sequential probability ratio test (mSPRT, Johari et al., "Always valid inference", 2017) with a
normal mixing distribution: its p-value and confidence interval stay valid however often the
readout is looked at, so the daily readout may stop the test on the first day it is decisive
without inflating false positives. A fixed-horizon mode (classic two-sided z-test that decides
only once every arm reached a pre-declared number of exposures) is there for teams that
pre-register a sample size; `required_exposures` computes it.

Guardrails (responsible play): a variant must not raise mean session length by more than
`SESSION_LENGTH_MAX_RELATIVE_RISE` or the share of minutes on high / very-high volatility slots
by more than `HIGH_VOLATILITY_MAX_SHARE_RISE` (absolute). A guardrail `passes` when the upper
end of its interval (always-valid or fixed-horizon, as the primary test) is within the bound, so
the data show the rise is at most the bound (a non-inferiority test); it `fails` when the lower
end is past the bound, and is `inconclusive` otherwise. A variant with a failing or
inconclusive guardrail is never declared the winner: it needs enough data to show it is safe.

With the served impressions flagged per player (`served`: `request_id, user_id, variant,
at_risk, high_volatility, restricted`, from `monitoring.responsible_play.served_impressions`),
two more guardrails are read per treatment, and `Readout.responsible_play` holds their numbers
for every variant, control included:

- `at_risk_high_volatility_share`: share of high / very-high volatility slots among the
  impressions shown to at-risk players, against control, bound as the minutes share
  (`HIGH_VOLATILITY_MAX_SHARE_RISE`); `not_applicable` (does not block) when neither arm
  showed an at-risk player anything, `inconclusive` when only one did;
- `restricted_impressions`: impressions to restricted players; it must be 0, so a treatment
  with any `fails`, whatever control did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from slotrec.core.atomic import write_json_atomic, write_text_atomic

METRICS: tuple[str, ...] = ("ctr", "play_through", "minutes")
METRIC_LABELS = {
    "ctr": "click-through (clicked lists / lists shown)",
    "play_through": "play-through (click followed by play / lists shown)",
    "minutes": "minutes played after a recommendation, per list shown",
    "session_minutes": "session length (minutes per session)",
    "high_volatility_share": "share of minutes on high / very-high volatility slots",
    "at_risk_high_volatility_share": "share of high / very-high volatility slots among "
    "impressions to at-risk players",
    "restricted_impressions": "impressions to restricted players (must be 0)",
}
SERVED_COLUMNS = ("request_id", "user_id", "variant", "at_risk", "high_volatility", "restricted")
HIGH_VOLATILITY = frozenset({"high", "very_high"})
# Responsible-play bounds: how far a variant may push these up against control.
SESSION_LENGTH_MAX_RELATIVE_RISE = 0.10
HIGH_VOLATILITY_MAX_SHARE_RISE = 0.05
# The mSPRT mixing scale, as a share of the control mean: the effect size the test is most
# sensitive to. 10% relative lifts are what lobby changes typically move.
MIXING_RELATIVE_EFFECT = 0.10

Mode = Literal["sequential", "fixed_horizon"]
Status = Literal["pass", "fail", "inconclusive", "not_applicable"]
# not_applicable: nothing to measure in either arm (no at-risk player was shown a list)
NON_BLOCKING = frozenset({"pass", "not_applicable"})


class ReadoutError(ValueError):
    """The logged frames cannot be read out (missing columns, unknown control, no data)."""


@dataclass(frozen=True)
class Estimate:
    """One variant's value of one metric with its 1 − alpha confidence interval."""

    value: float
    ci_low: float
    ci_high: float
    players: int
    exposures: int


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control on one metric."""

    metric: str
    variant: str
    difference: float
    relative_difference: float | None
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool


@dataclass(frozen=True)
class GuardrailResult:
    """A responsible-play guardrail of one variant against control."""

    name: str
    variant: str
    control_value: float
    variant_value: float
    rise: float
    rise_ci_low: float
    rise_ci_high: float
    bound: float
    status: Status


@dataclass
class Readout:
    """The whole readout: estimates, comparisons, guardrails and the verdict."""

    experiment: str
    control: str
    primary_metric: str
    mode: str
    alpha: float
    sample_size: int | None
    estimates: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    guardrails: list[GuardrailResult] = field(default_factory=list)
    responsible_play: dict[str, dict[str, Any]] = field(default_factory=dict)
    winner: str | None = None
    verdict: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- per-player aggregation ---------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReadoutError(f"{name} frame lacks column(s) {missing}; it has {list(frame.columns)}")


def exposure_outcomes(
    impressions: pd.DataFrame, clicks: pd.DataFrame, plays: pd.DataFrame
) -> pd.DataFrame:
    """One row per exposure (served list): its player, variant and outcomes.

    Returns:
        Columns `request_id, user_id, variant, clicked (0/1), played_through (0/1), minutes`.

    Raises:
        ReadoutError: a frame lacks a needed column, or a request shows two variants.
    """
    _require(impressions, ("request_id", "user_id", "variant"), "impressions")
    _require(clicks, ("request_id", "slot_id"), "clicks")
    _require(plays, ("request_id", "slot_id", "minutes"), "plays")
    exposures = impressions.drop_duplicates(["request_id", "user_id", "variant"])
    doubled = exposures["request_id"].duplicated(keep=False)
    if doubled.any():
        example = exposures.loc[doubled, "request_id"].iloc[0]
        raise ReadoutError(f"request {example!r} is logged with more than one user or variant")
    exposures = exposures[["request_id", "user_id", "variant"]].reset_index(drop=True)

    clicked = clicks.dropna(subset=["request_id"])
    attributed = plays.dropna(subset=["request_id"])
    minutes = attributed.groupby("request_id")["minutes"].sum()
    # A click followed by play: the same list, the same slot, the play not before the click.
    keys = ["request_id", "slot_id"]
    pairs = clicked[[*keys, *(["occurred_at"] if "occurred_at" in clicked else [])]].merge(
        attributed[[*keys, *(["occurred_at"] if "occurred_at" in attributed else [])]],
        on=keys,
        suffixes=("_click", "_play"),
    )
    if "occurred_at_click" in pairs and "occurred_at_play" in pairs:
        pairs = pairs[pairs["occurred_at_play"] >= pairs["occurred_at_click"]]

    request = exposures["request_id"]
    exposures["clicked"] = request.isin(set(clicked["request_id"])).astype(np.int64)
    exposures["played_through"] = request.isin(set(pairs["request_id"])).astype(np.int64)
    exposures["minutes"] = request.map(minutes).fillna(0.0).astype(np.float64)
    return exposures


def _player_sums(exposures: pd.DataFrame) -> pd.DataFrame:
    """Per player and variant: exposures `n` and the outcome sums."""
    renamed = exposures.rename(columns={"clicked": "ctr", "played_through": "play_through"})
    grouped = renamed.groupby(["variant", "user_id"], sort=True)
    sums = grouped[list(METRICS)].sum()
    sums["n"] = grouped["request_id"].count()
    return sums.reset_index()


def ratio_and_variance(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, float]:
    """`R = Σx / Σn` over players and the delta-method variance of R.

    Var(R) ≈ Var(x − R·n) / (N · mean(n)²), the ratio estimator's variance when players (the
    randomisation unit) are independent and their exposures are not.
    """
    x = np.asarray(numerator, dtype=np.float64)
    n = np.asarray(denominator, dtype=np.float64)
    players = len(n)
    if players == 0 or n.sum() == 0:
        return math.nan, math.nan
    ratio = x.sum() / n.sum()
    if players < 2:
        return float(ratio), math.inf
    residual = x - ratio * n
    variance = residual.var(ddof=1) / (players * n.mean() ** 2)
    return float(ratio), float(variance)


# --- always-valid (mSPRT) and fixed-horizon inference ---------------------------------------


def msprt_p_value(difference: float, variance: float, tau2: float) -> float:
    """Always-valid p-value of H0: difference = 0 with a normal N(0, tau2) mixture.

    `1 / Λ` where Λ = sqrt(V / (V + τ²)) · exp(Δ² τ² / (2 V (V + τ²))) is the mixture
    likelihood ratio (a martingale under H0, so P(sup Λ ≥ 1/α) ≤ α by Ville's inequality).
    """
    if not (variance > 0 and tau2 > 0) or math.isinf(variance):
        return 1.0
    v = variance
    log_lambda = 0.5 * math.log(v / (v + tau2)) + difference**2 * tau2 / (2 * v * (v + tau2))
    return float(min(1.0, math.exp(-log_lambda)))


def msprt_half_width(variance: float, tau2: float, alpha: float) -> float:
    """Half-width of the always-valid 1 − alpha confidence interval around the difference."""
    if not (variance > 0 and tau2 > 0) or math.isinf(variance):
        return math.inf
    v = variance
    return math.sqrt((v * (v + tau2) / tau2) * (math.log((v + tau2) / v) - 2 * math.log(alpha)))


def required_exposures(baseline: float, relative_lift: float, alpha: float, power: float) -> int:
    """Exposures per arm a fixed-horizon test needs for a rate metric (normal approximation).

    Args:
        baseline: control rate (e.g. click-through 0.2).
        relative_lift: smallest relative lift worth detecting (0.1 = +10%).
        alpha: two-sided type I error.
        power: 1 − type II error.
    """
    if not 0 < baseline < 1 or relative_lift <= 0:
        raise ValueError("baseline must be in (0, 1) and relative_lift > 0")
    treated = min(baseline * (1 + relative_lift), 1 - 1e-9)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    variance = baseline * (1 - baseline) + treated * (1 - treated)
    return math.ceil(z**2 * variance / (treated - baseline) ** 2)


def _compare(
    control: tuple[float, float],
    treated: tuple[float, float],
    alpha: float,
    mode: Mode,
) -> tuple[float, float, float, float]:
    """(difference, ci_low, ci_high, p_value) of treated − control."""
    (c_value, c_var), (t_value, t_var) = control, treated
    difference = t_value - c_value
    variance = c_var + t_var
    if mode == "sequential":
        tau = MIXING_RELATIVE_EFFECT * max(abs(c_value), 1e-9)
        half = msprt_half_width(variance, tau**2, alpha)
        p_value = msprt_p_value(difference, variance, tau**2)
    else:
        se = math.sqrt(variance) if variance > 0 else math.inf
        half = stats.norm.ppf(1 - alpha / 2) * se
        p_value = float(2 * stats.norm.sf(abs(difference) / se)) if se > 0 else 1.0
    return difference, difference - half, difference + half, p_value


# --- the readout -----------------------------------------------------------------------------


def ab_readout(
    impressions: pd.DataFrame,
    clicks: pd.DataFrame,
    plays: pd.DataFrame,
    *,
    experiment: str = "lobby",
    control: str | None = None,
    primary_metric: str = "play_through",
    alpha: float = 0.05,
    mode: Mode = "sequential",
    sample_size: int | None = None,
    session_bound: float = SESSION_LENGTH_MAX_RELATIVE_RISE,
    volatility_bound: float = HIGH_VOLATILITY_MAX_SHARE_RISE,
    served: pd.DataFrame | None = None,
) -> Readout:
    """Read out one experiment: every variant against `control`.

    Args:
        impressions: `request_id, user_id, variant` rows.
        clicks: `request_id, slot_id` rows (optionally `occurred_at`).
        plays: `request_id, slot_id, minutes` rows (optionally `occurred_at`, `user_id`,
            `session_id` and `volatility` for the guardrails).
        experiment: the experiment's name, for the report.
        control: the control variant; default: the alphabetically first one.
        primary_metric: the metric that decides the winner (one of `METRICS`).
        alpha: family-wise type I error; split evenly over the treatments (Bonferroni).
        mode: "sequential" (mSPRT, look any time) or "fixed_horizon" (needs `sample_size`).
        sample_size: pre-declared exposures per arm (fixed_horizon only).
        session_bound: largest allowed relative rise of mean session length.
        volatility_bound: largest allowed absolute rise of the high-volatility minutes share
            (and of the high-volatility share of impressions to at-risk players).
        served: optional `SERVED_COLUMNS` rows (one per impression) for the responsible-play
            guardrails; without it they are not read.

    Raises:
        ReadoutError: bad frames or arguments, named.
    """
    _check_arguments(primary_metric, alpha, mode, sample_size)
    exposures = exposure_outcomes(impressions, clicks, plays)
    variants, control = _variants_and_control(exposures, control)
    treatments = [v for v in variants if v != control]
    per_test_alpha = alpha / len(treatments)

    readout = Readout(experiment, control, primary_metric, mode, alpha, sample_size)
    readout.estimates, moments = _estimates(_player_sums(exposures), variants, alpha)
    readout.comparisons = _comparisons(moments, control, treatments, per_test_alpha, mode)
    readout.guardrails = guardrails(
        plays, exposures, control, treatments, per_test_alpha, session_bound, volatility_bound, mode
    )
    if served is not None:
        _require(served, SERVED_COLUMNS, "served")
        guards, readout.responsible_play = responsible_play_guardrails(
            served, control, treatments, per_test_alpha, volatility_bound, mode
        )
        readout.guardrails.extend(guards)
    readout.winner, readout.verdict = _verdict(readout, treatments, exposures)
    return readout


def _check_arguments(
    primary_metric: str, alpha: float, mode: Mode, sample_size: int | None
) -> None:
    """Refuse readout arguments that cannot give a meaningful test.

    Args:
        primary_metric: the metric that decides the winner.
        alpha: family-wise type I error.
        mode: "sequential" or "fixed_horizon".
        sample_size: pre-declared exposures per arm.

    Raises:
        ReadoutError: the first bad argument, named.
    """
    if primary_metric not in METRICS:
        raise ReadoutError(f"primary_metric must be one of {METRICS}, not {primary_metric!r}")
    if mode == "fixed_horizon" and not sample_size:
        raise ReadoutError("fixed_horizon mode needs the pre-declared sample_size")
    if not 0 < alpha < 1:
        raise ReadoutError(f"alpha must be in (0, 1), not {alpha}")


def _variants_and_control(exposures: pd.DataFrame, control: str | None) -> tuple[list[str], str]:
    """The logged variants (sorted) and the control among them.

    Args:
        exposures: `exposure_outcomes` rows.
        control: the requested control variant, or None for the alphabetically first one.

    Returns:
        The sorted variant names and the control variant.

    Raises:
        ReadoutError: fewer than two variants are logged, or the control is not one of them.
    """
    variants = sorted(exposures["variant"].astype(str).unique())
    if len(variants) < 2:
        raise ReadoutError(f"an experiment needs two variants; the logs show {variants}")
    control = control or variants[0]
    if control not in variants:
        raise ReadoutError(f"control {control!r} is not among the logged variants {variants}")
    return variants, control


# Per variant and metric: the ratio over players and its delta-method variance.
_Moments = dict[str, dict[str, tuple[float, float]]]


def _estimates(
    players: pd.DataFrame, variants: list[str], alpha: float
) -> tuple[dict[str, dict[str, Estimate]], _Moments]:
    """Every variant's value of every metric with its fixed 1 − alpha interval.

    The interval is the plain normal one (not Bonferroni-split, not always-valid): it describes
    each arm on its own; the decisions come from `_comparisons`.

    Args:
        players: `_player_sums` rows.
        variants: the variants to estimate, in report order.
        alpha: the interval's type I error.

    Returns:
        The estimates per variant and metric, and the moments the comparisons start from.
    """
    estimates: dict[str, dict[str, Estimate]] = {}
    moments: _Moments = {}
    z = stats.norm.ppf(1 - alpha / 2)
    for variant in variants:
        rows = players[players["variant"] == variant]
        moments[variant] = {}
        estimates[variant] = {}
        for metric in METRICS:
            value, variance = ratio_and_variance(rows[metric].to_numpy(), rows["n"].to_numpy())
            moments[variant][metric] = (value, variance)
            half = z * math.sqrt(variance) if variance >= 0 else math.nan
            estimates[variant][metric] = Estimate(
                value, value - half, value + half, len(rows), int(rows["n"].sum())
            )
    return estimates, moments


def _comparisons(
    moments: _Moments, control: str, treatments: list[str], alpha: float, mode: Mode
) -> list[Comparison]:
    """Every treatment minus control on every metric, tested at `alpha` in `mode`.

    Args:
        moments: per variant and metric, the value and its variance (`_estimates`).
        control: the control variant.
        treatments: the other variants, in report order.
        alpha: the per-test type I error (already split over the treatments).
        mode: "sequential" or "fixed_horizon".

    Returns:
        One comparison per treatment and metric, treatments outermost.
    """
    comparisons = []
    for variant in treatments:
        for metric in METRICS:
            difference, low, high, p_value = _compare(
                moments[control][metric], moments[variant][metric], alpha, mode
            )
            base = moments[control][metric][0]
            comparisons.append(
                Comparison(
                    metric,
                    variant,
                    difference,
                    difference / base if base else None,
                    low,
                    high,
                    p_value,
                    p_value < alpha,
                )
            )
    return comparisons


def _verdict(
    readout: Readout, treatments: list[str], exposures: pd.DataFrame
) -> tuple[str | None, str]:
    """Name the winner on the primary metric, or say why there is none yet."""
    metric = readout.primary_metric
    if readout.mode == "fixed_horizon":
        counts = exposures.groupby("variant").size()
        short = {v: int(n) for v, n in counts.items() if n < (readout.sample_size or 0)}
        if short:
            return None, (
                f"waiting for the pre-declared {readout.sample_size} exposures per arm "
                f"(now {short}); no decision before that"
            )
    primary = [c for c in readout.comparisons if c.metric == metric]
    better = [c for c in primary if c.significant and c.difference > 0]
    worse = [c for c in primary if c.significant and c.difference < 0]
    blocked = {g.variant for g in readout.guardrails if g.status not in NON_BLOCKING}
    if better:
        best = max(better, key=lambda c: c.difference)
        if best.variant in blocked:
            failing = [
                f"{g.name} {g.status}"
                for g in readout.guardrails
                if g.variant == best.variant and g.status not in NON_BLOCKING
            ]
            return None, (
                f"{best.variant} beats {readout.control} on {metric} "
                f"({best.relative_difference or 0:+.1%}) but its guardrails do not pass: "
                + ", ".join(failing)
            )
        return best.variant, (
            f"{best.variant} wins on {metric}: {best.relative_difference or 0:+.1%} against "
            f"{readout.control} (p = {best.p_value:.4f}, {readout.mode})"
        )
    if len(worse) == len(treatments):
        return readout.control, (
            f"{readout.control} (control) wins: every variant is worse on {metric}"
        )
    return None, f"no significant difference on {metric} yet; keep the test running"


def guardrails(
    plays: pd.DataFrame,
    exposures: pd.DataFrame,
    control: str,
    treatments: list[str],
    alpha: float,
    session_bound: float = SESSION_LENGTH_MAX_RELATIVE_RISE,
    volatility_bound: float = HIGH_VOLATILITY_MAX_SHARE_RISE,
    mode: Mode = "sequential",
) -> list[GuardrailResult]:
    """Session length and high-volatility share of every treatment against control.

    All of a player's play counts (not only attributed play): the guardrail is about the
    player's wellbeing, not about the recommendation's credit. Needs `user_id` in `plays`, plus
    `session_id` (session length) and `volatility` (high-volatility share); a guardrail whose
    columns are missing is reported `inconclusive`.
    """
    variant_of = exposures.drop_duplicates("user_id").set_index("user_id")["variant"]
    play = plays.copy()
    has_user = "user_id" in play
    if has_user:
        play["variant"] = play["user_id"].map(variant_of)
        play = play.dropna(subset=["variant"])
    results = []
    specs: list[tuple[str, float, bool]] = [
        ("session_minutes", session_bound, has_user and "session_id" in play),
        ("high_volatility_share", volatility_bound, has_user and "volatility" in play),
    ]
    for name, bound, available in specs:
        per_variant = _guardrail_moments(play, name) if available else {}
        for variant in treatments:
            if control not in per_variant or variant not in per_variant:
                results.append(
                    GuardrailResult(
                        name,
                        variant,
                        math.nan,
                        math.nan,
                        math.nan,
                        math.nan,
                        math.nan,
                        bound,
                        "inconclusive",
                    )
                )
                continue
            c_value, t_value = per_variant[control][0], per_variant[variant][0]
            rise, low, high, _ = _compare(per_variant[control], per_variant[variant], alpha, mode)
            scale = c_value if name == "session_minutes" else 1.0
            rise_n, low, high = rise / scale, low / scale, high / scale
            status: Status = "pass" if high <= bound else "fail" if low > bound else "inconclusive"
            results.append(
                GuardrailResult(name, variant, c_value, t_value, rise_n, low, high, bound, status)
            )
    return results


def responsible_play_guardrails(
    served: pd.DataFrame,
    control: str,
    treatments: list[str],
    alpha: float,
    volatility_bound: float = HIGH_VOLATILITY_MAX_SHARE_RISE,
    mode: Mode = "sequential",
) -> tuple[list[GuardrailResult], dict[str, dict[str, Any]]]:
    """The at-risk high-volatility share and restricted-impression guardrails, plus per-variant
    numbers (`impressions`, `at_risk_impressions`, `at_risk_high_volatility`,
    `high_volatility_share_at_risk`, `high_volatility_share_others`, `restricted_impressions`,
    `restricted_lists`) for every variant."""
    frame = served.assign(variant=served["variant"].astype(str))
    variants = sorted({control, *treatments, *frame["variant"].unique()})
    numbers: dict[str, dict[str, Any]] = {}
    moments: dict[str, tuple[float, float]] = {}
    for variant in variants:
        rows = frame[frame["variant"] == variant]
        risk, rest = rows[rows["at_risk"].astype(bool)], rows[~rows["at_risk"].astype(bool)]
        restricted = rows[rows["restricted"].astype(bool)]
        high_risk = int(risk["high_volatility"].astype(bool).sum())
        high_rest = int(rest["high_volatility"].astype(bool).sum())
        numbers[variant] = {
            "impressions": len(rows),
            "at_risk_impressions": len(risk),
            "at_risk_high_volatility": high_risk,
            "high_volatility_share_at_risk": high_risk / len(risk) if len(risk) else None,
            "high_volatility_share_others": high_rest / len(rest) if len(rest) else None,
            "restricted_impressions": len(restricted),
            "restricted_lists": int(restricted["request_id"].nunique()),
        }
        if len(risk):
            per_player = risk.assign(high=risk["high_volatility"].astype(float)).groupby("user_id")[
                "high"
            ]
            moments[variant] = ratio_and_variance(
                per_player.sum().to_numpy(), per_player.count().to_numpy()
            )
    results = []
    for variant in treatments:
        name, bound = "at_risk_high_volatility_share", volatility_bound
        if control in moments and variant in moments:
            rise, low, high, _ = _compare(moments[control], moments[variant], alpha, mode)
            status: Status = "pass" if high <= bound else "fail" if low > bound else "inconclusive"
            c_value, t_value = moments[control][0], moments[variant][0]
        else:
            rise = low = high = c_value = t_value = math.nan
            status = "inconclusive" if moments else "not_applicable"
        results.append(
            GuardrailResult(name, variant, c_value, t_value, rise, low, high, bound, status)
        )
        c_count = float(numbers[control]["restricted_impressions"])
        t_count = float(numbers[variant]["restricted_impressions"])
        results.append(
            GuardrailResult(
                "restricted_impressions",
                variant,
                c_count,
                t_count,
                t_count - c_count,
                t_count - c_count,
                t_count - c_count,
                0.0,
                "fail" if t_count > 0 else "pass",
            )
        )
    return results, numbers


def _guardrail_moments(play: pd.DataFrame, name: str) -> dict[str, tuple[float, float]]:
    """Per variant: the guardrail ratio over players and its delta-method variance."""
    keys = ["variant", "user_id"]
    if name == "session_minutes":
        x = play.groupby(keys)["minutes"].sum()
        n = play.drop_duplicates(["user_id", "session_id"]).groupby(keys).size()
    else:
        high = play["minutes"].where(play["volatility"].isin(HIGH_VOLATILITY), 0.0)
        sums = play.assign(high=high).groupby(keys)[["high", "minutes"]].sum()
        sums = sums[sums["minutes"] > 0]
        x, n = sums["high"], sums["minutes"]
    n = n.reindex(x.index)
    return {
        str(variant): ratio_and_variance(x.loc[variant].to_numpy(), n.loc[variant].to_numpy())
        for variant in x.index.get_level_values(0).unique()
    }


# --- output -----------------------------------------------------------------------------------


def write_readout(readout: Readout, folder: Path, name: str = "ab_readout") -> dict[str, str]:
    """Write `<name>.json` and `<name>.html` (one plot per metric and guardrail) into `folder`."""
    import plotly.graph_objects as go

    figures = []
    variants = list(readout.estimates)
    for metric in METRICS:
        estimates = [readout.estimates[v][metric] for v in variants]
        figure = go.Figure(
            go.Bar(
                x=variants,
                y=[e.value for e in estimates],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [e.ci_high - e.value for e in estimates],
                    "arrayminus": [e.value - e.ci_low for e in estimates],
                },
                text=[f"{e.value:.4g}<br>{e.exposures:,} lists" for e in estimates],
            )
        )
        figure.update_layout(
            title=f"{METRIC_LABELS[metric]} ({1 - readout.alpha:.0%} CI)",
            yaxis_title=metric,
            height=360,
        )
        figures.append(figure)
    for guard in readout.guardrails:
        figure = go.Figure(
            go.Scatter(
                x=[guard.rise],
                y=[guard.variant],
                mode="markers",
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [guard.rise_ci_high - guard.rise],
                    "arrayminus": [guard.rise - guard.rise_ci_low],
                },
            )
        )
        figure.add_vline(x=guard.bound, line_dash="dash", annotation_text="bound")
        figure.update_layout(
            title=f"guardrail: {METRIC_LABELS[guard.name]}, rise vs {readout.control} "
            f"({guard.status})",
            height=260,
        )
        figures.append(figure)
    parts = [
        figure.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False)
        for i, figure in enumerate(figures)
    ]
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>A/B readout: {readout.experiment}</title></head><body>"
        f"<h1>A/B readout: {readout.experiment}</h1>"
        f"<p><b>Verdict:</b> {readout.verdict}</p>"
        f"<p>Control {readout.control}; primary metric {readout.primary_metric}; "
        f"{readout.mode} test at alpha {readout.alpha}.</p>" + "".join(parts) + "</body></html>"
    )
    json_path, html_path = folder / f"{name}.json", folder / f"{name}.html"
    write_json_atomic(json_path, readout.to_dict())
    write_text_atomic(html_path, html)
    return {"json": str(json_path), "html": str(html_path)}


def dashboard_values(readout: Readout) -> dict[str, float]:
    """The readout's points for the dashboard's A/B tab (`monitoring.dashboard.record_day`).

    `ab_lift`: relative difference of the leading treatment on the primary metric;
    `ab_exposures`: lists shown in the experiment, all variants together.
    """
    primary = [c for c in readout.comparisons if c.metric == readout.primary_metric]
    values = {
        "ab_exposures": float(
            sum(e[readout.primary_metric].exposures for e in readout.estimates.values())
        )
    }
    lifts = [c.relative_difference for c in primary if c.relative_difference is not None]
    if lifts:
        values["ab_lift"] = float(max(lifts))
    return values
