"""The two things slotrec keeps features about: players and slots."""

from feast import Entity, ValueType

from slotrec.core import schema

user = Entity(
    name="user",
    join_keys=[schema.USER_ID],
    value_type=ValueType.STRING,
    description="A casino player, keyed by the operator's external player id.",
)

slot = Entity(
    name="slot",
    join_keys=[schema.SLOT_ID],
    value_type=ValueType.STRING,
    description="A slot game in the lobby, keyed by the operator's external game id.",
)
