{#-
    An index column must be exactly 0, 1, ..., n - 1 over the model's n rows: no gap, no repeat.
    Fails with one row describing the damage otherwise.
-#}
{% test consecutive_from_zero(model, column_name) %}

with

summary as (

    select
        count(*) as row_count,
        count(distinct {{ column_name }}) as distinct_count,
        min({{ column_name }}) as min_value,
        max({{ column_name }}) as max_value
    from {{ model }}

),

validation as (

    select *
    from summary
    where
        row_count > 0
        and (
            distinct_count <> row_count
            or min_value <> 0
            or max_value <> row_count - 1
        )

)

select * from validation

{% endtest %}
