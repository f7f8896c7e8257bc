"""Responsible-play evidence: what the served lists did for restricted and at-risk players.

Source: the served lists as the warehouse holds them, i.e. clean `impression` events with a
`request_id` (`bentos/service.py` writes one per shown slot, `event_id = <request_id>-<rank>`)
from the `recommendation_events` mart, the same rows the recommendation monitor and the A/B
readout read. A day is a delivery day (`delivered_on`), like every other daily number, so each
served list is counted on exactly one day. Each impression is joined with:

- the slot catalogue (`slots.volatility`);
- the player's risk level in force when it was served: the newest `player_risk` snapshot from
  *before* the impression's UTC day. A snapshot of day d counts the play delivered by the end
  of d, so the daily run materializes it after d ends and the service serves it from d + 1;
  taking the same day's snapshot would judge a list by a level the service could not know yet;
- the restriction registry (`serving/restrictions.sqlite`): a player is restricted for an
  impression when one of their rows was in force at its `occurred_at`: set (`started_at`, or
  `updated_at` for rows older than the history table) at or before it, not lifted or replaced
  (`ended_at`) before it, and not expired (`until_at`). Lifting a restriction deletes its row,
  so `bentos.restrictions` logs every row in `restriction_history`; rows lifted before that
  table existed are gone and cannot be counted. The registry stamps rows with the wall clock
  while impressions carry the service's clock: under a simulated clock (`SLOTREC_CLOCK_FILE`,
  the closed loop) the two do not line up and restrictions are not judged meaningfully.

Numbers per day: impressions and lists (`request_id`s) served to restricted players (must be 0,
else ALERT), the share of high / very-high volatility among impressions to at-risk players
(`risk_level` in `settings.risk_guarded_levels`) and to everyone else (every other impression,
restricted players' and players without a snapshot included), lists and players at
risk, impressions of a volatility the player's level excludes (must be 0 too), and guardrail
activations per guardrail.

Guardrail activations are what the service logged: every impression names the guardrails its
list was made under (`guardrails`, comma-separated), so each list counts once for each of them.
The activations that leave no impression (a restricted player's empty list, a reality check)
are only in the service's Prometheus counters, which the daily report adds "since the service
started" when the service answers.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from bentos.restrictions import history_rows
from monitoring.ab_readout import HIGH_VOLATILITY
from slotrec.core.settings import Settings

TREND_DAYS = 14
OK, ALERT = "OK", "ALERT"

IMPRESSIONS_QUERY = """
    select request_id, user_id, slot_id, delivered_on,
        epoch(occurred_at) as occurred_s, cast(occurred_at as date) as occurred_on,
        experiment, variant, guardrails
    from recommendation_events
    where event_type = 'impression' and delivered_on between ? and ?
"""


def served_impressions(settings: Settings, first: date | None, last: date) -> pd.DataFrame:
    """Served impressions delivered in `[first, last]` (`first` None: from the start).

    Returns:
        One row per impression: `request_id, user_id, slot_id, delivered_on, occurred_s`,
        `volatility` (None for a slot missing from the catalogue), `risk_level` (None: no
        snapshot before the day), `at_risk`, `high_volatility`, `restricted` (booleans) and
        `excluded_volatility` (the slot's volatility is one the player's level leaves out).
    """
    warehouse = settings.layout.warehouse_path
    columns = ["request_id", "user_id", "slot_id", "delivered_on", "occurred_s"]
    columns += ["experiment", "variant", "guardrails"]
    if not warehouse.exists():
        return _flags(pd.DataFrame(columns=[*columns, "volatility", "risk_level"]), settings)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")  # the impression's day is its UTC day
        tables = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
        window = [first or date(1970, 1, 1), last]
        volatility = (
            "(select v.volatility from slots as v where v.slot_id = imp.slot_id limit 1)"
            if "slots" in tables
            else "null"
        )
        if "player_risk" in tables:
            frame = con.execute(
                f"with imp as ({IMPRESSIONS_QUERY}) "
                f"select imp.*, {volatility} as volatility, r.risk_level from imp "
                "asof left join player_risk as r "
                "on imp.user_id = r.user_id and imp.occurred_on > r.snapshot_on",
                window,
            ).df()
        else:
            frame = con.execute(
                f"with imp as ({IMPRESSIONS_QUERY}) "
                f"select imp.*, {volatility} as volatility, null as risk_level from imp",
                window,
            ).df()
    frame = frame.drop(columns=["occurred_on"])
    return _flags(frame, settings)


def _flags(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    guarded = set(settings.risk_guarded_levels)
    frame["at_risk"] = frame["risk_level"].isin(guarded).astype(bool)
    frame["high_volatility"] = frame["volatility"].isin(HIGH_VOLATILITY).astype(bool)
    excluded = {lvl: set(v) for lvl, v in settings.risk_excluded_volatility.items()}
    frame["excluded_volatility"] = [
        bool(at and vol in excluded.get(str(lvl), set()))
        for at, lvl, vol in zip(
            frame["at_risk"], frame["risk_level"], frame["volatility"], strict=True
        )
    ]
    frame["restricted"] = _restricted(frame, settings.layout.restrictions_registry_path)
    return frame


def _restricted(frame: pd.DataFrame, registry: Path) -> pd.Series:
    """Whether a restriction of the impression's player was in force at its `occurred_at`."""
    rows = history_rows(registry)
    if frame.empty or not rows:
        return pd.Series(False, index=frame.index, dtype=bool)
    spans = pd.DataFrame(
        rows, columns=["user_id", "source", "kind", "until_at", "started_at", "ended_at"]
    )
    joined = frame[["user_id", "occurred_s"]].reset_index().merge(spans, on="user_id", how="inner")
    t = joined["occurred_s"].astype(float)
    in_force = (
        (joined["started_at"].astype(float) <= t)
        & (joined["ended_at"].isna() | (joined["ended_at"].astype(float) > t))
        & (joined["until_at"].isna() | (joined["until_at"].astype(float) > t))
    )
    hit = set(joined.loc[in_force, "index"])
    return pd.Series([i in hit for i in frame.index], index=frame.index, dtype=bool)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def day_evidence(frame: pd.DataFrame, day: date, settings: Settings) -> dict[str, Any]:
    """The evidence numbers of one day from `served_impressions` rows of that day."""
    out: dict[str, Any] = {"day": day.isoformat()}
    restricted = frame[frame["restricted"]]
    at_risk, others = frame[frame["at_risk"]], frame[~frame["at_risk"]]
    restricted_impressions = len(restricted)
    out.update(
        impressions=len(frame),
        lists=int(frame["request_id"].nunique()),
        restricted={
            "impressions": restricted_impressions,
            "lists": int(restricted["request_id"].nunique()),
            "players": int(restricted["user_id"].nunique()),
            "status": OK if restricted_impressions == 0 else ALERT,
        },
        high_volatility={
            name: {
                "impressions": len(part),
                "high_volatility": int(part["high_volatility"].sum()),
                "share": _share(int(part["high_volatility"].sum()), len(part)),
            }
            for name, part in (("at_risk", at_risk), ("others", others))
        },
        at_risk_lists=int(at_risk["request_id"].nunique()),
        at_risk_players=int(at_risk["user_id"].nunique()),
        excluded_volatility_impressions=int(frame["excluded_volatility"].sum()),
        guardrail_activations=_activations(frame),
    )
    if frame.empty:
        out["note"] = f"no served recommendations (impressions with a request_id) on {day}"
    return out


def _activations(frame: pd.DataFrame) -> dict[str, int]:
    """Lists served under each guardrail, as the service logged them on the impressions."""
    counts: dict[str, int] = {}
    lists = frame.drop_duplicates("request_id")
    for logged, n in lists["guardrails"].dropna().value_counts().items():
        for guardrail in str(logged).split(","):
            counts[guardrail] = counts.get(guardrail, 0) + int(n)
    return dict(sorted(counts.items()))


def responsible_play_evidence(settings: Settings, day: date) -> dict[str, Any]:
    """The responsible-play evidence of one delivery day (see the module docstring).

    Returns:
        `day, impressions, lists, restricted {impressions, lists, players, status OK|ALERT},
        high_volatility {at_risk|others: {impressions, high_volatility, share}}, at_risk_lists,
        at_risk_players, excluded_volatility_impressions, guardrail_activations {name: lists}`,
        plus `note` on a day without served lists.
    """
    return day_evidence(served_impressions(settings, day, day), day, settings)


def evidence_trend(settings: Settings, as_of: date, days: int = TREND_DAYS) -> list[dict]:
    """`responsible_play_evidence` of each of the `days` days ending at `as_of`, oldest first."""
    first = as_of - timedelta(days=days - 1)
    frame = served_impressions(settings, first, as_of)
    delivered = pd.to_datetime(frame["delivered_on"]).dt.date if not frame.empty else None
    out = []
    for i in range(days):
        day = first + timedelta(days=i)
        part = frame[delivered == day] if delivered is not None else frame
        out.append(day_evidence(part, day, settings))
    return out


def dashboard_values(evidence: dict[str, Any]) -> dict[str, float | None]:
    """The day's points for the dashboard's "Responsible play" tab."""
    values: dict[str, float | None] = {
        "rp_restricted_impressions": float(evidence["restricted"]["impressions"]),
        "rp_restricted_lists": float(evidence["restricted"]["lists"]),
        "rp_high_volatility_share_at_risk": evidence["high_volatility"]["at_risk"]["share"],
        "rp_high_volatility_share_others": evidence["high_volatility"]["others"]["share"],
        "rp_at_risk_lists": float(evidence["at_risk_lists"]),
    }
    for name in GUARDRAIL_COLUMNS:
        values[f"rp_guardrail_{name}"] = float(evidence["guardrail_activations"].get(name, 0))
    return values


# The list guardrails, in the order the service names them (a fixed set: the dashboard's
# panels are declared up front).
GUARDRAIL_COLUMNS = ("no_exploration", "no_new_games", "volatility_excluded", "volatility_demoted")
