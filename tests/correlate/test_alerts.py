"""Hit alerts end to end: a write raises a hit, the outbox queues it, the delivery round
sends it to a real webhook receiver or a real SMTP server, retries with back-off, and
survives a restart of the node."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bayanihan.catalogue import Catalogue
from bayanihan.correlate.notify import EVENT_HEADER, retry_delay
from bayanihan.correlate.service import Correlation
from bayanihan.node import Node, PermissionDenied
from bayanihan.policy.roles import Role
from bayanihan.settings import Settings
from tests.correlate.test_notify import (
    SECRET,
    EphemeralController,
    Mailbox,
    Receiver,
    _serve,
    _smtp_server,
)
from tests.stixgen import indicator


class Clock:
    """Real time, advanced by hand to reach a retry (signatures carry its seconds)."""

    def __init__(self) -> None:
        self.now = time.time_ns() // 1000

    def __call__(self) -> int:
        self.now += 1
        return self.now


def _node(url: str, clock: Clock, **settings: Any) -> Node:
    node = Node(Settings(db=url, **settings), clock=clock, new_uuid=uuid.uuid4)
    node.init(node_name="CERT-PH", country="PH")
    return node


def _domain(value: str) -> dict[str, Any]:
    return indicator("x", pattern=f"[domain-name:value = '{value}']", name=f"phishing {value}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver())


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, EphemeralController]]:
    box = Mailbox()
    for controller in _smtp_server(box):
        yield box, controller


def _pair(node: Node) -> tuple[Any, Any]:
    if not any(o.name == "SingCERT" for o in node.orgs()):
        node.add_org("SingCERT", country="SG")
    return node.operator(), node.operator("SingCERT")


def test_a_new_hit_is_posted_signed_to_the_orgs_webhook(
    sqlite_url: str, receiver: Receiver
) -> None:
    clock = Clock()
    node = _node(sqlite_url, clock)
    ph, sg = _pair(node)
    correlation = Correlation(node)
    url = f"http://{receiver.base}/hooks/bayanihan"
    correlation.add_channel(None, org=None, kind="webhook", target=url, secret=SECRET.decode())
    mine = _domain("verify.qzx-gcash-help.com")
    Catalogue(node).submit(ph, [mine])
    assert correlation.deliver() == {"sent": 0, "retry": 0, "failed": 0, "dropped": 0}
    theirs = _domain("Verify.QZX-GCash-Help.com")
    Catalogue(node).submit(sg, [theirs])
    assert correlation.deliver()["sent"] == 1
    [got] = receiver.received
    assert got.signature_valid
    assert got.headers[EVENT_HEADER] == "hit"
    payload = orjson.loads(got.body)
    assert payload["cross_border"] is True
    assert payload["object"]["id"] == mine["id"]  # the receiving org's side first
    assert payload["counterpart"]["id"] == theirs["id"]
    assert payload["counterpart"]["org"]["country"] == "SG"
    assert payload["observable"]["value"] == "verify.qzx-gcash-help.com"
    [delivery] = correlation.deliveries(None)
    assert delivery["state"] == "sent" and delivery["attempts"] == 1
    # nothing is sent twice
    assert correlation.deliver()["sent"] == 0
    assert len(receiver.received) == 1
    node.store.dispose()


def test_a_failing_receiver_is_retried_with_back_off_across_a_restart(
    sqlite_url: str, receiver: Receiver
) -> None:
    clock = Clock()
    node = _node(sqlite_url, clock)
    ph, sg = _pair(node)
    correlation = Correlation(node)
    correlation.add_channel(None, org=None, kind="webhook", target=f"http://{receiver.base}/h")
    Catalogue(node).submit(ph, [_domain("qzx-retry.com")])
    Catalogue(node).submit(sg, [_domain("qzx-retry.com")])
    receiver.status = 503
    assert correlation.deliver()["retry"] == 1
    [delivery] = correlation.deliveries(None)
    assert delivery["state"] == "pending" and delivery["attempts"] == 1
    assert "503" in (delivery["last_error"] or "")
    assert correlation.deliver() == {"sent": 0, "retry": 0, "failed": 0, "dropped": 0}  # not due
    node.store.dispose()
    # the node restarts; the outbox is in the database
    restarted = Node(Settings(db=sqlite_url), clock=clock)
    receiver.status = 200
    clock.now += int(retry_delay(1) * 1_000_000) + 1
    assert Correlation(restarted).deliver()["sent"] == 1
    assert len(receiver.received) == 2
    assert Correlation(restarted).deliveries(None)[0]["attempts"] == 2
    restarted.store.dispose()


def test_a_receiver_refusing_for_good_fails_the_delivery(
    sqlite_url: str, receiver: Receiver
) -> None:
    node = _node(sqlite_url, Clock())
    ph, sg = _pair(node)
    correlation = Correlation(node)
    correlation.add_channel(None, org=None, kind="webhook", target=f"http://{receiver.base}/h")
    Catalogue(node).submit(ph, [_domain("qzx-gone.com")])
    Catalogue(node).submit(sg, [_domain("qzx-gone.com")])
    receiver.status = 404
    assert correlation.deliver()["failed"] == 1
    assert correlation.deliveries(None)[0]["state"] == "failed"
    node.store.dispose()


def test_a_hit_gone_before_delivery_is_dropped_unsent(sqlite_url: str, receiver: Receiver) -> None:
    node = _node(sqlite_url, Clock())
    ph, sg = _pair(node)
    correlation = Correlation(node)
    correlation.add_channel(None, org=None, kind="webhook", target=f"http://{receiver.base}/h")
    Catalogue(node).submit(ph, [_domain("qzx-oops.com")])
    theirs = _domain("qzx-oops.com")
    Catalogue(node).submit(sg, [theirs])
    Catalogue(node).revoke(sg, theirs["id"])  # SingCERT withdraws it first
    assert correlation.deliver()["dropped"] == 1
    assert receiver.received == []
    node.store.dispose()


def test_hit_alert_mail_reaches_a_real_smtp_server(
    sqlite_url: str, mailbox: tuple[Mailbox, EphemeralController]
) -> None:
    box, controller = mailbox
    node = _node(sqlite_url, Clock(), smtp_host="127.0.0.1", smtp_port=controller.port)
    ph, sg = _pair(node)
    correlation = Correlation(node)
    correlation.add_channel(None, org="SingCERT", kind="email", target="soc@singcert.example.sg")
    Catalogue(node).submit(sg, [_domain("qzx-parcel.sg")])
    Catalogue(node).submit(ph, [_domain("qzx-parcel.sg")])
    assert correlation.deliver()["sent"] == 1
    [(_sender, recipients, message)] = box.messages
    assert recipients == ["soc@singcert.example.sg"]
    assert "Cross-border" in str(message["Subject"])
    assert "qzx-parcel.sg" in message.get_content()
    node.store.dispose()


def test_mail_without_an_smtp_server_waits_in_the_outbox(sqlite_url: str) -> None:
    node = _node(sqlite_url, Clock())
    ph, sg = _pair(node)
    correlation = Correlation(node)
    correlation.add_channel(None, org=None, kind="email", target="soc@cert-ph.example.ph")
    Catalogue(node).submit(ph, [_domain("qzx-wait.ph")])
    Catalogue(node).submit(sg, [_domain("qzx-wait.ph")])
    assert correlation.deliver()["retry"] == 1
    assert "SMTP" in (correlation.deliveries(None)[0]["last_error"] or "")
    node.store.dispose()


def test_only_admins_and_the_orgs_own_admin_manage_its_alerts(sqlite_url: str) -> None:
    node = _node(sqlite_url, Clock())
    _pair(node)
    correlation = Correlation(node)
    analyst = node.operator("SingCERT", role=Role.ANALYST)
    org_admin = node.operator("SingCERT", role=Role.ORG_ADMIN)
    with pytest.raises(PermissionDenied):
        correlation.add_channel(analyst, org=None, kind="email", target="a@singcert.example.sg")
    with pytest.raises(PermissionDenied):
        correlation.add_channel(org_admin, org="CERT-PH", kind="email", target="x@cert.example")
    created = correlation.add_channel(
        org_admin, org=None, kind="email", target="a@singcert.example.sg"
    )
    assert created["org"] == "SingCERT"
    assert [c["target"] for c in correlation.channels(org_admin)] == ["a@singcert.example.sg"]
    ph_admin = node.operator(role=Role.ORG_ADMIN)
    assert correlation.channels(ph_admin) == []
    with pytest.raises(PermissionDenied):
        correlation.remove_channel(ph_admin, created["id"])
    node.store.dispose()


@pytest.mark.parametrize(
    ("kind", "target", "secret", "message"),
    [
        ("webhook", "ftp://x.example/h", None, "must start with"),
        ("webhook", "https://x.example/h", "short", "at least 16"),
        ("email", "not an address", None, "not an e-mail address"),
        ("sms", "+6591234567", None, "unknown alert channel kind"),
    ],
)
def test_bad_channels_are_refused_and_change_nothing(
    sqlite_url: str, kind: str, target: str, secret: str | None, message: str, tmp_path: Path
) -> None:
    from bayanihan.node import NodeError

    node = _node(sqlite_url, Clock())
    correlation = Correlation(node)
    with pytest.raises(NodeError, match=message):
        correlation.add_channel(None, org=None, kind=kind, target=target, secret=secret)
    assert correlation.channels(None) == []
    node.store.dispose()


def test_a_serving_node_delivers_alerts_in_the_background(
    sqlite_url: str, receiver: Receiver
) -> None:
    """A TAXII write to a running node raises a hit; the node's own delivery loop posts it."""
    from tests.conftest import ThreadServer, taxii_client

    node = _node(sqlite_url, Clock(), alert_interval=0.2)
    ph, sg = _pair(node)
    correlation = Correlation(node)
    correlation.add_channel(
        None, org=None, kind="webhook", target=f"http://{receiver.base}/h", secret=SECRET.decode()
    )
    Catalogue(node).submit(ph, [_domain("qzx-background.com")])
    key = node.add_key(role=Role.ANALYST, org_name="SingCERT").secret
    with ThreadServer(node) as server, taxii_client(server.url, key) as client:
        collections = client.get("/taxii2/api/collections/").json()["collections"]
        response = client.post(
            f"/taxii2/api/collections/{collections[0]['id']}/objects/",
            content=orjson.dumps({"objects": [_domain("qzx-background.com")]}),
            headers={"Content-Type": "application/taxii+json;version=2.1"},
        )
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [r.signature_valid for r in receiver.received] == [True]
    assert orjson.loads(receiver.received[0].body)["counterpart"]["org"]["country"] == "SG"
    node.store.dispose()
