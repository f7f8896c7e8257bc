{#- the delivery days of this run only: read_raw_events prunes every other folder -#}
with

source as (

    {{ slotrec.read_raw_events(source('raw', 'events'), slotrec.from_date(), slotrec.as_of()) }}

),

renamed as (

    select
        {{ slotrec.try_cast('event_id', dbt.type_string()) }} as event_id,
        {{ slotrec.try_cast('user_id', dbt.type_string()) }} as user_id,
        {{ slotrec.try_cast('slot_id', dbt.type_string()) }} as slot_id,
        {{ slotrec.try_cast('session_id', dbt.type_string()) }} as session_id,
        {{ slotrec.try_cast('event_type', dbt.type_string()) }} as event_type,
        {{ slotrec.try_cast('occurred_at', dbt.type_timestamp()) }} as occurred_at,
        {{ slotrec.try_cast('duration_seconds', slotrec.type_double()) }} as duration_seconds,
        {{ slotrec.try_cast('bet_amount', slotrec.type_double()) }} as bet_amount,
        {{ slotrec.try_cast('win_amount', slotrec.type_double()) }} as win_amount,
        {{ slotrec.try_cast('request_id', dbt.type_string()) }} as request_id,
        {{ slotrec.try_cast('experiment', dbt.type_string()) }} as experiment,
        {{ slotrec.try_cast('variant', dbt.type_string()) }} as variant,
        {{ slotrec.try_cast('list_position', dbt.type_bigint()) }} as list_position,
        {{ slotrec.try_cast('guardrails', dbt.type_string()) }} as guardrails,
        delivered_on,
        source_file,
        source_row_number
    from source

)

select * from renamed
