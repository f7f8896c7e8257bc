{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
    )
}}

{#-
    Append-only: a slot keeps its slot_idx for life (its embedding row and FAISS row mean the
    same game across retrains). New slots get the next indices, by release time then slot_id;
    full_refresh=false keeps even `dbt build --full-refresh` from renumbering.
-#}

{{ slotrec.append_only_index(ref('stg_raw__slots'), 'slot_id', 'slot_idx', 'released_at') }}
