{#-
    A fixed-point decimal wide enough for any sum of play seconds or stakes, with nine places.
    Running window sums add a value on one day and subtract the very same value later; in a
    float that leaves dust (an emptied window reads 1e-13, not 0, and ties stop being ties), in
    a decimal it cancels exactly. decimal(38, 9) means the same on DuckDB, Spark and Trino.
-#}

{% macro type_exact_decimal() -%}
    decimal(38, 9)
{%- endmacro %}
