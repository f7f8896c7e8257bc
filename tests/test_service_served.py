"""A real `bentoml serve` process (BentoML's third test level), two workers, over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from slotrec.core.settings import REPO_ROOT
from slotrec.service_process import free_port
from tests.service_world import (
    ADMIN_TOKEN,
    EXAMPLE_REQUEST,
    build_world,
    play_events,
    serving_env,
    serving_settings,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[httpx.Client]:
    settings = serving_settings(tmp_path_factory.mktemp("served"), serving_poll_seconds=1.0)
    port = free_port()
    env = {
        **os.environ,
        **serving_env(settings),
        "SLOTREC_SERVE_WORKERS": "2",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    log = (settings.data_dir / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", "bentos.service:SlotrecService",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError((settings.data_dir / "serve.log").read_text()[-3000:])
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            raise TimeoutError("bentoml serve did not become ready in 120 s")
        yield client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_example_request_against_a_served_process(server):
    response = server.post("/recommend", json=EXAMPLE_REQUEST)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == build_world().tag and len(body["items"]) == 5
    bad = server.post("/recommend", json={**EXAMPLE_REQUEST, "k": 500})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "k"


def test_an_event_reaches_every_worker_and_so_does_a_new_game(server):
    top = server.post("/recommend", json={"user_id": "u0009", "k": 3}).json()["items"][0]
    events = play_events("u0009", top["slot_id"], 15.0, "ses-served")
    assert server.post("/events", json={"events": events}).status_code == 200
    # requests spread over both workers; each one must see the play at once
    for _ in range(10):
        after = server.post("/recommend", json={"user_id": "u0009", "k": 3}).json()
        assert top["slot_id"] not in {item["slot_id"] for item in after["items"]}

    game = {
        "slot_id": "s950",
        "name": "Frontier Gold",
        "provider": "Gamma",
        "theme": "western",
        "volatility": "high",
        "rtp": 0.96,
        "max_win_multiplier": 8000,
        "jurisdictions": ["GB", "SE"],
    }
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert server.post("/slots", json=game, headers=headers).status_code == 200
    time.sleep(1.5)  # "within seconds": one poll interval of the other worker
    for _ in range(10):
        assert server.post("/similar", json={"slot_id": "s950", "k": 2}).status_code == 200


def test_metrics_show_the_services_own_counters(server):
    server.post("/recommend", json=EXAMPLE_REQUEST)
    metrics = server.get("/metrics").text
    assert 'slotrec_requests_total{endpoint="recommend",outcome="ok"}' in metrics
    assert "slotrec_request_seconds_bucket" in metrics
