"""The ground truth: how much a player likes a slot, from hidden tastes and slot attributes.

affinity = sigmoid(w_t * theme taste + w_v * volatility fit + w_p * favourite provider
                   + w_l * tanh(latent taste . latent style) + w_q * slot quality + bias)

The simulator picks slots and session lengths from this score, so it is what an evaluation
should measure recommendations against. The dense form (a block of players against every slot)
and the pairwise form evaluate the same float32 operations in the same order, so both return
bit-identical values for the same (player, slot).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from slotrec.core.schema import THEMES, VOLATILITY_LEVELS
from slotrec.simulator.catalogue import PROVIDERS, SlotTruth
from slotrec.simulator.config import LATENT_DIM
from slotrec.simulator.players import PlayerTruth

# Weights of the score's parts; theme taste dominates, as in real lobby behaviour.
_W_THEME: Final = np.float32(2.4)
_W_VOLATILITY: Final = np.float32(1.1)
_W_PROVIDER: Final = np.float32(0.45)
_W_LATENT: Final = np.float32(0.9)
_W_QUALITY: Final = np.float32(1.8)
_BIAS: Final = np.float32(-3.2)
_VOLATILITY_WIDTH: Final = np.float32(0.9)  # gap (in levels) at which the fit drops to 0.54
_LATENT_SCALE: Final = np.float32(1.0 / np.sqrt(LATENT_DIM))
_N_T, _N_V, _N_P = len(THEMES), len(VOLATILITY_LEVELS), len(PROVIDERS)


def true_affinity(
    players_truth: PlayerTruth,
    slots_truth: SlotTruth,
    user_idx_array: np.ndarray,
    slot_idx_array: np.ndarray,
) -> np.ndarray:
    """True affinity of each (player, slot) pair.

    Args:
        players_truth: Hidden player tastes (from the simulation, or via `load_truth`).
        slots_truth: Hidden slot facts (from the simulation, or via `load_truth`).
        user_idx_array: Player indices (player "u0000001" is index 0).
        slot_idx_array: Slot indices (slot "s000001" is index 0), same shape, paired.

    Returns:
        Affinity in [0, 1] for each pair, float64, same shape as the inputs.
    """
    shape = np.shape(user_idx_array)
    if shape != np.shape(slot_idx_array):
        raise ValueError(
            f"user and slot index arrays differ in shape: {shape} vs {np.shape(slot_idx_array)}"
        )
    u = np.asarray(user_idx_array, dtype=np.int64).reshape(-1)
    s = np.asarray(slot_idx_array, dtype=np.int64).reshape(-1)
    p, q = players_truth, slots_truth
    fav = p.favourite_providers[u]  # [N, 2]
    provider = q.provider[s]
    taste = _taste_part(
        theme=_theme_taste(p.theme_pref[u])[np.arange(u.size), q.theme[s]],
        volatility=_volatility_fit(q.volatility[s], p.volatility_pref[u]),
        is_favourite=(provider == fav[:, 0]) | (provider == fav[:, 1]),
    )
    latent_dot = np.zeros(u.shape, dtype=np.float32)
    for k in range(LATENT_DIM):  # fixed summation order, shared with the dense form
        latent_dot += p.latent[u, k] * q.latent[s, k]
    return _finish(taste, latent_dot, _slot_part(q)[s]).astype(np.float64).reshape(shape)


def affinity_matrix(players_truth: PlayerTruth, rows: slice, slots_truth: SlotTruth) -> np.ndarray:
    """True affinity of a contiguous range of players against every slot.

    Args:
        players_truth: Hidden player tastes.
        rows: The player indices, as a slice. A few dozen rows at a time keeps temporaries
            in cache: fresh multi-MB arrays cost more in page faults than in arithmetic.
        slots_truth: Hidden slot facts.

    Returns:
        Affinity in [0, 1], float32 [B, S].
    """
    p, q = players_truth, slots_truth
    n = int(p.theme_pref[rows].shape[0])
    # The taste part depends on a slot only through (theme, volatility, provider): build it
    # per player for all 12 x 4 x 25 combinations, then gather one value per slot.
    theme = _theme_taste(p.theme_pref[rows])[:, :, None, None]  # [B, T, 1, 1]
    levels = np.arange(_N_V, dtype=np.int8)
    volatility = _volatility_fit(levels[None, :], p.volatility_pref[rows, None])  # [B, V]
    favourite = np.zeros((n, _N_P), dtype=bool)
    favourite[np.arange(n)[:, None], p.favourite_providers[rows]] = True
    table = _taste_part(theme, volatility[:, None, :, None], favourite[:, None, None, :])
    combo = (q.theme.astype(np.intp) * _N_V + q.volatility) * _N_P + q.provider  # [S]
    taste = np.take(table.reshape(n, -1), combo, axis=1)  # [B, S]

    latent = p.latent[rows]  # [B, D]
    slot_latent = np.ascontiguousarray(q.latent.T)  # [D, S]
    latent_dot = np.zeros(taste.shape, dtype=np.float32)
    term = np.empty_like(latent_dot)
    for k in range(LATENT_DIM):
        np.multiply(latent[:, k, None], slot_latent[None, k], out=term)
        latent_dot += term
    return _finish(taste, latent_dot, _slot_part(q)[None, :])


def _theme_taste(theme_pref: np.ndarray) -> np.ndarray:
    """Theme preference relative to the player's favourite theme, [N, T] in [0, 1]."""
    return theme_pref / theme_pref.max(axis=1, keepdims=True)


def _volatility_fit(level: np.ndarray, ideal: np.ndarray) -> np.ndarray:
    """Gaussian fit of a slot's volatility level to the player's ideal level, in (0, 1]."""
    gap = (level.astype(np.float32) - ideal) / _VOLATILITY_WIDTH
    return np.exp(np.float32(-0.5) * np.square(gap))


def _taste_part(theme: np.ndarray, volatility: np.ndarray, is_favourite: np.ndarray) -> np.ndarray:
    """Weighted theme, volatility and provider terms (broadcasting), float32."""
    return (_W_THEME * theme + _W_VOLATILITY * volatility) + _W_PROVIDER * is_favourite.astype(
        np.float32
    )


def _slot_part(slots_truth: SlotTruth) -> np.ndarray:
    """Weighted quality plus the bias, per slot [S] float32."""
    return _W_QUALITY * slots_truth.quality + _BIAS


def _finish(taste: np.ndarray, latent_dot: np.ndarray, slot_part: np.ndarray) -> np.ndarray:
    """sigmoid(taste + w_l * tanh(scaled latent dot) + slot part), in place on fresh arrays."""
    score = latent_dot  # reused as the output buffer
    score *= _LATENT_SCALE
    np.tanh(score, out=score)
    score *= _W_LATENT
    score += taste
    score += slot_part
    np.negative(score, out=score)
    np.exp(score, out=score)
    score += np.float32(1.0)
    np.reciprocal(score, out=score)
    return score
