{{ config(materialized='view') }}

{#-
    The clean events that carry a recommendation's request_id: the served lists' impressions
    (one per tile, logged by the service) and the clicks and plays that followed them. What the
    A/B readout, the recommendation monitor and the responsible-play evidence read; a view over
    int_events_checked, which stays private to the dbt project.
-#}

with

checked_events as (

    select * from {{ ref('int_events_checked') }}

),

final as (

    select
        request_id,
        event_id,
        user_id,
        slot_id,
        session_id,
        event_type,
        occurred_at,
        duration_seconds,
        bet_amount,
        win_amount,
        experiment,
        variant,
        list_position,
        guardrails,
        delivered_on
    from checked_events
    where reject_reason is null and request_id is not null

)

select * from final
