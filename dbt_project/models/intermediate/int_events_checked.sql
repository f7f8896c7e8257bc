{{ config(**slotrec.replace_by('delivered_on')) }}

{#-
    Every staged row of the run's delivery days, with the FIRST rule it breaks (reject_reason,
    precedence = var reject_reasons) or null when clean. A row duplicates an event when an
    eligible row (no null field, known type) with the same event_id came before it: earlier in
    the same delivery (delivered_on, source_file, source_row_number order) or in one of the
    previous max_lateness_days + 1 delivery days. An older copy cannot matter: any row whose
    original was delivered that long ago is too_late itself (see the model's YAML).

    Then the rules on play as a whole (var session_reject_reasons), over the play events that
    pass every row rule, in this run's deliveries and (incremental runs) the lookback days
    before them, so a session delivered over two days is judged whole:
    - overlapping_play: a play event whose claimed stretch (occurred_at - duration_seconds ..
      occurred_at) begins more than play_overlap_tolerance_seconds before the latest earlier
      play event of its session: the same play reported twice (a re-sent heartbeat, a client
      clock running fast).
    - overlapping_session: a session that starts (its first claimed second) more than the
      tolerance before an earlier-starting session of the same player on the same slot ended:
      a second tab, or a second device whose clock is ahead. Its rows on that slot are out.
    - over_day_capacity: a player's sessions on one played day (UTC date of occurred_at) in start
      order; the one whose play takes the day past day_capacity_seconds and every later one.
    Only rows of this run's deliveries get a reason; rows of the lookback days only take part.

    Cost: one pass over the rows plus one group-by on event_id; the ordered comparison runs on
    repeated ids only, never as a window over every row (a window partitioned by a near-unique
    key is the slowest thing DuckDB can be asked for at 10M rows). The play rules add one window
    over the play rows partitioned by session, and windows over sessions.
-#}

{%- set lookback_days = var('max_lateness_days') + 1 -%}
{%- set play_types = var('play_event_types') -%}
{%- set session_reasons = var('session_reject_reasons') -%}
{%- set row_reasons = var('reject_reasons') | reject('in', session_reasons) | list -%}
{%- set tolerance = var('play_overlap_tolerance_seconds') -%}
{%- set play_columns -%}
    user_id,
        slot_id,
        session_id,
        event_id,
        source_file,
        source_row_number,
        cast(occurred_at as date) as played_on,
        {{ slotrec.epoch_seconds('occurred_at') }} as occurred_epoch,
        duration_seconds
{%- endset -%}

{%- set breaks_null_required_field -%}
    (
        {%- for column_name in var('required_event_columns') %}
        staged.{{ column_name }} is null or
        {%- endfor %}
        (
            staged.event_type in ({{ slotrec.sql_list(play_types) }})
            and (
                {%- for column_name in var('required_play_event_columns') %}
                staged.{{ column_name }} is null
                {%- if not loop.last %} or {% endif -%}
                {%- endfor %}
            )
        )
    )
{%- endset -%}

{%- set breaks_unknown_event_type -%}
    staged.event_type not in ({{ slotrec.sql_list(var('event_types')) }})
{%- endset -%}

{#-
    stg_raw__events is read three times on purpose instead of through one import CTE: DuckDB
    materializes a CTE referenced more than once (every row, every column), while each direct
    read below only scans the parquet columns it needs.
-#}
{%- set staged_events = ref('stg_raw__events') -%}

with

players as (

    select * from {{ ref('stg_raw__players') }}

),

slots as (

    select * from {{ ref('stg_raw__slots') }}

),

delivery_days as (

    {#- the per-day limits, computed once per day instead of once per row -#}
    select
        delivered_on,
        {{ slotrec.end_of_day('delivered_on') }} as delivered_day_end_at,
        {{ dbt.dateadd('second', var('future_tolerance_seconds'), slotrec.end_of_day('delivered_on')) }}
            as future_after_at,
        {{ dbt.dateadd(
            'day',
            -var('max_lateness_days'),
            'cast(delivered_on as ' ~ dbt.type_timestamp() ~ ')',
        ) }} as too_late_before_at,
        cast({{ dbt.dateadd('day', -lookback_days, 'delivered_on') }} as date) as duplicate_lookback_on
    from (
        {{ slotrec.day_spine(slotrec.from_date(), slotrec.as_of(), 'delivered_on') }}
    ) as spine

),

{% if is_incremental() %}
previously_delivered as (

    {#- the latest earlier delivery of each event id, from the days the table already holds -#}
    select
        event_id,
        max(delivered_on) as last_delivered_on
    from {{ this }}
    where
        delivered_on < {{ slotrec.from_date_literal() }}
        and delivered_on >= {{ slotrec.date_literal(slotrec.shift_iso_date(slotrec.from_date(), -lookback_days)) }}
        and (
            reject_reason is null
            or reject_reason not in ('null_required_field', 'unknown_event_type')
        )
    group by event_id

),
{% endif %}

repeated_event_ids as (

    {#- ids seen more than once in this delivery window: a small set, checked in order below -#}
    select event_id
    from {{ staged_events }}
    where event_id is not null
    group by event_id
    having count(*) > 1

),

repeated_copies as (

    {#- only rows that are events at all (no null field, known type) are originals or copies -#}
    select
        staged.source_file,
        staged.source_row_number,
        lag(staged.delivered_on) over (
            partition by staged.event_id
            order by staged.delivered_on, staged.source_file, staged.source_row_number
        ) as previous_copy_delivered_on
    from {{ staged_events }} as staged
    inner join repeated_event_ids
        on staged.event_id = repeated_event_ids.event_id
    where not ({{ breaks_null_required_field }} or {{ breaks_unknown_event_type }})

),

all_checks as (

    select
        staged.*,
        {{ breaks_null_required_field }} as breaks_null_required_field,
        {{ breaks_unknown_event_type }} as breaks_unknown_event_type,
        coalesce(
            repeated_copies.previous_copy_delivered_on
            {%- if is_incremental() %},
            previously_delivered.last_delivered_on
            {%- endif %}
        ) >= delivery_days.duplicate_lookback_on as breaks_duplicate_event,
        staged.occurred_at > delivery_days.future_after_at as breaks_future_timestamp,
        staged.occurred_at < delivery_days.too_late_before_at as breaks_too_late,
        staged.duration_seconds < 0 as breaks_negative_duration,
        staged.duration_seconds > {{ var('max_event_duration_seconds') }} as breaks_absurd_duration,
        (staged.bet_amount < 0 or staged.win_amount < 0) as breaks_negative_amount,
        (
            staged.bet_amount > {{ slotrec.run_setting('max_event_amount', 1000000) }}
            or staged.win_amount > {{ slotrec.run_setting('max_event_amount', 1000000) }}
        ) as breaks_absurd_amount,
        not coalesce(players.registered_at < delivery_days.delivered_day_end_at, false) as breaks_unknown_user,
        not coalesce(slots.released_at < delivery_days.delivered_day_end_at, false) as breaks_unknown_slot
    from {{ staged_events }} as staged
    inner join delivery_days
        on staged.delivered_on = delivery_days.delivered_on
    left join repeated_copies
        on
            staged.source_file = repeated_copies.source_file
            and staged.source_row_number = repeated_copies.source_row_number
    {%- if is_incremental() %}
    left join previously_delivered
        on staged.event_id = previously_delivered.event_id
    {%- endif %}
    left join players
        on staged.user_id = players.user_id
    left join slots
        on staged.slot_id = slots.slot_id

),

row_checked as (

    select
        all_checks.*,
        not coalesce(
            {%- for reason in row_reasons %}
            breaks_{{ reason }}{{ ' or' if not loop.last }}
            {%- endfor %},
            false
        ) as is_row_clean
    from all_checks

),

play_rows as (

    {#- the play the rules on play judge: this run's row-clean play events ... -#}
    select
        {{ play_columns }},
        true as is_in_run
    from row_checked
    where is_row_clean and event_type in ({{ slotrec.sql_list(play_types) }})
    {%- if is_incremental() %}

    union all

    {# ... and the lookback days' (rows the play rules rejected still took part then) #}
    select
        {{ play_columns }},
        false as is_in_run
    from {{ this }}
    where
        delivered_on < {{ slotrec.from_date_literal() }}
        and delivered_on >= {{ slotrec.date_literal(slotrec.shift_iso_date(slotrec.from_date(), -lookback_days)) }}
        and event_type in ({{ slotrec.sql_list(play_types) }})
        and (reject_reason is null or reject_reason in ({{ slotrec.sql_list(session_reasons) }}))
    {%- endif %}

),

overlapping_play as (

    {#-
        Each play event next to the latest earlier play event of its session. A window over
        every play row, but partitioned by session (tens of rows each, not a near-unique key).
        A cheaper filter first (sessions claiming more than they span) was tried and dropped:
        a heartbeat delivered a day late hides a re-sent one from it.
    -#}
    select
        source_file,
        source_row_number
    from (
        select
            is_in_run,
            source_file,
            source_row_number,
            occurred_epoch - duration_seconds as claimed_from_epoch,
            max(occurred_epoch) over (
                partition by user_id, session_id
                order by occurred_epoch, event_id, source_file, source_row_number
                rows between unbounded preceding and 1 preceding
            ) as covered_until_epoch
        from play_rows
    ) as ordered_play
    where
        is_in_run
        and claimed_from_epoch < covered_until_epoch - {{ tolerance }}

),

plausible_play as (

    select play_rows.*
    from play_rows
    left join overlapping_play
        on
            play_rows.source_file = overlapping_play.source_file
            and play_rows.source_row_number = overlapping_play.source_row_number
    where overlapping_play.source_file is null

),

slot_sessions as (

    {#- each session's stretch on each slot it played -#}
    select
        user_id,
        slot_id,
        session_id,
        min(occurred_epoch - duration_seconds) as started_epoch,
        max(occurred_epoch) as ended_epoch
    from plausible_play
    group by
        user_id,
        slot_id,
        session_id

),

overlapping_sessions as (

    select
        user_id,
        slot_id,
        session_id
    from (
        select
            slot_sessions.*,
            max(ended_epoch) over (
                partition by user_id, slot_id
                order by started_epoch, session_id
                rows between unbounded preceding and 1 preceding
            ) as busy_until_epoch
        from slot_sessions
    ) as ordered_sessions
    where started_epoch < busy_until_epoch - {{ tolerance }}

),

session_days as (

    {#- each remaining session's play on each day it touches -#}
    select
        plausible_play.user_id,
        plausible_play.session_id,
        plausible_play.played_on,
        min(plausible_play.occurred_epoch - plausible_play.duration_seconds) as started_epoch,
        sum(plausible_play.duration_seconds) as play_seconds
    from plausible_play
    left join overlapping_sessions
        on
            plausible_play.user_id = overlapping_sessions.user_id
            and plausible_play.slot_id = overlapping_sessions.slot_id
            and plausible_play.session_id = overlapping_sessions.session_id
    where overlapping_sessions.session_id is null
    group by
        plausible_play.user_id,
        plausible_play.session_id,
        plausible_play.played_on

),

over_capacity_session_days as (

    select
        user_id,
        session_id,
        played_on
    from (
        select
            session_days.*,
            sum(play_seconds) over (
                partition by user_id, played_on
                order by started_epoch, session_id
                rows between unbounded preceding and current row
            ) as day_play_seconds
        from session_days
    ) as filling_days
    where day_play_seconds > {{ var('day_capacity_seconds') }}

),

play_checked as (

    select
        row_checked.*,
        overlapping_play.source_file is not null as breaks_overlapping_play,
        overlapping_sessions.session_id is not null as breaks_overlapping_session,
        over_capacity_session_days.session_id is not null as breaks_over_day_capacity
    from row_checked
    left join overlapping_play
        on
            row_checked.source_file = overlapping_play.source_file
            and row_checked.source_row_number = overlapping_play.source_row_number
    left join overlapping_sessions
        on
            row_checked.is_row_clean
            and row_checked.user_id = overlapping_sessions.user_id
            and row_checked.slot_id = overlapping_sessions.slot_id
            and row_checked.session_id = overlapping_sessions.session_id
    left join over_capacity_session_days
        on
            row_checked.is_row_clean
            and row_checked.user_id = over_capacity_session_days.user_id
            and row_checked.session_id = over_capacity_session_days.session_id
            and cast(row_checked.occurred_at as date) = over_capacity_session_days.played_on

),

final as (

    select
        event_id,
        user_id,
        slot_id,
        session_id,
        event_type,
        occurred_at,
        duration_seconds,
        bet_amount,
        win_amount,
        request_id,
        experiment,
        variant,
        list_position,
        guardrails,
        delivered_on,
        source_file,
        source_row_number,
        case
            {%- for reason in var('reject_reasons') %}
            when breaks_{{ reason }} then '{{ reason }}'
            {%- endfor %}
        end as reject_reason
    from play_checked

)

select * from final
