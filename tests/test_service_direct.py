"""The service class called directly (BentoML's first test level): behaviour of every endpoint."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from bentos import api
from bentos.app import SlotrecApp
from bentos.errors import NotFound
from bentos.realtime.store import LiveStateUnavailable
from slotrec.core import schema
from slotrec.core.policies.experiments import Experiment, Strategy, assign, bucket
from tests.service_world import (
    EXAMPLE_REQUEST,
    INACTIVE_SLOT,
    MALTA_ONLY_SLOT,
    THRESHOLD_SECONDS,
    build_world,
    play_events,
    serving_settings,
)
from training.bundle import Bundle
from training.model_store import model_store
from training.promotion import PromotionRegistry


@pytest.fixture
def service(tmp_path) -> Iterator[SlotrecApp]:
    svc = SlotrecApp(serving_settings(tmp_path))
    yield svc
    svc.store.close()


def _recommend(svc: SlotrecApp, **fields: object) -> api.RecommendResponse:
    return svc.recommend(api.RecommendRequest.model_validate(fields))


def _events(svc: SlotrecApp, events: list[dict]) -> api.EventsResponse:
    return svc.events(api.EventsRequest.model_validate({"events": events}))


def test_example_request_ranks_the_players_favourite_theme_first(service):
    world = build_world()
    response = service.recommend(api.RecommendRequest.model_validate(EXAMPLE_REQUEST))
    assert len(response.items) == EXAMPLE_REQUEST["k"]
    assert response.model_version == world.tag
    assert not response.fallback and not response.cold_start
    assert response.request_id.startswith("req-")
    assert response.experiment == "recent-weight-v1"
    assert response.variant in ("control", "recent-heavy")
    played = set(world.plays.loc[world.plays.user_id == "u0001", "slot_id"])
    ids = [item.slot_id for item in response.items]
    assert not played & set(ids)
    assert EXAMPLE_REQUEST["context"]["slot_id"] not in ids
    # the two best are the animals slots u0001 has not played yet
    assert [world.theme_of(s) for s in ids[:2]] == ["animals", "animals"]
    assert all(item.reason in ("similar", "history", "popular") for item in response.items)
    scores = [item.score for item in response.items]
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_rules_drop_inactive_foreign_and_excluded_slots(service):
    ids = set()
    for user in ("u0010", "u0011", "u0022"):  # all players are in GB or SE
        response = _recommend(service, user_id=user, k=50, exclude=["s000", "s001"])
        ids |= {item.slot_id for item in response.items}
    assert ids
    assert not ids & {INACTIVE_SLOT, MALTA_ONLY_SLOT, "s000", "s001"}


def test_a_played_slot_is_excluded_at_once_and_recent_play_steers_a_new_player(service):
    world = build_world()
    before = _recommend(service, user_id="u0001", k=5)
    top = before.items[0].slot_id
    accepted = _events(service, play_events("u0001", top, 30.0, "ses-excl"))
    assert accepted.accepted == 2 and not accepted.degraded
    after = _recommend(service, user_id="u0001", k=5)
    assert top not in {item.slot_id for item in after.items}

    # a player the model has never seen plays fishing for ten minutes: fishing comes next
    fishing = world.slots.loc[world.slots.theme == "fishing", "slot_id"].tolist()
    _events(service, play_events("new-player-1", fishing[0], 600.0, "ses-new"))
    steered = _recommend(service, user_id="new-player-1", k=5)
    assert steered.cold_start
    # the diversity cap (40% of 5) lets two slots of one theme into the list: both fishing
    themes = [world.theme_of(i.slot_id) for i in steered.items]
    assert themes[:2] == ["fishing", "fishing"] and themes.count("fishing") == 2
    assert fishing[0] not in {i.slot_id for i in steered.items}


def test_crossing_the_play_threshold_returns_and_keeps_a_suggestion(service):
    short = _events(service, play_events("u0030", "s006", THRESHOLD_SECONDS / 2, "ses-short"))
    assert short.suggestions == []
    long = _events(service, play_events("u0030", "s018", THRESHOLD_SECONDS + 1, "ses-long"))
    assert len(long.suggestions) == 1
    suggestion = long.suggestions[0]
    assert suggestion.after_slot_id == "s018"
    assert suggestion.seconds_played >= THRESHOLD_SECONDS
    suggested = [i.slot_id for i in suggestion.items]
    assert suggested and not {"s006", "s018"} & set(suggested)
    # the lobby finds it again with the player's next list
    kept = _recommend(service, user_id="u0030", k=3).suggestion
    assert kept is not None and [i.slot_id for i in kept.items] == suggested


def test_cold_start_without_and_with_onboarding(service):
    world = build_world()
    plain = _recommend(service, user_id="stranger-1", k=6)
    assert plain.cold_start and not plain.fallback
    assert {item.reason for item in plain.items} == {"popular"}

    saved = service.onboard(
        api.OnboardRequest(
            user_id="stranger-2", themes=["egypt"], providers=["Alpha", "NoSuchStudio"]
        )
    )
    assert saved.saved and saved.ignored_providers == ["NoSuchStudio"]
    steered = _recommend(service, user_id="stranger-2", k=4)
    assert steered.cold_start
    themes = [world.theme_of(item.slot_id) for item in steered.items]
    assert themes[:2] == ["egypt", "egypt"]
    assert "onboarding" in {item.reason for item in steered.items}


def test_unknown_context_slot_is_ignored_and_said_so(service):
    response = _recommend(service, user_id="u0001", k=3, context={"slot_id": "nope-1"})
    assert len(response.items) == 3
    assert response.notes == ["context.slot_id 'nope-1' is not a known slot: ignored"]


def test_similar_finds_the_same_theme_and_404s_an_unknown_slot(service):
    world = build_world()
    response = service.similar(api.SimilarRequest(slot_id="s013", k=3))
    assert [world.theme_of(i.slot_id) for i in response.items].count("animals") >= 2
    assert "s013" not in {i.slot_id for i in response.items}
    with pytest.raises(NotFound, match="nope-2"):
        service.similar(api.SimilarRequest(slot_id="nope-2"))


def test_a_new_game_is_indexed_explored_and_graduates_by_the_rule(tmp_path):
    settings = serving_settings(
        tmp_path, exploration_user_share=1.0, exploration_share=0.2, new_game_exposure_cap=3
    )
    svc = SlotrecApp(settings)
    other_worker = SlotrecApp(settings)
    try:
        registration = api.SlotRegistration(
            slot_id="s900",
            name="Deep Sea Fortune",
            provider="Alpha",
            theme="fishing",
            volatility="high",
            rtp=0.96,
            max_win_multiplier=5000,
            jurisdictions=["GB", "SE"],
        )
        registered = svc.slots(registration)
        assert registered.status == "new" and registered.in_index and registered.exploration
        # the other worker picks it up from the shared registry on its next request
        similar = other_worker.similar(api.SimilarRequest(slot_id="s900", k=3))
        assert len(similar.items) == 3

        shown = [
            _recommend(other_worker, user_id=f"u{u:04d}", k=10) for u in (5, 17, 29)
        ]  # fishing fans: the new game is their best exploration match
        for response in shown:
            new = [i for i in response.items if i.slot_id == "s900"]
            assert len(new) == 1 and new[0].reason == "new_game"
            assert sum(i.reason in ("new_game", "exploration") for i in response.items) == 2
        # three impressions reached the cap; one play in three passes a 2% play rate
        _events(svc, play_events("u0005", "s900", 60.0, "ses-newgame"))
        after = _recommend(svc, user_id="u0041", k=10)
        assert svc.state.pools.graduated == frozenset({"s900"})
        assert all(i.reason != "new_game" or i.because == "graduated" for i in after.items)
    finally:
        svc.store.close()
        other_worker.store.close()


def test_missing_bundle_answers_popular_with_fallback(tmp_path):
    settings = serving_settings(tmp_path)
    PromotionRegistry(settings.layout.promoted_path).promote("slotrec-ncf:doesnotexist")
    svc = SlotrecApp(settings)
    try:
        response = _recommend(svc, user_id="u0001", k=5, exclude=["s000"])
        assert response.fallback and response.model_version is None
        assert "slotrec-ncf:doesnotexist" in (response.fallback_reason or "")
        assert len(response.items) == 5
        assert {item.reason for item in response.items} == {"fallback"}
        assert "s000" not in {item.slot_id for item in response.items}
        assert not svc.ready()
    finally:
        svc.store.close()


def test_online_store_failure_answers_popular_with_fallback(service, monkeypatch):
    def down(user_id: str) -> None:
        raise LiveStateUnavailable("online store failed: disk I/O error")

    monkeypatch.setattr(service.store, "state", down)
    response = _recommend(service, user_id="u0001", k=4)
    assert response.fallback and response.model_version is not None
    assert response.fallback_reason.startswith("online store unavailable")
    assert len(response.items) == 4


def test_reload_swaps_bundles_while_requests_keep_being_answered(service):
    world = build_world()
    old = service.state.snapshot.version
    store = model_store(service.settings)
    new_tag = Bundle.load(world.tag, store).save(store)  # the same weights, a new version
    PromotionRegistry(service.settings.layout.promoted_path).promote(new_tag)
    versions: dict[int, list[str | None]] = {n: [] for n in range(4)}
    errors: list[BaseException] = []
    stop = threading.Event()

    def load(n: int) -> None:
        while not stop.is_set():
            try:
                response = _recommend(service, user_id="u0002", k=5)
                assert not response.fallback and len(response.items) == 5
                versions[n].append(response.model_version)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=load, args=(n,)) for n in versions]
    for t in threads:
        t.start()
    reloaded = service.reload()
    after = {n: len(v) for n, v in versions.items()}
    # each thread answers twice more after the swap: its second answer began after it
    deadline = time.monotonic() + 30
    while min(len(versions[n]) - after[n] for n in versions) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert reloaded.changed and reloaded.previous_version == old
    assert reloaded.model_version == new_tag
    served = [v for thread in versions.values() for v in thread]
    assert set(served) <= {old, new_tag}
    # a request in flight at the swap may finish on the old bundle; every later one is new
    assert all(thread[-1] == new_tag for thread in versions.values())
    assert service.reload().changed is False


def test_impressions_are_logged_as_raw_events_with_the_request_id(service):
    rows: list[dict] = []
    service.store.sink.add = rows.extend  # capture what would be appended to the raw files
    response = _recommend(service, user_id="u0003", k=4)
    assert [r["slot_id"] for r in rows] == [i.slot_id for i in response.items]
    assert {r["request_id"] for r in rows} == {response.request_id}
    assert {r["event_type"] for r in rows} == {"impression"}
    assert set(rows[0]) == set(schema.RAW_EVENT_COLUMNS)


def test_experiment_assignment_is_deterministic_and_follows_the_weights():
    experiment = Experiment.model_validate(
        {
            "name": "exp",
            "variants": [
                {"name": "a", "weight": 0.75},
                {"name": "b", "weight": 0.25, "params": {"recent_weight": 0.9}},
            ],
        }
    )
    strategy = Strategy(recent_weight=0.3, exploration_share=0.1, diversity_max_share=0.4)
    arms = [assign([experiment], f"user-{i}", strategy) for i in range(2000)]
    assert arms[:50] == [assign([experiment], f"user-{i}", strategy) for i in range(50)]
    share_b = sum(variant == "b" for _, variant, _ in arms) / len(arms)
    assert 0.22 < share_b < 0.28
    assert {s.recent_weight for _, v, s in arms if v == "b"} == {0.9}
    assert bucket("exp", "user-1") == bucket("exp", "user-1") != bucket("other", "user-1")
    assert assign([], "anyone", strategy) == (None, "default", strategy)


# --- responsible play: self-excluded and cooling-off players (bentos.restrictions) -------------


def _guardrail(endpoint: str, guardrail: str = "restricted") -> float:
    labels = {"guardrail": guardrail, "endpoint": endpoint}
    return REGISTRY.get_sample_value("slotrec_guardrail_total", labels) or 0.0


def _restrict(svc: SlotrecApp, user_id: str, **fields: object) -> api.RestrictionStatus:
    return svc.restrictions(api.RestrictionChange.model_validate({"user_id": user_id, **fields}))


def test_a_self_excluded_player_gets_nothing_from_any_endpoint_at_once(service):
    other_worker = SlotrecApp(service.settings)  # a second worker, same data dir
    try:
        # before: a normal list, and a kept suggestion from crossing the play threshold
        crossed = _events(service, play_events("u0030", "s018", THRESHOLD_SECONDS + 1, "ses-a"))
        assert len(crossed.suggestions) == 1
        before = _recommend(other_worker, user_id="u0030", k=5)
        assert len(before.items) == 5 and not before.restricted and before.suggestion is not None

        status = _restrict(service, "u0030", kind="self_exclusion", reason="asked in chat")
        assert status.restricted and status.changed
        assert [(r.kind, r.source, r.in_force) for r in status.restrictions] == [
            ("self_exclusion", "admin", True)
        ]

        rows: list[dict] = []
        other_worker.store.sink.add = rows.extend  # what reaches the raw files
        counted = _guardrail("recommend")
        # the very next request, in the other worker
        after = _recommend(other_worker, user_id="u0030", k=5)
        assert after.restricted and after.items == [] and after.suggestion is None
        assert not after.fallback and after.model_version == before.model_version
        assert rows == []  # nothing shown, so no impression logged
        assert _guardrail("recommend") == counted + 1

        similar = other_worker.similar(api.SimilarRequest(slot_id="s013", k=3, user_id="u0030"))
        assert similar.restricted and similar.items == []
        anonymous = other_worker.similar(api.SimilarRequest(slot_id="s013", k=3))
        assert not anonymous.restricted and len(anonymous.items) == 3

        # plays are still recorded (raw files and live state), but no suggestion is made
        events = play_events("u0030", "s030", THRESHOLD_SECONDS + 1, "ses-b")
        played = _events(other_worker, events)
        assert played.accepted == 2 and played.suggestions == [] and played.withheld == ["u0030"]
        assert {r["event_id"] for r in rows} == {"ses-b-start", "ses-b-hb"}
        assert "s030" in other_worker.store.state("u0030").played_slots

        onboarded = other_worker.onboard(api.OnboardRequest(user_id="u0030", themes=["egypt"]))
        assert onboarded.saved and onboarded.restricted
        assert _recommend(other_worker, user_id="u0030", k=5).items == []

        # lifting it restores recommendations at once
        lifted = _restrict(service, "u0030", action="remove")
        assert lifted.changed and not lifted.restricted and lifted.restrictions == []
        restored = _recommend(other_worker, user_id="u0030", k=5)
        assert len(restored.items) == 5 and not restored.restricted
        assert {"s018", "s030"}.isdisjoint(i.slot_id for i in restored.items)
        assert not _restrict(service, "u0030", action="remove").changed
    finally:
        other_worker.store.close()


def test_cooling_off_ends_by_itself(service):
    ends = datetime.now(UTC) + timedelta(hours=24)
    status = _restrict(service, "u0002", kind="cooling_off", until_at=ends.isoformat())
    assert status.restricted
    assert status.restrictions[0].until_at == ends.isoformat()
    assert _recommend(service, user_id="u0002", k=3).restricted
    # an ended cooling-off (written as the operator's file would) no longer restricts
    service.state.restriction_registry.set(
        "u0002", "cooling_off", datetime.now(UTC) - timedelta(seconds=1)
    )
    response = _recommend(service, user_id="u0002", k=3)
    assert not response.restricted and len(response.items) == 3


def test_a_restricted_player_gets_no_exploration_or_new_game_exposure(tmp_path):
    settings = serving_settings(tmp_path, exploration_user_share=1.0, exploration_share=0.2)
    svc = SlotrecApp(settings)
    try:
        svc.slots(
            api.SlotRegistration(
                slot_id="s902",
                name="Reel Catch",
                provider="Alpha",
                theme="fishing",
                volatility="high",
                rtp=0.96,
                max_win_multiplier=5000,
                jurisdictions=["GB", "SE"],
            )
        )
        ranked = svc.lists.ranked
        calls: list[str] = []

        def spy(*args: Any, **kwargs: Any) -> api.RecommendResponse:
            calls.append(args[1].user_id)  # a restricted request must never reach the ranker
            return ranked(*args, **kwargs)

        svc.lists.ranked = spy
        svc.state.restriction_registry.set("u0005", "self_exclusion", None, source="file")
        blocked = _recommend(svc, user_id="u0005", k=10)  # a fishing fan, in exploration
        assert blocked.items == [] and blocked.restricted and calls == []
        assert svc.state.registry.exposure()["s902"] == (0, 0)
        shown = _recommend(svc, user_id="u0017", k=10)  # another fishing fan, not restricted
        assert "new_game" in {i.reason for i in shown.items} and calls == ["u0017"]
        assert svc.state.registry.exposure()["s902"] == (1, 0)
    finally:
        svc.store.close()


def test_a_restricted_player_gets_nothing_from_the_fallback_either(tmp_path):
    settings = serving_settings(tmp_path)
    PromotionRegistry(settings.layout.promoted_path).promote("slotrec-ncf:doesnotexist")
    svc = SlotrecApp(settings)
    try:
        _restrict(svc, "u0001", kind="self_exclusion")
        response = _recommend(svc, user_id="u0001", k=5)
        assert response.restricted and response.items == [] and response.model_version is None
        other = _recommend(svc, user_id="u0004", k=5)
        assert other.fallback and len(other.items) == 5
        similar = svc.similar(api.SimilarRequest(slot_id="s013", user_id="u0001"))
        assert similar.restricted and similar.items == []
    finally:
        svc.store.close()


def test_an_unreadable_registry_recommends_nothing(service, monkeypatch):
    def broken(user_id: str) -> None:
        raise sqlite3.OperationalError("database disk image is malformed")

    monkeypatch.setattr(service.state.restriction_registry, "active", broken)
    failed = _guardrail("recommend", "restriction_check_failed")
    response = _recommend(service, user_id="u0001", k=5)
    assert response.items == [] and response.restricted
    assert _guardrail("recommend", "restriction_check_failed") == failed + 1
