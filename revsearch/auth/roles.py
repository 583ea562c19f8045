"""Roles and what each may do; the `Actor` (who acts, in which role, within which folders) every checked action takes.

Roles are ordered: each may do everything the one before it may.
- viewer:   searches and browses (results, clusters, the map, duplicates, details, downloads of single originals);
- labeller: also labels (every labelling action, Label next, learning, re-clustering), acts on duplicates and audits;
- admin:    also adds folders and uploads, creates and deletes collections, exports (the split and the dataset
            card too), undoes another person's action, and manages users and settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from revsearch.auth.roots import Roots
from revsearch.errors import RevsearchError

VIEWER, LABELLER, ADMIN = "viewer", "labeller", "admin"
ROLES = (VIEWER, LABELLER, ADMIN)


class Permission(Enum):
    """Something a role may do; the value is how a refusal words it ("… needs the admin role")."""

    SEARCH = "searching and browsing"
    LABEL = "labelling"
    DUPLICATES = "acting on duplicates"
    AUDIT = "acting on audits"
    ADD_IMAGES = "adding images"
    MANAGE_COLLECTIONS = "creating and deleting collections"
    EXPORT = "exporting"
    UNDO_OTHERS = "undoing another person's action"
    MANAGE_USERS = "managing users and settings"


NEEDS: dict[Permission, str] = {
    Permission.SEARCH: VIEWER,
    Permission.LABEL: LABELLER,
    Permission.DUPLICATES: LABELLER,
    Permission.AUDIT: LABELLER,
    Permission.ADD_IMAGES: ADMIN,
    Permission.MANAGE_COLLECTIONS: ADMIN,
    Permission.EXPORT: ADMIN,
    Permission.UNDO_OTHERS: ADMIN,
    Permission.MANAGE_USERS: ADMIN,
}


class Forbidden(RevsearchError):
    """The actor's role does not allow the action (raised by the server, whatever the browser showed)."""


def check_role(role: str) -> str:
    if role not in ROLES:
        raise RevsearchError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def allows(role: str, permission: Permission) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(NEEDS[permission])


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user (or, on one's own machine, the OS user as admin), the role, the allowed folders."""

    name: str
    role: str
    roots: Roots

    def may(self, permission: Permission) -> bool:
        return allows(self.role, permission)

    def require(self, permission: Permission) -> str:
        """The actor's name when the role allows `permission`; else `Forbidden` saying which role it needs."""
        if not self.may(permission):
            need = NEEDS[permission]
            raise Forbidden(f"not allowed: {permission.value} needs the {need} role, and {self.name} is a "
                            f"{self.role}. Ask an admin.")
        return self.name


__all__ = ["ADMIN", "Actor", "Forbidden", "LABELLER", "NEEDS", "Permission", "ROLES", "VIEWER", "allows",
           "check_role"]
