{%- set window_start = slotrec.shift_iso_date(slotrec.as_of(), 1 - slotrec.interaction_window_days()) -%}

with

rolled_days as (

    {#- the interaction window as known at the end of as_of (later deliveries are ignored) -#}
    select * from {{ ref('int_sessions_rolled_to_user_slot_days') }}
    where
        delivered_on <= {{ slotrec.as_of_literal() }}
        and played_on between {{ slotrec.date_literal(window_start) }} and {{ slotrec.as_of_literal() }}

),

user_index as (

    select * from {{ ref('user_index') }}

),

slot_index as (

    select * from {{ ref('slot_index') }}

),

played_days as (

    {#- deliveries of the same played day collapse, so a day counts once in active_days -#}
    select
        user_id,
        slot_id,
        played_on,
        sum(play_seconds) as play_seconds,
        cast(sum(session_count) as {{ dbt.type_bigint() }}) as session_count,
        min(first_played_at) as first_played_at,
        max(last_played_at) as last_played_at
    from rolled_days
    group by
        user_id,
        slot_id,
        played_on

),

user_slots as (

    select
        user_id,
        slot_id,
        sum(play_seconds) as play_seconds,
        cast(sum(session_count) as {{ dbt.type_bigint() }}) as session_count,
        count(case when play_seconds > 0 then 1 end) as active_days,
        min(first_played_at) as first_played_at,
        max(last_played_at) as last_played_at
    from played_days
    group by
        user_id,
        slot_id
    having sum(play_seconds) > 0

),

scored as (

    select
        *,
        {#- graded, per-user: the user's most-played slot scores 1, log-damped play time below -#}
        ln(1 + play_seconds) / max(ln(1 + play_seconds)) over (partition by user_id) as normalized_score
    from user_slots

),

final as (

    select
        scored.user_id,
        scored.slot_id,
        user_index.user_idx,
        slot_index.slot_idx,
        scored.play_seconds,
        scored.session_count,
        scored.active_days,
        scored.first_played_at,
        scored.last_played_at,
        {{ dbt.datediff('cast(scored.last_played_at as date)', slotrec.as_of_literal(), 'day') }} as days_since_last_play,
        scored.normalized_score,
        {{ slotrec.as_of_literal() }} as as_of
    from scored
    inner join user_index
        on scored.user_id = user_index.user_id
    inner join slot_index
        on scored.slot_id = slot_index.slot_id

)

select * from final
