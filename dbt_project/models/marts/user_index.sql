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

with

players as (

    select * from {{ ref('stg_raw__players') }}
    where registered_at < {{ slotrec.end_of_day(slotrec.as_of_literal()) }}

),

{% if is_incremental() %}
indexed as (

    select * from {{ this }}

),
{% endif %}

new_players as (

    select
        players.user_id,
        players.registered_at
    from players
    {%- if is_incremental() %}
    left join indexed
        on players.user_id = indexed.user_id
    where indexed.user_id is null
    {%- endif %}

),

next_index as (

    {%- if is_incremental() %}
    select coalesce(max(user_idx) + 1, 0) as first_new_idx
    from indexed
    {%- else %}
    select 0 as first_new_idx
    {%- endif %}

),

final as (

    select
        new_players.user_id,
        next_index.first_new_idx
        + row_number() over (order by new_players.registered_at, new_players.user_id)
        - 1 as user_idx,
        new_players.registered_at as first_seen_at,
        {{ slotrec.as_of_literal() }} as indexed_on
    from new_players
    cross join next_index

)

select * from final
