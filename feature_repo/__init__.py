"""Feast feature repository: entities, sources over the dbt marts, feature views and services.

Definitions are split by kind (`entities`, `data_sources`, `features`, `feature_services`) as in
Feast's own templates; `store` holds the operations the pipeline runs on them (apply, export,
materialize, online reads).
"""
