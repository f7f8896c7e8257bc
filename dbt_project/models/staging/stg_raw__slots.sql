with

source as (

    select * from {{ slotrec.raw_file(source('raw', 'slots'), 'catalogue/slots.parquet') }}

),

renamed as (

    select
        {{ dbt.safe_cast('slot_id', dbt.type_string()) }} as slot_id,
        {{ dbt.safe_cast('name', dbt.type_string()) }} as name,
        {{ dbt.safe_cast('provider', dbt.type_string()) }} as provider,
        {{ dbt.safe_cast('theme', dbt.type_string()) }} as theme,
        {{ dbt.safe_cast('volatility', dbt.type_string()) }} as volatility,
        {{ dbt.safe_cast('rtp', slotrec.type_double()) }} as rtp,
        {{ dbt.safe_cast('max_win_multiplier', slotrec.type_double()) }} as max_win_multiplier,
        {{ dbt.safe_cast('has_bonus_buy', dbt.type_boolean()) }} as has_bonus_buy,
        {{ dbt.safe_cast('released_at', dbt.type_timestamp()) }} as released_at,
        {{ dbt.safe_cast('is_active', dbt.type_boolean()) }} as is_active,
        {{ dbt.safe_cast('jurisdictions', dbt.type_string()) }} as jurisdictions
    from source

),

deduplicated as (

    {#- a catalogue export may repeat a slot: keep its earliest release, deterministically -#}
    select
        *,
        row_number() over (
            partition by slot_id
            order by released_at, name, provider
        ) as slot_row_number
    from renamed
    where slot_id is not null

),

final as (

    select
        slot_id,
        name,
        provider,
        theme,
        volatility,
        rtp,
        max_win_multiplier,
        has_bonus_buy,
        released_at,
        is_active,
        jurisdictions
    from deduplicated
    where slot_row_number = 1

)

select * from final
