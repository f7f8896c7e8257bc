{{ config(**slotrec.replace_by('snapshot_on')) }}

{#-
    Point in time, like user_features: the snapshot of day d sees the sessions started in the
    10 days ending at d (played_on in [d - 9, d]) that had been delivered by the end of d. One
    row per player with such a session, so a player who stops playing gets 'none' rows (their
    last ones) before they drop out, and the online store does not keep an old level for ever.

    Signals (thresholds: macros/risk_rules.sql, run settings mirrored in slotrec/core/settings.py):
      long_sessions   at least risk_long_session_min_count sessions of risk_long_session_seconds
                      or more in the 7 days ending at d
      late_night      at least risk_night_min_sessions sessions started before
                      risk_night_end_hour (UTC) in 7 days, and at least risk_night_min_share of
                      the 7 days' sessions
      loss_chasing    at least risk_chase_min_losses losing intervals in 7 days, and at least
                      risk_chase_min_share of them followed by a raised stake
      escalating      at least risk_escalation_min_seconds of play in the 3 days ending at d,
                      and a daily play time risk_escalation_min_growth times that of the 7 days
                      before (which must hold some play: growth needs a baseline)
    risk_level: 'high' with risk_high_min_signals signals or more, 'elevated' with one, else
    'none'.

    Cost: user-days are rolled from int_play_sessions first, then each joins the at most 10
    snapshot days whose window holds it; a daily run reads 10 days of sessions.
-#}

{%- set lookback_days = 10 -%}
{%- set signal_days = 7 -%}
{%- set recent_days = 3 -%}
{%- set first_played_day = slotrec.shift_iso_date(slotrec.from_date(), 1 - lookback_days) -%}

with

sessions as (

    select * from {{ ref('int_play_sessions') }}
    where
        played_on between {{ slotrec.date_literal(first_played_day) }} and {{ slotrec.as_of_literal() }}
        and delivered_on <= {{ slotrec.as_of_literal() }}
        and play_seconds > 0

),

snapshot_days as (

    {{ slotrec.day_spine(slotrec.from_date(), slotrec.as_of()) }}

),

user_days as (

    {#- one row per user, played day and visible day (a late delivery adds a second one) -#}
    select
        user_id,
        played_on,
        case when delivered_on > played_on then delivered_on else played_on end as visible_from_on,
        count(*) as session_count,
        sum(play_seconds) as play_seconds,
        count(
            case when play_seconds >= {{ slotrec.risk_setting('risk_long_session_seconds') }} then 1 end
        ) as long_session_count,
        count(
            case when extract(hour from started_at) < {{ slotrec.risk_setting('risk_night_end_hour') }} then 1 end
        ) as night_session_count,
        sum(loss_count) as loss_count,
        sum(raised_after_loss_count) as raised_after_loss_count
    from sessions
    group by
        user_id,
        played_on,
        case when delivered_on > played_on then delivered_on else played_on end

),

windows as (

    select
        snapshot_days.snapshot_on,
        user_days.user_id,
        {%- for measure in ['session_count', 'play_seconds', 'long_session_count', 'night_session_count', 'loss_count', 'raised_after_loss_count'] %}
        sum(
            case
                when user_days.played_on > cast({{ dbt.dateadd('day', -signal_days, 'snapshot_days.snapshot_on') }} as date)
                then user_days.{{ measure }} else 0
            end
        ) as {{ measure }}_7d,
        {%- endfor %}
        sum(
            case
                when user_days.played_on > cast({{ dbt.dateadd('day', -recent_days, 'snapshot_days.snapshot_on') }} as date)
                then user_days.play_seconds else 0
            end
        ) as play_seconds_recent_3d,
        sum(
            case
                when user_days.played_on <= cast({{ dbt.dateadd('day', -recent_days, 'snapshot_days.snapshot_on') }} as date)
                then user_days.play_seconds else 0
            end
        ) as play_seconds_prior_7d
    from snapshot_days
    inner join user_days
        on
            user_days.played_on > cast({{ dbt.dateadd('day', -lookback_days, 'snapshot_days.snapshot_on') }} as date)
            and user_days.played_on <= snapshot_days.snapshot_on
            and user_days.visible_from_on <= snapshot_days.snapshot_on
    group by
        snapshot_days.snapshot_on,
        user_days.user_id

),

signals as (

    select
        *,
        cast(night_session_count_7d as {{ slotrec.type_double() }}) / nullif(session_count_7d, 0) as night_session_share_7d,
        cast(raised_after_loss_count_7d as {{ slotrec.type_double() }}) / nullif(loss_count_7d, 0) as loss_chase_share_7d,
        (play_seconds_recent_3d / {{ recent_days }}.0)
        / nullif(play_seconds_prior_7d / {{ lookback_days - recent_days }}.0, 0) as play_time_growth,
        long_session_count_7d >= {{ slotrec.risk_setting('risk_long_session_min_count') }} as has_long_sessions,
        (
            night_session_count_7d >= {{ slotrec.risk_setting('risk_night_min_sessions') }}
            and night_session_count_7d >= {{ slotrec.risk_setting('risk_night_min_share') }} * session_count_7d
        ) as has_late_night_play,
        (
            loss_count_7d >= {{ slotrec.risk_setting('risk_chase_min_losses') }}
            and raised_after_loss_count_7d >= {{ slotrec.risk_setting('risk_chase_min_share') }} * loss_count_7d
        ) as has_loss_chasing,
        (
            play_seconds_recent_3d >= {{ slotrec.risk_setting('risk_escalation_min_seconds') }}
            and play_seconds_prior_7d > 0
            and play_seconds_recent_3d / {{ recent_days }}.0
            >= {{ slotrec.risk_setting('risk_escalation_min_growth') }} * play_seconds_prior_7d / {{ lookback_days - recent_days }}.0
        ) as has_escalating_play
    from windows

),

final as (

    select
        user_id,
        {{ slotrec.end_of_day('snapshot_on') }} as feature_timestamp,
        snapshot_on,
        cast(session_count_7d as {{ dbt.type_bigint() }}) as session_count_7d,
        cast(play_seconds_7d as {{ slotrec.type_double() }}) as play_seconds_7d,
        cast(long_session_count_7d as {{ dbt.type_bigint() }}) as long_session_count_7d,
        night_session_share_7d,
        loss_chase_share_7d,
        cast(play_seconds_recent_3d as {{ slotrec.type_double() }}) as play_seconds_recent_3d,
        cast(play_time_growth as {{ slotrec.type_double() }}) as play_time_growth,
        has_long_sessions,
        has_late_night_play,
        has_loss_chasing,
        has_escalating_play,
        cast(
            (case when has_long_sessions then 1 else 0 end)
            + (case when has_late_night_play then 1 else 0 end)
            + (case when has_loss_chasing then 1 else 0 end)
            + (case when has_escalating_play then 1 else 0 end)
            as {{ dbt.type_bigint() }}
        ) as risk_signal_count
    from signals

)

select
    *,
    case
        when risk_signal_count >= {{ slotrec.risk_setting('risk_high_min_signals') }} then 'high'
        when risk_signal_count >= 1 then 'elevated'
        else 'none'
    end as risk_level
from final
