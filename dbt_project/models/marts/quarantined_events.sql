{{ config(**slotrec.replace_by('delivered_on')) }}

with

checked_events as (

    select * from {{ ref('int_events_checked') }}
    where delivered_on between {{ slotrec.from_date_literal() }} and {{ slotrec.as_of_literal() }}

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
        reject_reason
    from checked_events
    where reject_reason is not null

)

select * from final
