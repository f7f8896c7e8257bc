{#
    The player segment for total stakes (bet_amount) over total play time (play_seconds): the
    highest segment whose minimum stake per minute (var segment_min_stake_per_minute) it reaches;
    players without play fall to the first one. Shared by the users mart and the user_features
    snapshots so both classify alike.

    Compared without division, in exact decimals: bet_amount * 60 >= threshold * play_seconds.
    Stakes are cents and play time whole seconds, so a player exactly on a threshold is exactly
    on it; a float division (and float sums, whose order of addition varies) can land on
    7.999999999999999 for an exact 8.0 and drop that player a segment. The cast to
    type_exact_decimal (9 places) also rounds such float dust off sums given as doubles.
#}
{% macro segment_of(bet_amount, play_seconds) -%}
    {%- set segments = var('segments') -%}
    {%- set exact = slotrec.type_exact_decimal() -%}
    case
        {%- for segment in segments[1:] | reverse %}
        when cast({{ bet_amount }} as {{ exact }}) * 60
            >= {{ var('segment_min_stake_per_minute')[segment] }} * nullif(cast({{ play_seconds }} as {{ exact }}), 0)
            then '{{ segment }}'
        {%- endfor %}
        else '{{ segments[0] }}'
    end
{%- endmacro %}
