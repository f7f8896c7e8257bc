"""End to end on a tiny simulated world: simulate → dbt build → Feast → online read.

Slow (real dbt, real Feast), so marked; CI runs it.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from feature_repo import store as feature_store
from slotrec.core import schema
from slotrec.core.settings import Settings
from slotrec.daily import StepFailed, run_daily
from slotrec.simulator import SimulationConfig, simulate_world

pytestmark = pytest.mark.slow

START = date(2026, 3, 1)
DAYS = 4
LAST = START + timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny dirty world, backfilled up to the day before last, then one daily run."""
    root = tmp_path_factory.mktemp("world")
    settings = Settings(data_dir=root)
    config = SimulationConfig(
        seed=3, n_players=400, n_slots=50, days=DAYS, start_date=START, dirt_rate=0.03
    )
    simulate_world(config, settings.layout)
    backfill, _ = run_daily(settings, LAST - timedelta(days=1), START, with_training=False)
    report, path = run_daily(settings, LAST)
    return settings, backfill, report, path


def _manifest(settings: Settings, day: date) -> dict:
    path = settings.layout.truth_dir / "dirt" / f"day={day.isoformat()}.json"
    return json.loads(path.read_text())


def test_quarantine_counts_equal_the_dirt_the_simulator_planted(world):
    settings, backfill, report, _ = world
    for day in [*backfill.ingest, *report.ingest]:
        manifest = _manifest(settings, date.fromisoformat(day.day))
        planted = {k: v for k, v in manifest["rejected"].items() if v}
        assert day.rows_quarantined == planted, day.day
        assert day.rows_in == manifest["delivered_rows"]
        assert day.rows_out == manifest["clean_rows"]
    assert report.status == "ok"
    assert sum(report.quarantined_by_reason().values()) > 0


def test_report_json_is_written_with_totals(world):
    _, _, report, path = world
    payload = json.loads(path.read_text())
    assert payload["status"] == "ok"
    assert payload["totals"]["rows_in"] == report.rows_in
    assert set(payload["step_seconds"]) == {
        "check_raw",
        "transform",
        "features",
        "train",
        "monitor",
        "report",
    }
    assert payload["features"]["online_rows_written"]["user_features"] > 0


def test_monitoring_reports_and_run_history(world):
    from slotrec.core.run_history import RunHistory

    settings, _, report, path = world
    folder = settings.layout.reports_dir(LAST)
    for name in ("data_drift_interactions", "data_drift_user_features"):
        assert (folder / f"{name}.html").stat().st_size > 10_000
        assert json.loads((folder / f"{name}.json").read_text())["metrics"]
    drift = report.monitoring["data_drift"]["interactions"]
    assert drift["current_rows"] > 0 and drift["reference_rows"] > 0
    assert set(drift["scores"]) == {
        "play_seconds",
        "session_count",
        "bet_amount",
        "seconds_per_session",
        "theme",
        "volatility",
    }
    quality = json.loads((folder / "quality.json").read_text())
    assert quality["today"]["hr10"] == report.training["test_hr10"]
    history = RunHistory(settings.layout.run_history_path)
    (latest, *_) = history.runs()
    assert latest["run_id"] == report.run_id and latest["status"] == "ok"
    assert latest["report_path"] == str(path)
    steps = {s["step"]: s for s in history.steps(report.run_id)}
    assert set(steps) == {"check_raw", "transform", "features", "train", "monitor", "report"}
    assert steps["train"]["bundle_version"] == report.training["bundle"]
    assert all(s["status"] == "ok" and s["duration_seconds"] >= 0 for s in steps.values())
    # the daily report page reads the real files: no section failed, numbers match the run
    page = json.loads((folder / "daily_report.json").read_text())
    assert report.monitoring["daily_report"] == str(folder / "daily_report.html")
    assert page["warnings"] == []
    assert page["sections"]["data"]["today"]["rows_in"] == report.ingest[-1].rows_in
    assert page["sections"]["model"]["days"][-1]["hr10"] == report.training["test_hr10"]
    assert set(page["sections"]["drift"]["flags"]) >= {"data drift: interactions"}


def test_resume_skips_finished_steps_and_redoes_a_failed_one(world, monkeypatch):
    import monitoring.daily

    settings, _, report, _ = world
    again, _ = run_daily(settings, LAST, resume=True)
    assert {s["step"]: s["status"] for s in again.steps} == {
        **dict.fromkeys(("check_raw", "transform", "features", "train", "monitor"), "skipped"),
        "report": "ok",  # the daily report page is always rebuilt
    }
    assert again.training["bundle"] == report.training["bundle"]  # the recorded result

    def broken(*args, **kwargs):
        raise RuntimeError("monitoring broke")

    (settings.layout.reports_dir(LAST) / "monitoring.json").unlink()  # its output is gone
    monkeypatch.setattr(monitoring.daily, "monitor_day", broken)
    with pytest.raises(StepFailed) as failure:
        run_daily(settings, LAST, resume=True)
    assert failure.value.step == "monitor"
    monkeypatch.undo()
    redone, _ = run_daily(settings, LAST, resume=True)
    statuses = {s["step"]: s["status"] for s in redone.steps}
    assert statuses["monitor"] == "ok"
    # (a concurrent edit of the dbt project or feature repo would rightly redo those steps)
    assert statuses == {
        **dict.fromkeys(("check_raw", "transform", "features", "train"), "skipped"),
        "monitor": "ok",
        "report": "ok",
    }
    assert (settings.layout.reports_dir(LAST) / "monitoring.json").exists()


def test_a_failing_dbt_test_stops_the_run_and_the_promoted_bundle_keeps_serving(world, tmp_path):
    import shutil

    from slotrec.core.run_history import RunHistory
    from training.promotion import PromotionRegistry

    settings, _, _, _ = world
    layout = settings.layout
    # a copy of the dbt project with one singular data test that always finds a "bad" row
    project = tmp_path / "dbt_project"
    shutil.copytree(settings.dbt_project_dir, project)
    (project / "tests" / "fails_on_purpose.sql").write_text("select 1 as bad_row\n")
    broken = Settings(data_dir=layout.root, dbt_project_dir=project)
    promoted = PromotionRegistry(layout.promoted_path).current
    warehouse_before = layout.warehouse_path.read_bytes()
    with pytest.raises(StepFailed) as failure:
        run_daily(broken, LAST)
    assert failure.value.step == "transform"
    assert "fails_on_purpose" in str(failure.value)
    assert PromotionRegistry(layout.promoted_path).current == promoted
    assert layout.warehouse_path.read_bytes() == warehouse_before
    (latest, *_) = RunHistory(layout.run_history_path).runs()
    assert (latest["status"], latest["failed_step"]) == ("failed", "transform")


def test_online_read_matches_a_hand_count_from_the_raw_events(world):
    settings, _, _, _ = world
    layout = settings.layout
    events = pd.concat(
        pd.read_parquet(layout.raw_events_day_dir(START + timedelta(days=i))) for i in range(DAYS)
    )
    # the hand count: clean play rows only (each simulator dirt row carries exactly one defect,
    # and clean rows are recognisable because their event ids occur once with a known slot)
    with duckdb.connect(str(layout.warehouse_path), read_only=True) as con:
        clean_ids = set(
            con.execute("select event_id from int_events_checked where reject_reason is null")
            .df()
            .event_id
        )
        top_user = con.execute(
            "select user_id from user_features where snapshot_on = ? "
            "order by play_seconds_30d desc limit 1",
            [LAST],
        ).fetchone()[0]
    clean = events[events.event_id.isin(clean_ids)].drop_duplicates("event_id")
    mine = clean[(clean.user_id == top_user) & (clean.occurred_at.dt.date <= LAST)]
    play = mine[mine.event_type.isin(["heartbeat", "session_end"])]
    expected_seconds = float(play.duration_seconds.sum())
    expected_days = play.occurred_at.dt.date.nunique()

    store = feature_store.open_store(settings)
    online = feature_store.online_features(store, "user_profile_v1", [{"user_id": top_user}])
    assert online["play_seconds_30d"][0] == pytest.approx(expected_seconds)
    assert online["active_days_30d"][0] == expected_days
    shares = [online[f"theme_share_{t}"][0] or 0.0 for t in schema.THEMES]
    assert sum(shares) == pytest.approx(1.0)


def test_derived_segments_agree_with_the_hidden_truth(world):
    settings, _, _, _ = world
    truth = pd.read_parquet(settings.layout.truth_dir / "players.parquet")[["user_id", "segment"]]
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        derived = con.execute(
            "select user_id, segment from users where first_played_at is not null"
        ).df()
    joined = derived.merge(truth, on="user_id", suffixes=("_derived", "_true"))
    agreement = (joined.segment_derived == joined.segment_true).mean()
    assert len(joined) > 100
    assert agreement > 0.7


def test_rerunning_a_day_gives_the_same_marts(world):
    settings, _, _, _ = world
    query = "select * from interactions order by user_id, slot_id"
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        before = con.execute(query).df()
    run_daily(settings, LAST, with_training=False)
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        after = con.execute(query).df()
    pd.testing.assert_frame_equal(before, after)


def test_unreadable_file_stops_the_run_and_leaves_everything_as_it_was(world):
    settings, _, _, _ = world
    layout = settings.layout
    next_day = LAST + timedelta(days=1)
    day_dir = layout.raw_events_day_dir(next_day)
    day_dir.mkdir(parents=True)
    source = next(layout.raw_events_day_dir(LAST).glob("*.parquet"))
    (day_dir / "part-00000.parquet").write_bytes(source.read_bytes()[:500])
    warehouse_before = layout.warehouse_path.read_bytes()
    online_before = layout.feast_online_path.read_bytes()
    try:
        with pytest.raises(StepFailed) as failure:
            run_daily(settings, next_day)
        assert failure.value.step == "check_raw"
        assert "part-00000.parquet" in str(failure.value)
        assert layout.warehouse_path.read_bytes() == warehouse_before
        assert layout.feast_online_path.read_bytes() == online_before
        report = json.loads((layout.run_dir(next_day) / "report.json").read_text())
        assert report["status"] == "failed"
        assert report["failed_step"] == "check_raw"
    finally:
        for path in day_dir.iterdir():
            path.unlink()
        day_dir.rmdir()


def test_daily_run_promoted_a_bundle_that_loads_back_with_identical_scores(world):
    import torch

    from training.bundle import Bundle
    from training.model_store import model_store
    from training.models import NCFModel
    from training.promotion import PromotionRegistry

    settings, _, report, _ = world
    assert report.training["promoted"] is True
    tag = PromotionRegistry(settings.layout.promoted_path).current
    assert tag == report.training["bundle"]
    store = model_store(settings)
    bundle = Bundle.load(tag, store)
    model = NCFModel.from_checkpoint(bundle.model_checkpoint)
    again = NCFModel.from_checkpoint(Bundle.load(tag, store).model_checkpoint)
    users = torch.arange(min(20, len(bundle.user_ids)))
    assert torch.equal(model.score_all(users), again.score_all(users))
    assert len(bundle.index) == len(bundle.index.slot_ids) > 0
    assert set(bundle.index.slot_ids) <= set(bundle.slot_ids)
    assert bundle.popularity["global"], "popularity list is empty"
    assert bundle.metrics["validation"]["neumf"]["ndcg10"] > 0
    assert set(bundle.metrics["validation"]) == {"popularity", "itemknn", "ease", "neumf"}
    # the run's summary carries NeuMF's test-day gap to each baseline with its interval
    gaps = report.training["test_full_ndcg10_vs"]
    assert set(gaps) == {"popularity", "itemknn", "ease"}
    for gap in gaps.values():
        low, high = gap["ci95"]
        assert low <= gap["delta"] <= high and 0.0 < gap["p_value"] <= 1.0


def test_gate_refuses_a_worse_bundle_and_rollback_restores_the_previous(world):
    from training.pipeline import run_training, slotrec_train_config
    from training.promotion import PromotionRegistry

    settings, _, _, _ = world
    registry = PromotionRegistry(settings.layout.promoted_path)
    first = registry.current
    # learning rates of zero leave NeuMF at its random initialisation: deliberately worse
    worse = run_training(settings, LAST, slotrec_train_config(lr=0.0, embedding_lr=0.0, epochs=1))
    assert not worse.promoted
    assert registry.current == first
    # the same recipe as the daily run reproduces its quality, so it passes and is promoted
    again = run_training(settings, LAST)
    assert again.promoted, again.decision.reason
    assert registry.current == again.bundle.version != first
    assert registry.rollback() == first
    assert registry.current == first
