"""The promotion gate, promotion and rollback."""

from __future__ import annotations

import pytest

from training.promotion import PromotionError, PromotionRegistry, gate


def _metrics(neumf: float, popularity: float = 0.10) -> dict:
    return {"validation": {"neumf": {"ndcg10": neumf}, "popularity": {"ndcg10": popularity}}}


def test_first_bundle_is_promoted_when_it_beats_popularity():
    decision = gate(_metrics(0.30), None)
    assert decision.promote
    assert decision.promoted_ndcg10 is None


def test_bundle_that_does_not_beat_popularity_is_refused():
    decision = gate(_metrics(0.10, popularity=0.12), None)
    assert not decision.promote
    assert "popularity" in decision.reason


def test_worse_bundle_is_refused_and_a_slightly_worse_one_passes():
    assert not gate(_metrics(0.290), _metrics(0.300), tolerance=0.005).promote
    assert gate(_metrics(0.296), _metrics(0.300), tolerance=0.005).promote
    assert gate(_metrics(0.310), _metrics(0.300)).promote


def test_promote_then_rollback_restores_the_previous_bundle(tmp_path):
    registry = PromotionRegistry(tmp_path / "promoted.json")
    assert registry.current is None
    registry.promote("slotrec-ncf:v1")
    registry.promote("slotrec-ncf:v2")
    assert registry.current == "slotrec-ncf:v2"
    assert registry.rollback() == "slotrec-ncf:v1"
    assert registry.current == "slotrec-ncf:v1"
    with pytest.raises(PromotionError, match="nothing to roll back to"):
        registry.rollback()
    assert registry.current == "slotrec-ncf:v1"


def test_promoting_the_current_bundle_again_changes_nothing(tmp_path):
    registry = PromotionRegistry(tmp_path / "promoted.json")
    registry.promote("slotrec-ncf:v1")
    registry.promote("slotrec-ncf:v1")
    assert registry.history() == []
