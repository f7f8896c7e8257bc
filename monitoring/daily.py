"""The daily run's `monitor` step: every report of one day, written under `<data>/reports/<day>/`.

- `data_drift_interactions.{html,json}`, `data_drift_user_features.{html,json}`: Evidently data
  drift of the day against the reference window (`settings.drift_reference_days`);
- `quality.json`: HR@10 / NDCG@10 of the day's bundle against the trailing median, with alerts;
- `embedding_drift.json`: the new bundle's slot embeddings against the previous bundle's;
- `recommendations.{html,json}`: what was served that day (when the service served any);
- `responsible_play.json`: recommendations to restricted players (an alert when not 0), the
  high-volatility share at-risk vs everyone else, guardrail activations
  (`monitoring.responsible_play`);
- `monitoring.json`: the summary the run report carries.

The day's headline numbers also go into the Evidently workspace behind `slotrec dashboard`.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from monitoring import (
    dashboard,
    data_drift,
    embedding_drift,
    quality,
    recommendation_drift,
    responsible_play,
)
from monitoring.snapshots import save_snapshot
from slotrec.core.atomic import write_json_atomic
from slotrec.core.run_history import RunHistory
from slotrec.core.settings import Settings

log = logging.getLogger(__name__)


def monitor_day(
    settings: Settings, as_of: date, training: dict[str, Any], history: RunHistory
) -> dict[str, Any]:
    """Write every monitoring report of `as_of` and return the summary for the run report.

    Args:
        settings: platform settings (data dir, drift window, quality alert margin).
        as_of: the run day.
        training: the train step's result (empty when the run did not train).
        history: the run history, for the quality of earlier days.

    Returns:
        `reports_dir`, `data_drift`, `quality`, `embedding_drift`, `recommendations`,
        `dashboard_values`, `alerts` (quality below its margin) and `warnings` (drift flags).
    """
    layout = settings.layout
    folder = layout.reports_dir(as_of)
    folder.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"reports_dir": str(folder), "alerts": [], "warnings": []}
    values: dict[str, float | None] = {}

    summary["data_drift"] = {}
    for load in (data_drift.interaction_frames, data_drift.feature_frames):
        data = load(layout.warehouse_path, as_of, settings.drift_reference_days)
        snapshot, drift = data_drift.drift_report(data)
        if snapshot is not None:
            drift["files"] = save_snapshot(snapshot, folder, f"data_drift_{data.name}")
            values[f"{data.name}_drift_share"] = drift["drift_share"]
            if drift["is_drifted"]:
                summary["warnings"].append(
                    f"data drift in {data.name}: {', '.join(drift['drifted_columns'])}"
                )
        summary["data_drift"][data.name] = drift

    summary["quality"] = _quality(settings, as_of, training, history, folder)
    summary["alerts"].extend(
        c["message"] for c in summary["quality"].get("checks", []) if c["is_alert"]
    )
    values.update(summary["quality"].get("today", {}))
    valid = training.get("validation_ndcg10", {})
    values["valid_ndcg10"] = valid.get("neumf")
    values["valid_ndcg10_popularity"] = valid.get("popularity")

    summary["embedding_drift"] = _embedding_drift(settings, training, folder)
    emb = summary["embedding_drift"]
    values["embedding_aligned_cosine"] = emb.get("mean_aligned_cosine")
    values["embedding_neighbour_overlap"] = emb.get("neighbour_overlap")
    if emb.get("is_drifted"):
        summary["warnings"].append(
            f"slot embeddings moved: aligned cosine {emb['mean_aligned_cosine']:.3f}, "
            f"neighbour overlap@{emb['k']} {emb['neighbour_overlap']:.3f}"
        )

    summary["recommendations"] = _recommendations(settings, as_of, folder)
    for key in ("coverage", "personalisation", "popularity_bias", "novelty"):
        values[key] = summary["recommendations"].get(key)

    summary["responsible_play"] = _responsible_play(settings, as_of, folder)
    if summary["responsible_play"].get("restricted", {}).get("status") == "ALERT":
        restricted = summary["responsible_play"]["restricted"]
        summary["alerts"].append(
            f"{restricted['lists']} list(s) ({restricted['impressions']} impressions) were "
            f"served to {restricted['players']} restricted player(s) on {as_of}"
        )
    if summary["responsible_play"].get("restricted"):
        values.update(responsible_play.dashboard_values(summary["responsible_play"]))

    # one record per day: record_day replaces the day's snapshot, so every value goes in it
    summary["dashboard_values"] = {k: v for k, v in values.items() if v is not None}
    dashboard.record_day(layout.monitoring_workspace_dir, as_of, values)
    write_json_atomic(folder / "monitoring.json", summary)
    return summary


def _quality(
    settings: Settings,
    as_of: date,
    training: dict[str, Any],
    history: RunHistory,
    folder: Path,
) -> dict[str, Any]:
    today = quality.quality_from_train_metrics(training)
    if not today:
        return {"note": "no model trained in this run"}
    recorded = history.step_metrics_by_day("train", before=as_of)
    past = quality.quality_history(recorded)
    checks = quality.day_checks(settings, today, recorded, as_of)
    out = {
        "today": today,
        "history": {day.isoformat(): metrics for day, metrics in past.items()},
        "checks": [c.to_dict() for c in checks],
        "margin": settings.quality_alert_margin,
        "window_days": settings.quality_history_days,
    }
    write_json_atomic(folder / "quality.json", out)
    return out


def _embedding_drift(settings: Settings, training: dict[str, Any], folder: Path) -> dict[str, Any]:
    previous, new = training.get("previous_bundle"), training.get("bundle")
    if not previous or not new or previous == new:
        return {"note": "no previous bundle to compare with"}

    from training.model_store import model_store

    out = embedding_drift.bundle_embedding_drift(previous, new, model_store(settings))
    write_json_atomic(folder / "embedding_drift.json", out)
    return out


def _responsible_play(settings: Settings, as_of: date, folder: Path) -> dict[str, Any]:
    """The day's responsible-play evidence, written to `responsible_play.json`."""
    try:
        evidence = responsible_play.responsible_play_evidence(settings, as_of)
    except (duckdb.Error, OSError, ValueError) as exc:  # e.g. an unreadable registry file
        log.warning("responsible-play evidence failed: %s", exc, exc_info=True)
        return {"note": f"responsible-play evidence could not be computed: {exc}"}
    write_json_atomic(folder / "responsible_play.json", evidence)
    return evidence


# The served lists' impressions, by delivery day, with each tile's place in its list as the
# service logged it (lists logged before it did: their order by time, then event id).
SERVED_IMPRESSIONS_QUERY = """
        select request_id, user_id, slot_id, delivered_on,
            coalesce(
                list_position,
                row_number() over (partition by request_id order by occurred_at, event_id)
            ) as position
        from recommendation_events
        where event_type = 'impression' and delivered_on between ? and ?
"""


def _recommendations(settings: Settings, as_of: date, folder: Path) -> dict[str, Any]:
    warehouse = settings.layout.warehouse_path
    current, reference = data_drift.query_window(
        warehouse, SERVED_IMPRESSIONS_QUERY, "delivered_on", as_of, settings.drift_reference_days
    )
    if current.empty:
        return {"note": "no served recommendations (impressions with a request_id) on this day"}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        players = con.execute(
            "select slot_id, count(distinct user_id) from interactions group by slot_id"
        ).df()
        counts = con.execute(
            "select (select count(distinct user_id) from interactions),"
            " (select count(*) from slots where is_active)"
        ).fetchone()
    n_players, catalogue = (int(counts[0]), int(counts[1])) if counts else (0, 0)
    slot_players = players.set_index("slot_id").iloc[:, 0]
    metrics = recommendation_drift.recommendation_metrics(
        current, slot_players, n_players, catalogue
    )
    snapshot = recommendation_drift.recommendation_report(
        current, reference, slot_players, n_players
    )
    metrics["files"] = save_snapshot(snapshot, folder, "recommendations")
    write_json_atomic(folder / "recommendations_metrics.json", metrics)
    return metrics
