{{ config(**slotrec.replace_by('snapshot_on')) }}

{#-
    Point in time: the snapshot of day d sees play of the 30 days ending at d (played_on in
    [d - 29, d]) that had been delivered by the end of d, exactly what a daily run on d saw, so
    a backfill and a sequence of daily runs agree.

    Every figure is a running sum of changes, like slot_features: a user's played day enters
    the window on the day it becomes visible and leaves it 30 days after it was played. The
    window is then known on each day a user's window changes and holds until their next
    change, so only those few rows are summed and each is spread over the snapshot days it
    holds for at the very end. Amounts are summed as exact decimals (type_exact_decimal), so
    what enters and later leaves cancels to exactly 0. The favourite provider needs the same
    per provider, its only per-provider figure.
-#}

{%- set window_days = 30 -%}
{%- set first_played_day = slotrec.shift_iso_date(slotrec.from_date(), 1 - window_days) -%}
{#- a played day on or before this one has left the window by as_of -#}
{%- set last_leaving_played_day = slotrec.shift_iso_date(slotrec.as_of(), -window_days) -%}
{%- set exact = slotrec.type_exact_decimal() -%}
{#- the user-day amounts, summed exactly; counts are integers already -#}
{%- set amounts = ['play_seconds', 'bet_amount'] -%}
{%- for theme in var('themes') -%}{%- do amounts.append('theme_seconds_' ~ theme) -%}{%- endfor -%}
{%- for level in var('volatility_levels') -%}{%- do amounts.append('volatility_seconds_' ~ level) -%}{%- endfor -%}
{%- set measures = ['active_days', 'session_count', 'bet_count'] + amounts -%}

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
        sum(cast(rolled_days.play_seconds as {{ exact }})) as play_seconds,
        cast(sum(rolled_days.session_count) as {{ dbt.type_bigint() }}) as session_count,
        sum(cast(rolled_days.bet_amount as {{ exact }})) as bet_amount,
        cast(sum(rolled_days.bet_count) as {{ dbt.type_bigint() }}) as bet_count,
        {%- for theme in var('themes') %}
        sum(
            case when catalogue.theme = '{{ theme }}' then cast(rolled_days.play_seconds as {{ exact }}) else 0 end
        ) as theme_seconds_{{ theme }},
        {%- endfor %}
        {%- for level in var('volatility_levels') %}
        sum(
            case when catalogue.volatility = '{{ level }}' then cast(rolled_days.play_seconds as {{ exact }}) else 0 end
        ) as volatility_seconds_{{ level }}{{ ',' if not loop.last }}
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
        cast({{ dbt.dateadd('day', window_days, 'played_on') }} as date) as left_on,
        {#- a played day counts once toward active days: through its first visible row -#}
        case
            when visible_from_on = min(visible_from_on) over (partition by user_id, played_on) then 1
            else 0
        end as active_days
    from user_days

),

user_changes as (

    {#- +amounts on the day a user-day becomes visible, -amounts on the day it ages out -#}
    select
        user_id,
        visible_from_on as changed_on,
        played_on as entered_played_on,
        {%- for measure in measures %}
        {{ measure }} as {{ measure }}_change{{ ',' if not loop.last }}
        {%- endfor %}
    from user_days_flagged
    where visible_from_on < left_on
    union all
    select
        user_id,
        left_on as changed_on,
        cast(null as date) as entered_played_on,
        {%- for measure in measures %}
        -{{ measure }} as {{ measure }}_change{{ ',' if not loop.last }}
        {%- endfor %}
    from user_days_flagged
    where
        visible_from_on < left_on
        and played_on <= {{ slotrec.date_literal(last_leaving_played_day) }}

),

user_states as (

    {#-
        The window as of each day it changes, valid until the next change (next_changed_on).
        The latest played day seen so far is the latest in the window whenever the window holds
        anything: every visible play is at most 29 days old until it leaves.
    -#}
    select
        user_id,
        changed_on,
        lead(changed_on) over (partition by user_id order by changed_on) as next_changed_on,
        max(entered_played_on) over (
            partition by user_id
            order by changed_on
            rows between unbounded preceding and current row
        ) as last_played_on,
        {%- for measure in measures %}
        sum({{ measure }}_change) over (
            partition by user_id
            order by changed_on
            rows between unbounded preceding and current row
        ) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (
        select
            user_id,
            changed_on,
            max(entered_played_on) as entered_played_on,
            {%- for measure in measures %}
            sum({{ measure }}_change) as {{ measure }}_change{{ ',' if not loop.last }}
            {%- endfor %}
        from user_changes
        group by
            user_id,
            changed_on
    ) as user_change_days

),

provider_days as (

    select
        rolled_days.user_id,
        catalogue.provider,
        rolled_days.played_on,
        case
            when rolled_days.delivered_on > rolled_days.played_on then rolled_days.delivered_on
            else rolled_days.played_on
        end as visible_from_on,
        cast({{ dbt.dateadd('day', window_days, 'rolled_days.played_on') }} as date) as left_on,
        sum(cast(rolled_days.play_seconds as {{ exact }})) as play_seconds
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

provider_changes as (

    select
        user_id,
        provider,
        visible_from_on as changed_on,
        play_seconds as play_seconds_change
    from provider_days
    where visible_from_on < left_on
    union all
    select
        user_id,
        provider,
        left_on as changed_on,
        -play_seconds as play_seconds_change
    from provider_days
    where
        visible_from_on < left_on
        and played_on <= {{ slotrec.date_literal(last_leaving_played_day) }}

),

provider_states as (

    select
        user_id,
        provider,
        changed_on,
        lead(changed_on) over (partition by user_id, provider order by changed_on) as next_changed_on,
        sum(play_seconds_change) over (
            partition by user_id, provider
            order by changed_on
            rows between unbounded preceding and current row
        ) as play_seconds
    from (
        select
            user_id,
            provider,
            changed_on,
            sum(play_seconds_change) as play_seconds_change
        from provider_changes
        group by
            user_id,
            provider,
            changed_on
    ) as provider_change_days

),

favourite_providers as (

    {#-
        The favourite on each day a user's window changes. A provider's figure only changes on
        a day the user's window changes too (same played days, same visible and leaving days),
        so the state of every provider on those days is enough: a few rows per user instead of
        one per provider and snapshot day.
    -#}
    select
        user_states.user_id,
        user_states.changed_on,
        {{ slotrec.top_by('provider_states.provider', 'provider_states.play_seconds') }} as favourite_provider,
        cast(max(provider_states.play_seconds) as {{ slotrec.type_double() }}) as favourite_provider_seconds
    from user_states
    inner join provider_states
        on
            user_states.user_id = provider_states.user_id
            and user_states.changed_on >= provider_states.changed_on
            and user_states.changed_on < coalesce(
                provider_states.next_changed_on,
                {{ slotrec.date_literal(slotrec.shift_iso_date(slotrec.as_of(), 1)) }}
            )
    where
        user_states.active_days > 0
        and provider_states.play_seconds > 0
    group by
        user_states.user_id,
        user_states.changed_on

),

user_windows as (

    {#- each state on every snapshot day it holds for, while the window holds any play -#}
    select
        snapshot_days.snapshot_on,
        user_states.user_id,
        user_states.last_played_on,
        cast(user_states.active_days as {{ dbt.type_bigint() }}) as active_days_30d,
        cast(user_states.session_count as {{ dbt.type_bigint() }}) as session_count_30d,
        user_states.bet_count as bet_count_30d,
        {%- for amount in amounts %}
        cast(user_states.{{ amount }} as {{ slotrec.type_double() }}) as {{ amount }}_30d,
        {%- endfor %}
        favourite_providers.favourite_provider,
        favourite_providers.favourite_provider_seconds
    from user_states
    inner join favourite_providers
        on
            user_states.user_id = favourite_providers.user_id
            and user_states.changed_on = favourite_providers.changed_on
    inner join snapshot_days
        on
            snapshot_days.snapshot_on >= user_states.changed_on
            and snapshot_days.snapshot_on < coalesce(
                user_states.next_changed_on,
                {{ slotrec.date_literal(slotrec.shift_iso_date(slotrec.as_of(), 1)) }}
            )

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
        {{ slotrec.segment_of('user_windows.bet_amount_30d', 'user_windows.play_seconds_30d') }} as segment,
        {%- for theme in var('themes') %}
        user_windows.theme_seconds_{{ theme }}_30d / user_windows.play_seconds_30d as theme_share_{{ theme }},
        {%- endfor %}
        {%- for level in var('volatility_levels') %}
        user_windows.volatility_seconds_{{ level }}_30d / user_windows.play_seconds_30d as volatility_share_{{ level }},
        {%- endfor %}
        user_windows.favourite_provider,
        user_windows.favourite_provider_seconds / user_windows.play_seconds_30d as favourite_provider_share
    from user_windows

)

select * from final
