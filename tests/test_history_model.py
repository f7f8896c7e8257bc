"""NeuMF with history-pooled users: the CSR histories, the pooling, baking and learning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tests.ring_world import SMALL_NEUMF, ring_plays
from training.history import HistoryNeuMF, UserHistory
from training.models import NCFModel, NeuMF
from training.splits import time_order_key
from training.trainer import TrainConfig, train_model

# user 0 plays items 2, 0 (weights 0.9, 0.1); user 1 nothing; user 2 plays 1, 3, 2
USERS = np.array([0, 0, 2, 2, 2])
ITEMS = np.array([0, 2, 3, 1, 2])
WEIGHTS = np.array([0.1, 0.9, 0.5, 0.8, 0.2])


def history(max_history: int = 64) -> UserHistory:
    return UserHistory(USERS, ITEMS, WEIGHTS, n_users=3, n_items=4, max_history=max_history)


def test_history_lists_each_users_items_heaviest_first() -> None:
    flat, offsets, counts = history().gather(torch.tensor([2, 1, 0]))
    assert flat.tolist() == [1, 3, 2, 2, 0]
    assert offsets.tolist() == [0, 3, 3]
    assert counts.tolist() == [3, 0, 2]


def test_history_cap_keeps_the_heaviest_items() -> None:
    capped = history(max_history=1)
    flat, _, counts = capped.gather(torch.tensor([0, 2]))
    assert flat.tolist() == [2, 1]
    assert counts.tolist() == [1, 1]


def model() -> HistoryNeuMF:
    torch.manual_seed(0)
    net = HistoryNeuMF(3, 4, gmf_dim=4, mlp_dim=4, layers=(8, 4), alpha=0.5)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return net.set_history(history()).eval()


def test_pooling_is_the_normalised_sum_and_leaves_out_the_scored_item() -> None:
    net = model()
    pooled, _ = net._pool(torch.tensor([0, 1, 2]))
    gmf = pooled[:, :4]
    y = net.hist.detach()[:, :4]
    assert torch.allclose(gmf[0], (y[0] + y[2]) / 2**0.5)
    assert torch.equal(gmf[1], torch.zeros(4))  # no history: no offset
    assert torch.allclose(gmf[2], (y[1] + y[2] + y[3]) / 3**0.5)
    # training on user 2's play of item 3: item 3 is not part of its own history
    full, without = net._pool(torch.tensor([2, 0, 1]), exclude=torch.tensor([3, 2, 0]))
    assert without is not None
    assert torch.allclose(full[0, :4], gmf[2])
    assert torch.allclose(without[0, :4], (y[1] + y[2]) / 2**0.5)
    assert torch.allclose(without[1, :4], y[0])  # one item left: scale 1
    assert torch.equal(without[2], torch.zeros(8))  # nothing to leave out, nothing pooled


def test_training_rows_pool_without_the_positive_and_with_it_for_negatives() -> None:
    net = model()
    users = torch.tensor([2])
    items = torch.tensor([[3, 0]])  # positive 3, negative 0
    base = [
        net.gmf_user(users).view(1, 1, -1),
        net.gmf_item(items.view(-1)).view(1, 2, -1),
        net.mlp_user(users).view(1, 1, -1),
        net.mlp_item(items.view(-1)).view(1, 2, -1),
    ]
    gmf_user = net.with_history(base, users, items)[0]  # [1, 2, dim]
    y = net.hist.detach()[:, :4]
    p = net.gmf_user.weight[2].detach()
    assert torch.allclose(gmf_user[0, 0], p + (y[1] + y[2]) / 2**0.5)
    assert torch.allclose(gmf_user[0, 1], p + (y[1] + y[2] + y[3]) / 3**0.5)


def test_baked_model_is_a_plain_neumf_with_identical_scores() -> None:
    net = model()
    baked = net.bake()
    assert type(baked) is NeuMF
    users = torch.arange(3)
    with torch.no_grad():
        expected = net.score_all(users)
        assert torch.allclose(baked.score_all(users), expected, atol=1e-6)
        pairs = net(torch.tensor([0, 2]), torch.tensor([1, 0]))
        assert torch.allclose(pairs, expected[[0, 2], [1, 0]], atol=1e-6)
        reloaded = NCFModel.from_checkpoint(baked.to_checkpoint())
        assert torch.allclose(reloaded.score_all(users), expected, atol=1e-6)
        assert torch.allclose(baked.user_embeddings(), net.user_embeddings(), atol=1e-6)


def test_history_vectors_of_a_slot_list_match_the_pooling() -> None:
    net = model()
    gmf, mlp = net.history_vectors(np.array([0, 2]))
    pooled = net._pool(torch.tensor([0]))[0][0].detach().numpy()
    assert np.allclose(gmf, pooled[:4], atol=1e-6)
    assert np.allclose(mlp, pooled[4:], atol=1e-6)


def test_users_with_one_play_are_ranked_by_what_that_play_says() -> None:
    """Two tastes; half the users have a single training play, which their training rows
    leave out of their own history (it is the positive). At scoring time that one slot's
    learned history vector must carry the taste."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(200):
        group = np.arange(10) if user % 2 == 0 else np.arange(10, 20)
        plays = 1 if user >= 100 else 6
        rows += [(user, int(i)) for i in rng.choice(group, plays, replace=False)]
    train = pd.DataFrame(rows, columns=["user_idx", "item_idx"])
    train["weight"] = 1.0
    config = TrainConfig(
        gmf_dim=8,
        mlp_dim=8,
        layers=(16, 8),
        batch_size=256,
        epochs=15,
        patience=0,
        lr=0.01,
        embedding_lr=0.1,
        user_history=True,
        history_lr=0.05,
        num_threads=1,
        seed=3,
    )
    result = train_model("neumf", train, None, config, n_users=200, n_items=20)
    assert type(result.model) is NeuMF
    with torch.no_grad():
        scores = result.model.score_all(torch.arange(100, 200))  # the one-play users
    played = torch.zeros(100, 20, dtype=torch.bool)
    single = train[train.user_idx >= 100]
    played[single.user_idx.to_numpy() - 100, single.item_idx.to_numpy()] = True
    top = torch.where(played, -torch.inf, scores).argsort(1, descending=True)[:, :5]
    own_group = (top < 10) == (torch.arange(100, 200) % 2 == 0)[:, None]
    assert own_group.float().mean() >= 0.9


def test_history_dropout_applies_only_while_training() -> None:
    net = model()
    net.history_dropout = 1.0  # every history item dropped
    users, exclude = torch.tensor([0, 2]), torch.tensor([2, 3])
    net.train()
    full, without = net._pool(users, exclude=exclude)
    assert without is not None
    assert torch.equal(full, torch.zeros(2, 8)) and torch.equal(without, torch.zeros(2, 8))
    net.eval()
    full, _ = net._pool(users)
    assert torch.allclose(full[0], (net.hist[0] + net.hist[2]).detach() / 2**0.5)


# Sequence order. user 0 plays item 3 at t=30, item 1 at t=10, item 2 at t=20 (rows 0-2);
# user 2 plays item 0 at t=5 (row 3). Oldest first: user 0 → 1, 2, 3.
SEQ_USERS = np.array([0, 0, 0, 2])
SEQ_ITEMS = np.array([3, 1, 2, 0])
SEQ_TIMES = np.array([30.0, 10.0, 20.0, 5.0])


def sequence(max_history: int = 64, decay: float = 0.5) -> UserHistory:
    return UserHistory.sequence(SEQ_USERS, SEQ_ITEMS, SEQ_TIMES, 3, max_history, decay)


def test_sequence_scoring_pools_the_most_recent_slots_newest_weighted_one() -> None:
    flat, offsets, counts, weights = sequence(max_history=2).bags(torch.tensor([0, 1, 2]))
    assert flat.tolist() == [2, 3, 0]  # user 0's two newest (t=20, t=30), user 2's only
    assert counts.tolist() == [2, 0, 1]
    assert offsets.tolist() == [0, 2, 2]
    assert weights is not None
    assert weights.tolist() == [0.5, 1.0, 1.0]


def test_sequence_training_rows_pool_only_what_was_played_before_them() -> None:
    history = sequence(max_history=2)
    # row 0 (item 3, t=30) sees items 1 and 2; row 2 (item 2, t=20) sees item 1; row 1 and
    # row 3 are their players' first plays and see nothing
    users, rows = torch.tensor([0, 0, 0, 2]), torch.tensor([0, 2, 1, 3])
    flat, _, counts, weights = history.bags(users, rows)
    assert counts.tolist() == [2, 1, 0, 0]
    assert flat.tolist() == [1, 2, 1]
    assert weights is not None and weights.tolist() == [0.5, 1.0, 1.0]
    assert sequence(max_history=1).bags(users, rows)[0].tolist() == [2, 1]  # newest only


def test_sequence_ties_in_time_keep_row_order() -> None:
    history = UserHistory.sequence(
        np.array([0, 0, 0]), np.array([4, 2, 3]), np.array([1.0, 1.0, 1.0]), 1, 64, 1.0
    )
    flat, _, _, weights = history.bags(torch.tensor([0]))
    assert flat.tolist() == [4, 2, 3]
    assert weights is None  # decay 1: every slot counts the same
    assert history.bags(torch.tensor([0]), torch.tensor([2]))[0].tolist() == [4, 2]


def test_sequence_decay_must_be_a_weight() -> None:
    with pytest.raises(ValueError, match="decay"):
        sequence(decay=0.0)


def test_sequence_training_row_and_its_negatives_share_the_window() -> None:
    net = HistoryNeuMF(3, 4, gmf_dim=4, mlp_dim=4, layers=(8, 4), alpha=0.5)
    net.set_history(sequence()).eval()
    users, items, rows = torch.tensor([0]), torch.tensor([[3, 0]]), torch.tensor([0])
    base = [
        net.gmf_user(users).view(1, 1, -1),
        net.gmf_item(items.view(-1)).view(1, 2, -1),
        net.mlp_user(users).view(1, 1, -1),
        net.mlp_item(items.view(-1)).view(1, 2, -1),
    ]
    gmf_user = net.with_history(base, users, items, rows)[0].detach()
    assert gmf_user.shape == (1, 1, 4)  # one user vector, broadcast over positive and negative
    y = net.hist.detach()[:, :4]
    p = net.gmf_user.weight[0].detach()
    window = (0.5 * y[1] + 1.0 * y[2]) / 1.5**0.5  # items 1, 2 before item 3; scale sum(w)^-α
    assert torch.allclose(gmf_user[0, 0], p + window, atol=1e-6)
    with pytest.raises(ValueError, match="training rows"):
        net.with_history(base, users, items)


def test_time_order_key_sorts_numbers_and_datetimes_alike() -> None:
    stamps = pd.Series(pd.to_datetime(["2026-01-02 00:00", "2026-01-01 23:00", "2026-01-03 00:00"]))
    assert np.argsort(time_order_key(stamps)).tolist() == [1, 0, 2]
    aware = stamps.dt.tz_localize("Europe/Malta")
    assert np.argsort(time_order_key(aware)).tolist() == [1, 0, 2]
    assert np.argsort(time_order_key(pd.Series([3, 1, 2]))).tolist() == [1, 2, 0]


def test_sequence_order_needs_timestamps() -> None:
    train = pd.DataFrame({"user_idx": [0, 0], "item_idx": [0, 1], "weight": [1.0, 1.0]})
    config = TrainConfig(user_history=True, history_order="sequence", epochs=1, num_threads=1)
    with pytest.raises(ValueError, match="timestamp"):
        train_model("neumf", train, None, config, n_users=1, n_items=2)


def _next_slot_hit_rate(order: str) -> float:
    """Share of players whose top unplayed slot is the one after their last play."""
    train = ring_plays(users=300, items=24, plays=6, seed=1)
    config = TrainConfig(
        **SMALL_NEUMF,
        user_history=True,
        history_order=order,  # type: ignore[arg-type]
        history_decay=0.5,
        history_lr=0.05,
        num_threads=1,
        seed=3,
    )
    model = train_model("neumf", train, None, config, n_users=300, n_items=24).model
    with torch.no_grad():
        scores = model.score_all(torch.arange(300))
    played = torch.zeros(300, 24, dtype=torch.bool)
    played[train.user_idx.to_numpy(), train.item_idx.to_numpy()] = True
    top = torch.where(played, -torch.inf, scores).argmax(1)
    last = train.sort_values("timestamp").groupby("user_idx").item_idx.last().sort_index()
    return float((top.numpy() == (last.to_numpy() + 1) % 24).mean())


def test_sequence_order_learns_what_comes_next() -> None:
    """Each player's played run of slots sits between two unplayed neighbours on the ring;
    only the order says which one comes next. The profile order cannot tell them apart."""
    sequence_rate = _next_slot_hit_rate("sequence")
    assert sequence_rate >= 0.9
    assert sequence_rate >= _next_slot_hit_rate("profile") + 0.3


@pytest.mark.parametrize("order", ["profile", "sequence"])
def test_training_logits_equal_the_per_column_reference(order: str) -> None:
    """The trainer's fast path scores exactly what `forward_embedded(with_history(...))` does,
    gradients included."""
    torch.manual_seed(0)
    net = HistoryNeuMF(3, 4, gmf_dim=4, mlp_dim=4, layers=(8, 4), alpha=0.5)
    net.set_history(history() if order == "profile" else sequence()).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    if order == "profile":
        users, items, rows = torch.tensor([2, 0, 0]), torch.tensor([[3, 0], [2, 1], [1, 3]]), None
    else:  # training rows 0, 2, 3: user 0's item 3 and item 2, user 2's item 0
        users, items = torch.tensor([0, 0, 2]), torch.tensor([[3, 0], [2, 1], [0, 3]])
        rows = torch.tensor([0, 2, 3])

    def logits(fast: bool) -> tuple[torch.Tensor, torch.Tensor]:
        net.zero_grad()
        base = [
            net.gmf_user(users).view(3, 1, -1),
            net.gmf_item(items.view(-1)).view(3, 2, -1),
            net.mlp_user(users).view(3, 1, -1),
            net.mlp_item(items.view(-1)).view(3, 2, -1),
        ]
        if fast:
            out = net.training_logits(base, users, items, rows)
        else:
            out = net.forward_embedded(net.with_history(base, users, items, rows))
        out.sum().backward()
        grads = [p.grad for p in (net.hist, net.gmf_user.weight, net.mlp_item.weight)]
        assert all(g is not None for g in grads)
        return out.detach(), torch.cat([g.flatten() for g in grads if g is not None])

    fast, fast_grad = logits(fast=True)
    slow, slow_grad = logits(fast=False)
    assert fast.shape == (3, 2)
    assert torch.allclose(fast, slow, atol=1e-6)
    assert torch.allclose(fast_grad, slow_grad, atol=1e-6)


def test_a_sequence_history_built_on_other_rows_is_refused() -> None:
    net = HistoryNeuMF(3, 4, gmf_dim=4, mlp_dim=4, layers=(8, 4)).set_history(sequence())
    train = pd.DataFrame({"user_idx": [0, 2], "item_idx": [1, 0], "timestamp": [1, 2]})
    config = TrainConfig(epochs=1, num_threads=1)
    with pytest.raises(ValueError, match="indexes 4 training rows, but 2 were given"):
        train_model("neumf", train, None, config, n_users=3, n_items=4, init=net)
