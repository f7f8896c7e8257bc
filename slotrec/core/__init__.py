"""slotrec's ground floor: the contracts every stage shares, depending on no stage.

`schema` (column names and the raw contract), `settings` (typed settings and `DataLayout`, every
path slotrec writes), `atomic` (write-then-rename), `run_history` and `run_report` (what a
daily run records), `clock` (the service's notion of now), `redis_url`, and `policies`: the
serving rules that monitoring reports on too (guardrails, experiment assignment, new-game
graduation). The import contract in `pyproject.toml` keeps every arrow pointing down to here.
"""
