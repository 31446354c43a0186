"""Who is asking: the key (or CLI operator) behind a request, and its organisation."""

from __future__ import annotations

from dataclasses import dataclass

from bayanihan.policy.roles import Action, Role, allows


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``key_row`` is None for the local CLI operator."""

    org_row: int
    org_identity: str
    org_name: str
    role: Role
    key_row: int | None = None
    user_row: int | None = None
    remote: str | None = None  # the caller's address, for the audit log

    def can(self, action: Action) -> bool:
        return allows(self.role, action)
