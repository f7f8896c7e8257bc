{#-
    Fails on every row whose value lies outside [min_value, max_value] (either bound optional;
    inclusive unless told otherwise). Nulls pass: pair with not_null where they must not occur.
-#}
{% test value_between(model, column_name, min_value=none, max_value=none, inclusive=true) %}

{%- set low = '>=' if inclusive else '>' -%}
{%- set high = '<=' if inclusive else '<' -%}

with

validation as (

    select {{ column_name }} as value
    from {{ model }}
    where
        {{ column_name }} is not null
        and not (
            1 = 1
            {%- if min_value is not none %}
            and {{ column_name }} {{ low }} {{ min_value }}
            {%- endif %}
            {%- if max_value is not none %}
            and {{ column_name }} {{ high }} {{ max_value }}
            {%- endif %}
        )

)

select * from validation

{% endtest %}
