"""Model training and offline evaluation for slotrec: NCF (GMF, MLP, NeuMF) and its baselines.

One module per stage, each usable on its own:

- `splits`: leave-last-out and temporal train / validation / test splits.
- `sampling`: vectorised negative sampling (uniform or popularity-aware) that never draws a
  known positive, for training epochs and for the 99-negative evaluation protocol.
- `models`: GMF, MLP and NeuMF modules that save and load themselves and expose the GMF
  vectors for inner-product (FAISS) retrieval.
- `trainer`: `train_model` with sparse row-wise embedding updates, early stopping on
  validation NDCG@10 and per-epoch progress.
- `baselines`: popularity, item-kNN and EASE behind the same `score_all` interface.
- `metrics` and `evaluate`: HR, NDCG, MRR, recall, coverage, novelty and popularity bias,
  full-ranking and sampled protocols, per-group results and model comparisons.

Importing the package has no side effects; nothing here reads slotrec's warehouse directly, so
the same code trains on MovieLens or on the casino's interactions mart.
"""
