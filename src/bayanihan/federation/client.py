"""A small TAXII 2.1 client over the standard library (``urllib.request`` and ``ssl``).

httpx is only a development dependency, and a node must run on isolated networks
with nothing beyond its own packages, so the client sending our credentials to
peers is built on the standard library. It is deliberately strict:

- credentials never travel over plain ``http://`` except to loopback, unless the
  peer was added with ``--allow-insecure`` (checked for every URL, since a peer's
  discovery document may point anywhere);
- HTTPS always verifies the certificate, against the system store or the peer's
  own CA bundle; to a peer requiring mutual TLS it presents our client certificate,
  reloaded when its files change on disk (certificates rotate without a restart);
- redirects are refused (urllib would carry the Authorization header along);
- every request has a time-out for connecting and for each read, and a response
  larger than ``max_bytes`` is refused, so a dead or lying peer costs time, not
  memory.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import orjson

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
MAX_BODY = 256 * 1024 * 1024


class PeerUnreachable(Exception):
    """The peer could not be asked or gave an answer we cannot use; the message says why.

    ``status`` is the HTTP status when the peer answered with an error.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def permanent(self) -> bool:
        """The peer refused the request itself (a 4xx other than 408 Request Timeout and
        429 Too Many Requests): sending the same again cannot help."""
        return (
            self.status is not None and 400 <= self.status < 500 and self.status not in (408, 429)
        )


class InsecureUrl(ValueError):
    """Credentials would be sent in clear to a host that is not this machine."""


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_insecure: bool) -> str:
    """The URL, when credentials may be sent to it; raises ValueError saying why not."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"not a usable URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a peer URL is http(s)://HOST/..., not {url!r}")
    if parts.username or parts.password:
        raise ValueError("put credentials in --key or --user/--password, not in the URL")
    if parts.scheme == "http" and not allow_insecure and not is_loopback(parts.hostname):
        raise InsecureUrl(
            f"refusing to send credentials over plain http to {parts.hostname}: use https, "
            "or --allow-insecure if this network is trusted"
        )
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str):  # type: ignore[no-untyped-def]
        raise urllib.error.HTTPError(
            req.full_url, code, f"redirected to {newurl}; redirects are not followed", headers, fp
        )


def _timed(base: type[http.client.HTTPConnection], read_timeout: float) -> Any:
    """``base`` whose socket, once connected (and, for HTTPS, the TLS handshake done under
    the connect time-out), waits up to ``read_timeout`` for every read: the wait for the
    status line and headers included."""

    class Connection(base):  # type: ignore[valid-type,misc]
        def connect(self) -> None:
            super().connect()
            self.sock.settimeout(read_timeout)

    return Connection


class _HttpHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self._connection = _timed(http.client.HTTPConnection, read_timeout)

    def http_open(self, req: Any) -> Any:
        return self.do_open(self._connection, req)


class _HttpsHandler(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext, read_timeout: float) -> None:
        super().__init__(context=context)
        self._tls = context
        self._connection = _timed(http.client.HTTPSConnection, read_timeout)

    def https_open(self, req: Any) -> Any:
        return self.do_open(self._connection, req, context=self._tls)


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """Our certificate for a peer that requires one (mutual TLS): a PEM file with the
    certificate (and its chain), and the PEM private key, in ``key_file`` or, when that
    is None, in the certificate file itself."""

    cert_file: str
    key_file: str | None = None


_PEM_LIMIT = 1024 * 1024  # a certificate chain and its key: a few kilobytes


def _no_passphrase() -> str:
    raise ValueError(
        "the private key is encrypted; a node presents its certificate unattended, so "
        "store the key unencrypted in a file only the node's user may read (mode 0600)"
    )


def _read_pem(flag: str, path: str) -> bytes:
    try:
        with open(path, "rb") as source:
            data = source.read(_PEM_LIMIT + 1)
    except FileNotFoundError:
        raise ValueError(f"{flag} {path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{flag} {path}: a directory, not a PEM file") from None
    except OSError as exc:
        raise ValueError(f"{flag} {path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > _PEM_LIMIT:
        raise ValueError(f"{flag} {path}: larger than a certificate and key can be")
    return data


def check_client_certificate(cert_file: str, key_file: str | None = None) -> ClientCertificate:
    """The pair, when the files can be read and form a certificate with its own private
    key; raises ValueError saying what is wrong (naming the files, never their
    contents). Paths are made absolute: ``serve`` may run from another directory."""
    cert_file = os.path.abspath(cert_file)
    key_file = None if key_file is None else os.path.abspath(key_file)
    cert_pem = _read_pem("--client-cert", cert_file)
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise ValueError(f"--client-cert {cert_file}: no PEM certificate in it")
    key_pem = cert_pem if key_file is None else _read_pem("--client-key", key_file)
    if b"PRIVATE KEY-----" not in key_pem:
        if key_file is None:
            raise ValueError(
                f"--client-cert {cert_file} holds no private key: give it with --client-key"
            )
        raise ValueError(f"--client-key {key_file}: no PEM private key in it")
    try:
        ssl.create_default_context().load_cert_chain(cert_file, key_file, _no_passphrase)
    except ValueError as exc:
        raise ValueError(f"{key_file or cert_file}: {exc}") from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ValueError(
                f"the private key {key_file or cert_file} does not belong to the "
                f"certificate {cert_file}"
            ) from None
        raise ValueError(
            f"--client-cert {cert_file}"
            + (f" with --client-key {key_file}" if key_file else "")
            + f": not a usable certificate and key ({exc.reason or exc})"
        ) from None
    except OSError as exc:
        raise ValueError(f"{cert_file}: cannot be read ({exc.strerror or exc})") from None
    return ClientCertificate(cert_file, key_file)


class TlsSetupError(ValueError):
    """The CA bundle or the client certificate of a peer cannot be loaded."""


def _files(client: ClientCertificate) -> str:
    return client.cert_file + (f" (key {client.key_file})" if client.key_file else "")


def _reason_of(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc)


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    """What tells that a file changed: its modification time, size and inode (a file
    replaced by a rename has a new inode even within the same clock tick)."""
    if path is None:
        return None
    found = os.stat(path)
    return (found.st_mtime_ns, found.st_size, found.st_ino)


@lru_cache(maxsize=32)
def _cached_context(
    ca_file: str | None,
    client: ClientCertificate | None,
    _stamps: tuple[tuple[int, int, int] | None, ...],
) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        what = "the system's CA store" if ca_file is None else f"the CA bundle {ca_file}"
        raise TlsSetupError(f"cannot load {what}: {_reason_of(exc)}") from None
    if client is not None:
        try:
            context.load_cert_chain(client.cert_file, client.key_file, _no_passphrase)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TlsSetupError(
                f"cannot load the TLS client certificate {_files(client)}: {_reason_of(exc)}"
            ) from None
    return context


def tls_context(ca_file: str | None, client: ClientCertificate | None = None) -> ssl.SSLContext:
    """The verifying context for a peer: one per CA bundle and client certificate (loading
    the system store takes a while), made again when one of their files changes on disk,
    so an operator replacing a certificate needs no restart of ``serve``. Raises
    TlsSetupError, naming the file, when one cannot be loaded."""
    try:
        stamps: tuple[tuple[int, int, int] | None, ...] = (_stamp(ca_file),)
    except OSError as exc:
        raise TlsSetupError(f"cannot load the CA bundle {ca_file}: {_reason_of(exc)}") from None
    if client is not None:
        try:
            stamps += (_stamp(client.cert_file), _stamp(client.key_file))
        except OSError as exc:
            raise TlsSetupError(
                f"cannot load the TLS client certificate {_files(client)}: {_reason_of(exc)}"
            ) from None
    return _cached_context(ca_file, client, stamps)


@dataclass(frozen=True, slots=True)
class Credentials:
    """A bearer key, or a user name and password for HTTP Basic."""

    secret: str
    username: str | None = None

    def header(self) -> str:
        if self.username is None:
            return f"Bearer {self.secret}"
        pair = f"{self.username}:{self.secret}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True, slots=True)
class Response:
    document: dict[str, Any]
    headers: dict[str, str]  # lower-case names


class TaxiiClient:
    """Requests to one peer, with its credentials, CA bundle and time-outs."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        ca_file: str | None = None,
        client_cert: ClientCertificate | None = None,
        allow_insecure: bool = False,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_bytes: int = MAX_BODY,
    ) -> None:
        self.credentials = credentials
        self.client_cert = client_cert
        self.allow_insecure = allow_insecure
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes
        try:
            context = tls_context(ca_file, client_cert)
        except TlsSetupError as exc:
            raise PeerUnreachable(str(exc)) from None
        self._opener = urllib.request.build_opener(
            _NoRedirect(), _HttpHandler(read_timeout), _HttpsHandler(context, read_timeout)
        )

    def get(self, url: str, params: dict[str, str] | None = None) -> Response:
        """GET a TAXII resource as JSON; raises PeerUnreachable saying what went wrong."""
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        return self._request(url)

    def post(self, url: str, body: bytes) -> Response:
        """POST a TAXII envelope; the answer (a status resource) as JSON."""
        return self._request(url, body)

    def _request(self, url: str, body: bytes | None = None) -> Response:
        try:
            check_url(url, allow_insecure=self.allow_insecure)
        except ValueError as exc:
            raise PeerUnreachable(str(exc)) from None
        headers = {"Accept": TAXII_MEDIA_TYPE, "Authorization": self.credentials.header()}
        if body is not None:
            headers["Content-Type"] = TAXII_MEDIA_TYPE
        request = urllib.request.Request(
            url, data=body, headers=headers, method="GET" if body is None else "POST"
        )
        try:
            # the time-out covers the connection; the connection classes then set the
            # read time-out, which covers the wait for the answer and every read
            with self._opener.open(request, timeout=self.connect_timeout) as answer:
                body = answer.read(self.max_bytes + 1)
                headers = {k.lower(): v for k, v in answer.headers.items()}
        except urllib.error.HTTPError as exc:
            raise PeerUnreachable(
                f"{url}: HTTP {exc.code} {_reason(exc)}", status=exc.code
            ) from None
        except urllib.error.URLError as exc:
            raise PeerUnreachable(f"{url}: {self._describe(exc.reason, url)}") from None
        except TimeoutError as exc:
            raise PeerUnreachable(f"{url}: timed out ({exc})") from None
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
            # after the handshake, while waiting for the answer (a refused client
            # certificate often shows only here)
            raise PeerUnreachable(f"{url}: {self._describe(exc, url)}") from None
        except (OSError, ValueError) as exc:
            raise PeerUnreachable(f"{url}: {exc}") from None
        if len(body) > self.max_bytes:
            raise PeerUnreachable(f"{url}: the answer is larger than {self.max_bytes} bytes")
        try:
            document = orjson.loads(body) if body else {}
        except ValueError:
            raise PeerUnreachable(f"{url}: the answer is not JSON") from None
        if not isinstance(document, dict):
            raise PeerUnreachable(f"{url}: the answer is not a TAXII resource (a JSON object)")
        return Response(document=document, headers=headers)

    def _client_cert_hint(self) -> str:
        if self.client_cert is None:
            return (
                "a peer requiring client certificates (mutual TLS) does this when we present "
                "none: give ours with `peer add --client-cert` (or `peer set`)"
            )
        return (
            "a peer requiring client certificates (mutual TLS) does this when it does not "
            f"accept ours ({self.client_cert.cert_file}): is it signed by a CA the peer "
            "trusts, and still valid?"
        )

    def _describe(self, reason: object, url: str) -> str:
        """What went wrong, for the operator: TLS trouble says so, and what to check."""
        if isinstance(reason, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {reason.verify_message} (see --ca-file)"
        if isinstance(reason, ssl.SSLError) and reason.reason in _CLIENT_CERT_ALERTS:
            return (
                f"TLS: the peer refused the connection ({reason.reason}); "
                + self._client_cert_hint()
            )
        https = urlsplit(url).scheme == "https"
        if https and isinstance(reason, (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError)):
            return (
                f"the peer closed the TLS connection without answering ({reason}); "
                + self._client_cert_hint()
            )
        if isinstance(reason, ssl.SSLError):
            return f"TLS error: {reason}"
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, TimeoutError):
            return "timed out"
        return str(reason)

    # -- TAXII resources ----------------------------------------------------------------

    def api_root_of(self, discovery_url: str) -> str:
        """The peer's default API root: ``default``, else the first of ``api_roots``."""
        found = self.get(discovery_url).document
        root = found.get("default")
        if not isinstance(root, str):
            roots = found.get("api_roots")
            if not isinstance(roots, list) or not roots or not isinstance(roots[0], str):
                raise PeerUnreachable(f"{discovery_url}: the discovery document names no API root")
            root = roots[0]
        root = urljoin(discovery_url, root)
        return root if root.endswith("/") else root + "/"

    def readable_collections(self, api_root: str) -> list[str]:
        """Ids of the collections our key may read."""
        found = self.get(urljoin(api_root, "collections/")).document
        collections = found.get("collections", [])
        if not isinstance(collections, list):
            raise PeerUnreachable(f"{api_root}collections/: 'collections' is not a list")
        return [
            str(c["id"])
            for c in collections
            if isinstance(c, dict) and c.get("can_read") is True and isinstance(c.get("id"), str)
        ]

    def api_root_limit(self, api_root: str) -> int | None:
        """The largest request body the API root accepts (``max_content_length``), if said."""
        found = self.get(api_root).document.get("max_content_length")
        return (
            found if isinstance(found, int) and not isinstance(found, bool) and found > 0 else None
        )

    def writable_collection(self, api_root: str) -> str | None:
        """The first collection our key may write to, or None."""
        found = self.get(urljoin(api_root, "collections/")).document
        collections = found.get("collections", [])
        if not isinstance(collections, list):
            raise PeerUnreachable(f"{api_root}collections/: 'collections' is not a list")
        for c in collections:
            if isinstance(c, dict) and c.get("can_write") is True and isinstance(c.get("id"), str):
                return str(c["id"])
        return None

    def add_objects(self, api_root: str, collection_id: str, envelope: bytes) -> Response:
        return self.post(urljoin(api_root, f"collections/{collection_id}/objects/"), envelope)

    def status(self, api_root: str, status_id: str) -> Response:
        return self.get(urljoin(api_root, f"status/{status_id}/"))

    def objects_page(
        self, api_root: str, collection_id: str, *, added_after: str | None, next_token: str | None
    ) -> Response:
        """One page of objects added after the cursor: every version, not only the latest
        (TAXII's default), so versions added between two pulls all arrive. The same
        filters go with a ``next`` token (medallion refuses a token whose filters changed)."""
        params = {"limit": "1000", "match[version]": "all"}
        if added_after:
            params["added_after"] = added_after
        if next_token:
            params["next"] = next_token
        return self.get(urljoin(api_root, f"collections/{collection_id}/objects/"), params)


def _reason(exc: urllib.error.HTTPError) -> str:
    """The status line, plus the TAXII error title a server sent."""
    detail = exc.reason if isinstance(exc.reason, str) else ""
    try:
        body = json.loads(exc.read(65536) or b"{}")
        if isinstance(body, dict) and isinstance(body.get("title"), str):
            detail = f"{detail}: {body['title']}" if detail else body["title"]
            if isinstance(body.get("description"), str):
                detail += f" ({body['description']})"
    except (ValueError, OSError):
        pass
    return detail


# TLS alerts a server sends when it does not accept the client's certificate, or wants one
_CLIENT_CERT_ALERTS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    }
)
