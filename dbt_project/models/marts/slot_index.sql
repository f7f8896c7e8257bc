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

with

catalogue as (

    select * from {{ ref('stg_raw__slots') }}
    where released_at < {{ slotrec.end_of_day(slotrec.as_of_literal()) }}

),

{% if is_incremental() %}
indexed as (

    select * from {{ this }}

),
{% endif %}

new_slots as (

    select
        catalogue.slot_id,
        catalogue.released_at
    from catalogue
    {%- if is_incremental() %}
    left join indexed
        on catalogue.slot_id = indexed.slot_id
    where indexed.slot_id is null
    {%- endif %}

),

next_index as (

    {%- if is_incremental() %}
    select coalesce(max(slot_idx) + 1, 0) as first_new_idx
    from indexed
    {%- else %}
    select 0 as first_new_idx
    {%- endif %}

),

final as (

    select
        new_slots.slot_id,
        next_index.first_new_idx
        + row_number() over (order by new_slots.released_at, new_slots.slot_id)
        - 1 as slot_idx,
        new_slots.released_at as first_seen_at,
        {{ slotrec.as_of_literal() }} as indexed_on
    from new_slots
    cross join next_index

)

select * from final
