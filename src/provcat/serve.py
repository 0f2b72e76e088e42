"""A look-up server: ``provcat serve`` answers ``similar`` over HTTP, its index loaded once.

A ``provcat similar`` command pays Python's start, its imports and the index's load before
its first answer (1-3 s at 10^5 images, most of a look-up's cost: docs/scale.md, "A
command's start"). A caller that can keep a pipe open gives one command many files
(``provcat similar -``); a caller that cannot (a web tool, a script in another language, a
fact-checker's browser extension) asks this server, which stays up, keeps the index in
memory and brings it up to date with what any process stores meanwhile.

The protocol (docs/queries.md, "A look-up server"):

- ``POST /similar``: the body is an image file's bytes, as they are on disk (any format
  provcat reads; ``Content-Length`` required); ``?name=NAME`` names it in errors (else
  "upload"). Answers ``200`` with ``{"matches": [...]}``, the JSON of ``provcat similar
  --json`` for one file (docs/schemas/similar.schema.json); ``400`` with ``{"error":
  reason}`` when the bytes are no image that can be decoded safely (the reason names
  NAME); ``411`` without a length; ``413`` when the body is larger than the server takes
  (its bytes are not read); ``415`` for a form's upload (``multipart/form-data``), which
  wraps the file.
- ``GET /status``: ``200`` with ``{"status": "ok", "images": N, "version": V}`` while the
  catalogue answers, ``503`` with ``{"status": "unavailable", "error": reason}`` when not.
- ``GET /health``: ``200`` ``{"status": "ok"}`` or ``503`` ``{"status": "unavailable"}``,
  the same question without a token and without the answer's details (the reason is
  logged): what a load balancer or a service manager's health check asks.
- Anything else: ``404``, or ``405`` for another method on a known path.

Nothing is stored: an upload is decoded in memory, never written to disk, never ingested.
It listens on the loopback address unless told otherwise; there it answers only requests
naming a loopback host (``403`` else: DNS rebinding), and it sends no CORS headers. Given
``tokens`` (each holder's name and bearer token), it answers only requests that carry one
of them (``Authorization: Bearer TOKEN``; ``401`` else, before the body is read or the path
is looked at; the log names each request's holder). Given an ``ssl.SSLContext`` (``tls``),
it answers only over TLS, and if the context asks for a client certificate, only clients
with one its authorities signed (``/health`` too answers those without: :func:`tls_context`).
:meth:`LookUpServer.set_tokens` and
:meth:`LookUpServer.set_tls` change either while it runs. That is what a server on a
shared network wants (``provcat serve`` refuses to listen beyond this machine without a
token or client certificates unless told ``--no-auth``).

Look-ups run in a thread per request (``Catalogue.similar`` is safe to call from several at
once), at most ``look_ups`` at a time: the others wait for a turn before their bodies are
read, so memory holds at most that many uploads.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import ssl
import sys
import threading
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from provcat import __version__
from provcat import models as m
from provcat.errors import CatalogueError, ImageRejected, unexpected_reason

if TYPE_CHECKING:
    from provcat.catalogue import Catalogue

log = logging.getLogger(__name__)

#: Largest upload taken, in bytes (a camera's largest JPEGs and PNGs are a few tens of MB).
MAX_UPLOAD: Final = 128 << 20
#: Seconds a connection may sit idle (reading a body, say) before the server drops it: a
#: client that stops sending cannot hold a look-up's turn for good.
IDLE_SECONDS: Final = 60.0
#: The name an upload is given in errors when the request does not name it.
UPLOAD: Final = "upload"


class LookUpServer(ThreadingHTTPServer):
    """An HTTP server answering look-ups on ``catalogue`` (see the module's docstring).

    Args:
        address: ``(host, port)`` to listen on; port 0 takes a free one
            (``server_address`` then says which).
        catalogue: The catalogue to look up; the caller closes it after the server.
        look_ups: Look-ups answered at once at most (default: one per core).
        max_upload: Largest body taken, in bytes.
        token: The bearer token every request must carry; None: none asked for.
        tokens: Instead of ``token``, several, by their holders' names (which the log
            shows for each request): every request must carry one of them.
        tls: A server-side TLS context (its certificate loaded): answer over TLS only.
    """

    daemon_threads = True
    #: Let a restarted server listen at once on the port its predecessor left.
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        catalogue: Catalogue,
        *,
        look_ups: int | None = None,
        max_upload: int = MAX_UPLOAD,
        token: str | None = None,
        tokens: Mapping[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if max_upload <= 0:
            raise ValueError(f"max_upload must be positive, got {max_upload}")
        if look_ups is not None and look_ups <= 0:
            raise ValueError(f"look_ups must be positive, got {look_ups}")
        if token is not None and tokens is not None:
            raise ValueError("give token or tokens, not both")
        #: Each holder's name and the SHA-256 digest of their token.
        self._tokens: tuple[tuple[str, bytes], ...] = ()
        if token is not None:
            tokens = {"token": token}
        if tokens is not None:
            self.set_tokens(tokens)
        self.catalogue = catalogue
        self.max_upload = max_upload
        self.turns = threading.BoundedSemaphore(look_ups or os.cpu_count() or 1)
        self.tls = tls
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        """The next connection, over TLS when the server has a context (the one it has
        when the connection comes: :meth:`set_tls`)."""
        connection, address = self.socket.accept()
        tls = self.tls
        if tls is not None:
            # Each connection's handshake is made in its own thread, on its first read (and
            # within the idle limit): a client that never completes one holds no other.
            connection = tls.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def set_tls(self, tls: ssl.SSLContext) -> None:
        """Make the connections that come from now on with ``tls`` (a renewed certificate,
        another client authority); those already open keep the context they were made
        with. A server made without TLS is not given it here (ValueError): its clients
        speak plain HTTP."""
        if self.tls is None:
            raise ValueError("this server answers plain HTTP: TLS is given when it is made")
        self.tls = tls

    def set_tokens(self, tokens: Mapping[str, str]) -> None:
        """Answer requests carrying one of ``tokens`` (by their holders' names) from now on,
        and no others: how a token is added, or revoked, while the server runs (a request
        already answered stays answered). A token may be given as its SHA-256 digest,
        ``sha256:`` and 64 hexadecimal digits (:func:`token_digest`), so that the file it
        is read from does not hold it. Each is checked (:func:`check_token`); none at all,
        a name that cannot be logged as it is, or one token given to two holders is
        refused (ValueError)."""
        given = list(tokens.items())
        for number, (holder, token) in enumerate(given):
            _check_holder(holder, token, given[:number])
        if not given:
            raise ValueError("no token given: a server that asks for one needs at least one")
        # One assignment: a request sees the old tokens or the new.
        self._tokens = tuple((holder, _digest(token)) for holder, token in given)

    def holder(self, header: str | None) -> str | None:
        """The name of the holder whose token a request's ``Authorization`` header carries,
        or None when it carries none of them ("" when the server asks for none). The
        offered token's digest is compared with every holder's, each in constant time."""
        tokens = self._tokens
        if not tokens:
            return ""
        scheme, _, given = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        offered = hashlib.sha256(given.strip().encode("utf-8", "replace")).digest()
        found = None
        for holder, digest in tokens:
            if hmac.compare_digest(offered, digest):
                found = holder
        return found

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that fails (a client gone mid-answer, a TLS handshake that fails: a
        plain HTTP request to a TLS server, an untrusted certificate) is logged in a line;
        anything else with its traceback. The server goes on either way."""
        failed = sys.exc_info()[1]
        if getattr(failed, "verify_code", None) in _CRL_FAILURES:
            # Not the client's doing: every client of that authority is refused until the
            # list is renewed, so it is said as a warning.
            log.warning(
                "connection from %s refused: the revocation lists cannot vouch for its "
                "certificate (%s): renew the --client-crl file, then SIGHUP",
                client_address,
                getattr(failed, "verify_message", failed),
            )
            return
        if isinstance(failed, OSError):  # ssl.SSLError is one
            log.info("connection from %s failed: %s", client_address, failed)
            return
        log.exception("answering %s failed", client_address)

    @property
    def url(self) -> str:
        """Where the server listens, as a URL."""
        host, port = self.server_address[:2]
        named = bytes(host).decode() if isinstance(host, bytes | bytearray) else str(host)
        shown = f"[{named}]" if ":" in named else named
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{shown}:{port}/"


#: The fewest characters a token may have: 16 random characters of base64 are 96 bits.
TOKEN_LEAST: Final = 16
#: What a bearer token may hold (RFC 6750's token68).
_TOKEN68: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: The longest name of a token's holder.
HOLDER_MOST: Final = 64
#: What a holder's name may hold: it is written in the log as it is.
_HOLDER: Final = re.compile(
    rf"[A-Za-z0-9._@+-]([A-Za-z0-9._@+ -]{{0,{HOLDER_MOST - 2}}}[A-Za-z0-9._@+-])?"
)


def check_token(token: str) -> None:
    """Refuse a token that cannot serve: not of the characters a bearer token may hold, or
    too short to be guessed at no cost (ValueError, with the reason)."""
    if not _TOKEN68.fullmatch(token):
        raise ValueError(
            "a token is letters, digits and - . _ ~ + / (then = signs), with no spaces"
        )
    if len(token) < TOKEN_LEAST:
        raise ValueError(
            f"a token of {len(token)} characters is too short to keep anyone out; use "
            f"{TOKEN_LEAST} or more random ones "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


#: A token given by its digest: ``sha256:`` and the digest's 64 hexadecimal digits (a token
#: itself holds no colon, so neither is taken for the other).
_DIGEST: Final = re.compile(r"sha256:([0-9a-fA-F]{64})")


def token_digest(token: str) -> str:
    """What a token file may hold instead of ``token``: ``sha256:`` and its SHA-256 digest
    in hexadecimal (``provcat token`` adds one; ``printf %s TOKEN | sha256sum`` gives the
    same digits). The token is checked first (:func:`check_token`)."""
    check_token(token)
    return "sha256:" + hashlib.sha256(token.encode("ascii")).hexdigest()


def _digest(token: str) -> bytes:
    """The SHA-256 digest of a token given as itself or as its digest (checked before)."""
    found = _DIGEST.fullmatch(token)
    if found:
        return bytes.fromhex(found.group(1))
    return hashlib.sha256(token.encode("ascii")).digest()


def _check_holder(holder: str, token: str, earlier: Iterable[tuple[str, str]]) -> None:
    """Refuse (ValueError) a holder's name that cannot be logged as it is, a token that
    cannot serve (:func:`check_token`; a digest cannot be checked so, and is taken as it
    is), or either given before, in ``earlier`` (a token and its digest are the same)."""
    if not _HOLDER.fullmatch(holder):
        raise ValueError(
            f"{holder!r} cannot name a token's holder: letters, digits and . _ @ + - (and "
            f"spaces within), up to {HOLDER_MOST} of them"
        )
    if token.startswith("sha256:"):
        if not _DIGEST.fullmatch(token):
            raise ValueError("a token's digest is sha256: and 64 hexadecimal digits")
    else:
        check_token(token)
    digest = _digest(token)
    for other, given in earlier:
        if other == holder:
            raise ValueError(f"{holder} is named twice")
        if hmac.compare_digest(digest, _digest(given)):
            raise ValueError(f"{holder} has the token of {other}: give each holder their own")


def read_tokens(path: str | os.PathLike[str]) -> dict[str, str]:
    """The holders and tokens of a token file (docs/queries.md, "A look-up server"): a
    line ``NAME TOKEN`` for each holder, or a token alone (its holder named after its
    line, ``line N``), the token itself or its digest (``sha256:HEX``,
    :func:`token_digest`); blank lines and lines beginning ``#`` say nothing. OSError when
    the file cannot be read; ValueError naming the file and the line when it cannot serve."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{os.fsdecode(path)}: not UTF-8 text ({exc.reason})") from None
    return tokens_from_text(text, os.fsdecode(path))


def tokens_from_text(text: str, source: str) -> dict[str, str]:
    """What :func:`read_tokens` reads, from the text of a token file named ``source`` (which
    its errors name)."""
    tokens: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        where = f"{source}, line {number}"
        if len(words) > 2:
            raise ValueError(f"{where}: {len(words)} words; a line is NAME TOKEN, or a token alone")
        holder, token = (f"line {number}", words[0]) if len(words) == 1 else words
        try:
            _check_holder(holder, token, tokens.items())
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        tokens[holder] = token
    if not tokens:
        raise ValueError(f"{source}: holds no token")
    return tokens


def tls_context(
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str] | None = None,
    *,
    client_ca: str | os.PathLike[str] | None = None,
    client_crl: str | os.PathLike[str] | None = None,
) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or later) with the certificate chain in
    ``certfile`` and its private key (in ``keyfile``, else in ``certfile`` too). With
    ``client_ca`` (the PEM certificates of the authorities that sign clients'), a client
    is asked for a certificate one of them signed: one that presents another fails its
    handshake; one that presents none is answered ``403`` but for ``GET /health`` (a load
    balancer's check carries no certificate); the server names each request's holder
    after its certificate's common name.

    With ``client_crl`` too (PEM certificate revocation lists, one from each of those
    authorities; :func:`check_revocation_lists`), a client whose certificate a list revokes
    is refused, and so is every client of an authority whose list is missing or past its
    next update (OpenSSL's rule: a list out of date says nothing of what was revoked
    since)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        # Optional to the handshake, so that /health is answered without one; every other
        # request is refused without one (_Handler._certified), and a certificate given is
        # verified in the handshake as with CERT_REQUIRED.
        context.verify_mode = ssl.CERT_OPTIONAL
    if client_crl is not None:
        if client_ca is None:
            raise ValueError("a revocation list goes with the clients' authorities (client_ca)")
        check_revocation_lists(client_crl)
        context.load_verify_locations(cafile=client_crl)  # cadata would take no list
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


#: OpenSSL's verification failures that a revocation list's own state causes, not the
#: client's certificate (openssl/x509_vfy.h): X509_V_ERR_UNABLE_TO_GET_CRL (3),
#: _UNABLE_TO_DECRYPT_CRL_SIGNATURE (5), _CRL_SIGNATURE_FAILURE (8), _CRL_NOT_YET_VALID
#: (11), _CRL_HAS_EXPIRED (12), _ERROR_IN_CRL_LAST_UPDATE_FIELD (15), _NEXT_UPDATE_FIELD
#: (16), _UNABLE_TO_GET_CRL_ISSUER (33), _KEYUSAGE_NO_CRL_SIGN (35),
#: _UNHANDLED_CRITICAL_CRL_EXTENSION (36).
_CRL_FAILURES: Final = frozenset({3, 5, 8, 11, 12, 15, 16, 33, 35, 36})
#: A PEM block's first line, and what it holds.
_PEM_BEGIN: Final = re.compile(rb"^-----BEGIN ([A-Z0-9 ]+)-----\r?$", re.M)


def check_revocation_lists(path: str | os.PathLike[str]) -> None:
    """Refuse (ValueError, naming the file) a file of certificate revocation lists that
    holds none in PEM, or anything else: a certificate there would be trusted as an
    authority of clients', which a revocation list must not be able to add. OSError when
    the file cannot be read."""
    raw = Path(path).read_bytes()
    kinds = _PEM_BEGIN.findall(raw)
    named = os.fsdecode(path)
    if not kinds:
        raise ValueError(
            f"{named}: no PEM revocation list (one in DER converts with "
            "'openssl crl -inform DER -in FILE -out FILE.pem')"
        )
    others = sorted({kind.decode() for kind in kinds} - {"X509 CRL"})
    if others:
        raise ValueError(f"{named}: holds {', '.join(others)}, not only revocation lists")


def certificate_holder(connection: object) -> str | None:
    """The common name of the certificate a TLS client presented (shown as Python would
    write it when it is not a plain name: it goes to the log), or None without one."""
    peer = getattr(connection, "getpeercert", None)
    certificate = peer() if peer is not None else None
    for relative in (certificate or {}).get("subject", ()):
        for key, value in relative:
            if key == "commonName":
                return value if _HOLDER.fullmatch(value) else repr(value)
    return None


class _Handler(BaseHTTPRequestHandler):
    server: LookUpServer
    server_version = f"provcat/{__version__}"
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS

    def do_POST(self) -> None:
        query = self._route("/similar")
        if query is None:
            return
        name = (query.get("name") or [UPLOAD])[0] or UPLOAD
        if self.headers.get_content_type() == "multipart/form-data":
            # A form's upload wraps the file in parts: decoded as an image it would be
            # refused as "not an image", which says nothing of what to do.
            self._refuse_unread(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"{name}: a form upload (multipart/form-data); send the file's bytes as the "
                "body (curl --data-binary @FILE)",
            )
            return
        length = self._length()
        if length is None:
            return
        if length > self.server.max_upload:
            self._refuse_unread(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"{name}: {length} bytes; this server takes at most {self.server.max_upload}",
            )
            return
        with self.server.turns:
            data = self.rfile.read(length)
            if len(data) < length:
                self._refuse_unread(
                    HTTPStatus.BAD_REQUEST,
                    f"{name}: the body ended after {len(data)} of {length} bytes",
                )
                return
            try:
                found = self.server.catalogue.similar_data(data, name=name)
            except ImageRejected as error:
                self._answer(HTTPStatus.BAD_REQUEST, {"error": str(error)})
                return
            except (CatalogueError, SQLAlchemyError) as error:
                log.error("look-up of %r failed: %s", name, error)
                self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(error)})
                return
            except Exception as error:  # an answer for the client; the server goes on
                log.exception("look-up of %r failed", name)
                reason = unexpected_reason(error)
                self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{name}: {reason}"})
                return
        self._answer(HTTPStatus.OK, {"matches": [match.to_dict() for match in found]})

    #: The holder whose token the request being answered carries ("" when the server asks
    #: for none, None before it is known or when it carries none): the log shows it.
    holder: str | None = None

    def parse_request(self) -> bool:
        self.holder = None  # a connection's next request is its own
        return super().parse_request()

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/health":
            if self._host_allowed():
                self._health()
            return
        if self._route("/status") is None:
            return
        try:
            with self.server.catalogue.session() as session:
                images = session.scalar(select(func.count()).select_from(m.Image))
        except (CatalogueError, SQLAlchemyError) as error:
            self._answer(
                HTTPStatus.SERVICE_UNAVAILABLE, {"status": "unavailable", "error": str(error)}
            )
            return
        self._answer(HTTPStatus.OK, {"status": "ok", "images": images, "version": __version__})

    def _health(self) -> None:
        """Whether the catalogue answers, without a token and without details: a load
        balancer's check must not need the token, and must not learn more than up or down
        (why not goes to the log)."""
        try:
            with self.server.catalogue.session() as session:
                session.execute(select(1))
        except (CatalogueError, SQLAlchemyError) as error:
            log.error("health check: the catalogue does not answer: %s", error)
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "unavailable"})
            return
        self._answer(HTTPStatus.OK, {"status": "ok"})

    def _host_allowed(self) -> bool:
        """Whether the request names this server's host, else a 403 is answered: a server on
        the loopback address answers only requests for a loopback name, so that a web page
        whose name was made to point at this machine (DNS rebinding) cannot read its
        answers through the visitor's browser. A server on another address (``--host``)
        answers any."""
        if not _loopback(self.server.server_address[0]):
            return True
        given = self.headers.get("Host", "")
        host = urlsplit(f"//{given}").hostname if given else None
        if host is not None and is_loopback_name(host):
            return True
        self._refuse_unread(
            HTTPStatus.FORBIDDEN,
            f"Host {given!r} is not this server's (it answers on a loopback name)",
        )
        return False

    def _authorised(self) -> bool:
        """Whether the request carries the server's token, else a 401 is answered (its body
        unread), saying whether a token was missing or wrong."""
        header = self.headers.get("Authorization")
        self.holder = self.server.holder(header)
        if self.holder == "":  # no token asked for: a client certificate may name one
            self.holder = certificate_holder(self.connection) or ""
        if self.holder is not None:
            return True
        if header is None:
            reason, challenge = "this server asks for a token: Authorization: Bearer TOKEN", ""
        else:
            reason, challenge = "the token given is not this server's", ', error="invalid_token"'
        self._refuse_unread(
            HTTPStatus.UNAUTHORIZED,
            reason,
            headers={"WWW-Authenticate": f'Bearer realm="provcat"{challenge}'},
        )
        return False

    def _certified(self) -> bool:
        """Whether the request came with a client certificate if its connection's TLS
        context asks for one, else a 403 is answered (its body unread). The handshake has
        verified any certificate given; a context that asks optionally (:func:`tls_context`,
        so that /health needs none) leaves to this check the clients that gave none."""
        connection = self.connection
        if not isinstance(connection, ssl.SSLSocket):
            return True
        if connection.context.verify_mode == ssl.CERT_NONE or connection.getpeercert():
            return True
        self._refuse_unread(
            HTTPStatus.FORBIDDEN,
            "this server asks for a client certificate its authorities signed",
        )
        return False

    def _route(self, expected: str) -> dict[str, list[str]] | None:
        """The query of a request for ``expected`` (the path this method serves) from an
        allowed host, with a client certificate and the token if they are asked for; None
        once a refusal is answered (401, 403, 404 or 405)."""
        if not self._host_allowed() or not self._certified() or not self._authorised():
            return None
        parts = urlsplit(self.path)
        if parts.path != expected:
            self._missing(parts.path)
            return None
        return parse_qs(parts.query)

    def _refuse_unread(
        self, status: HTTPStatus, reason: str, *, headers: dict[str, str] | None = None
    ) -> None:
        """Refuse a request whose body is left unread (or was cut short): the connection is
        closed after the answer, the unread bytes with it."""
        self.close_connection = True
        self._answer(status, {"error": reason}, headers=headers)

    def _length(self) -> int | None:
        """The body's length from its header, or None once an error is answered."""
        given = self.headers.get("Content-Length")
        if given is None:
            self._refuse_unread(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return None
        try:
            length = int(given)
        except ValueError:
            length = -1
        if length < 0:
            self._refuse_unread(HTTPStatus.BAD_REQUEST, "Content-Length is not a length")
            return None
        return length

    def _missing(self, path: str) -> None:
        if path in ("/similar", "/status", "/health"):
            allowed = "POST" if path == "/similar" else "GET"
            self._answer(
                HTTPStatus.METHOD_NOT_ALLOWED,
                {"error": f"{path} takes {allowed}"},
                headers={"Allow": allowed},
            )
            return
        self._answer(HTTPStatus.NOT_FOUND, {"error": "POST /similar, GET /status or GET /health"})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a method it has no handler for, a malformed or too
        long request line or header) as JSON too, not its HTML page; the connection is
        closed after them."""
        status = HTTPStatus(code)
        self._refuse_unread(status, message or status.phrase)

    def _answer(
        self, status: HTTPStatus, body: dict[str, Any], *, headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def version_string(self) -> str:
        """The ``Server`` header: provcat's name and version, not the Python under it
        (http.server adds that, which says more than a client needs)."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # To provcat's log (shown with -v), not to standard error line by line; the request
        # line is the client's text, so it goes through %r. The token's holder follows the
        # client's address ("-" for none known).
        log.info("%s %s %r", self.address_string(), self.holder or "-", format % args)


def is_loopback_name(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) names this machine only."""
    return host == "localhost" or _loopback(host)


def _loopback(host: str | bytes | bytearray) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1)."""
    named = bytes(host).decode() if isinstance(host, bytes | bytearray) else host
    try:
        return ipaddress.ip_address(named).is_loopback
    except ValueError:
        return False
