"""REST routes of correlation: search by value, hits, an object's observables,
warning-lists and alert channels. Thin, like the rest of /api/v1."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Response
from pydantic import BaseModel, Field

from bayanihan.correlate.service import Correlation
from bayanihan.node import Node
from bayanihan.web.deps import CurrentPrincipal


class HitList(BaseModel):
    hits: list[dict[str, Any]] = Field(
        description="newest first; each names the observable, both objects, their orgs and "
        "countries, and cross_border"
    )
    next: str | None = Field(description="pass as `cursor` for older hits; null at the end")


class WarningListChange(BaseModel):
    names: list[str] = Field(min_length=1, description="warning-list names, as listed")
    enabled: bool


class ChannelCreate(BaseModel):
    kind: Literal["webhook", "email"]
    target: str = Field(min_length=3, max_length=2000, description="webhook URL or e-mail address")
    secret: str | None = Field(
        default=None, description="webhook HMAC secret (at least 16 characters; made if absent)"
    )
    org: str | None = Field(default=None, description="organisation (default: yours)")


def add_correlation_routes(app: FastAPI, node: Node) -> None:
    correlation = Correlation(node)

    @app.get("/search", summary="Find a value: objects carrying it, related ones, their hits")
    def search(
        who: CurrentPrincipal,
        q: Annotated[str, Query(min_length=1, max_length=2048, description="any value")],
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        return correlation.search(who, q, limit=limit)

    @app.get("/hits", response_model=HitList, summary="Hits on your organisation's objects")
    def hits(
        who: CurrentPrincipal,
        scope: Annotated[
            Literal["own", "all"],
            Query(description="own: hits on your org's objects; all: between any you may see"),
        ] = "own",
        cross_border: bool | None = None,
        after: Annotated[
            int | None, Query(ge=0, description="only hits newer than this id")
        ] = None,
        cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,19}$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> HitList:
        page = correlation.hits(
            who,
            everything=scope == "all",
            before=int(cursor) if cursor else None,
            after=after,
            cross_border=cross_border,
            limit=limit,
        )
        return HitList(
            hits=page.hits, next=None if page.next_cursor is None else str(page.next_cursor)
        )

    @app.get("/objects/{object_id}/observables", summary="What an object carries, and why")
    def observables(who: CurrentPrincipal, object_id: str) -> dict[str, Any]:
        return correlation.observables_of(who, object_id)

    @app.get("/warninglists", summary="Warning-lists of known-benign values, on or off")
    def warninglists(_who: CurrentPrincipal) -> list[dict[str, Any]]:
        return correlation.warninglists()

    @app.put("/warninglists", summary="Switch warning-lists on or off (node admin)")
    def set_warninglists(who: CurrentPrincipal, body: WarningListChange) -> dict[str, Any]:
        disabled = correlation.set_warninglists(who, body.names, enabled=body.enabled)
        return {"disabled": disabled}

    @app.get("/alerts/channels", summary="Where hit alerts go (org-admin: your org's)")
    def channels(who: CurrentPrincipal) -> list[dict[str, Any]]:
        return correlation.channels(who)

    @app.post("/alerts/channels", status_code=201, summary="Send hit alerts to a webhook or mail")
    def add_channel(who: CurrentPrincipal, body: ChannelCreate) -> dict[str, Any]:
        return correlation.add_channel(
            who, org=body.org, kind=body.kind, target=body.target, secret=body.secret
        )

    @app.delete("/alerts/channels/{number}", status_code=204, summary="Stop an alert channel")
    def remove_channel(who: CurrentPrincipal, number: int) -> Response:
        correlation.remove_channel(who, number)
        return Response(status_code=204)

    @app.get("/alerts/deliveries", summary="Recent alert deliveries and their state")
    def deliveries(
        who: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        return correlation.deliveries(who, limit=limit)
