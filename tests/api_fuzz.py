"""Fuzz the HTTP API from its own OpenAPI page (schemathesis, driven through hypothesis).

Every operation of the served schema gets generated bodies, valid ("positive") or invalid
("negative": wrong types, missing fields, out-of-range numbers, odd strings), sent with and
without the admin token. The contract: never a 5xx; every error is a JSON body, and a 422 names
the field it refused. Used by `tests/test_service_http.py` on its one ASGI app (BentoML
registers its Prometheus metrics once per process, so a second app in the same test process
would collide).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.service_world import ADMIN_TOKEN


def _check(response: Any, statuses: Counter[int]) -> None:
    statuses[response.status_code] += 1
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        body = json.loads(response.text)  # every error is JSON
        assert isinstance(body, dict) and body, body
        if response.status_code == 422:
            fields = [d.get("field") for d in body.get("detail", [])]
            assert fields and all(fields), body  # ... naming the field it refused


def _operations(api_schema: Any) -> list[Any]:
    return [result.ok() for result in api_schema.get_all_operations()]


def fuzz_every_operation(
    client: Any, mode: GenerationMode, examples: int = 20
) -> tuple[set[str], Counter[int]]:
    """Fuzz each operation of the OpenAPI page `client` serves; paths fuzzed, statuses seen.

    The cases go through the caller's test client, so the service is the one already running
    (schemathesis' own ASGI transport would start and stop the app around every call).
    schemathesis' pytest plugin does not load on pytest 9, so the cases are drawn with
    hypothesis directly from each operation's strategy.
    """
    schema = schemathesis.openapi.from_dict(client.get("/docs.json").json())
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def send(case: Any, headers: dict[str, str] | None) -> Any:
        return client.request(
            **case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
        )

    fuzzed: set[str] = set()
    statuses: Counter[int] = Counter()
    for operation in _operations(schema):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            _check(send(case, admin), statuses)
            _check(send(case, None), statuses)  # without the token: refused, never a crash

        try:
            fuzz()
        except Unsatisfiable:
            # nothing to break in a body-less operation (noop, reload): no negative case exists
            assert mode is GenerationMode.NEGATIVE, operation.path
            continue
        fuzzed.add(operation.path)
    return fuzzed, statuses
