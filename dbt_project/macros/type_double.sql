{#-
    A 64-bit float. slotrec.type_double() is 32-bit on DuckDB (FLOAT = REAL), which would turn an
    rtp of 0.96 into 0.9599999785; there is no cross-database macro for a double, hence this one.
-#}

{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'slotrec')()) }}
{%- endmacro %}


{% macro default__type_double() -%}
    double precision
{%- endmacro %}


{% macro duckdb__type_double() -%}
    double
{%- endmacro %}


{% macro spark__type_double() -%}
    double
{%- endmacro %}
