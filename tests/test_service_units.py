"""The serving building blocks on hand-made inputs: no world, no server."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bentos.api import openapi_examples
from bentos.catalog import SlotInfo, servable_slots
from bentos.guard import rewrite_error
from bentos.new_games import NewGameRegistry
from bentos.recommender.diversity import diversify
from bentos.recommender.exploration import exploration_slots, interleave, pick_exploration
from bentos.recommender.filters import allowed_slots
from bentos.recommender.scoring import folded_vector, popularity_prior
from bentos.snapshot import LiveIndex
from slotrec.core.policies.graduation import stage
from training.index import SlotIndex
from training.models import NeuMF, NumpyNeuMF


def _slot(slot_id: str, theme: str = "egypt", provider: str = "A", **kw: object) -> SlotInfo:
    values = {"is_active": True, "jurisdictions": frozenset({"GB"}), **kw}
    return SlotInfo(slot_id, slot_id, provider, theme, "high", **values)  # type: ignore[arg-type]


def test_numpy_neumf_matches_the_torch_model():
    torch.manual_seed(0)
    model = NeuMF(n_users=7, n_items=11, gmf_dim=4, mlp_dim=3, layers=(8, 4)).eval()
    for table in (model.gmf_user, model.gmf_item, model.mlp_user, model.mlp_item):
        torch.nn.init.normal_(table.weight)  # the training init is too small to tell apart
    fast = NumpyNeuMF.from_model(model)
    items = np.array([0, 3, 10, 5])
    with torch.no_grad():
        expected = model.score(torch.full((4,), 2), torch.as_tensor(items)).numpy()
    np.testing.assert_allclose(fast.logits(2, items), expected, rtol=1e-5, atol=1e-5)


def test_filters_drop_played_inactive_foreign_and_unknown_slots():
    slots = {
        "a": _slot("a"),
        "b": _slot("b", is_active=False),
        "c": _slot("c", jurisdictions=frozenset({"MT"})),
        "d": _slot("d"),
        "e": _slot("e", jurisdictions=frozenset()),  # no restriction recorded
    }
    servable = servable_slots(slots, "GB")
    assert servable == {"a", "d", "e"}
    assert allowed_slots(["a", "b", "c", "d", "e", "zz"], servable, blocked={"d"}) == ["a", "e"]
    assert servable_slots(slots, None) == {"a", "c", "d", "e"}


def test_diversity_caps_each_theme_and_provider_then_fills_in_score_order():
    slots = {
        "e1": _slot("e1", "egypt", "A"),
        "e2": _slot("e2", "egypt", "B"),
        "e3": _slot("e3", "egypt", "C"),
        "f1": _slot("f1", "fishing", "A"),
        "f2": _slot("f2", "fishing", "A"),
    }
    ranked = ["e1", "e2", "e3", "f1", "f2"]
    assert diversify(ranked, slots, k=4, max_share=0.5) == ["e1", "e2", "f1", "e3"]
    assert diversify(ranked, slots, k=2, max_share=1.0) == ["e1", "e2"]


def test_exploration_is_bounded_and_spread_through_the_list():
    assert [exploration_slots(k, 0.1) for k in (1, 4, 5, 10, 100)] == [0, 0, 1, 1, 10]
    assert exploration_slots(4, 0.5) == 2 and exploration_slots(3, 0.5) == 1
    new, extra = pick_exploration(["n1"], [f"r{i}" for i in range(30)], k=5, n=3, seed=1)
    assert new == ["n1"] and len(extra) == 2
    assert all(int(s[1:]) >= 10 for s in extra)  # drawn from below rank 2k
    mixed = interleave(["a", "b", "c"], ["x", "y"], k=5)
    assert mixed == ["a", "x", "b", "y", "c"]


def test_folded_vector_weights_slots_by_play_time():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    index = SlotIndex.build(vectors, ["a", "b", "c"])
    live = LiveIndex(index, index.vectors(), {"a": 0, "b": 1, "c": 2})
    folded, seconds = folded_vector(live, {"a": 300.0, "b": 100.0, "zz": 50.0})
    assert seconds == 450.0
    np.testing.assert_allclose(folded, np.array([3, 1]) / np.sqrt(10), rtol=1e-5)
    assert folded_vector(live, {"zz": 10.0}) == (None, 0.0)
    assert popularity_prior(["a", "b"], ["b", "zz", "a"]).tolist() == [0.5, 0.0, 1.0]


def test_a_slots_neighbours_are_searched_once_and_equal_a_fresh_search():
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((40, 8)).astype(np.float32)
    ids = [f"s{i:02d}" for i in range(40)]
    index = SlotIndex.build(vectors, ids)
    live = LiveIndex(index, index.vectors(), {s: i for i, s in enumerate(ids)})
    searched: list[int] = []
    search_rows = index.search_rows

    def counting(queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        searched.append(len(np.atleast_2d(queries)))
        return search_rows(queries, k)

    index.search_rows = counting  # type: ignore[method-assign]
    first = live.neighbour_rows([3, 17, 3], 6)
    assert searched == [2]  # the two distinct slots, in one search
    _, fresh = search_rows(live.vectors[[3, 17]], 6)
    np.testing.assert_array_equal(first[0], fresh[0])
    np.testing.assert_array_equal(first[1], fresh[1])
    np.testing.assert_array_equal(first[2], fresh[0])
    assert first[0][0] == 3  # a slot is its own nearest neighbour (exact index)
    again = live.neighbour_rows([17, 3], 6)
    assert searched == [2]  # nothing searched again
    np.testing.assert_array_equal(again[0], fresh[1])
    live.neighbour_rows([3], 4)  # another depth is another search
    assert searched == [2, 1]
    # a registered game makes a new LiveIndex, with its own (empty) cache
    grown = live.with_slots(["new"], rng.standard_normal((1, 8)), {s: i for i, s in enumerate(ids)})
    assert grown.neighbour_rows([grown.rows["new"]], 3)[0][0] == grown.rows["new"]


def test_graduation_rule_and_shared_registry(tmp_path):
    assert stage(impressions=99, plays=0, cap=100, min_play_rate=0.02) == "exploring"
    assert stage(impressions=100, plays=2, cap=100, min_play_rate=0.02) == "graduated"
    assert stage(impressions=100, plays=1, cap=100, min_play_rate=0.02) == "retired"
    writer = NewGameRegistry(tmp_path / "games.sqlite")
    reader = NewGameRegistry(tmp_path / "games.sqlite")  # another worker
    assert writer.register({"slot_id": "n1", "name": "x"}) == "new"
    assert writer.register({"slot_id": "n1", "name": "y"}) == "updated"
    writer.register({"slot_id": "n2", "name": "z"})
    seen = reader.since(0)
    assert [(r.slot_id, r.payload["name"]) for r in seen] == [("n1", "y"), ("n2", "z")]
    assert reader.since(seen[-1].seq) == []
    writer.count_impressions(["n1", "n1", "n2"])
    writer.count_plays(["n1"])
    assert reader.exposure() == {"n1": (2, 1), "n2": (1, 0)}
    assert reader.reload_generation() == 0
    assert writer.request_reload() == 1 == reader.reload_generation()


@pytest.mark.parametrize(
    ("status", "body", "expected_status", "expected"),
    [
        (
            400,
            {
                "error": "1 validation error",
                "detail": [{"type": "missing", "loc": ["user_id"], "msg": "Field required"}],
            },
            422,
            {
                "error": "invalid request: user_id",
                "detail": [{"field": "user_id", "rule": "missing", "message": "Field required"}],
            },
        ),
        (404, [{"error": "slot_id 'x' is not in the index"}], 404, None),
    ],
)
def test_error_bodies_name_the_field_and_are_one_object(status, body, expected_status, expected):
    new_status, new_body = rewrite_error(status, json.dumps(body).encode())
    assert new_status == expected_status
    assert json.loads(new_body) == (expected if expected is not None else body[0])


def test_openapi_examples_become_single_examples_at_every_depth():
    schema = {"examples": [{"a": 1}, {"a": 2}], "properties": {"x": {"examples": [3]}}}
    assert openapi_examples(schema) == {"example": {"a": 1}, "properties": {"x": {"example": 3}}}
