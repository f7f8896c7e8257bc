{#-
    read_raw_events on Spark (see read_raw_events.sql for the contract). The delivery folders
    are the partitions of one parquet relation (day=YYYY-MM-DD), so the filter on `day` prunes
    every folder outside the window; file path and row position come from Spark's hidden file
    metadata (_metadata.file_path, _metadata.row_index: Spark 3.5+). A file lacking an optional
    column (request_id) is read by name (spark.sql.parquet.mergeSchema in the profile); a column
    no file has becomes a typed null. Timestamps read as UTC (the profile's session time zone).
-#}

{% macro spark__read_raw_events(source_relation, from_date, to_date) -%}
    {%- set events_path = slotrec.data_dir() ~ '/raw/events' -%}
    {%- set columns = slotrec.raw_event_columns() -%}
    {%- set present = [] -%}
    {%- if execute -%}
        {%- set described = run_query("select * from parquet.`" ~ events_path ~ "` limit 0") -%}
        {%- for column_name in described.column_names -%}
            {%- do present.append(column_name | lower) -%}
        {%- endfor -%}
    {%- endif %}
    select
        {%- for column_name, column_type in columns.items() %}
        {%- if column_name in present %}
        {{ column_name }},
        {%- else %}
        cast(null as {{ column_type }}) as {{ column_name }},
        {%- endif %}
        {%- endfor %}
        cast(day as date) as delivered_on,
        {#- relative to data_dir, like DuckDB's: the URI's path from its raw/events/ on #}
        substr(_metadata.file_path, instr(_metadata.file_path, '/raw/events/day=') + 1) as source_file,
        _metadata.row_index as source_row_number
    from parquet.`{{ events_path }}`
    where cast(day as date) between {{ slotrec.date_literal(from_date) }} and {{ slotrec.date_literal(to_date) }}
{%- endmacro %}
