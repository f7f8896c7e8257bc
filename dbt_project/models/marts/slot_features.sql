{{ config(**slotrec.replace_by('snapshot_on')) }}

{#-
    Point in time, like user_features: the snapshot of day d counts play of the 1 / 7 / 30 days
    ending at d (and the 7 days before the last 7, for the trend) that had been delivered by the
    end of d, so a backfill equals a run of daily builds.

    Every window is a running sum of changes: a player's day on a slot enters a window on the
    day it becomes visible and leaves it when it ages out, so each row of the input becomes a
    few +/- rows per slot and day, and the snapshots are one cumulative sum per slot. The cost
    is linear in the input whatever the number of snapshot days, with no fan-out.
-#}

{%- set first_played_day = slotrec.shift_iso_date(slotrec.from_date(), -29) -%}
{#- name, first day counted (days after the play), first day no longer counted -#}
{%- set play_windows = [
    ('1d', 0, 1),
    ('7d', 0, 7),
    ('previous_7d', 7, 14),
    ('30d', 0, 30),
] -%}
{%- set player_windows = [('1d', 1), ('7d', 7), ('30d', 30)] -%}
{%- set measures = ['session_count_30d', 'distinct_players_total'] -%}
{%- for name, _, _ in play_windows -%}{%- do measures.append('play_seconds_' ~ name) -%}{%- endfor -%}
{%- for name, _ in player_windows -%}{%- do measures.append('players_' ~ name) -%}{%- endfor -%}

with

rolled_days as (

    select * from {{ ref('int_sessions_rolled_to_user_slot_days') }}
    where
        delivered_on <= {{ slotrec.as_of_literal() }}
        and played_on <= {{ slotrec.as_of_literal() }}
        and play_seconds > 0

),

catalogue as (

    select * from {{ ref('stg_raw__slots') }}

),

snapshot_days as (

    {{ slotrec.day_spine(slotrec.from_date(), slotrec.as_of()) }}

),

player_days as (

    {#- a player's play on a slot on one day, visible from the day it was delivered -#}
    select
        slot_id,
        user_id,
        played_on,
        case when delivered_on > played_on then delivered_on else played_on end as visible_from_on,
        play_seconds,
        session_count
    from rolled_days

),

recent_player_days as (

    select *
    from player_days
    where played_on >= {{ slotrec.date_literal(first_played_day) }}

),

player_steps as (

    {#-
        From visible_from_on until the next change (next_visible_from_on), the latest day the
        player is known to have played the slot is latest_played_on: the player counts in an
        N-day window while that day is under N days old.
    -#}
    select
        slot_id,
        user_id,
        visible_from_on,
        max(last_played_on) over (
            partition by slot_id, user_id
            order by visible_from_on
            rows between unbounded preceding and current row
        ) as latest_played_on,
        lead(visible_from_on) over (
            partition by slot_id, user_id
            order by visible_from_on
        ) as next_visible_from_on
    from (
        select
            slot_id,
            user_id,
            visible_from_on,
            max(played_on) as last_played_on
        from recent_player_days
        group by
            slot_id,
            user_id,
            visible_from_on
    ) as visible_days

),

first_plays as (

    {#- the first snapshot day that saw each player on each slot, over the whole history -#}
    select
        slot_id,
        user_id,
        min(visible_from_on) as first_visible_on
    from player_days
    group by
        slot_id,
        user_id

),

slot_days as (

    {#- play sums only need the slot and the days, not the player: far fewer rows to span -#}
    select
        slot_id,
        played_on,
        visible_from_on,
        sum(play_seconds) as play_seconds,
        sum(session_count) as session_count
    from recent_player_days
    group by
        slot_id,
        played_on,
        visible_from_on

),

play_window_spans as (

    {#- for each play window, the days [entered_on, left_on) a slot-day's play counts in it -#}
    {%- for name, first_offset, end_offset in play_windows %}
    select
        slot_id,
        'play_seconds_{{ name }}' as measure,
        play_seconds as amount,
        case
            when visible_from_on > {{ dbt.dateadd('day', first_offset, 'played_on') }} then visible_from_on
            else cast({{ dbt.dateadd('day', first_offset, 'played_on') }} as date)
        end as entered_on,
        cast({{ dbt.dateadd('day', end_offset, 'played_on') }} as date) as left_on
    from slot_days
    union all
    {%- endfor %}
    select
        slot_id,
        'session_count_30d' as measure,
        session_count as amount,
        visible_from_on as entered_on,
        cast({{ dbt.dateadd('day', 30, 'played_on') }} as date) as left_on
    from slot_days

),

player_window_spans as (

    {#- the days a player counts in each window; players with the same span count together -#}
    select
        slot_id,
        measure,
        count(*) as amount,
        entered_on,
        left_on
    from (
        {%- for name, window_days in player_windows %}
        select
            slot_id,
            'players_{{ name }}' as measure,
            visible_from_on as entered_on,
            case
                when next_visible_from_on < {{ dbt.dateadd('day', window_days, 'latest_played_on') }}
                    then next_visible_from_on
                else cast({{ dbt.dateadd('day', window_days, 'latest_played_on') }} as date)
            end as left_on
        from player_steps
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    ) as player_spans
    where entered_on < left_on
    group by
        slot_id,
        measure,
        entered_on,
        left_on

),

changes as (

    {#- +amount on the day a span starts, -amount on the day it ends; empty spans drop out -#}
    select slot_id, measure, entered_on as changed_on, amount as change
    from play_window_spans
    where entered_on < left_on
    union all
    select slot_id, measure, left_on as changed_on, -amount as change
    from play_window_spans
    where entered_on < left_on
    union all
    select slot_id, measure, entered_on as changed_on, amount as change
    from player_window_spans
    where entered_on < left_on
    union all
    select slot_id, measure, left_on as changed_on, -amount as change
    from player_window_spans
    where entered_on < left_on
    union all
    select slot_id, 'distinct_players_total' as measure, first_visible_on as changed_on, 1 as change
    from first_plays

),

released_slot_days as (

    select
        snapshot_days.snapshot_on,
        catalogue.slot_id,
        catalogue.released_at,
        catalogue.is_active
    from catalogue
    inner join snapshot_days
        on catalogue.released_at < {{ slotrec.end_of_day('snapshot_days.snapshot_on') }}

),

daily_changes as (

    {#- one row per slot and day with a change, plus every snapshot day (so it gets a value) -#}
    select
        slot_id,
        changed_on,
        {%- for measure in measures %}
        sum(case when measure = '{{ measure }}' then change else 0 end) as {{ measure }}_change
        {{- ',' if not loop.last }}
        {%- endfor %}
    from changes
    where changed_on <= {{ slotrec.as_of_literal() }}
    group by
        slot_id,
        changed_on
    union all
    select
        slot_id,
        snapshot_on as changed_on,
        {%- for measure in measures %}
        0 as {{ measure }}_change{{ ',' if not loop.last }}
        {%- endfor %}
    from released_slot_days

),

running_totals as (

    select
        slot_id,
        changed_on,
        {%- for measure in measures %}
        sum({{ measure }}_change) over (
            partition by slot_id
            order by changed_on
            rows between unbounded preceding and current row
        ) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (
        select
            slot_id,
            changed_on,
            {%- for measure in measures %}
            sum({{ measure }}_change) as {{ measure }}_change{{ ',' if not loop.last }}
            {%- endfor %}
        from daily_changes
        group by
            slot_id,
            changed_on
    ) as changes_by_day

),

measured as (

    {#- sums of +x and -x: round away the floating-point dust so an empty window is exactly 0 -#}
    select
        released_slot_days.slot_id,
        released_slot_days.snapshot_on,
        {%- for name, _ in player_windows %}
        cast(running_totals.players_{{ name }} as {{ dbt.type_bigint() }}) as players_{{ name }},
        {%- endfor %}
        {%- for name, _, _ in play_windows %}
        round(running_totals.play_seconds_{{ name }}, 3) as play_seconds_{{ name }},
        {%- endfor %}
        cast(running_totals.session_count_30d as {{ dbt.type_bigint() }}) as session_count_30d,
        cast(running_totals.distinct_players_total as {{ dbt.type_bigint() }}) as distinct_players_total,
        {{ dbt.datediff('cast(released_slot_days.released_at as date)', 'released_slot_days.snapshot_on', 'day') }}
            as age_days,
        released_slot_days.is_active
    from released_slot_days
    inner join running_totals
        on
            released_slot_days.slot_id = running_totals.slot_id
            and released_slot_days.snapshot_on = running_totals.changed_on

),

final as (

    select
        slot_id,
        {{ slotrec.end_of_day('snapshot_on') }} as feature_timestamp,
        snapshot_on,
        players_1d,
        players_7d,
        players_30d,
        play_seconds_1d,
        play_seconds_7d,
        play_seconds_30d,
        {#- in [-1, 1]: +1 all of the last 14 days' play was in the last 7, -1 none of it, 0 flat or idle -#}
        case
            when play_seconds_7d + play_seconds_previous_7d > 0
                then (play_seconds_7d - play_seconds_previous_7d) / (play_seconds_7d + play_seconds_previous_7d)
            else 0
        end as popularity_trend,
        play_seconds_30d / nullif(session_count_30d, 0) as avg_session_seconds_30d,
        distinct_players_total,
        age_days,
        is_active
    from measured

)

select * from final
