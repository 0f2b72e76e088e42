"""The look-up server: `provcat serve` and provcat.serve.LookUpServer answer as `similar` does."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps
from sqlalchemy.exc import OperationalError

import provcat
from provcat import serve
from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.serve import LookUpServer

from .imagegen import photo
from .paths import MONTENEGRO, REPO

#: The command in a process of its own (the console script may not be on the path).
PROVCAT = [sys.executable, "-c", "from provcat.cli import cli; cli(prog_name='provcat')"]
#: The command as a terminal starts it, Ctrl-C (SIGINT) raising KeyboardInterrupt: a test
#: run as a background job hands its children SIGINT ignored, which Python then keeps.
PROVCAT_AT_A_TERMINAL = [
    sys.executable,
    "-c",
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from provcat.cli import cli; cli(prog_name='provcat')",
]
SCHEMA = json.loads((REPO / "docs" / "schemas" / "similar.schema.json").read_text("utf-8"))
#: The server's other bodies: its status, and every refusal.
BODIES = json.loads((REPO / "docs" / "schemas" / "serve.schema.json").read_text("utf-8"))
IMAGES = MONTENEGRO / "images"
STILL = IMAGES / "02-surveillance-belgrade-meeting.jpg"


@contextmanager
def serving(catalogue: Catalogue, **options: Any) -> Iterator[LookUpServer]:
    """The server on a free port of the loopback address, answering in a thread."""
    server = LookUpServer(("127.0.0.1", 0), catalogue, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def request(
    server: LookUpServer,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=60)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        assert response.getheader("Content-Type") == "application/json; charset=utf-8"
        assert response.getheader("Server") == f"provcat/{provcat.__version__}"
        body = json.loads(response.read())
        # Every body but a look-up's answer follows the server's schema.
        jsonschema.validate(
            body, SCHEMA if response.status == 200 and "matches" in body else BODIES
        )
        return response.status, body
    finally:
        connection.close()


def mirrored_crop(tmp_path: Path) -> Path:
    query = tmp_path / "flip.png"
    with Image.open(STILL) as image:
        ImageOps.mirror(image.crop((40, 20, 600, 400))).save(query)
    return query


def test_a_posted_file_is_answered_as_similar_answers_it(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """The JSON of POST /similar is `provcat similar --json`'s for the file (the schema's
    one-file form), match for match; an unrelated picture gets no match."""
    query = mirrored_crop(tmp_path)
    expected = [match.to_dict() for match in montenegro.similar(query)]
    assert expected
    assert "mirrored" in expected[0]["relation"]
    unrelated = tmp_path / "unrelated.jpg"
    photo(77, (640, 480)).save(unrelated, quality=85)
    with serving(montenegro) as server:
        status, answer = request(server, "POST", "/similar?name=flip.png", query.read_bytes())
        assert status == 200
        jsonschema.validate(answer, SCHEMA)
        assert answer == json.loads(json.dumps({"matches": expected}, default=str))
        assert request(server, "POST", "/similar", unrelated.read_bytes()) == (
            200,
            {"matches": []},
        )


def test_bad_uploads_get_a_reason_that_names_them_and_the_server_goes_on(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """A truncated image, bytes that are no image and an empty body are refused with 400 and
    a reason naming the upload (as the request named it, else "upload"); a good file after
    them is answered."""
    whole = STILL.read_bytes()
    with serving(montenegro) as server:
        status, answer = request(server, "POST", "/similar?name=half.jpg", whole[: len(whole) // 3])
        assert status == 400
        assert answer["error"].startswith("half.jpg: ")
        status, answer = request(server, "POST", "/similar", b"<html>not a picture</html>")
        assert status == 400
        assert answer["error"].startswith(f"{serve.UPLOAD}: ")
        status, answer = request(server, "POST", "/similar?name=nothing.jpg", b"")
        assert status == 400
        assert answer["error"].startswith("nothing.jpg: ")
        status, answer = request(server, "POST", "/similar", whole)
        assert status == 200
        assert answer["matches"][0]["relation"]


def test_a_body_over_the_limit_is_refused_unread_and_a_length_is_required(
    montenegro: Catalogue,
) -> None:
    """413 for a body longer than the server takes (its bytes are not read: the request says
    a length it never sends), 411 without a Content-Length, 400 for one that is no length."""
    with serving(montenegro, max_upload=1000) as server:
        host, port = server.server_address[:2]
        with socket.create_connection((str(host), port), timeout=30) as raw:
            raw.sendall(
                b"POST /similar?name=big.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Length: 5000000\r\n\r\n"
            )
            reply = b""
            while chunk := raw.recv(65536):  # the server closes the connection after answering
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 ")
        assert json.loads(body)["error"] == "big.jpg: 5000000 bytes; this server takes at most 1000"
        with socket.create_connection((str(host), port), timeout=30) as raw:
            raw.sendall(b"POST /similar HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert raw.recv(65536).startswith(b"HTTP/1.1 411 ")
        status, answer = request(server, "POST", "/similar", b"x", {"Content-Length": "-3"})
        assert (status, answer) == (400, {"error": "Content-Length is not a length"})


def test_status_and_unknown_targets(montenegro: Catalogue) -> None:
    """GET /status counts the stored images; other paths are 404 and other methods on the
    two paths 405, each with a JSON reason."""
    stored = len(montenegro.images())
    with serving(montenegro) as server:
        status, answer = request(server, "GET", "/status")
        assert (status, answer["status"], answer["images"]) == (200, "ok", stored)
        assert request(server, "GET", "/similar")[0] == 405
        assert request(server, "POST", "/status", b"")[0] == 405
        assert request(server, "GET", "/nothing/../here")[0] == 404
        assert request(server, "POST", "/ingest", b"x")[0] == 404


def test_the_server_sees_what_another_writer_stores_while_it_runs(
    montenegro: Catalogue, db_url: str, tmp_path: Path
) -> None:
    """The index is loaded once and brought up to date at each look-up: a photo another
    process ingests while the server runs is found by the next request."""
    new = tmp_path / "new"
    new.mkdir()
    photo(41, (640, 480)).save(new / "fresh.jpg", quality=90)
    with Image.open(new / "fresh.jpg") as image:
        image.crop((60, 40, 560, 420)).save(tmp_path / "query.jpg", quality=80)
    query = (tmp_path / "query.jpg").read_bytes()
    with serving(montenegro) as server:
        assert request(server, "POST", "/similar", query) == (200, {"matches": []})
        other = Catalogue(db_url)  # another writer, as a second process would be
        try:
            assert other.ingest([new]).images_added == 1
        finally:
            other.close()
        status, answer = request(server, "POST", "/similar", query)
        assert status == 200
        [found] = answer["matches"]
        assert "cropped" in found["relation"]


def test_look_ups_at_once_are_each_answered_as_alone(montenegro: Catalogue, tmp_path: Path) -> None:
    """Requests from several clients at once, more than the look-ups answered at once, each
    get the answer the file gets alone."""
    files = [mirrored_crop(tmp_path), *sorted(IMAGES.glob("*.jpg"))[:3]]
    alone = {f: [m.to_dict() for m in montenegro.similar(f)] for f in files}
    answers: dict[tuple[Path, int], tuple[int, dict[str, Any]]] = {}
    with serving(montenegro, look_ups=2) as server:

        def ask(file: Path, round_: int) -> None:
            answers[file, round_] = request(server, "POST", "/similar", file.read_bytes())

        threads = [threading.Thread(target=ask, args=(f, r)) for f in files for r in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for (file, _round), (status, answer) in answers.items():
        assert status == 200
        assert answer == json.loads(json.dumps({"matches": alone[file]}, default=str))
    assert len(answers) == 2 * len(files)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_provcat_serve_answers_from_its_own_process(
    montenegro: Catalogue, tmp_path: Path, stop: signal.Signals
) -> None:
    """The command: it says where it listens (port 0: a free one), answers a look-up as the
    library does, and stops on Ctrl-C (SIGINT) or a service manager's SIGTERM with status 0."""
    query = mirrored_crop(tmp_path)
    expected = [match.to_dict() for match in montenegro.similar(query)]
    command = [*PROVCAT_AT_A_TERMINAL, "--db", montenegro.url, "serve", "--port", "0"]
    process = _server_process(command)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        port = _port(line, "http://127.0.0.1")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("POST", "/similar?name=flip.png", body=query.read_bytes())
        response = connection.getresponse()
        assert response.status == 200
        answer = json.loads(response.read())
        connection.close()
        assert answer == json.loads(json.dumps({"matches": expected}, default=str))
    finally:
        err = _stop(process, stop)
    assert process.returncode == 0, err
    assert "stopped" in err


def test_provcat_serve_says_why_it_cannot_listen(montenegro: Catalogue) -> None:
    """A port already taken ends the command with a reason naming it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*PROVCAT, "--db", montenegro.url, "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: " in done.stderr


@pytest.mark.parametrize(
    ("option", "value"), [("max_upload", 0), ("max_upload", -1), ("look_ups", 0)]
)
def test_the_server_refuses_limits_that_take_nothing(
    montenegro: Catalogue, option: str, value: int
) -> None:
    with pytest.raises(ValueError, match=f"{option} must be positive"):
        LookUpServer(("127.0.0.1", 0), montenegro, **{option: value})


def test_a_request_waits_for_a_turn_before_its_body_is_read(
    montenegro: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every turn taken, a request is not looked up (its upload not even read) until
    one is free: memory holds at most ``look_ups`` uploads."""
    called = threading.Event()
    real = Catalogue.similar_data

    def spy(self: Catalogue, data: bytes, *, name: str) -> Any:
        called.set()
        return real(self, data, name=name)

    monkeypatch.setattr(Catalogue, "similar_data", spy)
    answers: list[tuple[int, dict[str, Any]]] = []
    with serving(montenegro, look_ups=1) as server:
        server.turns.acquire()
        asking = threading.Thread(
            target=lambda: answers.append(request(server, "POST", "/similar", STILL.read_bytes()))
        )
        asking.start()
        try:
            assert not called.wait(1.0)
        finally:
            server.turns.release()
        asking.join()
    assert called.is_set()
    [(status, answer)] = answers
    assert status == 200
    assert answer["matches"]


def test_a_catalogue_that_stops_answering_and_a_failing_look_up_are_said_so(
    montenegro: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """503 when the database does not answer (status and look-ups), 500 with the upload's
    name when a look-up fails in a way no rule foresaw; the server answers again after."""
    down = OperationalError("SELECT 1", {}, Exception("connection refused"))

    def no_database(self: Catalogue) -> Any:
        raise down

    def failing(self: Catalogue, data: bytes, *, name: str) -> Any:
        raise RuntimeError("a decoder fell over")

    with serving(montenegro) as server:
        with monkeypatch.context() as patched:
            patched.setattr(Catalogue, "session", no_database)
            status, answer = request(server, "GET", "/status")
            assert (status, answer["status"]) == (503, "unavailable")
            assert "connection refused" in answer["error"]
            patched.setattr(Catalogue, "_look_ups", no_database)
            status, answer = request(server, "POST", "/similar", STILL.read_bytes())
            assert status == 503
            assert "connection refused" in answer["error"]
            patched.setattr(Catalogue, "similar_data", failing)
            status, answer = request(server, "POST", "/similar?name=odd.jpg", b"x")
            assert status == 500
            assert answer["error"].startswith("odd.jpg: could not be handled: RuntimeError")
        assert request(server, "GET", "/status")[0] == 200
        assert request(server, "POST", "/similar", STILL.read_bytes())[0] == 200


def test_a_loopback_server_answers_only_requests_for_a_loopback_name(
    montenegro: Catalogue,
) -> None:
    """DNS rebinding: a request naming another host (a web page's name pointed at this
    machine) is refused with 403 by a server on the loopback address; localhost and the
    loopback addresses are answered. A server on another address answers any name."""
    with serving(montenegro) as server:
        status, answer = request(server, "GET", "/status", headers={"Host": "evil.example:8765"})
        assert status == 403
        assert "evil.example" in answer["error"]
        assert request(server, "POST", "/similar", b"x", {"Host": "attacker.test"})[0] == 403
        for host in ("localhost", "localhost:8765", "127.0.0.1:8765", "127.0.0.2"):
            assert request(server, "GET", "/status", headers={"Host": host})[0] == 200, host
    anywhere = LookUpServer(("0.0.0.0", 0), montenegro)
    thread = threading.Thread(target=anywhere.serve_forever, daemon=True)
    thread.start()
    try:
        port = anywhere.server_address[1]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/status", headers={"Host": "catalogue.newsroom.example"})
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        anywhere.shutdown()
        anywhere.server_close()
        thread.join()


def test_a_form_upload_is_refused_with_what_to_send(montenegro: Catalogue) -> None:
    """A browser form's multipart body is not taken for an image's bytes: 415 says to send
    the file itself."""
    body = b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.jpg"\r\n\r\n'
    body += STILL.read_bytes() + b"\r\n--b--\r\n"
    with serving(montenegro) as server:
        status, answer = request(
            server,
            "POST",
            "/similar?name=a.jpg",
            body,
            {"Content-Type": "multipart/form-data; boundary=b"},
        )
    assert status == 415
    assert answer["error"].startswith("a.jpg: a form upload")


TOKEN = "k3Y-of_the.newsroom~desk+2017/Montenegro=="


def _certificate(
    folder: Path,
    name: str = "localhost",
    *,
    issuer: tuple[Path, Path] | None = None,
    authority: bool = False,
) -> tuple[Path, Path]:
    """A certificate and its key, as PEM files named after ``name`` in ``folder``: by
    default a self-signed server certificate for localhost and 127.0.0.1; with ``issuer``
    (a certificate and key made here), one it signs for ``name``; with ``authority``, one
    that may sign others."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer, signer_name = key, subject
    if issuer is not None:
        issuer_certificate = x509.load_pem_x509_certificate(issuer[0].read_bytes())
        loaded = serialization.load_pem_private_key(issuer[1].read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        signer, signer_name = loaded, issuer_certificate.subject
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True)
    )
    if name == "localhost":
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    certificate = builder.sign(signer, hashes.SHA256())
    stem = "server" if name == "localhost" else name
    cert_file, key_file = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_a_server_with_a_token_answers_only_requests_that_carry_it(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """No token, another scheme, a wrong token or one a character short: 401 with a
    Bearer challenge, before the body is read; the token: answered as without one."""
    query = mirrored_crop(tmp_path).read_bytes()
    expected = json.loads(
        json.dumps(
            {"matches": [m.to_dict() for m in montenegro.similar_data(query, name="flip.png")]},
            default=str,
        )
    )
    with serving(montenegro, token=TOKEN) as server:
        for headers, missing in (
            ({}, True),
            ({"Authorization": f"Basic {TOKEN}"}, False),
            ({"Authorization": "Bearer wrong-token-of-the-same-kind"}, False),
            ({"Authorization": f"Bearer {TOKEN[:-1]}"}, False),
        ):
            for method, target, body in (("GET", "/status", None), ("POST", "/similar", query)):
                host, port = server.server_address[:2]
                connection = http.client.HTTPConnection(str(host), port, timeout=60)
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                answer = json.loads(response.read())
                connection.close()
                assert response.status == 401, (headers, target)
                challenge = response.getheader("WWW-Authenticate")
                assert challenge is not None
                assert challenge.startswith('Bearer realm="provcat"')
                assert ("invalid_token" in challenge) is not missing
                assert response.getheader("Connection") == "close"  # the body left unread
                jsonschema.validate(answer, BODIES)
                assert ("asks for a token" in answer["error"]) is missing
            # An unknown path is refused for the token first: nothing said of what is there.
            assert request(server, "GET", "/admin", headers=headers)[0] == 401
        given = {"Authorization": f"Bearer {TOKEN}"}
        assert request(server, "GET", "/status", headers=given)[0] == 200
        status, answer = request(server, "POST", "/similar?name=flip.png", query, given)
        assert status == 200
        assert answer == expected
        assert request(server, "GET", "/admin", headers=given)[0] == 404


@pytest.mark.parametrize("token", ["short-token", "has a space in it, long enough", "é" * 20, ""])
def test_a_token_that_cannot_keep_anyone_out_is_refused(montenegro: Catalogue, token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        LookUpServer(("127.0.0.1", 0), montenegro, token=token)


def test_a_server_over_tls_answers_https_only_and_outlives_a_plain_request(
    montenegro: Catalogue, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With a certificate, look-ups over HTTPS (the certificate checked by the client); a
    plain HTTP request, or a client that does not trust the certificate, gets no answer
    and costs a line of the log, not the server."""
    import ssl

    cert_file, key_file = _certificate(tmp_path)
    tls = serve.tls_context(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    with (
        caplog.at_level("INFO", logger="provcat.serve"),
        serving(montenegro, tls=tls, token=TOKEN) as server,
    ):
        assert server.url.startswith("https://127.0.0.1:")
        port = server.server_address[1]
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        plain.request("GET", "/status")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            plain.getresponse()
        plain.close()
        untrusting = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=30, context=ssl.create_default_context()
        )
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusting.request("GET", "/status")
        untrusting.close()
        for host in ("127.0.0.1", "localhost"):
            secure = http.client.HTTPSConnection(host, port, timeout=30, context=trusting)
            secure.request("GET", "/status", headers={"Authorization": f"Bearer {TOKEN}"})
            response = secure.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["status"] == "ok"
            secure.close()
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failures
    assert all(r.exc_info is None for r in failures)  # a line each, no traceback


def _server_process(command: list[str]) -> subprocess.Popen[str]:
    """``provcat serve`` in a process of its own, what it says readable from its stderr
    (and, should it hang, where each of its threads stood: :func:`_stop`)."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONFAULTHANDLER": "1"}
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)


def _stop(process: subprocess.Popen[str], stop: int = signal.SIGTERM) -> str:
    """Stop a server process with ``stop`` and wait for it; what it said after. One that
    has not ended a minute later is aborted, its threads' stacks (faulthandler) in the
    failure."""
    process.send_signal(stop)
    try:
        _out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        _out, err = process.communicate(timeout=60)
        pytest.fail(f"the server did not end on signal {stop}; its threads:\n{err}")
    return err


def _reloaded(process: subprocess.Popen[str]) -> str:
    """What a running server says to SIGHUP (its first line)."""
    assert process.stderr is not None
    process.send_signal(signal.SIGHUP)
    line = process.stderr.readline()
    assert line, "the server ended on SIGHUP"
    return line


def _refused_to_start(command: list[str], said: str) -> None:
    """The command ends at once with a usage error or an error (status 2 or 1) that says
    ``said``, without a traceback."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (1, 2)
    assert said in done.stderr
    assert "Traceback" not in done.stderr


def _port(said: str, address: str) -> int:
    """The port a started server said it listens on at ``address`` (``https://0.0.0.0``)."""
    found = re.search(rf"answering look-ups at {re.escape(address)}:(\d+)/", said)
    assert found, said
    return int(found.group(1))


def _started(process: subprocess.Popen[str]) -> str:
    """What the command said up to where it listens."""
    assert process.stderr is not None
    said = ""
    while "answering look-ups at" not in said:
        line = process.stderr.readline()
        assert line, f"the server ended before it listened: {said}"
        said += line
    return said


def test_provcat_serve_with_a_token_file_and_a_certificate(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """The command beyond this machine: refused without a token (or --no-auth), with a
    token file that cannot serve, or a certificate that cannot be read; with both, it
    answers over HTTPS to the token and warns of a token file others may read."""
    cert_file, key_file = _certificate(tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    command = [*PROVCAT, "--db", montenegro.url, "serve", "--port", "0", "--host", "0.0.0.0"]

    def refused(*extra: str) -> str:
        done = subprocess.run(
            [*command, *extra], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 2 if "Usage" in done.stderr else done.returncode == 1
        assert "Traceback" not in done.stderr
        return done.stderr

    assert "would answer anyone who can reach it" in refused()
    short = tmp_path / "short"
    short.write_text("letmein\n", encoding="utf-8")
    assert f"{short}, line 1: a token of 7 characters is too short" in refused(
        "--token-file", str(short)
    )
    assert "cannot read the token file" in refused("--token-file", str(tmp_path / "none"))
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("not a certificate", encoding="utf-8")
    assert f"cannot use the certificate {garbled}" in refused(
        "--token-file", str(token_file), "--certfile", str(garbled)
    )
    assert "--keyfile goes with --certfile" in refused("--keyfile", str(key_file))
    token_file.chmod(0o644)
    process = _server_process(
        [*command, "--token-file", str(token_file), "--certfile", str(cert_file),
         "--keyfile", str(key_file)],
    )  # fmt: skip
    try:
        said = _started(process)
        assert "other users may read the tokens in" in said
        port = _port(said, "https://0.0.0.0")
        assert "a token asked for" in said
        import ssl

        context = ssl.create_default_context(cafile=str(cert_file))
        for token, status in ((None, 401), (TOKEN, 200)):
            secure = http.client.HTTPSConnection("127.0.0.1", port, timeout=60, context=context)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            secure.request("GET", "/status", headers=headers)
            assert secure.getresponse().status == status
            secure.close()
    finally:
        err = _stop(process)
    assert process.returncode == 0, err


#: Two holders' tokens (test values, not secrets).
ALICE = "alice-desk-token-0123456789abcdef"
BOB = "bob_desk_token_fedcba9876543210"


def test_a_token_file_names_each_holder_and_says_which_line_cannot_serve(tmp_path: Path) -> None:
    """NAME TOKEN lines, a token alone (named after its line), comments and blank lines;
    a line that cannot serve is named with the file and the reason."""
    good = tmp_path / "tokens"
    good.write_text(
        f"# provcat serve's tokens\n\nalice {ALICE}\n  bob\t{BOB}  \n{TOKEN}\n", encoding="utf-8"
    )
    assert serve.read_tokens(good) == {"alice": ALICE, "bob": BOB, "line 5": TOKEN}
    for text, reason in (
        (f"alice {ALICE} extra\n", "line 1: 3 words"),
        (f"alice {ALICE}\nalice {BOB}\n", "line 2: alice is named twice"),
        (f"alice {ALICE}\nbob {ALICE}\n", "line 2: bob has the token of alice"),
        (f"alice {ALICE}\nbob letmein\n", "line 2: a token of 7 characters is too short"),
        (f"al<i>ce {ALICE}\n", "line 1: 'al<i>ce' cannot name a token's holder"),
        (f"{'x' * 65} {ALICE}\n", "up to 64 of them"),
        ("# only a comment\n\n", "holds no token"),
    ):
        bad = tmp_path / "bad"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=r"line|no token") as refused:
            serve.read_tokens(bad)
        assert str(refused.value).startswith(f"{bad}"), refused.value
        assert reason in str(refused.value)
    bad.write_bytes(b"alice \xff" + ALICE.encode())
    with pytest.raises(ValueError, match="not UTF-8"):
        serve.read_tokens(bad)


def test_a_token_file_may_hold_digests_of_the_tokens_not_the_tokens(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """``NAME sha256:HEX``: the holder's token answered, the digest itself not (it is no
    token); a digest that is not 64 hexadecimal digits, and a token given both as itself
    and as its digest to two holders, refused with their lines."""
    digest = serve.token_digest(BOB)
    assert digest == "sha256:" + hashlib.sha256(BOB.encode()).hexdigest()
    listed = tmp_path / "tokens"
    listed.write_text(f"alice {ALICE}\nbob {digest}\n{digest.upper().replace('SHA', 'sha')}x\n")
    with pytest.raises(ValueError, match="line 3: a token's digest is sha256: and 64"):
        serve.read_tokens(listed)
    listed.write_text(f"alice {ALICE}\nbob {digest}\ncarol {BOB}\n")
    with pytest.raises(ValueError, match="line 3: carol has the token of bob"):
        serve.read_tokens(listed)
    listed.write_text(f"alice {ALICE}\nbob {digest.upper().replace('SHA', 'sha')}\n")
    tokens = serve.read_tokens(listed)
    with serving(montenegro, tokens=tokens) as server:
        for token, status in ((ALICE, 200), (BOB, 200), (digest, 401), (digest[7:], 401)):
            headers = {"Authorization": f"Bearer {token}"}
            assert request(server, "GET", "/status", headers=headers)[0] == status, token
        assert server.holder(f"Bearer {BOB}") == "bob"
    with pytest.raises(ValueError, match="too short"):
        serve.token_digest("short")


def test_provcat_token_adds_a_digest_and_prints_the_token_once(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """`provcat token NAME --file F`: the token on standard output, its digest alone added
    to the file (made readable by its owner alone); a name given twice, or one a line
    cannot hold, adds nothing; the server answers the printed token and warns of a file
    others may read only when it holds tokens themselves."""
    listed = tmp_path / "tokens"
    made = []
    for holder in ("photo-desk", "factcheck-bot"):
        done = CliRunner().invoke(cli, ["token", holder, "--file", str(listed)])
        assert done.exit_code == 0, done.output
        made.append(done.stdout.strip())
        assert f"added {holder}'s token to {listed}" in done.stderr
    assert stat.S_IMODE(listed.stat().st_mode) == 0o600
    text = listed.read_text(encoding="utf-8")
    assert all(token not in text for token in made)
    assert serve.read_tokens(listed) == {
        "photo-desk": serve.token_digest(made[0]),
        "factcheck-bot": serve.token_digest(made[1]),
    }
    for holder, said in (("photo-desk", "photo-desk is named twice"), ("a b", "3 words")):
        done = CliRunner().invoke(cli, ["token", holder, "--file", str(listed)])
        assert done.exit_code == 1
        assert said in done.output
        assert "nothing added" in done.output
        assert listed.read_text(encoding="utf-8") == text
    missing = tmp_path / "none"
    assert CliRunner().invoke(cli, ["token", "a b", "--file", str(missing)]).exit_code == 1
    assert not missing.exists()
    listed.chmod(0o644)
    process = _server_process(
        [*PROVCAT, "--db", montenegro.url, "serve", "--port", "0", "--token-file", str(listed)]
    )
    try:
        said = _started(process)
        assert "other users may read" not in said
        connection = http.client.HTTPConnection(
            "127.0.0.1", _port(said, "http://127.0.0.1"), timeout=60
        )
        for token, status in ((made[1], 200), (serve.token_digest(made[1]), 401)):
            connection.request("GET", "/status", headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            response.read()
            assert response.status == status
        connection.close()
    finally:
        err = _stop(process)
    assert process.returncode == 0, err


def test_each_holder_is_answered_and_logged_and_a_token_revoked_while_it_runs(
    montenegro: Catalogue, caplog: pytest.LogCaptureFixture
) -> None:
    """Every holder's token is answered and the log names the holder of each request; new
    tokens take effect at the next request (a revoked one is refused at once), and tokens
    that cannot serve are refused whole, the earlier ones kept."""
    with (
        caplog.at_level("INFO", logger="provcat.serve"),
        serving(montenegro, tokens={"alice": ALICE, "bob": BOB}) as server,
    ):
        for token in (ALICE, BOB):
            headers = {"Authorization": f"Bearer {token}"}
            assert request(server, "GET", "/status", headers=headers)[0] == 200
        wrong = {"Authorization": "Bearer x" * 3}
        assert request(server, "GET", "/status", headers=wrong)[0] == 401
        logged = [r.getMessage() for r in caplog.records if "GET /status" in r.getMessage()]
        assert [line.split(" ")[1] for line in logged] == ["alice", "bob", "-"]
        server.set_tokens({"bob": BOB})
        alice, bob = ({"Authorization": f"Bearer {token}"} for token in (ALICE, BOB))
        assert request(server, "GET", "/status", headers=alice)[0] == 401
        for refused in ({}, {"bob": BOB, "carol": BOB}, {"bob": "short"}, {"bo\nb": BOB}):
            with pytest.raises(ValueError, match=r"token|holder"):
                server.set_tokens(refused)
        assert request(server, "GET", "/status", headers=bob)[0] == 200
        assert server.holder(f"Bearer {ALICE}") is None
        assert server.holder(f"bearer  {BOB} ") == "bob"
    with pytest.raises(ValueError, match="not both"):
        LookUpServer(("127.0.0.1", 0), montenegro, token=TOKEN, tokens={"bob": BOB})


def test_health_is_answered_without_a_token_and_without_details(
    montenegro: Catalogue, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """GET /health: up or down, to anyone who may reach the server (a load balancer's check
    carries no token), with nothing more: why it is down goes to the log only. The host
    check still holds; other methods still ask for the token."""
    down = OperationalError("SELECT 1", {}, Exception("connection refused at db.internal:5432"))

    def no_database(self: Catalogue) -> Any:
        raise down

    with serving(montenegro, token=TOKEN) as server:
        assert request(server, "GET", "/health") == (200, {"status": "ok"})
        assert request(server, "GET", "/health?verbose=1") == (200, {"status": "ok"})
        assert request(server, "GET", "/status")[0] == 401
        assert request(server, "GET", "/health", headers={"Host": "evil.example"})[0] == 403
        assert request(server, "POST", "/health", b"")[0] == 401
        given = {"Authorization": f"Bearer {TOKEN}"}
        assert request(server, "POST", "/health", b"", given)[0] == 405
        with monkeypatch.context() as patched, caplog.at_level("ERROR", logger="provcat.serve"):
            patched.setattr(Catalogue, "session", no_database)
            assert request(server, "GET", "/health") == (503, {"status": "unavailable"})
        assert any("db.internal" in r.getMessage() for r in caplog.records)
        assert request(server, "GET", "/health") == (200, {"status": "ok"})


def test_provcat_serve_reads_its_token_file_again_on_sighup(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """A service manager's reload: the token file's holders now, a removed one refused at
    once; a file that cannot serve keeps the tokens as they were, and says why."""
    token_file = tmp_path / "tokens"
    token_file.write_text(f"alice {ALICE}\nbob {BOB}\n", encoding="utf-8")
    token_file.chmod(0o600)
    process = _server_process(
        [*PROVCAT, "--db", montenegro.url, "serve", "--port", "0", "--token-file", str(token_file)],
    )  # fmt: skip
    assert process.stderr is not None

    def status(token: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/status", headers={"Authorization": f"Bearer {token}"})
        code = connection.getresponse().status
        connection.close()
        return code

    try:
        said = _started(process)
        assert "the tokens of 2 holders asked for" in said
        port = _port(said, "http://127.0.0.1")
        assert (status(ALICE), status(BOB)) == (200, 200)
        token_file.write_text(f"bob {BOB}\n", encoding="utf-8")
        assert "read again: a token answered" in _reloaded(process)
        assert (status(ALICE), status(BOB)) == (401, 200)
        token_file.write_text(f"bob {BOB}\ncarol short\n", encoding="utf-8")
        line = _reloaded(process)
        assert "kept as they were" in line
        assert "line 2" in line
        assert status(BOB) == 200
        token_file.unlink()
        assert "cannot read the token file" in _reloaded(process)
        assert status(BOB) == 200
    finally:
        err = _stop(process)
    assert process.returncode == 0, err


def _https_status(
    port: int,
    server_cert: Path,
    client: tuple[Path, Path] | None,
    token: str | None = None,
    *,
    path: str = "/status",
) -> int:
    """The status of GET ``path`` over HTTPS, presenting ``client``'s certificate if given."""
    import ssl

    context = ssl.create_default_context(cafile=str(server_cert))
    if client is not None:
        context.load_cert_chain(*client)
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=60, context=context)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_a_server_asking_for_client_certificates_answers_only_those_its_authority_signed(
    montenegro: Catalogue, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Mutual TLS: a client with a certificate another authority signed gets no answer (its
    handshake fails); one without a certificate is refused (403) all but ``/health``, an
    upload's body unread; one the server's authority signed is answered and named in the
    log by its common name; with tokens too, both are asked for and the log names the
    token's holder."""
    import ssl

    cert_file, key_file = _certificate(tmp_path)
    authority = _certificate(tmp_path, "newsroom-ca", authority=True)
    desk = _certificate(tmp_path, "photo-desk", issuer=authority)
    stranger = _certificate(tmp_path, "stranger")  # self-signed: no authority of the server's
    tls = serve.tls_context(cert_file, key_file, client_ca=authority[0])
    refused = (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)
    with caplog.at_level("INFO", logger="provcat.serve"), serving(montenegro, tls=tls) as server:
        port = server.server_address[1]
        with pytest.raises(refused):
            _https_status(port, cert_file, stranger)
        assert _https_status(port, cert_file, None) == 403
        assert _https_status(port, cert_file, None, path="/similar") == 403
        assert _https_status(port, cert_file, None, path="/health") == 200
        assert _https_status(port, cert_file, desk) == 200
        connection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=60, context=ssl.create_default_context(cafile=cert_file)
        )
        connection.request("POST", "/similar", body=b"x" * 1000)
        response = connection.getresponse()
        assert response.status == 403
        assert response.getheader("Connection") == "close"  # the body left unread
        assert "client certificate" in json.loads(response.read())["error"]
        connection.close()
    logged = [r.getMessage() for r in caplog.records if "GET /status" in r.getMessage()]
    assert [line.split(" ")[1] for line in logged] == ["-", "photo-desk"]
    caplog.clear()
    with (
        caplog.at_level("INFO", logger="provcat.serve"),
        serving(montenegro, tls=tls, tokens={"alice": ALICE}) as server,
    ):
        port = server.server_address[1]
        assert _https_status(port, cert_file, desk) == 401
        assert _https_status(port, cert_file, desk, ALICE) == 200
        assert _https_status(port, cert_file, None, ALICE) == 403
    logged = [r.getMessage() for r in caplog.records if "GET /status" in r.getMessage()]
    assert [line.split(" ")[1] for line in logged] == ["-", "alice", "-"]


def test_provcat_serve_with_client_certificates_needs_no_token(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """--client-ca stands for a token beyond this machine; it goes with --certfile, and an
    authority file that cannot be read is said so."""
    cert_file, key_file = _certificate(tmp_path)
    authority = _certificate(tmp_path, "newsroom-ca", authority=True)
    desk = _certificate(tmp_path, "photo-desk", issuer=authority)
    command = [*PROVCAT, "--db", montenegro.url, "serve", "--port", "0", "--host", "0.0.0.0"]
    for extra, said in (
        (["--client-ca", str(authority[0])], "--client-ca goes with --certfile"),
        (
            ["--certfile", str(cert_file), "--keyfile", str(key_file), "--client-ca",
             str(tmp_path / "none.pem")],
            "cannot use the certificate",
        ),
        (
            ["--certfile", str(cert_file), "--keyfile", str(key_file), "--client-ca",
             str(authority[0]), "--no-auth"],
            "--no-auth and --client-ca say opposite things",
        ),
    ):  # fmt: skip
        _refused_to_start([*command, *extra], said)
    process = _server_process(
        [*command, "--certfile", str(cert_file), "--keyfile", str(key_file),
         "--client-ca", str(authority[0])],
    )  # fmt: skip
    try:
        said = _started(process)
        assert "a client certificate asked for" in said
        assert _https_status(_port(said, "https://0.0.0.0"), cert_file, desk) == 200
    finally:
        err = _stop(process)
    assert process.returncode == 0, err


def test_a_renewed_certificate_serves_new_connections(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """set_tls: connections made after it use the new certificate (a client trusting only
    the old one refuses it); a plain HTTP server is not turned into a TLS one."""
    import ssl

    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old = _certificate(tmp_path / "old")
    new = _certificate(tmp_path / "new")
    with serving(montenegro, tls=serve.tls_context(*old)) as server:
        port = server.server_address[1]
        assert _https_status(port, old[0], None) == 200
        server.set_tls(serve.tls_context(*new))
        with pytest.raises(ssl.SSLCertVerificationError):
            _https_status(port, old[0], None)
        assert _https_status(port, new[0], None) == 200
    with serving(montenegro) as plain, pytest.raises(ValueError, match="plain HTTP"):
        plain.set_tls(serve.tls_context(*new))


def test_provcat_serve_reads_its_certificates_again_on_sighup(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """A certificate renewed in place and a reload: new connections get it; a renewal
    that cannot be read (a key that is not the certificate's) keeps the one in use."""
    import ssl

    (tmp_path / "new").mkdir()
    cert_file, key_file = _certificate(tmp_path)
    first = cert_file.read_bytes()
    process = _server_process(
        [*PROVCAT, "--db", montenegro.url, "serve", "--port", "0", "--certfile", str(cert_file),
         "--keyfile", str(key_file)],
    )  # fmt: skip
    assert process.stderr is not None

    try:
        said = _started(process)
        port = _port(said, "https://127.0.0.1")
        assert _https_status(port, cert_file, None) == 200
        renewed = _certificate(tmp_path / "new")
        cert_file.write_bytes(renewed[0].read_bytes())
        key_file.write_bytes(renewed[1].read_bytes())
        (tmp_path / "first.pem").write_bytes(first)
        assert "the certificates read again" in _reloaded(process)
        with pytest.raises(ssl.SSLCertVerificationError):
            _https_status(port, tmp_path / "first.pem", None)
        assert _https_status(port, cert_file, None) == 200
        key_file.write_bytes(_certificate(tmp_path, "other")[1].read_bytes())
        line = _reloaded(process)
        assert "the certificates are kept as they were" in line
        assert str(cert_file) in line
        assert _https_status(port, renewed[0], None) == 200
    finally:
        err = _stop(process)
    assert process.returncode == 0, err


def _revocation_list(
    folder: Path, authority: tuple[Path, Path], revoked: list[Path], *, days: int = 1
) -> Path:
    """``folder/crl.pem``: ``authority``'s PEM revocation list of the certificates in
    ``revoked``, next updated in ``days`` days (past, when negative)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    issuer = x509.load_pem_x509_certificate(authority[0].read_bytes())
    key = serialization.load_pem_private_key(authority[1].read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now - dt.timedelta(days=3))
        .next_update(now + dt.timedelta(days=days))
    )
    for path in revoked:
        serial = x509.load_pem_x509_certificate(path.read_bytes()).serial_number
        entry = x509.RevokedCertificateBuilder().serial_number(serial)
        builder = builder.add_revoked_certificate(entry.revocation_date(now).build())
    listed = folder / "crl.pem"
    listed.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return listed


def test_a_client_certificate_its_authority_revoked_is_refused(
    montenegro: Catalogue, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the authority's revocation list, a revoked client is refused and the others
    answered; a list past its next update refuses every client, which the log says as a
    warning naming what to renew (the clients are not at fault)."""
    import ssl

    cert_file, key_file = _certificate(tmp_path)
    authority = _certificate(tmp_path, "newsroom-ca", authority=True)
    desk = _certificate(tmp_path, "photo-desk", issuer=authority)
    bot = _certificate(tmp_path, "factcheck-bot", issuer=authority)
    listed = _revocation_list(tmp_path, authority, [desk[0]])
    refused = (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)

    def context() -> ssl.SSLContext:
        return serve.tls_context(cert_file, key_file, client_ca=authority[0], client_crl=listed)

    with (
        caplog.at_level("INFO", logger="provcat.serve"),
        serving(montenegro, tls=context()) as server,
    ):
        port = server.server_address[1]
        with pytest.raises(refused):
            _https_status(port, cert_file, desk)
        assert _https_status(port, cert_file, bot) == 200
        _revocation_list(tmp_path, authority, [desk[0]], days=-1)
        server.set_tls(context())
        with pytest.raises(refused):
            _https_status(port, cert_file, bot)
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert any(level == "INFO" and "revoked" in line for level, line in said)
    stale = [line for level, line in said if level == "WARNING"]
    assert len(stale) == 1
    assert "CRL has expired" in stale[0]
    assert "renew the --client-crl file" in stale[0]
    assert [line.split(" ")[1] for _level, line in said if "GET /status" in line] == [
        "factcheck-bot"
    ]


def test_a_revocation_list_file_holds_revocation_lists_only(tmp_path: Path) -> None:
    """A certificate in the list's file would be trusted as a clients' authority: refused,
    as a file of none (a DER list, say) and a list without the clients' authorities."""
    cert_file, key_file = _certificate(tmp_path)
    authority = _certificate(tmp_path, "newsroom-ca", authority=True)
    listed = _revocation_list(tmp_path, authority, [])
    mixed = tmp_path / "mixed.pem"
    mixed.write_bytes(listed.read_bytes() + authority[0].read_bytes())
    der = tmp_path / "crl.der"
    der.write_bytes(b"0\x82\x01\x0a" + bytes(266))
    for path, said in ((mixed, "holds CERTIFICATE, not only"), (der, "no PEM revocation list")):
        with pytest.raises(ValueError, match=said) as refusal:
            serve.tls_context(cert_file, key_file, client_ca=authority[0], client_crl=path)
        assert str(path) in str(refusal.value)
    with pytest.raises(ValueError, match="goes with the clients' authorities"):
        serve.tls_context(cert_file, key_file, client_crl=listed)
    serve.tls_context(cert_file, key_file, client_ca=authority[0], client_crl=listed)


def test_provcat_serve_reads_its_revocation_list_again_on_sighup(
    montenegro: Catalogue, tmp_path: Path
) -> None:
    """--client-crl: a certificate revoked in the list and a reload refuse its holder from
    then on, the others answered; the list goes with --client-ca, and a file holding a
    certificate is refused naming it."""
    import ssl

    cert_file, key_file = _certificate(tmp_path)
    authority = _certificate(tmp_path, "newsroom-ca", authority=True)
    desk = _certificate(tmp_path, "photo-desk", issuer=authority)
    bot = _certificate(tmp_path, "factcheck-bot", issuer=authority)
    listed = _revocation_list(tmp_path, authority, [])
    command = [*PROVCAT, "--db", montenegro.url, "serve", "--port", "0", "--certfile",
               str(cert_file), "--keyfile", str(key_file)]  # fmt: skip
    for extra, said in (
        (["--client-crl", str(listed)], "--client-crl goes with --client-ca"),
        (
            ["--client-ca", str(authority[0]), "--client-crl", str(authority[0])],
            f"cannot use the revocation list {authority[0]}: holds CERTIFICATE",
        ),
        (
            ["--client-ca", str(authority[0]), "--client-crl", str(tmp_path / "none.pem")],
            f"cannot use the certificate {tmp_path / 'none.pem'}: No such file",
        ),
    ):
        _refused_to_start([*command, *extra], said)
    process = _server_process(
        [*command, "--client-ca", str(authority[0]), "--client-crl", str(listed)]
    )
    try:
        said = _started(process)
        assert "checked against its authority's revocation list" in said
        port = _port(said, "https://127.0.0.1")
        assert _https_status(port, cert_file, desk) == 200
        _revocation_list(tmp_path, authority, [desk[0]])
        assert "the certificates read again" in _reloaded(process)
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
            _https_status(port, cert_file, desk)
        assert _https_status(port, cert_file, bot) == 200
    finally:
        err = _stop(process)
    assert process.returncode == 0, err
