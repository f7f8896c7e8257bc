"""Slot attributes as side features: the codes, the model's item part, baking, training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from training.history import HistoryNeuMF, UserHistory
from training.item_features import ItemFeatures
from training.models import NCFModel, NeuMF
from training.trainer import TrainConfig, train_model

# items 0..4; item 4 has no catalogue row, item 3 no provider
SLOTS = pd.DataFrame(
    {
        "slot_idx": [2, 0, 1, 3],
        "theme": ["egypt", "fruit", "egypt", "fishing"],
        "volatility": ["high", "low", "high", "medium"],
        "provider": ["Acme", "Bolt", "Bolt", None],
        "rtp": [0.96, 0.94, 0.97, 0.95],
        "has_bonus_buy": [True, False, False, True],
    }
)


def test_codes_share_one_vocabulary_with_an_unknown_per_field() -> None:
    features = ItemFeatures(SLOTS, n_items=5, fields=("theme", "provider"))
    vocab = features.vocabulary
    assert vocab == [
        ("theme", "egypt"),
        ("theme", "fishing"),
        ("theme", "fruit"),
        ("theme", ""),
        ("provider", "Acme"),
        ("provider", "Bolt"),
        ("provider", ""),
    ]
    assert features.n_codes == 7
    assert features.codes.tolist() == [[2, 5], [0, 5], [0, 4], [1, 6], [3, 6]]


def test_rtp_is_bucketed_by_the_catalogues_quantiles() -> None:
    features = ItemFeatures(SLOTS, n_items=4, fields=("rtp", "bonus_buy"))
    rtp = [features.vocabulary[c][1] for c in features.codes[:, 0].tolist()]
    # rtps by slot_idx 0..3: 0.94, 0.97, 0.96, 0.95 → ascending buckets of four quantiles
    assert rtp == ["0", "3", "2", "1"]
    buy = [features.vocabulary[c][1] for c in features.codes[:, 1].tolist()]
    assert buy == ["False", "False", "True", "True"]


def test_bad_catalogues_and_fields_are_named() -> None:
    with pytest.raises(ValueError, match="unknown item feature"):
        ItemFeatures(SLOTS, 5, fields=("colour",))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['theme'\]"):
        ItemFeatures(SLOTS.drop(columns="theme"), 5)
    with pytest.raises(ValueError, match=r"slot_idx outside 0\.\.2"):
        ItemFeatures(SLOTS, 3)


def model(sides: tuple[str, ...] = ("item", "history")) -> HistoryNeuMF:
    torch.manual_seed(0)
    history = UserHistory(
        np.array([0, 0, 2]), np.array([0, 2, 3]), np.ones(3), n_users=3, n_items=5
    )
    net = HistoryNeuMF(3, 5, gmf_dim=4, mlp_dim=4, layers=(8, 4)).set_history(history)
    net.set_item_features(ItemFeatures(SLOTS, 5), sides=sides)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return net.eval()


def test_item_vectors_add_their_attribute_embeddings() -> None:
    net = model()
    assert net.meta is not None and net.meta_hist is not None
    codes = ItemFeatures(SLOTS, 5).codes
    gmf_item, mlp_item = net._item_tables()
    for item in range(5):
        part = net.meta[codes[item]].sum(0).detach()
        assert torch.allclose(gmf_item[item], net.gmf_item.weight[item] + part[:4])
        assert torch.allclose(mlp_item[item], net.mlp_item.weight[item] + part[4:])
    # items 1 and 2 share theme and volatility, items 0 and 2 no attribute
    offset = gmf_item - net.gmf_item.weight
    shared = net.meta[codes[1, :2]].sum(0)[:4]
    assert torch.allclose(offset[1] - offset[2], (net.meta[9] - net.meta[8])[:4])
    assert torch.allclose(offset[1], shared + net.meta[9, :4])
    hist = net._hist_table()
    assert torch.allclose(hist[3], net.hist[3] + net.meta_hist[codes[3]].sum(0))


@pytest.mark.parametrize("sides", [("item", "history"), ("item",), ("history",)])
def test_baked_model_is_a_plain_neumf_with_identical_scores(sides: tuple[str, ...]) -> None:
    net = model(sides)
    baked = net.bake()
    assert type(baked) is NeuMF
    users = torch.arange(3)
    with torch.no_grad():
        expected = net.score_all(users)
        assert torch.allclose(baked.score_all(users), expected, atol=1e-5)
        pairs = net(torch.tensor([0, 2, 1]), torch.tensor([4, 0, 3]))
        assert torch.allclose(pairs, expected[[0, 2, 1], [4, 0, 3]], atol=1e-5)
        reloaded = NCFModel.from_checkpoint(baked.to_checkpoint())
        assert torch.allclose(reloaded.score_all(users), expected, atol=1e-5)
        assert torch.allclose(baked.item_embeddings(), net.item_embeddings(), atol=1e-6)
        # the side features changed the scores: without them the model ranks differently
        net.features = None
        assert not torch.allclose(net.score_all(users), expected, atol=1e-3)


def test_training_rows_carry_the_attribute_part_of_each_item() -> None:
    net = model(("item",))
    assert net.meta is not None
    users, items = torch.tensor([2]), torch.tensor([[3, 4]])
    base = [
        net.gmf_user(users).view(1, 1, -1),
        net.gmf_item(items.view(-1)).view(1, 2, -1),
        net.mlp_user(users).view(1, 1, -1),
        net.mlp_item(items.view(-1)).view(1, 2, -1),
    ]
    rows = net.with_history(base, users, items)
    gmf_item, mlp_item = net._item_tables()
    assert torch.allclose(rows[1][0], gmf_item[[3, 4]])
    assert torch.allclose(rows[3][0], mlp_item[[3, 4]])


def test_attributes_carry_taste_to_slots_a_player_never_saw_played() -> None:
    """Two themes of ten slots each; every player plays only the first five of their theme.
    The other five were never played by anyone, so their free vectors stay at initialisation:
    only the theme embedding can rank them for the right players."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(200):
        first = 0 if user % 2 == 0 else 10
        rows += [(user, first + int(i)) for i in rng.choice(5, 3, replace=False)]
    train = pd.DataFrame(rows, columns=["user_idx", "item_idx"])
    train["weight"] = 1.0
    slots = pd.DataFrame(
        {
            "slot_idx": np.arange(20),
            "theme": ["egypt"] * 10 + ["fruit"] * 10,
            "volatility": "high",
            "provider": "Acme",
        }
    )
    config = TrainConfig(
        gmf_dim=8,
        mlp_dim=8,
        layers=(16, 8),
        batch_size=256,
        epochs=20,
        patience=0,
        lr=0.01,
        embedding_lr=0.1,
        user_history=True,
        item_features=("theme", "volatility", "provider"),
        item_feature_lr=0.05,
        num_threads=1,
        seed=3,
    )
    result = train_model("neumf", train, None, config, n_users=200, n_items=20, slots=slots)
    assert type(result.model) is NeuMF
    with torch.no_grad():
        scores = result.model.score_all(torch.arange(200))
    unseen = torch.tensor([5, 6, 7, 8, 9, 15, 16, 17, 18, 19])
    top = unseen[scores[:, unseen].argsort(1, descending=True)[:, :5]]  # best 5 unplayed
    own_theme = (top < 10) == (torch.arange(200) % 2 == 0)[:, None]
    assert own_theme.float().mean() >= 0.9


def test_item_features_need_the_catalogue_and_the_history_model() -> None:
    train = pd.DataFrame({"user_idx": [0, 1], "item_idx": [0, 1], "weight": [1.0, 1.0]})
    config = TrainConfig(user_history=True, item_features=("theme",), epochs=1, num_threads=1)
    with pytest.raises(ValueError, match="no slot catalogue given"):
        train_model("neumf", train, None, config)
    plain = TrainConfig(item_features=("theme",), epochs=1, num_threads=1)
    with pytest.raises(ValueError, match="needs the history model"):
        train_model("neumf", train, None, plain, slots=SLOTS)
