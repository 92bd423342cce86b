"""Who is acting: a user id and the roles their token carried."""

from __future__ import annotations

from collections.abc import Iterable, Set

from attrs import field, frozen

from townsquare.core.errors import Forbidden, InvalidInput

ADMIN_ROLE = "admin"
ADMIN_ROLES: frozenset[str] = frozenset({ADMIN_ROLE})
MAX_USER_ID = 200


def is_user_id(value: object) -> bool:
    """Whether ``value`` can be a user id: 1..200 printable characters (no NUL, no newline)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_USER_ID and value.isprintable()


def check_user_id(value: object, field: str = "user_id") -> str:
    """Return ``value`` when it can be a user id, else raise :class:`InvalidInput` naming ``field``."""
    if not is_user_id(value):
        raise InvalidInput(f"{field} must be a user id of 1..{MAX_USER_ID} printable characters", field=field)
    assert isinstance(value, str)
    return value


def _roles(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


@frozen
class Actor:
    """The authenticated caller.

    Attributes:
        user_id: the stable user id (the token's ``sub``).
        roles: role names; ``admin`` unlocks admin operations.
    """

    user_id: str = field()
    roles: frozenset[str] = field(factory=frozenset, converter=_roles)

    @user_id.validator
    def _check_user_id(self, _attribute: object, value: str) -> None:
        if not is_user_id(value):
            raise ValueError(f"user id must be 1..{MAX_USER_ID} printable characters")

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    def acting_as(self, privileged_roles: Set[str] = ADMIN_ROLES) -> str | None:
        """Whom this actor's transactions act as: themselves, or the system (``None``) when privileged.

        A transaction acting as a user sees and changes only that user's rows (row-level
        security in Postgres). An operation that lets a privileged role act on other users'
        data passes this as the transaction's actor, after checking the actor may do it.

        Args:
            privileged_roles: the roles that act for everyone in this operation (admins by default).
        """
        return None if self.roles & privileged_roles else self.user_id

    def require_admin(self) -> None:
        """Raise :class:`Forbidden` unless the actor holds the admin role."""
        if not self.is_admin:
            raise Forbidden("this operation needs the admin role")


def system_actor(name: str) -> Actor:
    """The actor of work the system does on its own (a worker's job, a metrics scrape): an admin, ``system:NAME``."""
    return Actor(user_id=f"system:{name}", roles=[ADMIN_ROLE])
