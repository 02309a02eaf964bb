"""Whose rows a caller may see: every stored thing has an owning key, and keys of one tenant share their rows.

The services add :func:`owned_by` to their queries; a row another tenant owns is answered as not found, so
its existence is not revealed either.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import BindParameter, ColumnElement, Select, String, bindparam, func, select
from sqlmodel import col

from sentinel.keys.caller import Caller
from sentinel.models import ApiKey

#: Any SELECT (SQLModel's own included).
Query = TypeVar("Query", bound=Select[Any])


def tenant_keys(tenant: str | BindParameter[str]) -> Select[Any]:
    """The ids of every key of ``tenant`` (revoked ones too: their rows still belong to the tenant); ``tenant`` is
    a name, or a bound parameter for a statement built once."""
    # Keys made before tenants existed have none stored: each is a tenant of its own, named by its id.
    return select(col(ApiKey.id)).where(func.coalesce(col(ApiKey.tenant), col(ApiKey.id)) == tenant)


def owned_by(key_column: Any, caller: Caller | None) -> ColumnElement[bool] | None:
    """The condition that keeps a caller to its tenant's rows, given the column naming a row's key; None when
    the caller sees everything: an open server (no key, no keys configured) or an admin key."""
    if caller is None or caller.sees_all:
        return None
    return col(key_column).in_(tenant_keys(caller.tenant))


def visible(query: Query, key_column: Any, caller: Caller | None) -> Query:
    """``query`` kept to the caller's tenant."""
    condition = owned_by(key_column, caller)
    return query if condition is None else query.where(condition)


def owned_by_bound_tenant(key_column: Any) -> ColumnElement[bool]:
    """:func:`owned_by`'s condition with the tenant a bound parameter named ``tenant`` (see :func:`tenant_params`),
    for a statement built once and run for every caller."""
    return col(key_column).in_(tenant_keys(bindparam("tenant", type_=String)))


def tenant_params(caller: Caller | None) -> dict[str, str] | None:
    """The ``tenant`` parameter of a statement using :func:`owned_by_bound_tenant`; None when the caller sees
    everything (then the statement without that condition applies)."""
    if caller is None or caller.sees_all:
        return None
    return {"tenant": caller.tenant}
