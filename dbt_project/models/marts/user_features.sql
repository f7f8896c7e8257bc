{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='snapshot_on',
    )
}}

{#-
    Point in time: the snapshot of day d sees play of the 30 days ending at d (played_on in
    [d - 29, d]) that had been delivered by the end of d, exactly what a daily run on d saw, so
    a backfill and a sequence of daily runs agree. Each user-day row is fanned out to the
    snapshot days that can see it (at most 30): linear in the data, no per-day loop. The
    favourite provider needs the same per provider, its only per-provider figure.
-#}

{%- set window_days = 30 -%}
{%- set first_played_day = slotrec.shift_iso_date(slotrec.from_date(), 1 - window_days) -%}

with

rolled_days as (

    select * from {{ ref('int_sessions_rolled_to_user_slot_days') }}
    where
        played_on between {{ slotrec.date_literal(first_played_day) }} and {{ slotrec.as_of_literal() }}
        and delivered_on <= {{ slotrec.as_of_literal() }}
        and play_seconds > 0

),

catalogue as (

    select * from {{ ref('stg_raw__slots') }}

),

snapshot_days as (

    {{ slotrec.day_spine(slotrec.from_date(), slotrec.as_of()) }}

),

user_days as (

    {#- one row per user, played day and visible day (a late delivery adds a second one) -#}
    select
        rolled_days.user_id,
        rolled_days.played_on,
        case
            when rolled_days.delivered_on > rolled_days.played_on then rolled_days.delivered_on
            else rolled_days.played_on
        end as visible_from_on,
        sum(rolled_days.play_seconds) as play_seconds,
        cast(sum(rolled_days.session_count) as {{ dbt.type_bigint() }}) as session_count,
        sum(rolled_days.bet_amount) as bet_amount,
        cast(sum(rolled_days.bet_count) as {{ dbt.type_bigint() }}) as bet_count,
        {%- for theme in var('themes') %}
        sum(case when catalogue.theme = '{{ theme }}' then rolled_days.play_seconds else 0 end)
            as theme_seconds_{{ theme }},
        {%- endfor %}
        {%- for level in var('volatility_levels') %}
        sum(case when catalogue.volatility = '{{ level }}' then rolled_days.play_seconds else 0 end)
            as volatility_seconds_{{ level }}{{ ',' if not loop.last }}
        {%- endfor %}
    from rolled_days
    inner join catalogue
        on rolled_days.slot_id = catalogue.slot_id
    group by
        rolled_days.user_id,
        rolled_days.played_on,
        case
            when rolled_days.delivered_on > rolled_days.played_on then rolled_days.delivered_on
            else rolled_days.played_on
        end

),

user_days_flagged as (

    select
        *,
        cast({{ dbt.dateadd('day', window_days - 1, 'played_on') }} as date) as visible_until_on,
        {#- a played day counts once toward active days: through its first visible row -#}
        visible_from_on = min(visible_from_on) over (partition by user_id, played_on) as is_first_visible
    from user_days

),

user_windows as (

    select
        snapshot_days.snapshot_on,
        user_days_flagged.user_id,
        max(user_days_flagged.played_on) as last_played_on,
        count(case when user_days_flagged.is_first_visible then 1 end) as active_days_30d,
        sum(user_days_flagged.play_seconds) as play_seconds_30d,
        cast(sum(user_days_flagged.session_count) as {{ dbt.type_bigint() }}) as session_count_30d,
        sum(user_days_flagged.bet_amount) as bet_amount_30d,
        sum(user_days_flagged.bet_count) as bet_count_30d,
        {%- for theme in var('themes') %}
        sum(user_days_flagged.theme_seconds_{{ theme }}) as theme_seconds_{{ theme }},
        {%- endfor %}
        {%- for level in var('volatility_levels') %}
        sum(user_days_flagged.volatility_seconds_{{ level }}) as volatility_seconds_{{ level }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from user_days_flagged
    inner join snapshot_days
        on
            snapshot_days.snapshot_on >= user_days_flagged.visible_from_on
            and snapshot_days.snapshot_on <= user_days_flagged.visible_until_on
    group by
        snapshot_days.snapshot_on,
        user_days_flagged.user_id

),

provider_days as (

    select
        rolled_days.user_id,
        catalogue.provider,
        case
            when rolled_days.delivered_on > rolled_days.played_on then rolled_days.delivered_on
            else rolled_days.played_on
        end as visible_from_on,
        cast({{ dbt.dateadd('day', window_days - 1, 'rolled_days.played_on') }} as date) as visible_until_on,
        sum(rolled_days.play_seconds) as play_seconds
    from rolled_days
    inner join catalogue
        on rolled_days.slot_id = catalogue.slot_id
    group by
        rolled_days.user_id,
        catalogue.provider,
        rolled_days.played_on,
        case
            when rolled_days.delivered_on > rolled_days.played_on then rolled_days.delivered_on
            else rolled_days.played_on
        end

),

provider_windows as (

    select
        snapshot_days.snapshot_on,
        provider_days.user_id,
        provider_days.provider,
        sum(provider_days.play_seconds) as play_seconds
    from provider_days
    inner join snapshot_days
        on
            snapshot_days.snapshot_on >= provider_days.visible_from_on
            and snapshot_days.snapshot_on <= provider_days.visible_until_on
    group by
        snapshot_days.snapshot_on,
        provider_days.user_id,
        provider_days.provider

),

favourite_providers as (

    select
        snapshot_on,
        user_id,
        {{ slotrec.top_by('provider', 'play_seconds') }} as favourite_provider,
        max(play_seconds) as favourite_provider_seconds
    from provider_windows
    group by
        snapshot_on,
        user_id

),

final as (

    select
        user_windows.user_id,
        {{ slotrec.end_of_day('user_windows.snapshot_on') }} as feature_timestamp,
        user_windows.snapshot_on,
        {{ dbt.datediff('user_windows.last_played_on', 'user_windows.snapshot_on', 'day') }} as days_since_last_play,
        user_windows.active_days_30d,
        user_windows.play_seconds_30d,
        user_windows.session_count_30d,
        user_windows.play_seconds_30d / nullif(user_windows.session_count_30d, 0) as avg_session_seconds_30d,
        user_windows.bet_amount_30d / nullif(user_windows.bet_count_30d, 0) as avg_bet_30d,
        user_windows.bet_amount_30d
        / nullif(user_windows.play_seconds_30d / 60.0, 0) as stake_per_minute_30d,
        {{ slotrec.segment_of('user_windows.bet_amount_30d / nullif(user_windows.play_seconds_30d / 60.0, 0)') }} as segment,
        {%- for theme in var('themes') %}
        user_windows.theme_seconds_{{ theme }} / user_windows.play_seconds_30d as theme_share_{{ theme }},
        {%- endfor %}
        {%- for level in var('volatility_levels') %}
        user_windows.volatility_seconds_{{ level }} / user_windows.play_seconds_30d as volatility_share_{{ level }},
        {%- endfor %}
        favourite_providers.favourite_provider,
        favourite_providers.favourite_provider_seconds / user_windows.play_seconds_30d as favourite_provider_share
    from user_windows
    inner join favourite_providers
        on
            user_windows.snapshot_on = favourite_providers.snapshot_on
            and user_windows.user_id = favourite_providers.user_id

)

select * from final
