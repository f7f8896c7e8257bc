{#
    The player segment for a stake-per-minute expression: the highest segment whose threshold
    (var segment_min_stake_per_minute) it reaches; players without play fall to the first one.
    Shared by the users mart and the user_features snapshots so both classify alike.
#}
{% macro segment_of(stake_per_minute) -%}
    {%- set segments = var('segments') -%}
    case
        {%- for segment in segments[1:] | reverse %}
        when {{ stake_per_minute }} >= {{ var('segment_min_stake_per_minute')[segment] }} then '{{ segment }}'
        {%- endfor %}
        else '{{ segments[0] }}'
    end
{%- endmacro %}
