{#- Fails on every row where the boolean SQL expression is not true (false or null). -#}
{% test expression_is_true(model, expression) %}

with

validation as (

    select *
    from {{ model }}
    where not coalesce({{ expression }}, false)

)

select * from validation

{% endtest %}
