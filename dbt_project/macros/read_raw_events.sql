{#-
    Reads the raw play events delivered on the days from_date..to_date (ISO strings, inclusive),
    pruning every other delivery folder. Returns the raw columns as delivered (zoned timestamps
    become naive UTC ones) plus three lineage columns: delivered_on (the delivery day of the
    folder the row came from), source_file (the file path relative to data_dir) and
    source_row_number (the row's position in that file, which makes "first delivered"
    deterministic).

    Engine-specific, so it dispatches: DuckDB lists the day=YYYY-MM-DD folders and reads parquet;
    another adapter (Spark, Trino) reads the source as a table partitioned by delivery day.
-#}

{% macro read_raw_events(source_relation, from_date, to_date) -%}
    {{ return(adapter.dispatch('read_raw_events', 'slotrec')(source_relation, from_date, to_date)) }}
{%- endmacro %}


{% macro raw_event_columns() -%}
    {#- name -> type; the contract in slotrec/core/schema.py (RAW_EVENT_SCHEMA) -#}
    {{ return({
        'event_id': dbt.type_string(),
        'user_id': dbt.type_string(),
        'slot_id': dbt.type_string(),
        'session_id': dbt.type_string(),
        'event_type': dbt.type_string(),
        'occurred_at': dbt.type_timestamp(),
        'duration_seconds': slotrec.type_double(),
        'bet_amount': slotrec.type_double(),
        'win_amount': slotrec.type_double(),
        'request_id': dbt.type_string(),
        'experiment': dbt.type_string(),
        'variant': dbt.type_string(),
        'list_position': dbt.type_bigint(),
        'guardrails': dbt.type_string(),
    }) }}
{%- endmacro %}


{% macro default__read_raw_events(source_relation, from_date, to_date) -%}
    {#- a warehouse table partitioned by delivered_on, with source_file / source_row_number -#}
    select
        {%- for column_name in slotrec.raw_event_columns() %}
        {{ column_name }},
        {%- endfor %}
        delivered_on,
        source_file,
        source_row_number
    from {{ source_relation }}
    where delivered_on between {{ slotrec.date_literal(from_date) }} and {{ slotrec.date_literal(to_date) }}
{%- endmacro %}


{% macro duckdb__read_raw_events(source_relation, from_date, to_date) -%}
    {%- set data_dir = slotrec.data_dir() -%}
    {%- set events_dir = data_dir ~ '/raw/events' -%}
    {%- set columns = slotrec.raw_event_columns() -%}
    {%- set files = [] -%}
    {%- set present = [] -%}
    {%- set zoned = [] -%}
    {%- set text = [] -%}

    {%- if execute -%}
        {#- list the delivery folders once and keep only the files of days inside the window -#}
        {%- set listing = run_query(
            "select file from glob('" ~ events_dir ~ "/day=*/*.parquet') order by file"
        ) -%}
        {%- for file in listing.columns[0].values() -%}
            {%- set day = file.split('/day=')[-1][:10] -%}
            {%- if day >= from_date and day <= to_date -%}
                {%- do files.append(file) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if files -%}
            {#- a file may lack an optional column (request_id): read by name, fill what is absent -#}
            {%- set described = run_query(
                "describe select * from " ~ slotrec._duckdb_read_event_files(files)
            ) -%}
            {%- for row in described.rows -%}
                {%- do present.append(row[0] | lower) -%}
                {%- if 'WITH TIME ZONE' in (row[1] | upper) -%}
                    {%- do zoned.append(row[0] | lower) -%}
                {%- elif (row[1] | upper) == 'VARCHAR' -%}
                    {%- do text.append(row[0] | lower) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}

    {%- if files %}
    select
        {%- for column_name, column_type in columns.items() %}
        {%- if column_name in zoned %}
        {#- naive UTC without a calendar round trip (a cast goes through ICU: 10x slower) #}
        make_timestamp(epoch_us({{ column_name }})) as {{ column_name }},
        {%- elif column_name in text and column_type == dbt.type_timestamp() %}
        {#- a file wrote timestamps as text: honour a UTC offset in it (a plain cast drops it);
            text that is no timestamp becomes null and the row is quarantined #}
        make_timestamp(epoch_us(try_cast({{ column_name }} as timestamptz))) as {{ column_name }},
        {%- elif column_name in present %}
        {{ column_name }},
        {%- else %}
        cast(null as {{ column_type }}) as {{ column_name }},
        {%- endif %}
        {%- endfor %}
        cast(day as date) as delivered_on,
        replace(filename, '{{ data_dir }}/', '') as source_file,
        file_row_number as source_row_number
    from {{ slotrec._duckdb_read_event_files(files) }}
    {%- else %}
    {#- no delivery in the window (or at parse time): an empty, correctly typed relation -#}
    select
        {%- for column_name, column_type in columns.items() %}
        cast(null as {{ column_type }}) as {{ column_name }},
        {%- endfor %}
        cast(null as date) as delivered_on,
        cast(null as {{ dbt.type_string() }}) as source_file,
        cast(null as {{ dbt.type_bigint() }}) as source_row_number
    where 1 = 0
    {%- endif %}
{%- endmacro %}


{% macro _duckdb_read_event_files(files) -%}
    read_parquet(
        [{%- for file in files %}'{{ file }}'{{ ', ' if not loop.last }}{%- endfor %}],
        hive_partitioning = true,
        hive_types = {'day': date},
        union_by_name = true,
        filename = true,
        file_row_number = true
    )
{%- endmacro %}


{#- data_dir without a trailing slash (a run setting: see run_window.sql) -#}
{% macro data_dir() -%}
    {{- return((slotrec.run_setting('data_dir', '../data') | string).rstrip('/')) -}}
{%- endmacro %}
