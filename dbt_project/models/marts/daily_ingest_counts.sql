{{ config(**slotrec.replace_by('delivered_on')) }}

{#- every outcome appears for every delivery day, with 0 when nothing had it: easy to report -#}

with

checked_events as (

    select * from {{ ref('int_events_checked') }}
    where delivered_on between {{ slotrec.from_date_literal() }} and {{ slotrec.as_of_literal() }}

),

outcomes as (

    select 'clean' as outcome, 0 as outcome_order
    {%- for reason in var('reject_reasons') %}
    union all
    select '{{ reason }}' as outcome, {{ loop.index }} as outcome_order
    {%- endfor %}

),

counted as (

    select
        delivered_on,
        coalesce(reject_reason, 'clean') as outcome,
        count(*) as row_count
    from checked_events
    group by
        delivered_on,
        coalesce(reject_reason, 'clean')

),

delivery_days as (

    select distinct delivered_on
    from counted

),

final as (

    select
        delivery_days.delivered_on,
        outcomes.outcome,
        outcomes.outcome_order,
        outcomes.outcome = 'clean' as is_clean,
        coalesce(counted.row_count, 0) as row_count
    from delivery_days
    cross join outcomes
    left join counted
        on
            delivery_days.delivered_on = counted.delivered_on
            and outcomes.outcome = counted.outcome

)

select * from final
