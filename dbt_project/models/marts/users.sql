{%- set window_start = slotrec.shift_iso_date(slotrec.as_of(), 1 - slotrec.interaction_window_days()) -%}

with

players as (

    select * from {{ ref('stg_raw__players') }}
    where registered_at < {{ slotrec.end_of_day(slotrec.as_of_literal()) }}

),

user_index as (

    select * from {{ ref('user_index') }}

),

rolled_days as (

    {#- what was known at the end of as_of: later deliveries (a re-run of an old day) are ignored -#}
    select * from {{ ref('int_sessions_rolled_to_user_slot_days') }}
    where
        delivered_on <= {{ slotrec.as_of_literal() }}
        and played_on <= {{ slotrec.as_of_literal() }}

),

onboarded as (

    select distinct user_id
    from {{ ref('stg_raw__onboarding') }}
    where
        answered_at is null
        or answered_at < {{ slotrec.end_of_day(slotrec.as_of_literal()) }}

),

play_history as (

    select
        user_id,
        min(first_played_at) as first_played_at,
        max(last_played_at) as last_played_at,
        sum(
            case when played_on >= {{ slotrec.date_literal(window_start) }} then bet_amount else 0 end
        ) as window_bet_amount,
        sum(
            case when played_on >= {{ slotrec.date_literal(window_start) }} then bet_count else 0 end
        ) as window_bet_count,
        sum(
            case when played_on >= {{ slotrec.date_literal(window_start) }} then play_seconds else 0 end
        ) as window_play_seconds
    from rolled_days
    group by user_id

),

measured as (

    select
        players.user_id,
        user_index.user_idx,
        players.country,
        players.registered_at,
        play_history.window_bet_amount / nullif(play_history.window_bet_count, 0) as avg_bet_amount,
        play_history.window_bet_amount
        / nullif(play_history.window_play_seconds / 60.0, 0) as stake_per_minute,
        play_history.first_played_at,
        play_history.last_played_at,
        onboarded.user_id is not null as has_onboarding,
        play_history.window_bet_amount,
        play_history.window_play_seconds
    from players
    inner join user_index
        on players.user_id = user_index.user_id
    left join play_history
        on players.user_id = play_history.user_id
    left join onboarded
        on players.user_id = onboarded.user_id

),

final as (

    select
        user_id,
        user_idx,
        country,
        registered_at,
        {{ slotrec.segment_of('window_bet_amount', 'window_play_seconds') }} as segment,
        avg_bet_amount,
        stake_per_minute,
        first_played_at,
        last_played_at,
        has_onboarding,
        {{ slotrec.as_of_literal() }} as as_of
    from measured

)

select * from final
