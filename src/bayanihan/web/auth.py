"""API-key authentication from ``Authorization: Bearer KEY`` or HTTP Basic (key as password)."""

from __future__ import annotations

import base64
import binascii

from bayanihan.node import Node
from bayanihan.policy.principal import Principal

CHALLENGE = 'Basic realm="bayanihan", Bearer realm="bayanihan"'


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


def authenticate(node: Node, header: str | None) -> Principal | None:
    key = key_from_header(header)
    return None if key is None else node.authenticate(key)
