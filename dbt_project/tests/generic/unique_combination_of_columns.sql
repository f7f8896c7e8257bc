{#- Fails on every combination of the columns that occurs more than once (a composite key). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

validation as (

    select
        {{ combination_of_columns | join(',\n        ') }},
        count(*) as row_count
    from {{ model }}
    group by
        {{ combination_of_columns | join(',\n        ') }}
    having count(*) > 1

)

select * from validation

{% endtest %}
