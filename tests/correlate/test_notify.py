"""Alert delivery transport against real servers on 127.0.0.1 (no mocked sockets).

Webhooks go to a ``ThreadingHTTPServer`` that checks signatures with ``verify`` like
an operator's receiver would; mail goes to an ``aiosmtpd`` server. Both listen on
ephemeral ports so tests can run in parallel with anything else on the machine.
"""

from __future__ import annotations

import email
import email.policy
import importlib.metadata
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from bayanihan.correlate.notify import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    DeliveryError,
    SmtpSettings,
    hit_message,
    retry_delay,
    send_email,
    send_webhook,
    sign,
    verify,
)

SECRET = b"s3cret-shared-with-the-receiver"

HIT: dict[str, Any] = {
    "hit_id": 17,
    "detected": "2026-12-01T10:00:00.000000Z",
    "match": "exact",
    "observable": {"kind": "domain", "value": "scam.example.com"},
    "counterpart_observable": {"kind": "domain", "value": "scam.example.com"},
    "object": {
        "id": "indicator--11111111-1111-4111-8111-111111111111",
        "type": "indicator",
        "name": "Phishing domain targeting GCash users",
        "org": {
            "id": "identity--aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
            "name": "CERT-PH",
            "country": "PH",
        },
    },
    "counterpart": {
        "id": "indicator--22222222-2222-4222-8222-222222222222",
        "type": "indicator",
        "name": "Investment scam landing page",
        "org": {
            "id": "identity--bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
            "name": "SingCERT",
            "country": "SG",
        },
    },
    "cross_border": True,
}


# ---------------------------------------------------------------------------
# sign / verify


def test_sign_verify_round_trip() -> None:
    body = orjson.dumps(HIT)
    header = sign(SECRET, 1_800_000_000, body)
    assert header.startswith("t=1800000000,v1=")
    assert len(header.split("v1=")[1]) == 64
    assert verify(SECRET, header, body, now=1_800_000_000)
    assert verify(SECRET, header, body, now=1_800_000_000 + 300)  # the edge is inside
    assert verify(SECRET, header, body, now=1_800_000_000 - 300)  # a fast receiver clock


def test_verify_rejects_changed_body_wrong_secret_and_stale_timestamps() -> None:
    body = orjson.dumps(HIT)
    header = sign(SECRET, 1_800_000_000, body)
    assert not verify(SECRET, header, body + b" ", now=1_800_000_000)
    assert not verify(SECRET, header, body.replace(b"SG", b"PH"), now=1_800_000_000)
    assert not verify(b"another secret", header, body, now=1_800_000_000)
    assert not verify(b"", header, body, now=1_800_000_000)
    assert not verify(SECRET, header, body, now=1_800_000_000 + 301)  # replayed later
    assert not verify(SECRET, header, body, now=1_800_000_000 - 301)  # from the future
    assert verify(SECRET, header, body, now=1_800_000_000 + 3600, tolerance=3600)


def test_verify_rejects_a_timestamp_swapped_into_a_valid_signature() -> None:
    body = b"{}"
    old = sign(SECRET, 1_000, body)
    forged = old.replace("t=1000", "t=1800000000")
    assert not verify(SECRET, forged, body, now=1_800_000_000)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=1800000000",
        "v1=" + "0" * 64,
        "t=abc,v1=" + "0" * 64,
        "t=-5,v1=" + "0" * 64,
        "t=\u0661\u0668,v1=" + "0" * 64,  # Arabic-Indic digits: int() would take them
        "t=1800000000,t=1800000000,v1={mac}",  # two timestamps: ambiguous
        "t=1800000000,v1={mac},broken",
        "t=1800000000,v1={MAC}",  # upper-case hex is not what sign() writes
        "t=1800000000,v1={mac}\u00e9",
        "t=1800000000,v1=\u00e9" + "0" * 63,  # non-ASCII must not crash compare_digest
    ],
)
def test_verify_rejects_malformed_headers(header: str) -> None:
    body = b'{"hit_id": 1}'
    mac = sign(SECRET, 1_800_000_000, body).split("v1=")[1]
    header = header.replace("{mac}", mac).replace("{MAC}", mac.upper())
    assert verify(SECRET, header, body, now=1_800_000_000) is False


def test_verify_accepts_any_matching_v1_and_ignores_unknown_schemes() -> None:
    body = b"{}"
    mac = sign(SECRET, 1_800_000_000, body).split("v1=")[1]
    header = f"t=1800000000, v1={'0' * 64}, v1={mac}, v2=whatever"
    assert verify(SECRET, header, body, now=1_800_000_000)


def test_sign_refuses_an_empty_secret() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign(b"", 1, b"{}")


# ---------------------------------------------------------------------------
# Webhook receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool


class Receiver(ThreadingHTTPServer):
    """An operator's webhook endpoint: verifies, records, answers as told."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.status = 200
        self.reply_headers: dict[str, str] = {}
        self.hold = False  # answer only once `release` is set (a hung receiver)
        self.release = threading.Event()
        self.received: list[Received] = []

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        valid = verify(SECRET, self.headers.get(SIGNATURE_HEADER, ""), body, now=int(time.time()))
        self.server.received.append(Received(self.path, dict(self.headers.items()), body, valid))
        if self.server.hold:
            self.server.release.wait(10)
        try:
            self.send_response(self.server.status)
            for name, value in self.server.reply_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:  # the sender gave up waiting and closed the connection
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def _serve(server: Receiver) -> Iterator[Receiver]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver())


@dataclass
class Tls:
    ca_file: str
    server_context: ssl.SSLContext
    authority: trustme.CA = field(repr=False)


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return Tls(str(ca_file), context, authority)


@pytest.fixture
def https_receiver(tls: Tls) -> Iterator[Receiver]:
    server = Receiver()
    server.socket = tls.server_context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


def _post(url: str, **kwargs: Any) -> int:
    arguments: dict[str, Any] = {
        "secret": SECRET,
        "event": "hit",
        "delivery_id": "dlv-0001",
        "payload": HIT,
        "timeout": 5.0,
    }
    arguments.update(kwargs)
    return send_webhook(url, **arguments)


def test_webhook_delivers_signed_json(receiver: Receiver) -> None:
    status = _post(f"http://{receiver.base}/hooks/bayanihan?org=ph")
    assert status == 200
    [request] = receiver.received
    assert request.signature_valid
    assert request.path == "/hooks/bayanihan?org=ph"
    assert request.body == orjson.dumps(HIT)
    assert orjson.loads(request.body) == HIT
    assert request.headers["Content-Type"] == "application/json"
    version = importlib.metadata.version("bayanihan")
    assert request.headers["User-Agent"] == f"bayanihan/{version}"
    assert request.headers[EVENT_HEADER] == "hit"
    assert request.headers[DELIVERY_HEADER] == "dlv-0001"


def test_webhook_signs_with_the_given_time(receiver: Receiver) -> None:
    then = int(time.time()) - 3600
    _post(f"http://{receiver.base}/", now=then)
    [request] = receiver.received
    assert request.headers[SIGNATURE_HEADER].startswith(f"t={then},v1=")
    assert not request.signature_valid  # an hour old: the receiver refuses it
    assert verify(SECRET, request.headers[SIGNATURE_HEADER], request.body, now=then)


@pytest.mark.parametrize("status", [201, 202, 204])
def test_webhook_returns_any_2xx(receiver: Receiver, status: int) -> None:
    receiver.status = status
    assert _post(f"http://{receiver.base}/") == status


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (502, False), (503, False), (408, False), (429, False)]
    + [(400, True), (401, True), (403, True), (404, True), (410, True), (422, True)],
)
def test_webhook_http_errors(receiver: Receiver, status: int, permanent: bool) -> None:
    receiver.status = status
    with pytest.raises(DeliveryError) as caught:
        _post(f"http://{receiver.base}/token-in-the-path-XYZ?key=QUERYSECRET")
    assert caught.value.permanent is permanent
    assert caught.value.status == status
    assert str(status) in str(caught.value)
    # the path and query often are the receiver's credentials: never in the message
    assert "XYZ" not in str(caught.value) and "QUERYSECRET" not in str(caught.value)
    assert receiver.base in str(caught.value)


@pytest.mark.parametrize(("status", "permanent"), [(301, True), (308, True), (302, False)])
def test_webhook_does_not_follow_redirects(
    receiver: Receiver, status: int, permanent: bool
) -> None:
    receiver.status = status
    receiver.reply_headers = {"Location": "http://elsewhere.example/\r\nX-Injected: 1"}
    with pytest.raises(DeliveryError) as caught:
        _post(f"http://{receiver.base}/")
    assert caught.value.permanent is permanent
    assert "not followed" in str(caught.value)
    assert "elsewhere.example" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert len(receiver.received) == 1


def test_webhook_connection_refused_is_transient() -> None:
    # A bound socket that never listens: the port is ours, connecting is refused.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(DeliveryError) as caught:
            _post(f"http://127.0.0.1:{port}/")
    assert caught.value.permanent is False
    assert "refused" in str(caught.value)


def test_webhook_timeout_is_transient(receiver: Receiver) -> None:
    receiver.hold = True
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        _post(f"http://{receiver.base}/", timeout=0.3)
    assert time.monotonic() - started < 3
    assert caught.value.permanent is False
    assert "timed out" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "127.0.0.1:8080/hook",
        "gopher://127.0.0.1:70/_",
        "http:///no-host",
        "http://user:pass@127.0.0.1/hook",
        "http://127.0.0.1:99999/hook",
        "http://127.0.0.1/a path with spaces",
    ],
)
def test_webhook_refuses_bad_urls_permanently(url: str) -> None:
    with pytest.raises(DeliveryError) as caught:
        _post(url)
    assert caught.value.permanent is True


@pytest.mark.parametrize(
    "arguments",
    [
        {"delivery_id": "dlv-1\r\nX-Injected: yes"},
        {"event": "hit\n"},
        {"delivery_id": ""},
        {"secret": b""},
        {"payload": {"when": object()}},
    ],
)
def test_webhook_refuses_unsendable_input_before_connecting(
    receiver: Receiver, arguments: dict[str, Any]
) -> None:
    with pytest.raises(DeliveryError) as caught:
        _post(f"http://{receiver.base}/", **arguments)
    assert caught.value.permanent is True
    assert receiver.received == []


def test_webhook_https_verifies_against_ca_file(https_receiver: Receiver, tls: Tls) -> None:
    assert _post(f"https://{https_receiver.base}/hook", ca_file=tls.ca_file) == 200
    [request] = https_receiver.received
    assert request.signature_valid


def test_webhook_https_fails_without_the_ca(https_receiver: Receiver) -> None:
    with pytest.raises(DeliveryError) as caught:
        _post(f"https://{https_receiver.base}/hook")
    assert caught.value.permanent is False  # fixable on the receiver's side
    assert "certificate verification failed" in str(caught.value)
    assert https_receiver.received == []


def test_webhook_https_checks_the_host_name(tmp_path: Path) -> None:
    authority = trustme.CA()
    wrong = authority.issue_cert("receiver.example.org")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    wrong.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    server = Receiver()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in _serve(server):
        with pytest.raises(DeliveryError) as caught:
            _post(f"https://{running.base}/hook", ca_file=str(ca_file))
        assert caught.value.permanent is False
        assert "certificate verification failed" in str(caught.value)
        assert running.received == []


def test_webhook_missing_ca_file_is_transient(receiver: Receiver, tmp_path: Path) -> None:
    with pytest.raises(DeliveryError) as caught:
        _post(f"https://{receiver.base}/", ca_file=str(tmp_path / "missing.pem"))
    assert caught.value.permanent is False


# ---------------------------------------------------------------------------
# SMTP server


class EphemeralController(Controller):
    """aiosmtpd's Controller on a port the kernel picks.

    ``Controller`` connects to its own ``port`` to check the server is up, so port 0
    does not work; bind first, hand asyncio the bound socket.
    """

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        super().__init__(handler, hostname="127.0.0.1", port=port, **kwargs)

    def _create_server(self) -> Awaitable[Any]:
        return self.loop.create_server(
            self._factory_invoker, sock=self._socket, ssl=self.ssl_context
        )


@dataclass
class Mailbox:
    """An aiosmtpd handler that stores what it accepts and refuses as told."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient → reply
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        if data.login == b"alerts" and data.password == b"correct horse":
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def _smtp_server(mailbox: Mailbox, **kwargs: Any) -> Iterator[EphemeralController]:
    controller = EphemeralController(mailbox, **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_server(mailbox: Mailbox) -> Iterator[EphemeralController]:
    yield from _smtp_server(mailbox)


@pytest.fixture
def starttls_server(mailbox: Mailbox, tls: Tls) -> Iterator[EphemeralController]:
    yield from _smtp_server(
        mailbox,
        tls_context=tls.server_context,
        require_starttls=True,
        authenticator=mailbox.authenticate,
    )


@pytest.fixture
def implicit_tls_server(mailbox: Mailbox, tls: Tls) -> Iterator[EphemeralController]:
    yield from _smtp_server(mailbox, ssl_context=tls.server_context)


def _settings(controller: EphemeralController, **kwargs: Any) -> SmtpSettings:
    arguments: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": controller.port,
        "sender": "Bayanihan <alerts@cert-ph.example>",
        "timeout": 5.0,
    }
    arguments.update(kwargs)
    return SmtpSettings(**arguments)


def test_email_arrives_with_headers_and_body(
    smtp_server: EphemeralController, mailbox: Mailbox
) -> None:
    subject, text = hit_message(HIT)
    refused = send_email(
        _settings(smtp_server),
        to=["soc@cert-ph.example", "Duty Officer <duty@cert-ph.example>"],
        subject=subject,
        text=text,
    )
    assert refused == {}
    [(mail_from, rcpt_tos, message)] = mailbox.messages
    assert mail_from == "alerts@cert-ph.example"
    assert rcpt_tos == ["soc@cert-ph.example", "duty@cert-ph.example"]
    assert message["Subject"] == "[Bayanihan] Cross-border hit: domain scam.example.com (SG)"
    assert message["From"] == "Bayanihan <alerts@cert-ph.example>"
    assert message["To"] == "soc@cert-ph.example, Duty Officer <duty@cert-ph.example>"
    assert message["Date"] is not None and message["Date"].datetime is not None
    assert message["Message-ID"].endswith("@cert-ph.example>")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n") == text
    assert "SingCERT" in message.get_content()


def test_email_with_delivery_id_has_a_stable_message_id(
    smtp_server: EphemeralController, mailbox: Mailbox
) -> None:
    for _ in range(2):
        send_email(
            _settings(smtp_server),
            to=["soc@cert-ph.example"],
            subject="s",
            text="t",
            message_id_domain="node.cert-ph.example",
            delivery_id="42",
        )
    first, second = (message for _, _, message in mailbox.messages)
    assert first["Message-ID"] == second["Message-ID"] == "<bayanihan.42@node.cert-ph.example>"
    assert first[DELIVERY_HEADER] == "42"


def test_email_non_ascii_text_and_subject(
    smtp_server: EphemeralController, mailbox: Mailbox
) -> None:
    text = "Tanggapan: Kagawaran ng Teknolohiya — ñ, 東京, Việt Nam\n" + "x" * 2000 + "\n"
    send_email(_settings(smtp_server), to=["soc@example.org"], subject="Hit — Việt Nam", text=text)
    [(_, _, message)] = mailbox.messages
    assert message["Subject"] == "Hit — Việt Nam"
    assert message.get_content().replace("\r\n", "\n") == text


def test_email_recipient_refused_is_permanent(
    smtp_server: EphemeralController, mailbox: Mailbox
) -> None:
    mailbox.refuse = {"gone@example.org": "550 5.1.1 No such user"}
    with pytest.raises(DeliveryError) as caught:
        send_email(_settings(smtp_server), to=["gone@example.org"], subject="s", text="t")
    assert caught.value.permanent is True
    assert caught.value.status == 550
    assert "No such user" in str(caught.value)
    assert mailbox.messages == []


def test_email_recipient_greylisted_is_transient(
    smtp_server: EphemeralController, mailbox: Mailbox
) -> None:
    mailbox.refuse = {"soc@example.org": "450 4.2.0 Greylisted, try again later"}
    with pytest.raises(DeliveryError) as caught:
        send_email(_settings(smtp_server), to=["soc@example.org"], subject="s", text="t")
    assert caught.value.permanent is False
    assert caught.value.status == 450


def test_email_some_recipients_refused_is_delivered_and_reported(
    smtp_server: EphemeralController, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox.refuse = {"gone@example.org": "550 5.1.1 No such user"}
    refused = send_email(
        _settings(smtp_server), to=["soc@example.org", "gone@example.org"], subject="s", text="t"
    )
    assert list(refused) == ["gone@example.org"]
    assert refused["gone@example.org"].startswith("550")
    [(_, rcpt_tos, _)] = mailbox.messages
    assert rcpt_tos == ["soc@example.org"]
    assert "gone@example.org" in caplog.text


def test_email_nothing_listening_is_transient() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        settings = SmtpSettings(host="127.0.0.1", port=port, timeout=2.0)
        with pytest.raises(DeliveryError) as caught:
            send_email(settings, to=["soc@example.org"], subject="s", text="t")
    assert caught.value.permanent is False
    assert "refused" in str(caught.value)


def test_email_silent_server_times_out_transiently() -> None:
    with socket.socket() as silent:  # accepts connections, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = SmtpSettings(host="127.0.0.1", port=silent.getsockname()[1], timeout=0.3)
        with pytest.raises(DeliveryError) as caught:
            send_email(settings, to=["soc@example.org"], subject="s", text="t")
    assert caught.value.permanent is False
    assert "timed out" in str(caught.value)


def test_email_starttls_with_login(
    starttls_server: EphemeralController, mailbox: Mailbox, tls: Tls
) -> None:
    settings = _settings(
        starttls_server,
        security="starttls",
        ca_file=tls.ca_file,
        username="alerts",
        password="correct horse",
    )
    send_email(settings, to=["soc@example.org"], subject="over TLS", text="t")
    assert mailbox.logins == ["alerts"]
    [(_, _, message)] = mailbox.messages
    assert message["Subject"] == "over TLS"


def test_email_starttls_wrong_password_is_transient(
    starttls_server: EphemeralController, mailbox: Mailbox, tls: Tls
) -> None:
    settings = _settings(
        starttls_server, security="starttls", ca_file=tls.ca_file, username="alerts", password="no"
    )
    with pytest.raises(DeliveryError) as caught:
        send_email(settings, to=["soc@example.org"], subject="s", text="t")
    # a node setting, not this alert's fault: keep the alert queued until it is fixed
    assert caught.value.permanent is False
    assert caught.value.status == 535
    assert mailbox.messages == []


def test_email_starttls_untrusted_certificate_is_transient(
    starttls_server: EphemeralController, mailbox: Mailbox
) -> None:
    with pytest.raises(DeliveryError) as caught:
        send_email(
            _settings(starttls_server, security="starttls"),
            to=["soc@example.org"],
            subject="s",
            text="t",
        )
    assert caught.value.permanent is False
    assert "certificate verification failed" in str(caught.value)
    assert mailbox.messages == []


def test_email_starttls_not_offered_is_refused(
    smtp_server: EphemeralController, mailbox: Mailbox, tls: Tls
) -> None:
    settings = _settings(smtp_server, security="starttls", ca_file=tls.ca_file)
    with pytest.raises(DeliveryError) as caught:
        send_email(settings, to=["soc@example.org"], subject="s", text="t")
    assert caught.value.permanent is False
    assert "STARTTLS" in str(caught.value)
    assert mailbox.messages == []  # never falls back to sending in clear


def test_email_implicit_tls(
    implicit_tls_server: EphemeralController, mailbox: Mailbox, tls: Tls
) -> None:
    settings = _settings(implicit_tls_server, security="tls", ca_file=tls.ca_file)
    send_email(settings, to=["soc@example.org"], subject="implicit", text="t")
    [(_, _, message)] = mailbox.messages
    assert message["Subject"] == "implicit"


def test_email_missing_ca_file_is_transient(
    implicit_tls_server: EphemeralController, tmp_path: Path
) -> None:
    settings = _settings(implicit_tls_server, security="tls", ca_file=str(tmp_path / "no.pem"))
    with pytest.raises(DeliveryError) as caught:
        send_email(settings, to=["soc@example.org"], subject="s", text="t")
    assert caught.value.permanent is False


@pytest.mark.parametrize(
    ("to", "subject"),
    [([], "s"), ([""], "s"), (["soc@example.org"], "two\r\nBcc: evil@example.org")],
)
def test_email_unsendable_input_is_permanent(
    smtp_server: EphemeralController, mailbox: Mailbox, to: list[str], subject: str
) -> None:
    with pytest.raises(DeliveryError) as caught:
        send_email(_settings(smtp_server), to=to, subject=subject, text="t")
    assert caught.value.permanent is True
    assert mailbox.messages == []


def test_email_refuses_a_single_string_as_recipients() -> None:
    with pytest.raises(TypeError):
        send_email(SmtpSettings(host="127.0.0.1"), to="soc@example.org", subject="s", text="t")


@pytest.mark.parametrize(
    "arguments",
    [
        {"security": "ssl"},
        {"port": 0},
        {"timeout": 0},
        {"username": "u"},
        {"username": "u", "password": "p"},  # credentials without TLS
        {"sender": ""},
    ],
)
def test_smtp_settings_refuse_bad_configuration(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SmtpSettings(host="127.0.0.1", **arguments)


# ---------------------------------------------------------------------------
# Back-off


def test_retry_delay_is_exponential_monotone_and_capped() -> None:
    delays = [retry_delay(attempt) for attempt in range(1, 40)]
    assert delays[:4] == [30.0, 60.0, 120.0, 240.0]
    assert all(a <= b for a, b in zip(delays, delays[1:], strict=False))
    assert max(delays) == 6 * 3600.0
    assert retry_delay(10_000) == 6 * 3600.0
    assert retry_delay(3, base=1.0, cap=3.0) == 3.0
    assert retry_delay(1, base=1.0, cap=3.0) == 1.0
    # the waits between MAX_ATTEMPTS attempts ride out a night, not a week
    total = sum(retry_delay(attempt) for attempt in range(1, MAX_ATTEMPTS))
    assert 12 * 3600 < total < 24 * 3600


def test_retry_delay_refuses_attempt_zero() -> None:
    with pytest.raises(ValueError):
        retry_delay(0)


# ---------------------------------------------------------------------------
# Message text


def test_hit_message_names_both_sides() -> None:
    subject, text = hit_message(HIT)
    assert subject == "[Bayanihan] Cross-border hit: domain scam.example.com (SG)"
    for expected in [
        "cross-border hit",
        "hit 17",
        "2026-12-01T10:00:00.000000Z",
        "Match: exact",
        "domain scam.example.com",
        "indicator--11111111-1111-4111-8111-111111111111",
        "indicator--22222222-2222-4222-8222-222222222222",
        '"Phishing domain targeting GCash users"',
        '"Investment scam landing page"',
        "CERT-PH (PH)",
        "SingCERT (SG)",
        "GET /api/v1/hits",
    ]:
        assert expected in text, expected
    assert "None" not in text


def test_hit_message_cidr_and_domestic() -> None:
    hit = dict(HIT)
    hit.update(
        match="cidr",
        cross_border=False,
        observable={"kind": "ipv4-addr", "value": "203.0.113.7"},
        counterpart_observable={"kind": "ipv4-addr", "value": "203.0.113.0/24"},
    )
    subject, text = hit_message(hit)
    assert subject == "[Bayanihan] Hit: ipv4-addr 203.0.113.7 (SG)"
    assert "cidr" in text and "203.0.113.0/24" in text and "203.0.113.7" in text
    assert "cross-border" not in text


def test_hit_message_shows_only_what_the_payload_holds() -> None:
    """A counterpart the policy shows only by id: no name, no organisation, no guessing."""
    hit = {
        "hit_id": 5,
        "match": "exact",
        "observable": {"kind": "url", "value": "http://scam.example/x"},
        "counterpart_observable": {"kind": "url", "value": "http://scam.example/x"},
        "object": HIT["object"],
        "counterpart": {"id": "indicator--33333333-3333-4333-8333-333333333333"},
        "cross_border": True,
    }
    subject, text = hit_message(hit)
    assert subject == "[Bayanihan] Cross-border hit: url http://scam.example/x"
    assert "indicator--33333333-3333-4333-8333-333333333333" in text
    assert "SingCERT" not in text and "SG" not in text
    assert "None" not in text and "null" not in text
    subject, text = hit_message({})
    assert subject == "[Bayanihan] Hit"
    assert "None" not in text and "Counterpart" not in text


def test_hit_message_neutralises_hostile_names() -> None:
    hit = dict(HIT)
    hit["counterpart"] = {
        "id": "indicator--44444444-4444-4444-8444-444444444444",
        "type": "indicator",
        "name": "benign\n\nURGENT: wire funds to http://evil.example/\u202etxt.exe",
        "org": {"name": "Evil\r\nBcc: x@example.org", "country": "SG\n"},
    }
    subject, text = hit_message(hit)
    assert "\n" not in subject and "\r" not in subject
    assert subject.endswith("(SG)")
    assert "\u202e" not in text
    assert not any(line.startswith("URGENT") for line in text.splitlines())
    assert not any(line.startswith("Bcc") for line in text.splitlines())
