{#-
    The config of an incremental model whose run replaces whole days: every row of the days the
    run produces (`key`: delivered_on or snapshot_on) replaces the table's rows of those days.
    Usage: {{ config(**slotrec.replace_by(key)) }}.

    DuckDB: delete+insert on the key. Spark has no delete+insert; the same effect is an
    insert_overwrite of a table partitioned by the key (dynamic partition overwrite: only the
    partitions the run writes are replaced), in plain parquet, so no Delta Lake is needed.
-#}

{% macro replace_by(key) -%}
    {{ return(adapter.dispatch('replace_by', 'slotrec')(key)) }}
{%- endmacro %}


{% macro default__replace_by(key) -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert', 'unique_key': key}) }}
{%- endmacro %}


{% macro spark__replace_by(key) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'insert_overwrite',
        'partition_by': [key],
        'file_format': 'parquet',
    }) }}
{%- endmacro %}
