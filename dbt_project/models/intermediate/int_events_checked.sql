{{ config(**slotrec.replace_by('delivered_on')) }}

{#-
    Every staged row of the run's delivery days, with the FIRST rule it breaks (reject_reason,
    precedence = var reject_reasons) or null when clean. A row duplicates an event when an
    eligible row (no null field, known type) with the same event_id came before it: earlier in
    the same delivery (delivered_on, source_file, source_row_number order) or in one of the
    previous max_lateness_days + 1 delivery days. An older copy cannot matter: any row whose
    original was delivered that long ago is too_late itself (see the model's YAML).

    Cost: one pass over the rows plus one group-by on event_id; the ordered comparison runs on
    repeated ids only, never as a window over every row (a window partitioned by a near-unique
    key is the slowest thing DuckDB can be asked for at 10M rows).
-#}

{%- set lookback_days = var('max_lateness_days') + 1 -%}
{%- set play_types = var('play_event_types') -%}

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
        delivered_on,
        source_file,
        source_row_number,
        case
            {%- for reason in var('reject_reasons') %}
            when breaks_{{ reason }} then '{{ reason }}'
            {%- endfor %}
        end as reject_reason
    from all_checks

)

select * from final
