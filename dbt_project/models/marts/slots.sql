with

catalogue as (

    select * from {{ ref('stg_raw__slots') }}
    where released_at < {{ slotrec.end_of_day(slotrec.as_of_literal()) }}

),

slot_index as (

    select * from {{ ref('slot_index') }}

),

final as (

    select
        catalogue.slot_id,
        slot_index.slot_idx,
        catalogue.name,
        catalogue.provider,
        catalogue.theme,
        catalogue.volatility,
        catalogue.rtp,
        catalogue.max_win_multiplier,
        catalogue.has_bonus_buy,
        catalogue.released_at,
        catalogue.is_active,
        catalogue.jurisdictions,
        {{ dbt.datediff('cast(catalogue.released_at as date)', slotrec.as_of_literal(), 'day') }} as age_days,
        {{ slotrec.as_of_literal() }} as as_of
    from catalogue
    inner join slot_index
        on catalogue.slot_id = slot_index.slot_id

)

select * from final
