"""The key a request came with, as endpoints, services and the spend ledger see it."""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.models import ApiKey


@dataclass(frozen=True)
class Caller:
    """The key a request came with, as the endpoints, the services and the spend ledger see it."""

    id: str
    name: str
    scopes: tuple[str, ...]
    spend_cap: float | None
    spend_period: str | None
    rpm: int | None
    #: Whose rows this key may list and read: its own tenant's (a key made without --tenant is its own tenant).
    tenant: str

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    @property
    def sees_all(self) -> bool:
        """An admin key reads every tenant's rows (operators answer for the whole service)."""
        return "admin" in self.scopes

    @classmethod
    def of(cls, key: ApiKey) -> Caller:
        return cls(key.id, key.name, tuple(key.scopes), key.spend_cap, key.spend_period, key.rpm, key.tenant or key.id)
