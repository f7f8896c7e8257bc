{{ config(**slotrec.replace_by('delivered_on')) }}

{%- set play_types = var('play_event_types') -%}

with

clean_events as (

    select * from {{ ref('int_events_checked') }}
    where
        reject_reason is null
        and delivered_on between {{ slotrec.from_date_literal() }} and {{ slotrec.as_of_literal() }}

),

session_parts as (

    {#- a session's share of one played day in one delivery (a session may span midnight) -#}
    select
        user_id,
        slot_id,
        cast(occurred_at as date) as played_on,
        delivered_on,
        session_id,
        sum(
            case when event_type in ({{ slotrec.sql_list(play_types) }}) then duration_seconds else 0 end
        ) as play_seconds,
        sum(coalesce(bet_amount, 0)) as bet_amount,
        sum(coalesce(win_amount, 0)) as win_amount,
        count(case when bet_amount > 0 then 1 end) as bet_count,
        min(case when event_type in ({{ slotrec.sql_list(play_types) }}) then occurred_at end) as first_played_at,
        max(case when event_type in ({{ slotrec.sql_list(play_types) }}) then occurred_at end) as last_played_at,
        count(case when event_type = 'click' then 1 end) as click_count,
        count(case when event_type = 'impression' then 1 end) as impression_count,
        count(*) as event_count
    from clean_events
    group by
        user_id,
        slot_id,
        cast(occurred_at as date),
        delivered_on,
        session_id

),

final as (

    select
        user_id,
        slot_id,
        played_on,
        delivered_on,
        sum(play_seconds) as play_seconds,
        count(case when play_seconds > 0 then 1 end) as session_count,
        sum(bet_amount) as bet_amount,
        sum(win_amount) as win_amount,
        cast(sum(bet_count) as {{ dbt.type_bigint() }}) as bet_count,
        min(first_played_at) as first_played_at,
        max(last_played_at) as last_played_at,
        cast(sum(click_count) as {{ dbt.type_bigint() }}) as click_count,
        cast(sum(impression_count) as {{ dbt.type_bigint() }}) as impression_count,
        cast(sum(event_count) as {{ dbt.type_bigint() }}) as event_count
    from session_parts
    group by
        user_id,
        slot_id,
        played_on,
        delivered_on

)

select * from final
