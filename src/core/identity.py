"""Who is acting: a user id and the roles their token carried."""

from __future__ import annotations

from collections.abc import Iterable, Set

from attrs import field, frozen

from townsquare.core.errors import Forbidden

ADMIN_ROLE = "admin"
ADMIN_ROLES: frozenset[str] = frozenset({ADMIN_ROLE})


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
        if not value or len(value) > 200:
            raise ValueError("user id must be 1..200 characters")

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
