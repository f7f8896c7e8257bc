"""The soak benchmark's bookkeeping: windows, fault reports, event accounting, memory, targets.

No server here: the outcomes are written by hand, so every number below is known exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.soak_bench import (
    EVENTS,
    RECOMMEND,
    Fault,
    Outcome,
    _targets,
    event_accounting,
    fault_report,
    fault_schedule,
    process_tree,
    tree_rss_bytes,
    window_stats,
)


def rec(sent: float, ms: float = 10.0, **fields: object) -> Outcome:
    base: dict = {"status": 200, "model_version": "m:a"}
    return Outcome(sent=sent, done=sent + ms / 1000, kind=RECOMMEND, **(base | fields))


def event(sent: float, event_id: str, **fields: object) -> Outcome:
    base: dict = {"status": 200}
    return Outcome(sent=sent, done=sent + 0.005, kind=EVENTS, event_id=event_id, **(base | fields))


def test_window_stats_counts_each_window_and_keeps_empty_ones():
    outcomes = [rec(0.5, 10), rec(1.0, 30), event(4.9, "e1", degraded=True)]
    outcomes += [rec(5.0, status=503), rec(6.0, fallback=True), rec(14.0)]
    windows = window_stats(outcomes, 5.0, 20.0)
    assert [w["start_s"] for w in windows] == [0.0, 5.0, 10.0, 15.0]
    assert [w["requests"] for w in windows] == [3, 2, 1, 0]
    first, second = windows[0], windows[1]
    assert (first["recommend"], first["events"], first["degraded_events"]) == (2, 1, 1)
    assert first["errors"] == 0 and first["p99_ms"] == pytest.approx(29.6, abs=0.05)
    assert (second["errors"], second["fallback"]) == (1, 1)
    assert windows[3]["p50_ms"] is None  # a stall shows as a window without requests
    with pytest.raises(ValueError, match="window_seconds"):
        window_stats(outcomes, 0, 20)


def test_fault_schedule_scales_with_the_run_and_keeps_outages_long_enough():
    full = dict((name, (start, end)) for name, start, end in fault_schedule(600))
    assert full["online_store_down"] == (168.0, 198.0)  # 30 s at 600 s
    assert full["reload_new_bundle"] == (270.0, 270.0)  # a moment
    short = dict((name, (start, end)) for name, start, end in fault_schedule(90))
    assert short["online_store_down"][0] == pytest.approx(25.2)
    assert short["online_store_down"][1] - short["online_store_down"][0] == pytest.approx(5.0)
    starts = [start for _, start, _ in fault_schedule(90)]
    assert starts == sorted(starts)
    ends = [end for _, _, end in fault_schedule(90)]
    assert all(end <= 90 for end in ends)


def test_fault_report_splits_during_and_after_and_measures_recovery():
    fault = Fault("online_store_down", "tables renamed", "fallback", 10.0, 20.0)
    fault.start, fault.end, fault.events_count = 10.0, 20.0, True
    outcomes = [rec(5.0)]  # before: not counted
    outcomes += [rec(11.0, fallback=True), rec(12.0, fallback=True), rec(13.0)]
    outcomes += [event(14.0, "e1", degraded=True)]
    outcomes += [rec(20.2, fallback=True), event(21.5, "e2"), rec(22.0)]
    report = fault_report(fault, outcomes, window_seconds=5.0)
    during = report["during"]
    assert (during["requests"], during["recommend"], during["fallback"]) == (4, 3, 2)
    assert during["degraded_events"] == 1 and during["fallback_share"] == pytest.approx(0.667)
    assert during["errors"] == 0
    assert report["after"]["requests"] == 3 and report["after"]["abnormal"] == 1
    assert report["recovery_seconds"] == pytest.approx(1.5)  # the event at 21.5 s is normal


def test_recovery_waits_for_the_expected_model_version():
    fault = Fault("reload_new_bundle", "promote + reload", "switch", 30.0, 30.0)
    fault.start, fault.end, fault.normal_version = 30.0, 31.0, "m:b"
    outcomes = [rec(31.0), event(31.1, "e"), rec(31.4, model_version="m:b")]
    report = fault_report(fault, outcomes, window_seconds=5.0)
    # events carry no version: they do not tell whether the switch happened
    assert report["recovery_seconds"] == pytest.approx(0.4)
    assert report["after"]["abnormal"] == 1
    never = fault_report(fault, [rec(31.0)], window_seconds=5.0)
    assert never["recovery_seconds"] is None


def test_a_skipped_fault_is_reported_as_such():
    fault = Fault("online_store_down", "d", "e", 1.0, 2.0, skipped="online store is redis")
    assert fault_report(fault, [rec(1.5)], 5.0)["skipped"] == "online store is redis"


def test_event_accounting_names_the_lost_events():
    got = event_accounting(["e1", "e2", "e3", "e3"], ["e1", "e3", "other", "e1"])
    assert got == {
        "events_sent": 3,
        "events_in_raw_files": 2,
        "events_lost": 1,
        "lost_examples": ["e2"],
    }


def fake_proc(root: Path, processes: dict[int, tuple[int, str, int]]) -> Path:
    """A /proc with `pid: (ppid, comm, rss_kb)`."""
    for pid, (ppid, comm, rss_kb) in processes.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text(f"{pid} ({comm}) S {ppid} 1 1 0 -1\n")
        (root / str(pid) / "status").write_text(f"Name:\t{comm}\nVmRSS:\t{rss_kb} kB\n")
    return root


def test_memory_is_summed_over_the_process_tree(tmp_path: Path):
    proc = fake_proc(
        tmp_path,
        {
            100: (1, "python", 1000),
            101: (100, "bentoml (worker) 1", 2000),  # spaces and parentheses in the name
            102: (101, "child", 500),
            200: (1, "someone else", 9000),
        },
    )
    assert sorted(process_tree(100, proc)) == [100, 101, 102]
    assert tree_rss_bytes(100, proc) == 3500 * 1024
    assert tree_rss_bytes(200, proc) == 9000 * 1024


def test_targets_fail_on_errors_lost_events_growth_and_an_accepted_bad_reload():
    totals = {"errors": 0}
    generator = {"shed_by_generator": 0}
    events = {
        "events_lost": 0,
        "events_degraded": 4,
        "events_replayed": 4,
        "events_degraded_in_online_store": 4,
    }
    reason = {"error": "reload failed, still serving m:a: cannot load bundle m:c: bad"}
    refused = {"action": "POST /reload", "must_refuse": True, "status": 409, "answer": reason}
    faults = [
        {"name": "bundle_files_removed", "recovery_seconds": 0.0, "actions": [refused]},
        {"name": "corrupt_bundle_promoted", "recovery_seconds": 0.1, "actions": [refused]},
        {"name": "reload_new_bundle", "recovery_seconds": 0.2, "actions": []},
        {"name": "online_store_down", "recovery_seconds": 1.0, "actions": []},
    ]
    good = _targets(totals, generator, 0.05, events, faults)
    assert all(good.values()), good
    assert not _targets({"errors": 1}, generator, 0.05, events, faults)["zero_errors"]
    assert not _targets(totals, generator, 0.11, events, faults)["memory_growth_le_10pct"]
    lost = events | {"events_lost": 1, "events_replayed": 3}
    bad = _targets(totals, generator, 0.05, lost, faults)
    assert not bad["no_event_lost"] and not bad["degraded_events_replayed"]
    accepted = [dict(f, actions=[refused | {"status": 200}]) for f in faults]
    assert not _targets(totals, generator, 0.05, events, accepted)["corrupt_bundle_refused"]
    hidden = {"error": "An unexpected error has occurred, please check the server log."}
    silent = [dict(f, actions=[refused | {"answer": hidden}]) for f in faults]
    unexplained = _targets(totals, generator, 0.05, events, silent)
    assert unexplained["corrupt_bundle_refused"]
    assert not unexplained["reload_refusal_names_the_reason"]
    not_in_store = events | {"events_degraded_in_online_store": 3}
    assert not _targets(totals, generator, 0.05, not_in_store, faults)["degraded_events_replayed"]
    slow = [dict(f, recovery_seconds=9.0) for f in faults]
    assert not _targets(totals, generator, 0.05, events, slow)["recovery_within_5s"]


def test_the_command_refuses_a_soak_too_short_for_its_faults():
    from typer.testing import CliRunner

    from slotrec.cli import app

    result = CliRunner().invoke(app, ["bench", "soak", "--seconds", "10"])
    assert result.exit_code == 2
    assert "--seconds" in result.output
