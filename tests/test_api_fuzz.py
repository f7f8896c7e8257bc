"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis over the ASGI app).

Every operation of the served schema gets generated bodies, valid and invalid (wrong types,
missing fields, out-of-range numbers, odd strings), with and without the admin token. The
contract: never a 5xx; every error is a JSON body, and a 422 names the field it refused.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from bentos.service import SlotrecService
from tests.service_world import ADMIN_TOKEN, serving_env, serving_settings

pytestmark = pytest.mark.slow  # a few hundred generated requests through the real service


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The service's own OpenAPI page, bound to its ASGI app over a tiny known world."""
    world = serving_settings(tmp_path_factory.mktemp("fuzz"))
    with pytest.MonkeyPatch.context() as patch:
        for key, value in serving_env(world).items():
            patch.setenv(key, value)
        patch.setenv("SLOTREC_MAX_REQUEST_BYTES", "65536")
        app = SlotrecService.to_asgi()
        yield schemathesis.openapi.from_asgi("/docs.json", app)


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


# (schemathesis' own pytest plugin does not load on pytest 9, so the cases are drawn with
# hypothesis directly from each operation's strategy)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_and_every_error_names_its_field(api_schema: Any, mode: Any) -> None:
    operations = _operations(api_schema)
    paths = {op.path for op in operations}
    assert {"/recommend", "/similar", "/events", "/onboard", "/slots", "/reload"} <= paths
    fuzzed = set()
    statuses: Counter[int] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            _check(case.call(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}), statuses)
            _check(case.call(), statuses)  # without the token: refused, never a crash

        try:
            fuzz()
        except Unsatisfiable:
            # nothing to break in a body-less operation (noop, reload): no negative case exists
            assert mode is GenerationMode.NEGATIVE, operation.path
            continue
        fuzzed.add(operation.path)
    assert {"/recommend", "/similar", "/events", "/onboard", "/slots"} <= fuzzed
    # the generated requests did reach both sides of the contract
    assert statuses[401] > 0  # admin operations without the token
    if mode is GenerationMode.POSITIVE:
        assert statuses[200] > 0
    else:
        assert statuses[422] > 0
