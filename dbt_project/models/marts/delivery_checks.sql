{{ config(**slotrec.replace_by('delivered_on')) }}

{#-
    One row per delivery day of the run: the checks that judge a delivery as a whole, not row by
    row (and how many raw files it came in). Today one check: how many of the day's play events repeat an earlier play event exactly (same
    player, slot, event type, time, duration and amounts) under another event id, whatever their
    session id says. A few such copies are quarantined row by row (overlapping_play, or
    overlapping_session when they also carry a new session id); a share over
    max_repeated_event_share means the export itself was delivered again, and the
    export_delivered_twice test stops the run rather than quarantine half a day.

    Events are compared with the lookback days' deliveries too (max_lateness_days + 1 before the
    run), so yesterday's export delivered again today is found. Play events that passed every
    row rule take part, whatever the rules on play said of them.

    Cost: one hash aggregation by the exact event (no window): a day's repeats are its play
    events minus the distinct events first delivered that day.
-#}

{%- set lookback_days = var('max_lateness_days') + 1 -%}
{%- set play_types = var('play_event_types') -%}

with

play_events as (

    select *
    from {{ ref('int_events_checked') }}
    where
        delivered_on between {{ slotrec.date_literal(slotrec.shift_iso_date(slotrec.from_date(), -lookback_days)) }}
        and {{ slotrec.as_of_literal() }}
        and event_type in ({{ slotrec.sql_list(play_types) }})
        and (
            reject_reason is null
            or reject_reason in ({{ slotrec.sql_list(var('session_reject_reasons')) }})
        )

),

distinct_events as (

    select min(delivered_on) as first_delivered_on
    from play_events
    group by
        user_id,
        slot_id,
        event_type,
        occurred_at,
        duration_seconds,
        bet_amount,
        win_amount

),

first_deliveries as (

    select
        first_delivered_on as delivered_on,
        count(*) as distinct_event_count
    from distinct_events
    group by first_delivered_on

),

delivered_events as (

    select
        delivered_on,
        count(*) as play_event_count
    from play_events
    group by delivered_on

),

delivered_files as (

    {#- every raw file of the run's days, whatever its rows broke -#}
    select
        delivered_on,
        count(distinct source_file) as file_count
    from {{ ref('int_events_checked') }}
    where delivered_on between {{ slotrec.from_date_literal() }} and {{ slotrec.as_of_literal() }}
    group by delivered_on

),

run_days as (

    select delivered_on
    from (
        {{ slotrec.day_spine(slotrec.from_date(), slotrec.as_of(), 'delivered_on') }}
    ) as spine

),

final as (

    select
        run_days.delivered_on,
        cast(coalesce(delivered_files.file_count, 0) as {{ dbt.type_bigint() }}) as file_count,
        cast(coalesce(delivered_events.play_event_count, 0) as {{ dbt.type_bigint() }})
            as play_event_count,
        cast(
            coalesce(delivered_events.play_event_count, 0)
            - coalesce(first_deliveries.distinct_event_count, 0)
            as {{ dbt.type_bigint() }}
        ) as repeated_event_count,
        coalesce(
            cast(
                delivered_events.play_event_count - coalesce(first_deliveries.distinct_event_count, 0)
                as {{ slotrec.type_double() }}
            ) / nullif(delivered_events.play_event_count, 0),
            0
        ) as repeated_event_share,
        cast({{ slotrec.run_setting('max_repeated_event_share', 0.2) }} as {{ slotrec.type_double() }})
            as max_repeated_event_share
    from run_days
    left join delivered_events
        on run_days.delivered_on = delivered_events.delivered_on
    left join first_deliveries
        on run_days.delivered_on = first_deliveries.delivered_on
    left join delivered_files
        on run_days.delivered_on = delivered_files.delivered_on

)

select * from final
