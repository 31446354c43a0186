"""API-key authentication from ``Authorization: Bearer KEY`` or HTTP Basic (key as password)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace

from bayanihan.node import Node
from bayanihan.policy.principal import Principal
from bayanihan.taxii import CHALLENGE

__all__ = ["CHALLENGE", "authenticate", "key_from_header"]


def key_from_header(header: str | None) -> str | None:
    """The API key carried by an Authorization header, or None."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "bearer":
        return credentials or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        _user, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def authenticate(node: Node, header: str | None, remote: str | None = None) -> Principal | None:
    """The principal behind a request's Authorization header, with the caller's address."""
    key = key_from_header(header)
    principal = None if key is None else node.authenticate(key)
    return None if principal is None else replace(principal, remote=remote)
