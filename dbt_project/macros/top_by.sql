{#-
    Aggregate: the value with the largest weight in the group, ties going to the smallest value,
    so re-running gives the same answer. No cross-database macro exists for this, and a
    row_number() over millions of tiny partitions is many times slower, hence the dispatch.
-#}

{% macro top_by(value, weight) -%}
    {{ return(adapter.dispatch('top_by', 'slotrec')(value, weight)) }}
{%- endmacro %}


{% macro default__top_by(value, weight) -%}
    {#- Spark / Databricks / Trino style -#}
    min_by({{ value }}, struct(-({{ weight }}), {{ value }}))
{%- endmacro %}


{% macro duckdb__top_by(value, weight) -%}
    arg_min({{ value }}, (-({{ weight }}), {{ value }}))
{%- endmacro %}
