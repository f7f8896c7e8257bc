{#-
    The run window. `as_of` names the run; `from_date` (default: as_of) is the first delivery day
    (re)processed, so one run with from_date < as_of backfills every day in between.
    Both are plain ISO date strings in Jinja; *_literal() macros turn them into SQL dates.
-#}

{#-
    A run setting: `--vars '{"<name>": ...}'` when given (manual runs, unit tests), else the
    environment variable SLOTREC_<NAME> (what slotrec/transform.py sets), else `default`.
    The orchestrator uses the environment because dbt throws its whole parse cache away whenever
    --vars change, i.e. on every daily run. The environment is read only when executing: a file
    that reads an env var while dbt parses it is re-parsed whenever that value changes, and
    nothing a model's parse records (its refs, its config) depends on the run window.
-#}
{% macro run_setting(name, default=none) -%}
    {%- set value = var(name, none) -%}
    {%- if (value is none or value == '') and execute -%}
        {%- set value = env_var('SLOTREC_' ~ (name | upper), '') -%}
    {%- endif -%}
    {{- return(default if value is none or value == '' else value) -}}
{%- endmacro %}


{% macro as_of() -%}
    {%- set value = slotrec.run_setting('as_of') -%}
    {%- if value is none -%}
        {%- set value = run_started_at.strftime('%Y-%m-%d') -%}
    {%- endif -%}
    {{- return(slotrec.parse_iso_date(value, 'as_of') | string) -}}
{%- endmacro %}


{% macro from_date() -%}
    {#- a window given in --vars is taken whole: never half from vars, half from the environment -#}
    {%- if var('as_of', none) -%}
        {%- set value = var('from_date', none) or none -%}
    {%- else -%}
        {%- set value = slotrec.run_setting('from_date') -%}
    {%- endif -%}
    {%- if value is none -%}
        {{- return(slotrec.as_of()) -}}
    {%- endif -%}
    {%- set parsed = slotrec.parse_iso_date(value, 'from_date') -%}
    {%- if parsed > slotrec.parse_iso_date(slotrec.as_of(), 'as_of') -%}
        {{- exceptions.raise_compiler_error(
            "from_date (" ~ value ~ ") must not be after as_of (" ~ slotrec.as_of() ~ ")"
        ) -}}
    {%- endif -%}
    {{- return(parsed | string) -}}
{%- endmacro %}


{#- How many days the interactions mart (and the user segment) looks back, ending at as_of. -#}
{% macro interaction_window_days() -%}
    {{- return(slotrec.run_setting('interaction_window_days', 90) | int) -}}
{%- endmacro %}


{% macro parse_iso_date(value, name) -%}
    {%- set text = value | string -%}
    {%- if text | length != 10 -%}
        {{- exceptions.raise_compiler_error(
            "var " ~ name ~ " must be an ISO date like 2026-01-07, got '" ~ text ~ "'"
        ) -}}
    {%- endif -%}
    {{- return(modules.datetime.datetime.strptime(text, '%Y-%m-%d').date()) -}}
{%- endmacro %}


{% macro date_literal(iso_date) -%}
    cast('{{ iso_date }}' as date)
{%- endmacro %}


{% macro as_of_literal() -%}
    {{ slotrec.date_literal(slotrec.as_of()) }}
{%- endmacro %}


{% macro from_date_literal() -%}
    {{ slotrec.date_literal(slotrec.from_date()) }}
{%- endmacro %}


{#- The ISO date `days` after (or before, if negative) an ISO date, computed in Jinja. -#}
{% macro shift_iso_date(iso_date, days) -%}
    {%- set start = slotrec.parse_iso_date(iso_date, 'date') -%}
    {{- return((start + modules.datetime.timedelta(days=days)) | string) -}}
{%- endmacro %}


{#- The start of the UTC day after `date_expr`: the exclusive end of that day, as a timestamp. -#}
{% macro end_of_day(date_expr) -%}
    {{ dbt.dateadd('day', 1, 'cast(' ~ date_expr ~ ' as ' ~ dbt.type_timestamp() ~ ')') }}
{%- endmacro %}


{#-
    One row per calendar day from start to end (ISO strings, inclusive), column `column_name`.
    Written out as literal rows: a run window is days to months long, and this needs no
    engine-specific generator, so every adapter runs it.
-#}
{% macro day_spine(start_iso, end_iso, column_name='snapshot_on') -%}
    {%- set start = slotrec.parse_iso_date(start_iso, 'start') -%}
    {%- set end = slotrec.parse_iso_date(end_iso, 'end') -%}
    {%- set n_days = (end - start).days -%}
    {%- for offset in range(n_days + 1) %}
    select {{ slotrec.date_literal((start + modules.datetime.timedelta(days=offset)) | string) }} as {{ column_name }}
    {%- if not loop.last %}
    union all
    {%- endif -%}
    {%- endfor -%}
{%- endmacro %}
