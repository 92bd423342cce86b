"""Response bodies are projected from domain models by attribute name."""

from __future__ import annotations

from enum import Enum

from attrs import frozen

from townsquare.hosts.http.convert import project


class Colour(Enum):
    RED = "red"


@frozen
class Model:
    name: str
    colour: Colour
    secret: str

    @property
    def shout(self) -> str:
        return self.name.upper()


@frozen
class Body:
    name: str
    colour: str
    shout: str
    extra: int


def test_fields_properties_and_enums_are_projected_and_overrides_win() -> None:
    body = project(Model("ann", Colour.RED, "hidden"), Body, extra=7)
    assert body == Body(name="ann", colour="red", shout="ANN", extra=7)
