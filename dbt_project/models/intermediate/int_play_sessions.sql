{{ config(**slotrec.replace_by('delivered_on')) }}

{#-
    One row per user x session x delivery day: when the session started, how long it was played,
    and how the stake moved after losses, the session-level facts the risk signals need (the
    user x slot x day roll-up has lost them). Like the roll-up it is incremental by delivery day,
    so each raw row is read once; a session split over two deliveries (a late row) gives two rows.

    Loss chasing: each staked interval (heartbeat or session end with a stake) is compared with
    the session's next staked interval in the same delivery; a losing interval (won less than
    staked) whose next stake is more than var risk_bet_raise_factor times its own counts as
    raised_after_loss.
-#}

{%- set play_types = var('play_event_types') -%}

with

play_events as (

    select
        user_id,
        session_id,
        delivered_on,
        event_id,
        occurred_at,
        duration_seconds,
        bet_amount,
        win_amount
    from {{ ref('int_events_checked') }}
    where
        reject_reason is null
        and delivered_on between {{ slotrec.from_date_literal() }} and {{ slotrec.as_of_literal() }}
        and event_type in ({{ slotrec.sql_list(play_types) }})

),

ordered as (

    {#-
        Each staked interval next to the session's next staked interval (same delivery): one
        sort of the play rows, partitioned by whether a row is staked so that unstaked rows
        (session starts) sit in a partition of their own and never come between two stakes.
    -#}
    select
        user_id,
        session_id,
        delivered_on,
        occurred_at,
        duration_seconds,
        bet_amount,
        win_amount,
        lead(bet_amount) over (
            partition by user_id, session_id, delivered_on, coalesce(bet_amount, 0) > 0
            order by occurred_at, event_id
        ) as next_bet_amount
    from play_events

),

final as (

    select
        user_id,
        session_id,
        cast(min(occurred_at) as date) as played_on,
        delivered_on,
        min(occurred_at) as started_at,
        sum(duration_seconds) as play_seconds,
        sum(coalesce(bet_amount, 0)) as bet_amount,
        sum(coalesce(win_amount, 0)) as win_amount,
        cast(
            count(
                case
                    when bet_amount > 0
                        and coalesce(win_amount, 0) < bet_amount
                        and next_bet_amount is not null
                    then 1
                end
            ) as {{ dbt.type_bigint() }}
        ) as loss_count,
        cast(
            count(
                case
                    when bet_amount > 0
                        and coalesce(win_amount, 0) < bet_amount
                        and next_bet_amount > bet_amount * {{ var('risk_bet_raise_factor') }}
                    then 1
                end
            ) as {{ dbt.type_bigint() }}
        ) as raised_after_loss_count
    from ordered
    group by
        user_id,
        session_id,
        delivered_on

)

select * from final
