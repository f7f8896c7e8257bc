{#
    The body of an append-only index mart (user_index, slot_index): every id known by the end
    of as_of gets a consecutive index from 0; ids already indexed keep theirs, and new ids are
    numbered after the current maximum, ordered by when they appeared (seen_at) then by id.
    One macro so the players' and the slots' numbering can never drift apart.

    source: the staged relation holding the ids; id_column / idx_column / seen_at_column: its
    id, the index column to produce, and the timestamp that says when the id appeared.
#}
{% macro append_only_index(source, id_column, idx_column, seen_at_column) %}

with

known as (

    select * from {{ source }}
    where {{ seen_at_column }} < {{ slotrec.end_of_day(slotrec.as_of_literal()) }}

),

{% if is_incremental() %}
indexed as (

    select * from {{ this }}

),
{% endif %}

new_ids as (

    select
        known.{{ id_column }},
        known.{{ seen_at_column }}
    from known
    {%- if is_incremental() %}
    left join indexed
        on known.{{ id_column }} = indexed.{{ id_column }}
    where indexed.{{ id_column }} is null
    {%- endif %}

),

next_index as (

    {%- if is_incremental() %}
    select coalesce(max({{ idx_column }}) + 1, 0) as first_new_idx
    from indexed
    {%- else %}
    select 0 as first_new_idx
    {%- endif %}

),

final as (

    select
        new_ids.{{ id_column }},
        next_index.first_new_idx
        + row_number() over (order by new_ids.{{ seen_at_column }}, new_ids.{{ id_column }})
        - 1 as {{ idx_column }},
        new_ids.{{ seen_at_column }} as first_seen_at,
        {{ slotrec.as_of_literal() }} as indexed_on
    from new_ids
    cross join next_index

)

select * from final

{% endmacro %}
