"""The A/B readout of the running experiment, from the warehouse's clean events up to a day.

Every impression the service logs names the experiment and variant the list was made in (the
`recommendation_events` mart), so the readout takes the arm from what was served, never from
the rules again. The frames `monitoring.ab_readout` expects:

- impressions: clean `impression` events of the running experiment (one exposure per
  request), with their logged `variant`;
- clicks: clean `click` events with a `request_id`;
- plays: clean play events (`session_start`, `heartbeat`, `session_end`) with a `request_id`,
  one row per request, slot and session, `minutes` = played seconds / 60, with the slot's
  volatility for the guardrail.

For the responsible-play guardrails the same served impressions come flagged per impression
(`monitoring.responsible_play.served_impressions`: at-risk player, high-volatility slot,
restricted player at that moment), with the same variant.

Every day up to `as_of` the warehouse holds counts: the sequential (mSPRT) test stays valid
however often it is read, so the daily readout is cumulative.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from monitoring.ab_readout import ReadoutError, ab_readout, dashboard_values, write_readout
from slotrec.core.settings import Settings

EVENTS_QUERY = """
    select request_id, user_id, slot_id, session_id, event_type, occurred_at,
           coalesce(duration_seconds, 0) as duration_seconds, experiment, variant
    from recommendation_events
    where delivered_on <= ?
"""


def experiment_frames(
    warehouse: Path, as_of: date
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Impressions, clicks and attributed plays (without the variant) up to `as_of`."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        events = con.execute(EVENTS_QUERY, [as_of]).df()
        volatility = con.execute("select slot_id, volatility from slots").df()
    impressions = events.loc[
        events["event_type"] == "impression", ["request_id", "user_id", "experiment", "variant"]
    ]
    clicks = events.loc[events["event_type"] == "click", ["request_id", "slot_id", "occurred_at"]]
    play_rows = events[events["event_type"].isin(["session_start", "heartbeat", "session_end"])]
    plays = (
        play_rows.groupby(["request_id", "user_id", "slot_id", "session_id"], dropna=False)
        .agg(minutes=("duration_seconds", "sum"), occurred_at=("occurred_at", "min"))
        .reset_index()
    )
    plays["minutes"] = plays["minutes"] / 60.0
    plays = plays.merge(volatility, on="slot_id", how="left")
    return impressions.drop_duplicates().reset_index(drop=True), clicks, plays


def daily_ab_readout(settings: Settings, as_of: date, folder: Path) -> dict[str, Any]:
    """Read out the running experiment up to `as_of`; writes `ab_readout.{json,html}`.

    Returns:
        `{"status": "no_experiment" | "no_data" | "not_readable", "note"}` when there is
        nothing to read out, else `{"status": "ok", "experiment", "control", "verdict",
        "winner", "exposures" (by variant), "primary_metric", "estimates", "comparisons",
        "guardrails" (with the responsible-play ones), "responsible_play" (per variant:
        high-volatility share of impressions to at-risk players, impressions and lists to
        restricted players), "dashboard_values", "files"}`.
    """
    from slotrec.core.policies.experiments import load_experiments

    experiments = load_experiments(settings)
    if not experiments:
        return {"status": "no_experiment", "note": "no experiment is enabled"}
    experiment = experiments[0]
    if not settings.layout.warehouse_path.exists():
        return {"status": "no_data", "note": "no warehouse yet: no experiment data"}
    impressions, clicks, plays = experiment_frames(settings.layout.warehouse_path, as_of)
    impressions = impressions[impressions["experiment"] == experiment.name]
    if impressions.empty:
        return {
            "status": "no_data",
            "experiment": experiment.name,
            "note": "no experiment data: no served lists (impressions with a request_id) yet",
        }
    from monitoring.responsible_play import served_impressions

    served = served_impressions(settings, None, as_of)
    served = served[served["experiment"] == experiment.name]
    impressions = impressions.drop(columns="experiment")
    control = experiment.variants[0].name
    try:
        readout = ab_readout(
            impressions,
            clicks,
            plays,
            experiment=experiment.name,
            control=control,
            served=served,
        )
    except ReadoutError as exc:
        return {"status": "not_readable", "experiment": experiment.name, "note": str(exc)}
    files = write_readout(readout, folder)
    payload = readout.to_dict()
    primary = readout.primary_metric
    return {
        "status": "ok",
        "experiment": readout.experiment,
        "control": readout.control,
        "primary_metric": primary,
        "verdict": readout.verdict,
        "winner": readout.winner,
        "exposures": {v: e[primary].exposures for v, e in readout.estimates.items()},
        "estimates": payload["estimates"],
        "comparisons": payload["comparisons"],
        "guardrails": payload["guardrails"],
        "responsible_play": payload["responsible_play"],
        "dashboard_values": dashboard_values(readout),
        "files": files,
    }
