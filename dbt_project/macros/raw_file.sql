{#-
    The relation of one raw file (path relative to data_dir, e.g. 'catalogue/slots.parquet').
    DuckDB reads the source as declared (its external_location opens the file in place). Spark
    has no such source location, and a source named `slots` would clash with the `slots` mart in
    the same schema, so it reads the parquet file by path.
-#}

{% macro raw_file(source_relation, path) -%}
    {{ return(adapter.dispatch('raw_file', 'slotrec')(source_relation, path)) }}
{%- endmacro %}


{% macro default__raw_file(source_relation, path) -%}
    {{ source_relation }}
{%- endmacro %}


{% macro spark__raw_file(source_relation, path) -%}
    parquet.`{{ slotrec.data_dir() }}/raw/{{ path }}`
{%- endmacro %}
