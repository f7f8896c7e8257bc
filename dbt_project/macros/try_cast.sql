{#-
    A cast that turns a value it cannot convert into null instead of failing the whole build.
    dbt.safe_cast is a plain cast on DuckDB, so one raw file with "abc" in a number column would
    stop every model; with this, the row's field is null and int_events_checked quarantines it.
-#}

{% macro try_cast(field, type) -%}
    {{ return(adapter.dispatch('try_cast', 'slotrec')(field, type)) }}
{%- endmacro %}


{% macro default__try_cast(field, type) -%}
    {{ dbt.safe_cast(field, type) }}
{%- endmacro %}


{% macro duckdb__try_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
