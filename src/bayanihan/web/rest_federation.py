"""REST routes of federation: peers, their outboxes and sync rounds, for the node administrator.

Thin, like the rest of /api/v1: ``Federation`` checks rights and input; no route
ever returns a peer's key or password.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Query, Response
from pydantic import BaseModel, Field

from bayanihan.federation import Federation
from bayanihan.node import Node
from bayanihan.web.deps import CurrentPrincipal

TLP_HELP = (
    'TLP levels that may be pushed to the peer: "all" (no cap: the audience alone '
    "decides) or a list (or comma list) of clear, green, amber, amber+strict, red"
)
GROUPS_HELP = (
    'sharing groups whose objects may be pushed to the peer: "all", "none", or a '
    "list of group names or ids"
)


class PeerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=8, max_length=2000, description="the peer's TAXII discovery URL")
    key: str | None = Field(default=None, description="our API key there (bearer)")
    username: str | None = Field(default=None, description="HTTP Basic user (with password)")
    password: str | None = Field(default=None, description="HTTP Basic password")
    ca_file: str | None = Field(default=None, description="PEM CA bundle path on this node")
    client_cert: str | None = Field(
        default=None,
        description="PEM certificate path on this node, presented to a peer requiring "
        "mutual TLS (may hold the key too)",
    )
    client_key: str | None = Field(
        default=None, description="PEM private key path of client_cert, if not in it"
    )
    allow_insecure: bool = Field(
        default=False, description="allow credentials over plain http to a non-loopback host"
    )
    push_collection: str | None = Field(
        default=None,
        max_length=128,
        description="the peer's collection to push to (default: the first writable one)",
    )
    tlp: str | list[str] | None = Field(default=None, description=TLP_HELP)
    groups: str | list[str] | None = Field(default=None, description=GROUPS_HELP)


class PeerUpdate(BaseModel):
    """What to change; a field left out stays as it is."""

    tlp: str | list[str] | None = Field(default=None, description=TLP_HELP)
    groups: str | list[str] | None = Field(default=None, description=GROUPS_HELP)

    client_cert: str | None = Field(
        default=None,
        description="PEM certificate path on this node to present from now on; null: none",
    )
    client_key: str | None = Field(
        default=None, description="PEM private key path of client_cert, if not in it"
    )


def add_federation_routes(app: FastAPI, node: Node) -> None:
    federation = Federation(node)

    @app.get(
        "/peers", summary="Peer nodes: state, lag, objects pulled and pushed, outbox, orgs hosted"
    )
    def list_peers(who: CurrentPrincipal) -> list[dict[str, Any]]:
        return [view.as_dict() for view in federation.peers(who)]

    @app.post("/peers", status_code=201, summary="Record a peer (no network call)")
    def add_peer(who: CurrentPrincipal, body: PeerCreate) -> dict[str, Any]:
        view = federation.add_peer(
            body.name,
            url=body.url,
            key=body.key,
            username=body.username,
            password=body.password,
            ca_file=body.ca_file,
            client_cert=body.client_cert,
            client_key=body.client_key,
            allow_insecure=body.allow_insecure,
            push_collection=body.push_collection,
            tlp=body.tlp,
            groups=body.groups,
            by=who,
        )
        return view.as_dict()

    @app.patch("/peers/{name}", summary="Change a peer (fields left out stay as they are)")
    def change_peer(who: CurrentPrincipal, name: str, body: PeerUpdate) -> dict[str, Any]:
        given = body.model_fields_set
        view = federation.set_peer(
            name,
            tlp=body.tlp,
            groups=body.groups,
            client_cert=body.client_cert,
            client_key=body.client_key,
            no_client_cert="client_cert" in given and body.client_cert is None,
            by=who,
        )
        return view.as_dict()

    @app.get("/peers/{name}/outbox", summary="Objects waiting to be pushed to a peer, or refused")
    def outbox(
        who: CurrentPrincipal,
        name: str,
        limit: int = Query(default=1000, ge=1, le=10000),
        dropped: bool = Query(
            default=False, description="also entries dropped unsent (held back by peer policy...)"
        ),
    ) -> list[dict[str, Any]]:
        entries = federation.outbox(name, dropped=dropped, limit=limit, by=who)
        return [entry.as_dict() for entry in entries]

    @app.delete("/peers/{name}", status_code=204, summary="Forget a peer")
    def remove_peer(who: CurrentPrincipal, name: str) -> Response:
        federation.remove_peer(name, by=who)
        return Response(status_code=204)

    @app.post(
        "/sync", summary="One round with every peer (or ?peer=NAME): pull, then push (or ?only=)"
    )
    def sync(
        who: CurrentPrincipal,
        peer: str | None = Query(default=None, max_length=64),
        only: Literal["pull", "push"] | None = Query(default=None),
    ) -> list[dict[str, Any]]:
        results = federation.sync(peer, pull=only != "push", push=only != "pull", by=who)
        return [result.as_dict() for result in results]
