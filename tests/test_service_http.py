"""HTTP through the ASGI app (BentoML's second test level): schema, errors, auth, probes."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from bentos.native_threads import openmp_threads_here
from bentos.service import SlotrecService
from slotrec import __version__
from tests.service_world import (
    ADMIN_TOKEN,
    EXAMPLE_REQUEST,
    build_world,
    play_events,
    serving_env,
    serving_settings,
)
from training.index import SlotIndex

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NEW_GAME = {
    "slot_id": "s901",
    "name": "Pharaoh's Vault",
    "provider": "Beta",
    "theme": "egypt",
    "volatility": "medium",
    "rtp": 0.955,
    "max_win_multiplier": 2500,
    "jurisdictions": ["GB"],
}


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    """One app for the module: BentoML registers its Prometheus metrics once per process."""
    settings = serving_settings(tmp_path_factory.mktemp("http"))
    with pytest.MonkeyPatch.context() as patch:
        for key, value in serving_env(settings).items():
            patch.setenv(key, value)
        patch.setenv("SLOTREC_MAX_REQUEST_BYTES", "4096")
        with TestClient(app=SlotrecService.to_asgi()) as test_client:
            yield test_client


def test_example_request_over_http(client):
    response = client.post("/recommend", json=EXAMPLE_REQUEST)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == build_world().tag
    assert len(body["items"]) == EXAMPLE_REQUEST["k"]
    assert {"slot_id", "name", "score", "reason", "because"} == set(body["items"][0])
    assert body["fallback"] is False and body["variant"] in ("control", "recent-heavy")


def test_every_request_thread_runs_faiss_on_one_openmp_thread(client, monkeypatch):
    """OpenMP's team size belongs to each thread: set once at start, request threads kept the
    default (every core), and each search forked a team that fought the other requests."""
    fresh: list[int] = []
    thread = threading.Thread(target=lambda: fresh.append(openmp_threads_here()))
    thread.start()
    thread.join()
    # what a thread that was never pinned would use (two or more on CI's two cores)
    assert fresh == [os.cpu_count()] and fresh[0] > 1

    seen: list[tuple[int, int]] = []
    search_rows = SlotIndex.search_rows  # every search of the index goes through it

    def spy(self, queries, k):
        seen.append((threading.get_ident(), openmp_threads_here()))
        return search_rows(self, queries, k)

    monkeypatch.setattr(SlotIndex, "search_rows", spy)
    user = "u0003"
    played = client.post("/recommend", json={"user_id": user, "k": 3}).json()["items"][0]
    events = play_events(user, played["slot_id"], 20.0, "ses-threads")
    assert client.post("/events", json={"events": events}).status_code == 200
    for path, body in (
        ("/recommend", {"user_id": user, "k": 5, "context": {"slot_id": played["slot_id"]}}),
        ("/similar", {"slot_id": played["slot_id"], "k": 3, "user_id": user}),
    ):
        assert client.post(path, json=body).status_code == 200
    assert len(seen) >= 3
    assert {threads for _, threads in seen} == {1}, seen
    # served on the app's worker threads, not on this one
    assert threading.get_ident() not in {ident for ident, _ in seen}


def test_events_then_recommend_over_http_excludes_the_played_slot(client):
    top = client.post("/recommend", json={"user_id": "u0007", "k": 3}).json()["items"][0]
    accepted = client.post(
        "/events", json={"events": play_events("u0007", top["slot_id"], 20.0, "ses-http")}
    )
    assert accepted.status_code == 200 and accepted.json()["accepted"] == 2
    after = client.post("/recommend", json={"user_id": "u0007", "k": 3}).json()
    assert top["slot_id"] not in {item["slot_id"] for item in after["items"]}


@pytest.mark.parametrize(
    ("path", "payload", "field", "rule"),
    [
        ("/recommend", {"user_id": "u0001", "k": 0}, "k", "greater_than_equal"),
        ("/recommend", {"user_id": "u0001", "k": 101}, "k", "less_than_equal"),
        ("/recommend", {"k": 5}, "user_id", "missing"),
        ("/recommend", {"user_id": "has space"}, "user_id", "string_pattern_mismatch"),
        ("/recommend", {"user_id": "u1", "colour": "red"}, "colour", "extra_forbidden"),
        ("/recommend", {"user_id": "u1", "context": {"slot_id": ""}}, "context.slot_id", None),
        ("/similar", {"slot_id": "s001", "k": "many"}, "k", "int_parsing"),
        ("/events", {"events": []}, "events", "too_short"),
        ("/onboard", {"user_id": "u1", "themes": ["jazz"]}, "themes.0", "literal_error"),
    ],
)
def test_bad_requests_get_422_naming_the_field_and_rule(client, caplog, path, payload, field, rule):
    with caplog.at_level(logging.INFO):
        response = client.post(path, json=payload)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert field in {d["field"] for d in detail}
    if rule is not None:
        assert rule in {d["rule"] for d in detail}
    assert field in response.json()["error"]
    _assert_logged_as_client_error(caplog, path, 422)


def _assert_logged_as_client_error(caplog, path: str, status: int) -> None:
    """One warning line naming path and status; no ERROR record, no traceback."""
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith(f"client error {status} on {path}") for m in warnings), warnings
    assert all(r.exc_info is None for r in caplog.records)


def test_an_absurd_stake_is_refused_naming_the_field(client, caplog):
    events = play_events("u0001", "s003", 10.0, "ses-absurd")
    events[1]["bet_amount"] = 1e308  # one such stake once turned avg_bet_30d into infinity
    with caplog.at_level(logging.INFO):
        response = client.post("/events", json={"events": events})
    assert response.status_code == 422, response.text
    [entry] = response.json()["detail"]
    assert entry["field"] == "events.1.bet_amount" and entry["rule"] == "less_than_equal"
    assert "1000000" in entry["message"]
    _assert_logged_as_client_error(caplog, "/events", 422)
    events[1]["bet_amount"] = 1_000_000.0  # the bound itself is allowed
    assert client.post("/events", json={"events": events}).status_code == 200


def test_a_bad_event_names_its_position_and_field(client):
    events = play_events("u0001", "s003", 10.0, "ses-bad")
    events[1]["duration_seconds"] = -5
    response = client.post("/events", json={"events": events})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "events.1.duration_seconds"


def test_malformed_json_and_oversized_bodies_are_refused(client):
    broken = client.post(
        "/recommend", content=b'{"user_id": ', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    huge = client.post("/recommend", json={"user_id": "u0001", "exclude": ["s001"] * 2000})
    assert huge.status_code == 413
    assert "limit" in huge.json()["error"]


def test_similar_on_an_unknown_slot_is_a_json_404(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.post("/similar", json={"slot_id": "s999999"})
    assert response.status_code == 404
    assert response.json() == {"error": "slot_id 's999999' is not in the index"}
    _assert_logged_as_client_error(caplog, "/similar", 404)


def test_admin_endpoints_need_the_token(client):
    assert client.post("/slots", json=NEW_GAME).status_code == 401
    wrong = client.post("/slots", json=NEW_GAME, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["error"] == "admin endpoint: wrong admin token"
    assert client.post("/reload", json={}).status_code == 401
    registered = client.post("/slots", json=NEW_GAME, headers=ADMIN)
    assert registered.status_code == 200, registered.text
    assert registered.json()["in_index"] is True and registered.json()["status"] == "new"
    similar = client.post("/similar", json={"slot_id": "s901", "k": 3})
    assert similar.status_code == 200 and len(similar.json()["items"]) == 3
    reload = client.post("/reload", json={}, headers=ADMIN)
    assert reload.status_code == 200 and reload.json()["changed"] is False


def test_probes_metrics_and_openapi(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200  # its content: see the served test

    def count(outcome: str) -> float:
        labels = {"endpoint": "recommend", "outcome": outcome}
        return REGISTRY.get_sample_value("slotrec_requests_total", labels) or 0.0

    ok, bad = count("ok"), count("client_error")
    client.post("/recommend", json=EXAMPLE_REQUEST)
    client.post("/recommend", json={"user_id": "u0001", "k": 0})
    assert (count("ok"), count("client_error")) == (ok + 1, bad + 1)
    spec = SlotrecService.openapi_spec.asdict()  # what the OpenAPI page renders
    assert {"/recommend", "/similar", "/events", "/onboard", "/slots", "/reload"} <= set(
        spec["paths"]
    )
    example = spec["components"]["schemas"]["RecommendRequestIODescriptor"]["example"]
    assert example["user_id"] == "u0000042"
    # the page introduces slotrec, not BentoML's template (version None, "BentoML Team")
    info = client.get("/docs.json").json()["info"]
    assert info["title"] == "slotrec" and info["version"] == __version__
    assert info["contact"] == {"name": "slotrec maintainers"}
    assert info["description"].startswith("Slot recommendations for an online-casino lobby")
    assert "BentoML" not in info["description"]
    assert client.post("/noop", json={}).json() == {"ok": True}


# --- responsible play: the `restrictions` admin endpoint and its effect -----------------------


def test_a_self_excluded_player_gets_nothing_over_http_right_after_being_added(client):
    player = "u0019"
    before = client.post("/recommend", json={"user_id": player, "k": 4}).json()
    assert len(before["items"]) == 4 and before["restricted"] is False

    added = client.post(
        "/restrictions", json={"user_id": player, "kind": "self_exclusion"}, headers=ADMIN
    )
    assert added.status_code == 200, added.text
    assert added.json()["restricted"] is True
    assert added.json()["restrictions"][0]["source"] == "admin"

    after = client.post("/recommend", json={"user_id": player, "k": 4}).json()
    assert after["items"] == [] and after["restricted"] is True and after["suggestion"] is None
    similar = client.post("/similar", json={"slot_id": "s013", "user_id": player}).json()
    assert similar["items"] == [] and similar["restricted"] is True
    events = play_events(player, "s007", 200.0, "ses-http-excluded")  # past the 120 s threshold
    played = client.post("/events", json={"events": events})
    assert played.status_code == 200
    assert played.json()["suggestions"] == [] and played.json()["withheld"] == [player]

    lifted = client.post(
        "/restrictions", json={"user_id": player, "action": "remove"}, headers=ADMIN
    )
    assert lifted.status_code == 200 and lifted.json()["restricted"] is False
    restored = client.post("/recommend", json={"user_id": player, "k": 4}).json()
    assert len(restored["items"]) == 4 and restored["restricted"] is False
    assert "s007" not in {item["slot_id"] for item in restored["items"]}


def test_restrictions_endpoint_needs_the_token(client):
    body = {"user_id": "u0020", "kind": "self_exclusion"}
    missing = client.post("/restrictions", json=body)
    assert missing.status_code == 401
    wrong = client.post("/restrictions", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["error"] == "admin endpoint: wrong admin token"
    # neither call restricted the player
    response = client.post("/recommend", json={"user_id": "u0020", "k": 2}).json()
    assert response["restricted"] is False and len(response["items"]) == 2


@pytest.mark.parametrize(
    ("payload", "field", "rule"),
    [
        ({"user_id": "u0021", "kind": "ban"}, "kind", "literal_error"),
        ({"user_id": "u0021"}, "kind", "value_error"),
        ({"user_id": "u0021", "kind": "cooling_off"}, "until_at", "value_error"),
        (
            {"user_id": "u0021", "kind": "cooling_off", "until_at": "2020-01-01T00:00:00Z"},
            "until_at",
            "value_error",
        ),
        ({"user_id": "u0021", "kind": "cooling_off", "until_at": "soon"}, "until_at", None),
        ({"user_id": "bad id!", "kind": "self_exclusion"}, "user_id", "string_pattern_mismatch"),
        ({"user_id": "u0021", "action": "ban"}, "action", "literal_error"),
        ({"user_id": "u0021", "kind": "self_exclusion", "why": "x"}, "why", "extra_forbidden"),
    ],
)
def test_bad_restriction_bodies_get_422_naming_the_field(client, payload, field, rule):
    response = client.post("/restrictions", json=payload, headers=ADMIN)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert field in {d["field"] for d in detail}
    if rule is not None:
        assert rule in {d["rule"] for d in detail}
    after = client.post("/recommend", json={"user_id": "u0021", "k": 2}).json()
    assert after["restricted"] is False


def test_restricted_is_in_the_openapi_schema_and_counted(client):
    def guardrail() -> float:
        labels = {"guardrail": "restricted", "endpoint": "recommend"}
        return REGISTRY.get_sample_value("slotrec_guardrail_total", labels) or 0.0

    spec = SlotrecService.openapi_spec.asdict()
    assert "/restrictions" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert "restricted" in schemas["RecommendResponseIODescriptor"]["properties"]
    change = schemas["RestrictionChangeIODescriptor"]
    assert change["example"]["kind"] == "cooling_off"
    assert set(change["properties"]) == {"user_id", "action", "kind", "until_at", "reason"}
    client.post("/restrictions", json={"user_id": "u0022", "kind": "self_exclusion"}, headers=ADMIN)
    counted = guardrail()
    client.post("/recommend", json={"user_id": "u0022", "k": 2})
    assert guardrail() == counted + 1  # /metrics exports this registry (see the served test)


def test_a_reload_to_an_unreadable_bundle_is_refused_with_the_reason(client):
    import os

    from slotrec.core.settings import Settings
    from training.promotion import PromotionRegistry

    layout = Settings(data_dir=os.environ["SLOTREC_DATA_DIR"]).layout
    saved = layout.promoted_path.read_text()
    serving = client.post("/recommend", json=EXAMPLE_REQUEST).json()["model_version"]
    PromotionRegistry(layout.promoted_path).promote("slotrec-ncf:missing0000000000")
    try:
        refused = client.post("/reload", json={}, headers=ADMIN)
        # a 4xx keeps its message (BentoML hides the text of every 5xx)
        assert refused.status_code == 409, refused.text
        reason = refused.json()["error"]
        assert f"still serving {serving}" in reason
        assert "cannot load bundle slotrec-ncf:missing0000000000" in reason
        after = client.post("/recommend", json=EXAMPLE_REQUEST).json()
        assert after["model_version"] == serving and after["fallback"] is False
    finally:
        layout.promoted_path.write_text(saved)


@pytest.mark.slow  # a few hundred generated requests through the real service
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_fuzzed_requests_never_get_a_5xx_and_every_error_names_its_field(client, mode):
    from schemathesis.generation import GenerationMode

    from tests.api_fuzz import fuzz_every_operation

    generation = GenerationMode(mode)
    fuzzed, statuses = fuzz_every_operation(client, generation)
    assert {"/recommend", "/similar", "/events", "/onboard", "/slots"} <= fuzzed
    # the generated requests did reach both sides of the contract
    assert statuses[401] > 0  # admin operations without the token
    assert statuses[200 if generation is GenerationMode.POSITIVE else 422] > 0
