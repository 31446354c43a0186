"""Typed dependencies of the REST API, in one place."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from bayanihan.node import Node
from bayanihan.policy.principal import Principal
from bayanihan.web.auth import CHALLENGE, authenticate


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def current_principal(request: Request) -> Principal:
    principal = await run_in_threadpool(
        authenticate,
        get_node(request),
        request.headers.get("authorization"),
        request.client.host if request.client else None,
    )
    if principal is None:
        raise HTTPException(401, "an API key is required", headers={"WWW-Authenticate": CHALLENGE})
    return principal


NodeDep = Annotated[Node, Depends(get_node)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
