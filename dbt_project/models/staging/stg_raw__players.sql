with

source as (

    select * from {{ slotrec.raw_file(source('raw', 'players'), 'players/players.parquet') }}

),

renamed as (

    select
        {{ dbt.safe_cast('user_id', dbt.type_string()) }} as user_id,
        {{ dbt.safe_cast('registered_at', dbt.type_timestamp()) }} as registered_at,
        {{ dbt.safe_cast('country', dbt.type_string()) }} as country
    from source

),

deduplicated as (

    {#- a registry export may repeat a player: keep the earliest registration -#}
    select
        *,
        row_number() over (
            partition by user_id
            order by registered_at, country
        ) as player_row_number
    from renamed
    where user_id is not null

),

final as (

    select
        user_id,
        registered_at,
        country
    from deduplicated
    where player_row_number = 1

)

select * from final
