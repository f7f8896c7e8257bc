{#-
    Seconds since 1970-01-01 UTC of a (naive UTC) timestamp, as a double with its fraction: the
    play rules compare stretches of play in seconds, which timestamp arithmetic with a fractional
    duration_seconds cannot do portably.
-#}

{% macro epoch_seconds(timestamp_expr) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'slotrec')(timestamp_expr)) }}
{%- endmacro %}


{% macro default__epoch_seconds(timestamp_expr) -%}
    extract(epoch from {{ timestamp_expr }})
{%- endmacro %}


{% macro duckdb__epoch_seconds(timestamp_expr) -%}
    epoch({{ timestamp_expr }})
{%- endmacro %}


{% macro spark__epoch_seconds(timestamp_expr) -%}
    cast({{ timestamp_expr }} as double)
{%- endmacro %}
