"""The daily report: one self-contained HTML page a product manager can read, plus its numbers.

`build_daily_report(settings, as_of)` writes `<data>/reports/<day>/daily_report.html` and
`daily_report.json` (the same numbers, for machines). Sections, each with plots:

1. Data: raw events per delivery day, clean and quarantined (by reason), from the warehouse's
   `daily_ingest_counts` (the dbt ingest checks count them), else from the run reports;
2. Model: HR@10 / NDCG@10 per day, NeuMF against the baselines, from the run history's train
   steps, with today's alert status (`monitoring.quality`: margin below the trailing median);
3. Drift: today's data drift / embedding drift / recommendation drift flags, read from the
   JSON files the monitor step wrote under `reports/<day>/`, and drift share over the days;
4. A/B: the running experiment's readout (`monitoring.ab_daily`), or an honest "no data";
5. New games: the serving registry (`serving/new_games.sqlite`): impressions, plays, play rate
   against the graduation bar and the stage each game is in;
6. Service health: the service's Prometheus `/metrics` when `service_url` is set and answers;
7. Responsible play: recommendations to restricted players (must be 0: OK / ALERT), the
   high-volatility share of impressions to at-risk players against everyone else, and guardrail
   activations, per day (`monitoring.responsible_play`), plus the service's guardrail counters
   since it started when it answers.

A section that cannot be built says why in its place (and in the JSON's `warnings`); the rest
of the page is still written. Plots are Plotly figures with plotly.js embedded once, so the
page opens offline.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from monitoring import quality
from monitoring.daily_report_html import render_html
from monitoring.service_health import service_health
from slotrec.core.atomic import write_json_atomic, write_text_atomic
from slotrec.core.run_history import RunHistory
from slotrec.core.settings import Settings

log = logging.getLogger(__name__)

REPORT_DAYS = 14  # how many days (today included) the trend plots show
HTML_NAME, JSON_NAME = "daily_report.html", "daily_report.json"
DATA_DRIFT_TABLES = ("interactions", "user_features")


def _days(as_of: date, n: int = REPORT_DAYS) -> list[date]:
    return [as_of - timedelta(days=i) for i in range(n - 1, -1, -1)]


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        loaded = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    return loaded if isinstance(loaded, dict) else None


# --- 1. data ----------------------------------------------------------------------------------


def data_section(settings: Settings, as_of: date) -> dict[str, Any]:
    """Rows in / quarantined (by reason) / out per delivery day over the last `REPORT_DAYS`.

    The warehouse's `daily_ingest_counts` mart is the source; days it lacks are taken from the
    run reports (`runs/<day>/report.json`), which carry the same counts.
    """
    days = _days(as_of)
    found: dict[str, dict[str, Any]] = {}
    for day in days:  # run reports first; the warehouse overrides what it holds
        report = _read_json(settings.layout.run_dir(day) / "report.json") or {}
        for entry in report.get("ingest", []):
            if days[0].isoformat() <= entry["day"] <= as_of.isoformat():
                found[entry["day"]] = _day_counts(
                    entry["day"], entry["rows_in"], entry["rows_quarantined"], entry["rows_out"]
                )
    source = "run reports"
    warehouse = settings.layout.warehouse_path
    if warehouse.exists():
        from slotrec.core.run_report import read_ingest_counts

        for entry in read_ingest_counts(warehouse, days[0], as_of):
            found[entry.day] = _day_counts(
                entry.day, entry.rows_in, entry.rows_quarantined, entry.rows_out
            )
        source = "warehouse daily_ingest_counts"
    rows = [found[d] for d in sorted(found)]
    today = found.get(as_of.isoformat())
    return {
        "source": source,
        "days": rows,
        "today": today,
        "quarantined_by_reason": _sum_reasons(rows),
    }


def _day_counts(day: str, rows_in: int, quarantined: dict[str, int], rows_out: int) -> dict:
    return {
        "day": day,
        "rows_in": int(rows_in),
        "rows_quarantined": int(sum(quarantined.values())),
        "quarantined_by_reason": {k: int(v) for k, v in sorted(quarantined.items())},
        "rows_out": int(rows_out),
    }


def _sum_reasons(rows: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        for reason, count in row["quarantined_by_reason"].items():
            totals[reason] = totals.get(reason, 0) + count
    return dict(sorted(totals.items()))


# --- 2. model ---------------------------------------------------------------------------------


def model_section(settings: Settings, as_of: date, history: RunHistory) -> dict[str, Any]:
    """HR@10 / NDCG@10 per day (NeuMF and baselines), today's gaps and today's alert check."""
    recorded = history.step_metrics_by_day("train")
    first = _days(as_of)[0]
    days = []
    for day, metrics in sorted(recorded.items()):
        if not first <= day <= as_of:
            continue
        ndcg = {str(k): float(v) for k, v in metrics.get("test_full_ndcg10", {}).items()}
        if "test_ndcg10" in metrics:
            ndcg.setdefault("neumf", float(metrics["test_ndcg10"]))
        days.append(
            {
                "day": day.isoformat(),
                "bundle": metrics.get("bundle"),
                "promoted": metrics.get("promoted"),
                "hr10": float(metrics["test_hr10"]) if "test_hr10" in metrics else None,
                "ndcg10": ndcg,
            }
        )
    today = quality.quality_from_train_metrics(recorded.get(as_of, {}))
    out: dict[str, Any] = {"days": days, "margin": settings.quality_alert_margin}
    # today's NeuMF − baseline NDCG@10 gaps, with their paired intervals where recorded
    out["vs_baselines"] = recorded.get(as_of, {}).get("test_full_ndcg10_vs", {})
    if not today:
        out["note"] = f"no model was trained on {as_of}: no quality check today"
        out["checks"], out["is_alert"] = [], False
        return out
    checks = quality.day_checks(settings, today, recorded, as_of)
    out["checks"] = [c.to_dict() for c in checks]
    out["is_alert"] = any(c.is_alert for c in checks)
    return out


# --- 3. drift ---------------------------------------------------------------------------------


def _snapshot_drift_share(snapshot: dict[str, Any] | None) -> tuple[float, float] | None:
    """(share of drifted columns, the dataset drift share bar) from an Evidently snapshot."""
    for metric in (snapshot or {}).get("metrics", []):
        config = metric.get("config", {})
        if str(config.get("type", "")).endswith(":DriftedColumnsCount"):
            return float(metric["value"]["share"]), float(config.get("drift_share", 0.5))
    return None


def _day_drift(folder: Path) -> dict[str, Any]:
    """One day's drift flags, from the files the monitor step wrote into `folder`."""
    summary = _read_json(folder / "monitoring.json") or {}
    flags: dict[str, Any] = {}
    for name in DATA_DRIFT_TABLES:
        drift = summary.get("data_drift", {}).get(name)
        if drift and "drift_share" in drift:
            flags[f"data drift: {name}"] = {
                "status": "DRIFT" if drift["is_drifted"] else "OK",
                "share": float(drift["drift_share"]),
                "detail": (
                    f"{len(drift['drifted_columns'])} of {drift['columns']} columns drifted"
                    + (
                        f": {', '.join(drift['drifted_columns'])}"
                        if drift["drifted_columns"]
                        else ""
                    )
                ),
            }
            continue
        measured = _snapshot_drift_share(_read_json(folder / f"data_drift_{name}.json"))
        if measured is not None:
            share, bar = measured
            flags[f"data drift: {name}"] = {
                "status": "DRIFT" if share >= bar else "OK",
                "share": share,
                "detail": f"{share:.0%} of columns drifted (bar {bar:.0%})",
            }
        else:
            note = (drift or {}).get("note", "not measured")
            flags[f"data drift: {name}"] = {"status": "NOT MEASURED", "detail": note}

    embedding = _read_json(folder / "embedding_drift.json") or summary.get("embedding_drift", {})
    if "mean_aligned_cosine" in embedding:
        flags["embedding drift"] = {
            "status": "DRIFT" if embedding.get("is_drifted") else "OK",
            "cosine": float(embedding["mean_aligned_cosine"]),
            "overlap": float(embedding["neighbour_overlap"]),
            "detail": (
                f"aligned cosine {embedding['mean_aligned_cosine']:.3f}, neighbour overlap"
                f"@{embedding.get('k', 10)} {embedding['neighbour_overlap']:.3f} vs "
                f"{embedding.get('previous_bundle', 'the previous bundle')}"
            ),
        }
    else:
        flags["embedding drift"] = {
            "status": "NOT MEASURED",
            "detail": embedding.get("note", "no embedding drift file"),
        }

    measured = _snapshot_drift_share(_read_json(folder / "recommendations.json"))
    if measured is not None:
        share, bar = measured
        flags["recommendation drift"] = {
            "status": "DRIFT" if share >= bar else "OK",
            "share": share,
            "detail": f"{share:.0%} of served-list columns drifted against the reference (bar "
            f"{bar:.0%})",
        }
    else:
        note = summary.get("recommendations", {}).get("note", "no reference lists to compare")
        flags["recommendation drift"] = {"status": "NOT MEASURED", "detail": note}
    return flags


def drift_section(settings: Settings, as_of: date) -> dict[str, Any]:
    """Today's drift flags and each flag's share over the last `REPORT_DAYS`."""
    today = _day_drift(settings.layout.reports_dir(as_of))
    trend: dict[str, list[dict[str, Any]]] = {}
    for day in _days(as_of):
        folder = settings.layout.reports_dir(day)
        if not folder.is_dir():
            continue
        flags = today if day == as_of else _day_drift(folder)
        for name, flag in flags.items():
            value = flag.get("share", flag.get("cosine"))
            if value is not None:
                trend.setdefault(name, []).append({"day": day.isoformat(), "value": value})
    return {
        "flags": today,
        "drifted": sorted(n for n, f in today.items() if f["status"] == "DRIFT"),
        "trend": trend,
    }


# --- 5. new games -----------------------------------------------------------------------------


def new_games_section(settings: Settings) -> dict[str, Any]:
    """Every registered new game: impressions, plays, play rate and graduation stage."""
    from slotrec.core.policies.graduation import stage

    path = settings.layout.new_games_registry_path
    cap, bar = settings.new_game_exposure_cap, settings.new_game_min_play_rate
    out: dict[str, Any] = {"registry": str(path), "exposure_cap": cap, "min_play_rate": bar}
    if not path.exists():
        out["games"], out["note"] = [], "no new game has been registered"
        return out
    # read-only: the report must never create or lock the file the service writes
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as con:
        rows = con.execute(
            "select r.slot_id, r.registered_at, coalesce(e.impressions, 0), "
            "coalesce(e.plays, 0) from registrations as r left join exposure as e "
            "using (slot_id) order by r.seq"
        ).fetchall()
    con.close()
    games = [
        {
            "slot_id": slot_id,
            "registered_at": registered_at,
            "impressions": int(impressions),
            "plays": int(plays),
            "play_rate": plays / impressions if impressions else None,
            "stage": stage(int(impressions), int(plays), cap, bar),
        }
        for slot_id, registered_at, impressions, plays in rows
    ]
    out["games"] = games
    out["by_stage"] = {
        s: sum(g["stage"] == s for g in games) for s in ("exploring", "graduated", "retired")
    }
    if not games:
        out["note"] = "no new game has been registered"
    return out


# --- 7. responsible play ---------------------------------------------------------------------


def responsible_play_section(
    settings: Settings, as_of: date, service: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Today's responsible-play evidence, the same numbers per day over `REPORT_DAYS`, and the
    service's guardrail counters (since it started) when `service` is a reachable scrape."""
    from monitoring.responsible_play import evidence_trend

    days = evidence_trend(settings, as_of, REPORT_DAYS)
    today = days[-1]
    out: dict[str, Any] = {
        "today": today,
        "days": days,
        "status": today["restricted"]["status"],
        "guarded_levels": list(settings.risk_guarded_levels),
    }
    if service and service.get("status") == "ok":
        out["service_guardrails_since_start"] = service.get("guardrails_by_name", {})
    return out


# --- the page ---------------------------------------------------------------------------------


def build_daily_report(settings: Settings, as_of: date, history: RunHistory | None = None) -> Path:
    """Write `reports/<as_of>/daily_report.html` and `daily_report.json`; returns the HTML path.

    A section that fails is replaced by its error (logged, and listed under `warnings` in the
    JSON); the page is written either way.
    """
    history = history or RunHistory(settings.layout.run_history_path)
    folder = settings.layout.reports_dir(as_of)
    folder.mkdir(parents=True, exist_ok=True)
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "data": lambda: data_section(settings, as_of),
        "model": lambda: model_section(settings, as_of, history),
        "drift": lambda: drift_section(settings, as_of),
        "ab": lambda: _ab_section(settings, as_of, folder),
        "new_games": lambda: new_games_section(settings),
        "service": lambda: service_health(settings.service_url),
        # after "service", so its one scrape gives the guardrail counters too
        "responsible_play": lambda: responsible_play_section(
            settings, as_of, sections.get("service")
        ),
    }
    sections: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for name, build in builders.items():
        try:
            sections[name] = build()
        except Exception as exc:  # one broken source must not cost the whole page
            log.warning("daily report: section %s failed: %s", name, exc, exc_info=True)
            sections[name] = {"error": f"{type(exc).__name__}: {exc}"}
            warnings.append(f"daily report section '{name}' failed: {exc}")
    payload = {
        "as_of": as_of.isoformat(),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sections": sections,
        "warnings": warnings,
    }
    write_json_atomic(folder / JSON_NAME, payload)
    html_path = folder / HTML_NAME
    write_text_atomic(html_path, render_html(payload))
    return html_path


def _ab_section(settings: Settings, as_of: date, folder: Path) -> dict[str, Any]:
    from monitoring.ab_daily import daily_ab_readout

    return daily_ab_readout(settings, as_of, folder)
