"""Alert delivery transport: signed webhooks and plain-text e-mail for hits.

This module only *sends*; the caller (the delivery scheduler) decides what to send,
to whom, and when to try again. Every failure is a :class:`DeliveryError` whose
``permanent`` flag tells the scheduler whether another attempt can help, so one bad
destination never stalls the queue and one flaky network never loses an alert.

Webhooks
    ``POST`` of the JSON payload with three headers:

    * ``X-Bayanihan-Event``: what happened (``hit``);
    * ``X-Bayanihan-Delivery``: the delivery id; it stays the same across retries, so
      a receiver that sees it twice (delivery is at-least-once) drops the repeat;
    * ``X-Bayanihan-Signature``: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
      ``b"<t>." + body`` with the secret shared with the receiver; see :func:`verify`.

    Redirects are never followed: a 3xx is a failed attempt (see :func:`send_webhook`).

E-mail
    One plain-text message per call through the node's SMTP relay
    (:class:`SmtpSettings`), with ``From``, ``To``, ``Subject``, ``Date``,
    ``Message-ID`` and ``Auto-Submitted: auto-generated`` (so vacation responders
    do not answer alerts).

Retries
    :func:`retry_delay` is a deterministic exponential back-off; after
    :data:`MAX_ATTEMPTS` failed attempts the scheduler gives a delivery up. With the
    defaults the attempts span about 14.5 hours (waits of 30 s, 1 min, ... 4.3 h, 6 h),
    long enough to ride out a receiver's night-time outage or to wait for the next
    morning's fix of the node's mail settings.

Only the standard library (``http.client``, ``ssl``, ``smtplib``, ``email``) and
``orjson`` are used; nothing happens at import time.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import importlib.metadata
import logging
import re
import smtplib
import ssl
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid, parseaddr
from typing import Any
from urllib.parse import urlsplit

import orjson

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "MAX_ATTEMPTS",
    "SIGNATURE_HEADER",
    "DeliveryError",
    "SmtpSettings",
    "hit_message",
    "retry_delay",
    "send_email",
    "send_webhook",
    "sign",
    "verify",
]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Bayanihan-Signature"
EVENT_HEADER = "X-Bayanihan-Event"
DELIVERY_HEADER = "X-Bayanihan-Delivery"

MAX_ATTEMPTS = 12
"""Failed attempts after which a delivery is given up (the scheduler marks it failed)."""

_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
# Header values we put on the wire ourselves: visible ASCII and inner spaces only, so a
# caller's value can never split a header (CR/LF injection) or be mangled by encoding.
_TOKEN_RE = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
# Left part of a Message-ID built from a delivery id: a safe subset of RFC 5322 dot-atom.
_MSGID_LEFT_RE = re.compile(r"[A-Za-z0-9._+=-]{1,200}")
_SECURITY_MODES = ("none", "starttls", "tls")


class DeliveryError(Exception):
    """A delivery attempt failed.

    ``permanent`` is True when retrying the same delivery cannot help, so the scheduler
    should give it up now instead of after :data:`MAX_ATTEMPTS`: a webhook answering
    4xx other than 408/429, a 301/308 redirect, a URL this module refuses; an SMTP
    server answering 5xx to the sender, the recipients (all of them) or the message.
    Everything else (connection refused, timeouts, TLS failures, 5xx from a webhook,
    SMTP 4xx, and problems of the node's own SMTP session such as rejected
    credentials) is transient: it may heal by itself or once an operator fixes a
    setting, and giving up every queued alert meanwhile would lose them.

    ``status`` is the HTTP status or SMTP reply code when there was one, for logs.
    The message never contains the path or query of a webhook URL, which often carry
    a receiver's token, nor anything from the response body.
    """

    permanent: bool
    status: int | None

    def __init__(self, message: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status


# ---------------------------------------------------------------------------
# Signatures


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Bayanihan-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds).

    The timestamp is inside the MAC so a captured request cannot be replayed later
    with a fresh ``t=``; the receiver bounds its age (see :func:`verify`).
    An empty secret raises ``ValueError``: it would authenticate nothing.
    """
    if not secret:
        raise ValueError("webhook secret is empty")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError(f"timestamp must be a non-negative int, not {timestamp!r}")
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: bytes, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """Whether ``header`` (``X-Bayanihan-Signature``) authenticates ``body``.

    For receivers (and the tests). A receiver must:

    1. read the raw request body *before* parsing it (the MAC covers the exact bytes);
    2. take ``t`` and every ``v1`` from the header ``t=<unix seconds>,v1=<hex>``;
    3. compute ``HMAC-SHA256(secret, b"<t>." + body)`` as lowercase hex and compare it
       with each ``v1`` in constant time (``hmac.compare_digest``);
    4. reject the request unless ``|now - t| <= tolerance`` (replay protection; keep the
       clock in sync with NTP);
    5. de-duplicate on ``X-Bayanihan-Delivery``: retries repeat the same id.

    In Python::

        from bayanihan.correlate.notify import verify
        ok = verify(secret, request.headers["X-Bayanihan-Signature"], raw_body,
                    now=int(time.time()))

    Unknown ``key=value`` parts are ignored so future schemes (``v2=``) can be added
    next to ``v1``; several ``v1`` values are accepted (any one may match) so a sender
    can sign with an old and a new secret while a receiver rotates. A malformed
    header, an empty secret or a timestamp outside the tolerance gives False, never
    an exception.
    """
    if not secret or not isinstance(header, str):
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            if timestamp is not None or not _TIMESTAMP_RE.fullmatch(value):
                return False
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    matched = False
    for candidate in candidates:
        # compare_digest wants ASCII on both sides; anything else cannot match anyway.
        if _HEX64_RE.fullmatch(candidate) and hmac.compare_digest(expected, candidate):
            matched = True
    return matched


# ---------------------------------------------------------------------------
# Webhooks


@functools.cache
def _user_agent() -> str:
    """``bayanihan/<version>``; cached because a metadata lookup scans ``sys.path``."""
    try:
        version = importlib.metadata.version("bayanihan")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        from bayanihan import __version__ as version
    return f"bayanihan/{version}"


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificate and host-name checking on: the system store, or only ``ca_file``."""
    return ssl.create_default_context(cafile=ca_file)


def _reason(text: str, limit: int = 120) -> str:
    """A receiver-supplied string (reason phrase, Location) made safe for one log line."""
    cleaned = _clean(text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def send_webhook(
    url: str,
    *,
    secret: bytes,
    event: str,
    delivery_id: str,
    payload: dict[str, Any],
    timeout: float = 10.0,
    now: int | None = None,
    ca_file: str | None = None,
) -> int:
    """POST ``payload`` as signed JSON to ``url``; the HTTP status on 2xx.

    Raises :class:`DeliveryError` otherwise. Permanent (retrying cannot help): a
    scheme other than http/https, a URL without a host, with ``user:pass@``
    credentials (they would not be sent, and a URL is no place for a password: the
    signature authenticates the sender), with an invalid port or non-ASCII path; a
    header value, payload or timeout that cannot be used; a 4xx other than 408/429;
    a 301 or 308 redirect.
    Transient: 5xx, 408, 429, 302/303/307 and other non-2xx; connection refused, DNS
    failure, timeouts (the message says "timed out"), TLS failures (an expired or
    untrusted certificate is fixed on the receiver's side, then a retry succeeds).

    Redirects are never followed. A redirect could move the signed alert to another
    host or from https to http without anyone noticing; the receiver's owner should
    configure the final URL instead. 301/308 say "moved for good", so they fail at
    once and the operator sees it; other 3xx may be a receiver's temporary state.

    https verifies the certificate and host name against the system store, or only
    against ``ca_file`` (PEM) when given. ``timeout`` bounds the connect and each
    socket read/write, not the whole exchange, and not DNS resolution. ``now``
    (unix seconds) fixes the signature time, for tests. No HTTP proxy is used:
    ``http.client`` ignores ``HTTP(S)_PROXY``.

    The caller must decide which destinations are acceptable: this function sends to
    any host the URL names, including private and loopback addresses.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DeliveryError(
            f"webhook URL scheme {scheme or '(none)'!r} is not http or https", permanent=True
        )
    try:
        port = parts.port
    except ValueError:
        raise DeliveryError("webhook URL has an invalid port", permanent=True) from None
    hostname = parts.hostname
    if not hostname:
        raise DeliveryError("webhook URL has no host", permanent=True)
    if parts.username is not None or parts.password is not None:
        raise DeliveryError("webhook URL must not contain credentials", permanent=True)
    try:
        host = hostname.encode("idna").decode("ascii") if not hostname.isascii() else hostname
    except UnicodeError:
        raise DeliveryError("webhook URL has an invalid host name", permanent=True) from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if not re.fullmatch(r"[\x21-\x7e]+", target):
        raise DeliveryError(
            "webhook URL path must be ASCII without spaces (percent-encode it)", permanent=True
        )
    shown_host = f"[{host}]" if ":" in host else host  # an IPv6 literal
    where = f"{scheme}://{shown_host}" + (f":{port}" if port is not None else "")
    if not timeout > 0:
        raise DeliveryError(f"timeout must be positive, not {timeout!r}", permanent=True)

    for name, value in ((EVENT_HEADER, event), (DELIVERY_HEADER, delivery_id)):
        if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
            raise DeliveryError(f"{name} value {value!r} cannot be sent", permanent=True)
    try:
        body = orjson.dumps(payload)
    except orjson.JSONEncodeError as exc:
        raise DeliveryError(f"payload is not JSON-serialisable: {exc}", permanent=True) from None
    timestamp = int(time.time()) if now is None else now
    try:
        signature = sign(secret, timestamp, body)
    except ValueError as exc:
        raise DeliveryError(str(exc), permanent=True) from None
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "User-Agent": _user_agent(),
        "Accept": "*/*",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: signature,
    }

    connection: http.client.HTTPConnection
    try:
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=_tls_context(ca_file)
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
    except OSError as exc:  # the CA file is missing or unreadable: a node setting
        raise DeliveryError(f"cannot load CA file {ca_file!r}: {exc}", permanent=False) from None

    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        status = response.status
        reason = _reason(response.reason or "")
        location = response.getheader("Location")
        # The body is not read: nothing in it changes the outcome, and not echoing it
        # keeps a receiver (or whatever the URL really points at) from reflecting
        # data into our logs.
        response.close()
    except TimeoutError:
        raise DeliveryError(
            f"POST {where}: timed out after {timeout:g} s", permanent=False
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryError(
            f"POST {where}: TLS certificate verification failed: {exc.verify_message}",
            permanent=False,
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"POST {where}: TLS error: {exc}", permanent=False) from None
    except ConnectionRefusedError:
        raise DeliveryError(f"POST {where}: connection refused", permanent=False) from None
    except (OSError, http.client.HTTPException) as exc:
        detail = str(exc) or type(exc).__name__
        raise DeliveryError(f"POST {where}: {detail}", permanent=False) from None
    finally:
        connection.close()

    if 200 <= status < 300:
        return status
    message = f"POST {where}: HTTP {status} {reason}".rstrip()
    if 300 <= status < 400:
        moved = f" to {_reason(location)}" if location else ""
        raise DeliveryError(
            f"{message}: redirect{moved} not followed; configure the final URL",
            permanent=status in (301, 308),
            status=status,
        )
    permanent = 400 <= status < 500 and status not in (408, 429)
    raise DeliveryError(message, permanent=permanent, status=status)


# ---------------------------------------------------------------------------
# E-mail


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """How the node reaches its SMTP relay.

    ``security``: ``"none"`` (plain SMTP, for a relay on the same host or network),
    ``"starttls"`` (upgrade after EHLO; refuse to continue if the server does not
    offer it, since silently sending in clear is what an attacker stripping
    STARTTLS wants), or ``"tls"`` (implicit TLS, usually port 465). Certificates
    and host names are checked against the system store or only ``ca_file``.

    Credentials need TLS: ``username`` with ``security="none"`` is refused here, at
    construction, so a configuration mistake shows when the node starts rather than
    as a failed alert.
    """

    host: str
    port: int = 25
    sender: str = "bayanihan@localhost"
    username: str | None = None
    password: str | None = None
    security: str = "none"
    timeout: float = 10.0
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("SMTP host is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP port {self.port} is out of range")
        if self.security not in _SECURITY_MODES:
            raise ValueError(
                f"SMTP security must be one of {_SECURITY_MODES}, not {self.security!r}"
            )
        if self.timeout <= 0:
            raise ValueError("SMTP timeout must be positive")
        if (self.username is None) != (self.password is None):
            raise ValueError("SMTP username and password go together")
        if self.username is not None and self.security == "none":
            raise ValueError("SMTP credentials need security 'starttls' or 'tls'")
        if not parseaddr(self.sender)[1]:
            raise ValueError(f"SMTP sender {self.sender!r} is not an address")


def _build_message(
    settings: SmtpSettings,
    recipients: Sequence[str],
    subject: str,
    text: str,
    message_id_domain: str | None,
    delivery_id: str | None,
) -> EmailMessage:
    sender_address = parseaddr(settings.sender)[1]
    domain = message_id_domain or sender_address.rpartition("@")[2] or "localhost"
    message = EmailMessage()  # policy.default: refuses CR/LF inside header values
    message["From"] = settings.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    if delivery_id is not None:
        if not _MSGID_LEFT_RE.fullmatch(delivery_id):
            raise ValueError(f"delivery id {delivery_id!r} cannot be part of a Message-ID")
        # Stable across retries, so a mail client can fold a duplicate into one.
        message["Message-ID"] = f"<bayanihan.{delivery_id}@{domain}>"
        message[DELIVERY_HEADER] = delivery_id
    else:
        # An explicit domain: make_msgid() would otherwise ask DNS for our FQDN.
        message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


def _smtp_code_error(what: str, code: int, reply: bytes | str) -> DeliveryError:
    detail = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return DeliveryError(
        f"{what}: {code} {_reason(detail, 200)}".rstrip(),
        permanent=500 <= code < 600,
        status=code,
    )


def send_email(
    settings: SmtpSettings,
    *,
    to: Sequence[str],
    subject: str,
    text: str,
    message_id_domain: str | None = None,
    delivery_id: str | None = None,
) -> dict[str, str]:
    """Send one plain-text message to ``to`` through the relay in ``settings``.

    Returns the recipients the server refused while accepting others (address to
    ``"<code> <reply>"``; usually empty). They are also logged as a warning. The
    message was delivered to the rest, so this is not an error: retrying would send
    it to them again.

    Raises :class:`DeliveryError`:

    * permanent when the server answers 5xx to the envelope sender, to every
      recipient, or to the message itself, and when the message cannot be built
      (an empty recipient list, CR/LF in the subject);
    * transient for connection errors, timeouts, TLS failures, 4xx replies, and every
      failure of the session before the message (greeting, EHLO, STARTTLS not
      offered, credentials rejected): those concern the node's relay settings, not
      this alert, so the alert waits for the fix instead of being dropped.

    ``message_id_domain`` is the right-hand side of the Message-ID (default: the
    sender's domain). ``delivery_id`` (optional) makes the Message-ID stable across
    retries and is sent as ``X-Bayanihan-Delivery`` too. Delivery is at-least-once:
    a timeout after the message was sent may make a retry deliver it twice.
    """
    if isinstance(to, str):
        raise TypeError("to must be a sequence of addresses, not one string")
    recipients = [address.strip() for address in to]
    if not recipients or not all(recipients):
        raise DeliveryError("no recipients", permanent=True)
    try:
        message = _build_message(
            settings, recipients, subject, text, message_id_domain, delivery_id
        )
    except (ValueError, TypeError) as exc:
        raise DeliveryError(f"cannot build the message: {exc}", permanent=True) from None
    envelope_to = [address for _, address in getaddresses(recipients) if address]
    if len(envelope_to) != len(recipients):
        raise DeliveryError(f"cannot parse recipients {recipients!r}", permanent=True)

    where = f"SMTP {settings.host}:{settings.port}"
    try:
        # Inside the try: a missing or broken CA file is a node setting to fix, not a
        # reason to drop the alert.
        context = _tls_context(settings.ca_file) if settings.security != "none" else None
        smtp: smtplib.SMTP
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    except smtplib.SMTPConnectError as exc:  # a greeting other than 220
        error = _smtp_code_error(f"{where}: greeting", exc.smtp_code, exc.smtp_error)
        raise DeliveryError(str(error), permanent=False, status=error.status) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise _transport_error(where, exc, settings.timeout) from None

    clean_exit = False
    try:
        try:
            smtp.ehlo_or_helo_if_needed()
            if settings.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(f"{where}: server does not offer STARTTLS", permanent=False)
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username is not None and settings.password is not None:
                smtp.login(settings.username, settings.password)
        except smtplib.SMTPResponseException as exc:
            error = _smtp_code_error(f"{where}: session", exc.smtp_code, exc.smtp_error)
            raise DeliveryError(str(error), permanent=False, status=error.status) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _transport_error(where, exc, settings.timeout) from None

        try:
            refused_raw = smtp.send_message(message, to_addrs=envelope_to)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            details = "; ".join(
                f"{address}: {code} {_reason(reply.decode('utf-8', 'replace'), 120)}"
                for address, (code, reply) in exc.recipients.items()
            )
            raise DeliveryError(
                f"{where}: all recipients refused ({details})",
                permanent=all(500 <= code < 600 for code in codes),
                status=max(codes) if codes else None,
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            raise _smtp_code_error(
                f"{where}: sender refused", exc.smtp_code, exc.smtp_error
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise _smtp_code_error(
                f"{where}: message refused", exc.smtp_code, exc.smtp_error
            ) from None
        except smtplib.SMTPNotSupportedError as exc:  # e.g. SMTPUTF8 needed, not offered
            raise DeliveryError(f"{where}: {exc}", permanent=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _transport_error(where, exc, settings.timeout) from None
        clean_exit = True
    finally:
        # QUIT only on a healthy session: after a timeout it would wait once more.
        try:
            if clean_exit:
                smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
        smtp.close()

    refused = {
        address: f"{code} {_reason(reply.decode('utf-8', 'replace'), 200)}".rstrip()
        for address, (code, reply) in refused_raw.items()
    }
    if refused:
        logger.warning("%s: some recipients refused: %s", where, refused)
    return refused


def _transport_error(where: str, exc: BaseException, timeout: float) -> DeliveryError:
    """A transient error for a failure of the connection itself (or of its TLS)."""
    if isinstance(exc, TimeoutError):
        detail = f"timed out after {timeout:g} s"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        detail = f"TLS certificate verification failed: {exc.verify_message}"
    elif isinstance(exc, ConnectionRefusedError):
        detail = "connection refused"
    else:
        detail = str(exc) or type(exc).__name__
    return DeliveryError(f"{where}: {detail}", permanent=False)


# ---------------------------------------------------------------------------
# Retries


def retry_delay(attempt: int, *, base: float = 30.0, cap: float = 6 * 3600.0) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    ``base * 2 ** (attempt - 1)``, at most ``cap``: 30 s, 1 min, 2 min, ... 6 h.
    Deterministic on purpose: the scheduler stores the next time with the delivery,
    and tests and operators can predict it. (Jitter mainly spreads load on a shared
    receiver after a common outage; alert volume here is small.)
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, not {attempt}")
    if base <= 0 or cap < 0:
        raise ValueError("base must be positive and cap non-negative")
    try:
        delay = base * 2.0 ** (attempt - 1)
    except OverflowError:
        return cap
    return min(delay, cap)


# ---------------------------------------------------------------------------
# Message text

_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Zs", "Cs", "Co", "Cn"}


def _clean(value: object, limit: int = 300) -> str:
    """One line of display text from a payload value.

    Names come from other organisations: control, format (bidi overrides) and
    separator characters become spaces so a value cannot forge extra lines in the
    mail body or a header, nor reorder text on screen; long values are cut.
    """
    text = str(value)
    chars = [" " if unicodedata.category(ch) in _INVISIBLE else ch for ch in text]
    cleaned = " ".join("".join(chars).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _field(mapping: object, *keys: str) -> str | None:
    """``mapping[k1][k2]...`` as cleaned text, or None if any level is absent or empty."""
    value: object = mapping
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    if value is None or isinstance(value, Mapping | list):
        return None
    text = _clean(value)
    return text or None


def _observable(hit: Mapping[str, Any], key: str) -> str | None:
    parts = [p for p in (_field(hit, key, "kind"), _field(hit, key, "value")) if p]
    return " ".join(parts) or None


def _describe(hit: Mapping[str, Any], key: str) -> list[str]:
    """Lines for ``hit[key]`` (object or counterpart): only what the payload holds."""
    lines: list[str] = []
    kind, name, ident = (_field(hit, key, k) for k in ("type", "name", "id"))
    head = " ".join(p for p in (kind, f'"{name}"' if name else None) if p)
    if ident:
        head = f"{head} ({ident})" if head else ident
    if head:
        lines.append(f"  STIX object:  {head}")
    org, country = _field(hit, key, "org", "name"), _field(hit, key, "org", "country")
    org_id = _field(hit, key, "org", "id")
    if org or country:
        label = " ".join(p for p in (org, f"({country})" if country else None) if p)
        lines.append(f"  Organisation: {label}" + (f" [{org_id}]" if org_id else ""))
    elif org_id:
        lines.append(f"  Organisation: {org_id}")
    return lines


def hit_message(hit: Mapping[str, Any]) -> tuple[str, str]:
    """``(subject, text)`` of the alert e-mail for one hit payload.

    Uses only what the payload holds (it was already filtered by the sharing policy
    for this recipient): a missing field leaves its line out rather than being looked
    up elsewhere. Values are reduced to single display lines (see ``_clean``).
    The subject names the observable and the counterpart's country, which is what a
    duty officer triages on: "[Bayanihan] Cross-border hit: domain scam.example.com (SG)".
    """
    cross_border = hit.get("cross_border") is True
    what = "Cross-border hit" if cross_border else "Hit"
    observable = _observable(hit, "observable")
    country = _field(hit, "counterpart", "org", "country")
    subject = f"[Bayanihan] {what}"
    if observable:
        subject += f": {observable}"
    if country:
        subject += f" ({country})"

    hit_id, detected, match = _field(hit, "hit_id"), _field(hit, "detected"), _field(hit, "match")
    intro = f"Bayanihan recorded a {'cross-border hit' if cross_border else 'hit'}"
    if hit_id:
        intro += f" (hit {hit_id})"
    if detected:
        intro += f" at {detected}"
    lines = [intro + ":", "objects of two organisations share an observable."]
    if match == "cidr":
        lines.append("Match: cidr (the two observables overlap as network ranges).")
    elif match:
        lines.append(f"Match: {match}.")
    for heading, observable_key, object_key in (
        ("Object", "observable", "object"),
        ("Counterpart", "counterpart_observable", "counterpart"),
    ):
        section = _describe(hit, object_key)
        shared = _observable(hit, observable_key)
        if shared:
            section.insert(0, f"  Observable:   {shared}")
        if section:
            lines += ["", heading, *section]
    lines.append("")
    lines.append("Details: GET /api/v1/hits on this node's REST API")
    lines.append("(it shows what the sharing policy lets you see).")
    lines.append("")
    lines.append("-- ")
    lines.append("Sent automatically by Bayanihan. Replies are not read.")
    return subject, "\n".join(lines) + "\n"
