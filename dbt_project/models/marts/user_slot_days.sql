{{ config(materialized='view') }}

{#-
    The clean play of each player on each slot per played day, as each delivery brought it:
    the published face of int_sessions_rolled_to_user_slot_days for readers outside dbt
    (training's daily plays and popularity, the data-drift report). A view: the rows live in the
    intermediate, incremental by delivery day, and this names the columns readers may rely on.
-#}

with

rolled_days as (

    select * from {{ ref('int_sessions_rolled_to_user_slot_days') }}

),

final as (

    select
        user_id,
        slot_id,
        played_on,
        delivered_on,
        play_seconds,
        session_count,
        bet_amount,
        win_amount,
        bet_count,
        first_played_at,
        last_played_at,
        click_count,
        impression_count,
        event_count
    from rolled_days

)

select * from final
