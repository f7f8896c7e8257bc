{#- 'a', 'b', 'c' from a Jinja list of strings, for `in (...)` lists built from vars -#}
{% macro sql_list(values) -%}
    {%- for value in values -%}
        '{{ value }}'{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
