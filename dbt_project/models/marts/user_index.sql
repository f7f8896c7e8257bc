{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
    )
}}

{#-
    Append-only: a player keeps their user_idx for life (it names a row of the model's user
    embedding). New players get the next indices, by registration time then user_id;
    full_refresh=false keeps even `dbt build --full-refresh` from renumbering.
-#}

{{ slotrec.append_only_index(ref('stg_raw__players'), 'user_id', 'user_idx', 'registered_at') }}
