"""TAXII error resources."""

from __future__ import annotations

from typing import Any

import orjson


class TaxiiError(Exception):
    """A request that ends in a TAXII error resource with an HTTP status."""

    def __init__(
        self,
        http_status: int,
        title: str,
        description: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(title)
        self.http_status = http_status
        self.title = title
        self.description = description
        self.headers = headers or {}
        self.details = details

    def body(self) -> bytes:
        return error_body(self.http_status, self.title, self.description, details=self.details)


def error_body(
    http_status: int,
    title: str,
    description: str | None = None,
    *,
    details: dict[str, Any] | None = None,
) -> bytes:
    document: dict[str, Any] = {"title": title, "http_status": str(http_status)}
    if description:
        document["description"] = description
    if details:
        document["details"] = details
    return orjson.dumps(document)
