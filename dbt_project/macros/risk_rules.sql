{#-
    The thresholds of the at-risk rules (player_risk). Each is a run setting: --vars, else the
    environment variable SLOTREC_<NAME> (slotrec/transform.py passes the fields of the same name
    in slotrec/core/settings.py), else the default here. tests/test_risk_rules.py keeps these
    defaults equal to the settings' defaults.

    risk_long_session_seconds      a session this long or longer is a long session
    risk_long_session_min_count    long sessions in 7 days that raise the long_sessions signal
    risk_night_end_hour            sessions starting before this UTC hour are late-night
    risk_night_min_sessions        ... at least this many late-night sessions in 7 days
    risk_night_min_share           ... and at least this share of the 7 days' sessions
    risk_chase_min_losses          losing intervals in 7 days before loss chasing is judged
    risk_chase_min_share           share of losing intervals followed by a raised stake
    risk_escalation_min_seconds    play in the last 3 days before escalation is judged
    risk_escalation_min_growth     daily play of the last 3 days over that of the 7 days before
    risk_high_min_signals          signals that make the level 'high' (one makes 'elevated')
-#}

{% macro risk_defaults() -%}
    {{- return({
        'risk_long_session_seconds': 7200,
        'risk_long_session_min_count': 2,
        'risk_night_end_hour': 6,
        'risk_night_min_sessions': 3,
        'risk_night_min_share': 0.25,
        'risk_chase_min_losses': 5,
        'risk_chase_min_share': 0.4,
        'risk_escalation_min_seconds': 18000,
        'risk_escalation_min_growth': 2.0,
        'risk_high_min_signals': 2,
    }) -}}
{%- endmacro %}


{#- One threshold as a number (an unknown name is a compile error naming it). -#}
{% macro risk_setting(name) -%}
    {%- set defaults = slotrec.risk_defaults() -%}
    {%- if name not in defaults -%}
        {{- exceptions.raise_compiler_error("unknown risk setting '" ~ name ~ "'") -}}
    {%- endif -%}
    {%- set value = slotrec.run_setting(name, defaults[name]) -%}
    {{- return(value | float if '.' in (value | string) else value | int) -}}
{%- endmacro %}
