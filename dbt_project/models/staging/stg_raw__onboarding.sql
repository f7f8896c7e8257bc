with

source as (

    select * from {{ slotrec.raw_file(source('raw', 'onboarding'), 'onboarding/onboarding.parquet') }}

),

renamed as (

    select
        {{ dbt.safe_cast('user_id', dbt.type_string()) }} as user_id,
        {{ dbt.safe_cast('answered_at', dbt.type_timestamp()) }} as answered_at,
        {{ dbt.safe_cast('preferred_themes', dbt.type_string()) }} as preferred_themes,
        {{ dbt.safe_cast('preferred_volatility', dbt.type_string()) }} as preferred_volatility,
        {{ dbt.safe_cast('preferred_providers', dbt.type_string()) }} as preferred_providers
    from source

),

deduplicated as (

    {#- one row per player and answer time; exact repeats of an export collapse -#}
    select
        *,
        row_number() over (
            partition by user_id, answered_at
            order by preferred_themes, preferred_volatility, preferred_providers
        ) as answer_row_number
    from renamed
    where user_id is not null

),

final as (

    select
        user_id,
        answered_at,
        preferred_themes,
        preferred_volatility,
        preferred_providers
    from deduplicated
    where answer_row_number = 1

)

select * from final
