"""Responsible-play evidence: restricted / at-risk numbers on tiny data, counted by hand."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from bentos.restrictions import RestrictionRegistry, history_rows
from monitoring.ab_daily import daily_ab_readout
from monitoring.ab_readout import ab_readout
from monitoring.daily_report import build_daily_report
from monitoring.responsible_play import (
    dashboard_values,
    responsible_play_evidence,
    served_impressions,
)
from slotrec.core.policies.experiments import Strategy, assign, load_experiments
from slotrec.core.policies.guardrails import risk_policy
from slotrec.core.settings import Settings

DAY = date(2026, 1, 10)
VOLATILITY = {"s_low": "low", "s_med": "medium", "s_high": "high", "s_vh": "very_high"}

# Served lists of DAY (request id → player, hour, slots). By hand:
# - u_ex is self-excluded (since DAY-1, still in force): 2 lists, 6 impressions → ALERT 2 / 6;
# - u_lifted's restriction was lifted at 10:00, its list is at 11:00 → not restricted;
# - u_cool's cooling-off ended at 08:00, its list is at 09:00 → not restricted;
# - u_risk is 'elevated' in the DAY-1 snapshot ('none' in DAY's own, which the service could
#   not know yet): 10 impressions, 3 high or very_high → 0.3; one very_high is excluded for
#   'elevated' → 1 excluded-volatility impression; 2 lists → 2 activations of each of the
#   level's 4 list guardrails;
# - everyone else: u_ex 6 (2 high) + u_lifted 3 (2) + u_cool 3 (2) + u_other 8 (4) = 20 with
#   10 high → 0.5.
LISTS: dict[str, tuple[str, int, list[str]]] = {
    "r-ex-1": ("u_ex", 12, ["s_high", "s_low", "s_med"]),
    "r-ex-2": ("u_ex", 13, ["s_high", "s_low", "s_med"]),
    "r-lifted": ("u_lifted", 11, ["s_high", "s_vh", "s_low"]),
    "r-cool": ("u_cool", 9, ["s_high", "s_high", "s_low"]),
    "r-other-1": ("u_other", 12, ["s_high", "s_vh", "s_low", "s_med"]),
    "r-other-2": ("u_other", 14, ["s_high", "s_vh", "s_low", "s_med"]),
    "r-risk-1": ("u_risk", 15, ["s_high", "s_high", "s_low", "s_med", "s_low"]),
    "r-risk-2": ("u_risk", 16, ["s_vh", "s_low", "s_med", "s_low", "s_med"]),
}


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _warehouse(settings: Settings) -> None:
    rows: list[tuple[Any, ...]] = []
    for request, (user, hour, slots) in LISTS.items():
        for rank, slot in enumerate(slots):
            at = _at(DAY, hour).replace(tzinfo=None)
            rows.append((f"{request}-{rank}", user, slot, "impression", at, request, DAY, None))
    noon = _at(DAY, 12).replace(tzinfo=None)
    # not served lists: quarantined, and an impression without a request id
    rows.append(("q-0", "u_ex", "s_low", "impression", noon, "r-q", DAY, "duplicate_event"))
    rows.append(("n-0", "u_ex", "s_low", "impression", noon, None, DAY, None))
    rows.append(("c-0", "u_ex", "s_low", "click", noon, "r-ex-1", DAY, None))
    # the day before: one list of one impression to u_ex, restricted then too
    before = _at(DAY - timedelta(days=1), 20).replace(tzinfo=None)
    rows.append(
        ("r-old-0", "u_ex", "s_low", "impression", before, "r-old", DAY - timedelta(1), None)
    )
    path = settings.layout.warehouse_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table recommendation_events (event_id varchar, user_id varchar, "
            "slot_id varchar, event_type varchar, occurred_at timestamp, request_id varchar, "
            "delivered_on date, session_id varchar default null, "
            "duration_seconds double default 0, experiment varchar default null, "
            "variant varchar default null, list_position bigint default 1, "
            "guardrails varchar default null)"
        )
        # the mart holds the clean rows only: a quarantined impression never reaches it; each
        # impression names the arm and the guardrails of its list, as the service logs them
        con.executemany(
            "insert into recommendation_events (event_id, user_id, slot_id, event_type, "
            "occurred_at, request_id, delivered_on, experiment, variant, guardrails) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (*row[:-1], *_logged(settings, row[1], row[3]))
                for row in rows
                if row[-1] is None and row[5] is not None
            ],
        )
        con.execute("create table slots (slot_id varchar, volatility varchar)")
        con.executemany("insert into slots values (?, ?)", list(VOLATILITY.items()))
        con.execute(
            "create table player_risk (snapshot_on date, user_id varchar, risk_level varchar)"
        )
        con.executemany(
            "insert into player_risk values (?, ?, ?)",
            [
                (DAY - timedelta(days=3), "u_risk", "none"),
                (DAY - timedelta(days=1), "u_risk", "elevated"),
                (DAY, "u_risk", "none"),
                (DAY - timedelta(days=1), "u_other", "none"),
            ],
        )


def _logged(settings: Settings, user: str, event_type: str) -> tuple[Any, Any, Any]:
    """(experiment, variant, guardrails) the service logs on an impression of `user`'s list:
    u_risk was 'elevated' when served, so its lists carry that level's list guardrails."""
    if event_type != "impression":
        return None, None, None
    experiment, variant, _ = assign(
        load_experiments(settings), user, Strategy.from_settings(settings)
    )
    policy = risk_policy("elevated", settings) if user == "u_risk" else None
    return experiment, variant, ",".join(policy.list_guardrails) if policy else None


def _registry(settings: Settings) -> None:
    """History rows with hand-set times (the registry stamps `now`, which a test can't pin)."""
    RestrictionRegistry(settings.layout.restrictions_registry_path).of("u_x")  # the schema
    start = _at(DAY - timedelta(days=1), 0).timestamp()
    rows = [
        ("u_ex", "file", "self_exclusion", None, start, None),
        ("u_lifted", "admin", "self_exclusion", None, start, _at(DAY, 10).timestamp()),
        ("u_cool", "admin", "cooling_off", _at(DAY, 8).timestamp(), start, None),
        # set only after its list was served: not restricted for it
        (
            "u_other",
            "admin",
            "cooling_off",
            _at(DAY, 23).timestamp(),
            _at(DAY, 20).timestamp(),
            None,
        ),
    ]
    with sqlite3.connect(settings.layout.restrictions_registry_path) as con:
        con.executemany("insert into restriction_history values (?, ?, ?, ?, ?, ?)", rows)
    con.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path)
    _warehouse(settings)
    _registry(settings)
    return settings


def test_evidence_matches_the_hand_count(settings: Settings) -> None:
    evidence = responsible_play_evidence(settings, DAY)
    assert evidence["impressions"] == 30
    assert evidence["lists"] == 8
    assert evidence["restricted"] == {"impressions": 6, "lists": 2, "players": 1, "status": "ALERT"}
    assert evidence["high_volatility"] == {
        "at_risk": {"impressions": 10, "high_volatility": 3, "share": 0.3},
        "others": {"impressions": 20, "high_volatility": 10, "share": 0.5},
    }
    assert evidence["at_risk_lists"] == 2
    assert evidence["at_risk_players"] == 1
    assert evidence["excluded_volatility_impressions"] == 1
    assert evidence["guardrail_activations"] == {
        "no_exploration": 2,
        "no_new_games": 2,
        "volatility_demoted": 2,
        "volatility_excluded": 2,
    }
    assert "note" not in evidence
    values = dashboard_values(evidence)
    assert values["rp_restricted_lists"] == 2.0
    assert values["rp_high_volatility_share_at_risk"] == 0.3
    assert values["rp_high_volatility_share_others"] == 0.5


def test_restriction_is_judged_at_the_impression_time(settings: Settings) -> None:
    frame = served_impressions(settings, DAY, DAY)
    restricted = frame.groupby("user_id")["restricted"].any().to_dict()
    assert restricted == {
        "u_ex": True,
        "u_lifted": False,
        "u_cool": False,
        "u_other": False,
        "u_risk": False,
    }
    yesterday = responsible_play_evidence(settings, DAY - timedelta(days=1))
    assert yesterday["restricted"]["lists"] == 1
    assert yesterday["restricted"]["status"] == "ALERT"


def test_an_empty_day_says_so(settings: Settings) -> None:
    evidence = responsible_play_evidence(settings, DAY + timedelta(days=1))
    assert evidence["impressions"] == 0
    assert evidence["restricted"]["status"] == "OK"
    assert evidence["high_volatility"]["at_risk"]["share"] is None
    assert evidence["guardrail_activations"] == {}
    assert (
        evidence["note"]
        == "no served recommendations (impressions with a request_id) on 2026-01-11"
    )


def test_no_restricted_player_is_ok(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    _warehouse(settings)  # no registry file at all
    evidence = responsible_play_evidence(settings, DAY)
    assert evidence["restricted"]["impressions"] == 0
    assert evidence["restricted"]["status"] == "OK"
    assert evidence["high_volatility"]["others"]["impressions"] == 20


def test_daily_report_json_and_page_carry_the_hand_count(settings: Settings) -> None:
    html_path = build_daily_report(settings, DAY)
    payload = json.loads((html_path.parent / "daily_report.json").read_text())
    section = payload["sections"]["responsible_play"]
    assert section["status"] == "ALERT"
    today = section["today"]
    assert today["restricted"]["lists"] == 2
    assert today["restricted"]["impressions"] == 6
    assert today["high_volatility"]["at_risk"]["share"] == 0.3
    assert today["high_volatility"]["others"]["share"] == 0.5
    assert today["guardrail_activations"]["no_exploration"] == 2
    assert len(section["days"]) == 14
    by_day = {d["day"]: d["restricted"]["lists"] for d in section["days"]}
    assert by_day["2026-01-09"] == 1 and by_day["2026-01-10"] == 2
    assert sum(by_day.values()) == 3
    page = html_path.read_text()
    assert 'id="section-responsible_play"' in page
    assert "recommendations to restricted players: ALERT" in page
    assert "Recommendations to restricted players (must be 0)" in page


def test_registry_keeps_history_of_lifted_and_replaced_rows(tmp_path: Path) -> None:
    path = tmp_path / "restrictions.sqlite"
    registry = RestrictionRegistry(path)
    registry.set("u1", "self_exclusion", None)
    registry.set("u1", "cooling_off", datetime(2030, 1, 1, tzinfo=UTC))  # replaces
    assert registry.remove("u1")
    registry.replace_source("file", [])
    rows = sorted(history_rows(path), key=lambda r: r[4])
    assert [(r[0], r[2]) for r in rows] == [("u1", "self_exclusion"), ("u1", "cooling_off")]
    assert all(r[5] is not None for r in rows)  # both ended: replaced, then lifted
    assert rows[0][5] <= rows[1][4]
    assert registry.active("u1") is None


def test_the_day_goes_into_the_dashboard_snapshot(settings: Settings) -> None:
    from monitoring.daily import _responsible_play
    from monitoring.dashboard import open_project, record_day

    folder = settings.layout.reports_dir(DAY)
    folder.mkdir(parents=True)
    evidence = _responsible_play(settings, DAY, folder)
    assert json.loads((folder / "responsible_play.json").read_text()) == evidence
    workspace_dir = settings.layout.monitoring_workspace_dir
    # one record per day (a second one would replace the first): other values ride along
    assert record_day(workspace_dir, DAY, {"hr10": 0.3, **dashboard_values(evidence)}) == 10
    workspace, project = open_project(workspace_dir)
    (snapshot_id,) = workspace.list_runs(project.id)
    snapshot = workspace.get_run(project.id, snapshot_id)
    recorded = {r.display_name.split("'")[1]: r.value for r in snapshot.metric_results.values()}
    assert recorded["rp_restricted_lists"] == 2.0
    assert recorded["rp_restricted_impressions"] == 6.0
    assert recorded["rp_high_volatility_share_at_risk"] == pytest.approx(0.3)
    assert recorded["rp_high_volatility_share_others"] == pytest.approx(0.5)
    assert recorded["rp_guardrail_volatility_demoted"] == 2.0
    assert recorded["hr10"] == pytest.approx(0.3)


def _readout_with(served: pd.DataFrame, variant_of: dict[str, str]) -> Any:
    served = served.assign(variant=served["user_id"].map(variant_of))
    impressions = served[["request_id", "user_id", "variant"]]
    clicks = pd.DataFrame({"request_id": ["r-other-1"], "slot_id": ["s_low"]})
    plays = pd.DataFrame({"request_id": ["r-other-1"], "slot_id": ["s_low"], "minutes": [3.0]})
    return ab_readout(impressions, clicks, plays, control="A", served=served)


def test_ab_readout_carries_the_responsible_play_guardrails(settings: Settings) -> None:
    served = served_impressions(settings, DAY, DAY)
    # A: u_other, u_cool, u_lifted (14 impressions, 8 high, nobody at risk or restricted);
    # B: u_ex (6, 2 high, restricted) and u_risk (10 at risk, 3 high)
    variant_of = {"u_other": "A", "u_cool": "A", "u_lifted": "A", "u_ex": "B", "u_risk": "B"}
    readout = _readout_with(served, variant_of)
    assert readout.responsible_play["A"] == {
        "impressions": 14,
        "at_risk_impressions": 0,
        "at_risk_high_volatility": 0,
        "high_volatility_share_at_risk": None,
        "high_volatility_share_others": 8 / 14,
        "restricted_impressions": 0,
        "restricted_lists": 0,
    }
    b = readout.responsible_play["B"]
    assert (b["impressions"], b["at_risk_impressions"], b["at_risk_high_volatility"]) == (16, 10, 3)
    assert b["high_volatility_share_at_risk"] == 0.3
    assert b["high_volatility_share_others"] == pytest.approx(2 / 6)
    assert (b["restricted_impressions"], b["restricted_lists"]) == (6, 2)
    guards = {g.name: g for g in readout.guardrails}
    assert guards["restricted_impressions"].status == "fail"
    assert guards["restricted_impressions"].variant_value == 6.0
    # only B showed an at-risk player anything: no comparison yet
    assert guards["at_risk_high_volatility_share"].status == "inconclusive"

    # the restricted player in control: the treatment does not fail for it
    swapped = _readout_with(served, {**variant_of, "u_ex": "A"})
    guards = {g.name: g for g in swapped.guardrails}
    assert guards["restricted_impressions"].status == "pass"
    assert guards["restricted_impressions"].control_value == 6.0
    # nobody at risk in either arm: nothing to guard, and it does not block
    no_risk = _readout_with(served[served["user_id"] != "u_risk"], variant_of)
    guards = {g.name: g for g in no_risk.guardrails}
    assert guards["at_risk_high_volatility_share"].status == "not_applicable"


def test_daily_ab_readout_reads_the_same_served_data(settings: Settings) -> None:
    folder = settings.layout.reports_dir(DAY)
    folder.mkdir(parents=True)
    readout = daily_ab_readout(settings, DAY, folder)
    assert readout["status"] == "ok"
    experiments = load_experiments(settings)
    base = Strategy.from_settings(settings)
    variant = {u: assign(experiments, u, base)[1] for u in ("u_ex", "u_risk")}
    play = readout["responsible_play"]
    # cumulative up to DAY: u_ex's list of the day before counts too (7 impressions, 3 lists)
    assert sum(n["restricted_impressions"] for n in play.values()) == 7
    assert play[variant["u_ex"]]["restricted_lists"] == 3
    assert play[variant["u_risk"]]["at_risk_impressions"] == 10
    assert play[variant["u_risk"]]["at_risk_high_volatility"] == 3
    names = {g["name"] for g in readout["guardrails"]}
    assert {"restricted_impressions", "at_risk_high_volatility_share"} <= names
