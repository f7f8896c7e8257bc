"""The recommendation flow, one step per module.

candidates (FAISS) → filters (played, inactive, jurisdiction, exclude) → scoring (NeuMF and the
folded-in recent vector) → exploration (bounded, new games first) → diversity (theme, provider)
→ reasons; `ranker` runs them in that order.
"""
