"""Shared fixtures and helpers for the Revoca interop suite.

The suite drives the real binary (``$REVOCA_BIN``) through its CLI contract:

    revoca demo --dir D --listen 127.0.0.1:PORT --certs N

and talks to it with OpenSSL, GnuTLS ocsptool, curl, http.client and
pyca/cryptography.  Missing tools or a missing binary make tests FAIL, never
skip.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

# Number of certificates in the shared (read-only) demo and in the private
# demos used by tests that mutate state or restart the server.
SHARED_CERTS = int(os.environ.get("REVOCA_TEST_CERTS", "1000"))
PRIVATE_CERTS = int(os.environ.get("REVOCA_TEST_PRIVATE_CERTS", "100"))
READY_TIMEOUT = float(os.environ.get("REVOCA_TEST_READY_TIMEOUT", "120"))
STOP_TIMEOUT = 20.0
HTTP_TIMEOUT = 15.0
TOOL_TIMEOUT = 60.0

OCSP_REQ_CT = "application/ocsp-request"
OCSP_RESP_CT = "application/ocsp-response"

# Bare OCSPResponse bodies (RFC 6960 OCSPResponseStatus without responseBytes).
MALFORMED_REQUEST = bytes.fromhex("3003 0a01 01".replace(" ", ""))
TRY_LATER = bytes.fromhex("3003 0a01 03".replace(" ", ""))
UNAUTHORIZED = bytes.fromhex("3003 0a01 06".replace(" ", ""))

OID_REASON_CODE = x509.ObjectIdentifier("2.5.29.21")
OID_OCSP_NOCHECK = x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.5")
OID_OCSP_NONCE = x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.2")

# manifest reason name (OpenSSL style) -> pyca ReasonFlags
REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "removeFromCRL": x509.ReasonFlags.remove_from_crl,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}


# --------------------------------------------------------------------------
# tools and binary
# --------------------------------------------------------------------------


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"required tool {name!r} is not on PATH; run scripts/test.sh "
            f"(it installs openssl, gnutls-bin and curl)",
            pytrace=False,
        )
    return path


def revoca_bin() -> str:
    b = os.environ.get("REVOCA_BIN")
    if not b:
        pytest.fail(
            "REVOCA_BIN is not set; build with `cargo build --release -p revoca` "
            "and export REVOCA_BIN=$PWD/target/release/revoca",
            pytrace=False,
        )
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        pytest.fail(f"REVOCA_BIN={b!r} is not an executable file", pytrace=False)
    return b


def run(cmd, *, timeout=TOOL_TIMEOUT, env=None, input=None) -> subprocess.CompletedProcess:
    """Run a command, capturing text output, with a hard timeout."""
    try:
        return subprocess.run(
            [str(c) for c in cmd],
            capture_output=True,
            timeout=timeout,
            env=env,
            input=input,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"command timed out after {timeout}s: {' '.join(map(str, cmd))}\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")


def out_text(cp: subprocess.CompletedProcess) -> str:
    return (cp.stdout or b"").decode("utf-8", "replace") + (cp.stderr or b"").decode(
        "utf-8", "replace"
    )


def describe(cp: subprocess.CompletedProcess) -> str:
    return (
        f"cmd: {' '.join(map(str, cp.args))}\nexit: {cp.returncode}\n"
        f"stdout:\n{(cp.stdout or b'').decode('utf-8', 'replace')}\n"
        f"stderr:\n{(cp.stderr or b'').decode('utf-8', 'replace')}"
    )


def revoca_cli(*args, timeout=TOOL_TIMEOUT, env=None) -> subprocess.CompletedProcess:
    return run([revoca_bin(), *args], timeout=timeout, env=env)


# --------------------------------------------------------------------------
# network helpers
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HttpResult:
    status: int
    headers: dict  # lower-case name -> value (last one wins)
    body: bytes
    raw_headers: list = field(default_factory=list)

    def header(self, name: str, default=None):
        return self.headers.get(name.lower(), default)


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict | None = None, timeout: float = HTTP_TIMEOUT) -> HttpResult:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        # skip_host/skip_accept_encoding are not needed; path is sent verbatim.
        conn.putrequest(method, path, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if body is not None and "Content-Length" not in hdrs:
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # server may answer early (e.g. 413) and close
        resp = conn.getresponse()
        data = resp.read()
        raw = resp.getheaders()
        return HttpResult(resp.status, {k.lower(): v for k, v in raw}, data, raw)
    finally:
        conn.close()


def post_oversize(port: int, body: bytes, timeout: float = HTTP_TIMEOUT) -> int:
    """POST a large body over a raw socket and return the HTTP status code.

    Headers go first; a server that rejects on Content-Length alone may answer before
    the body is sent (it is then not sent at all).  This avoids losing an early 413 to a
    connection reset caused by unread body bytes.
    """
    import select
    head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: {OCSP_REQ_CT}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        r, _, _ = select.select([s], [], [], 0.5)
        if not r:
            try:
                s.sendall(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
        deadline = time.monotonic() + timeout
        while b"\r\n" not in data and time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1."), f"no HTTP response to a {len(body)}-byte POST: {data!r}"
    return int(data.split(b" ", 2)[1])


def ocsp_post(port: int, der: bytes, path: str = "/", **kw) -> HttpResult:
    return http_request(port, "POST", path, der, {"Content-Type": OCSP_REQ_CT}, **kw)


def ocsp_get(port: int, der: bytes, **kw) -> HttpResult:
    return http_request(port, "GET", "/" + base64.b64encode(der).decode(), None, {}, **kw)


# --------------------------------------------------------------------------
# manifest / PKI helpers
# --------------------------------------------------------------------------


def load_cert(path) -> x509.Certificate:
    data = Path(path).read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


class Manifest:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.data = json.loads(self.path.read_text())
        self.issuers = self.data["issuers"]
        self.samples = self.data["samples"]
        self.roots = self.data["roots"]
        self.validity_hours = float(self.data["validity_hours"])
        self.max_age_cap = int(self.data["max_age_cap_secs"])

    def issuer_for(self, sample) -> dict:
        for iss in self.issuers:
            if os.path.realpath(iss["cert"]) == os.path.realpath(sample["issuer"]):
                return iss
        raise AssertionError(f"sample {sample['cert']} names issuer {sample['issuer']} "
                             f"that is not in manifest issuers")

    def issuer_by_alg(self, key_alg: str) -> dict:
        for iss in self.issuers:
            if iss["key_alg"] == key_alg:
                return iss
        raise AssertionError(f"manifest has no issuer with key_alg {key_alg!r}: "
                             f"{[i['key_alg'] for i in self.issuers]}")

    def find(self, *, key_alg: str | None = None, status: str | None = None,
             reason: str | None = None, all_: bool = False):
        found = []
        for s in self.samples:
            if status is not None and s["status"] != status:
                continue
            if reason is not None and s.get("reason") != reason:
                continue
            if key_alg is not None and self.issuer_for(s)["key_alg"] != key_alg:
                continue
            found.append(s)
        if all_:
            return found
        if not found:
            pytest.fail(f"manifest {self.path} has no sample with key_alg={key_alg} "
                        f"status={status} reason={reason}", pytrace=False)
        return found[0]

    @property
    def root(self) -> str:
        return self.roots[0]


def sample_serial(sample) -> int:
    return int(sample["serial"], 16)


def build_request(cert: x509.Certificate, issuer: x509.Certificate,
                  algorithm=None, nonce: bytes | None = None) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def sample_request(manifest: Manifest, sample, algorithm=None, nonce=None) -> bytes:
    return build_request(load_cert(sample["cert"]), load_cert(sample["issuer"]), algorithm, nonce)


def key_bitstring_hash(cert: x509.Certificate, algorithm=hashlib.sha1) -> bytes:
    """Hash of the subjectPublicKey BIT STRING contents (RFC 6960 key hash)."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    # Parse SPKI: SEQUENCE { AlgorithmIdentifier, BIT STRING }
    _, body = der_read(spki, 0, expect=0x30)
    _, alg_end = der_span(body, 0)
    tag, bitstr = der_read(body, alg_end, expect=0x03)
    assert bitstr[0] == 0, "unused bits in subjectPublicKey"
    return algorithm(bitstr[1:]).digest()


# ---- tiny DER encoder/decoder (for multi-CertID requests) -----------------


def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + der_len(len(content)) + content


def der_span(buf: bytes, off: int):
    """Return (content_offset, end_offset) of the TLV at off."""
    ln = buf[off + 1]
    p = off + 2
    if ln & 0x80:
        k = ln & 0x7F
        ln = int.from_bytes(buf[p:p + k], "big")
        p += k
    return p, p + ln


def der_read(buf: bytes, off: int, expect: int | None = None):
    tag = buf[off]
    if expect is not None:
        assert tag == expect, f"expected DER tag {expect:#x}, got {tag:#x}"
    s, e = der_span(buf, off)
    return tag, buf[s:e]


def der_int(v: int) -> bytes:
    b = v.to_bytes(v.bit_length() // 8 + 1, "big")
    return der_tlv(0x02, b)


HASH_OIDS = {
    "sha1": "1.3.14.3.2.26",
    "sha256": "2.16.840.1.101.3.4.2.1",
}


def der_oid(dotted: str) -> bytes:
    parts = [int(x) for x in dotted.split(".")]
    out = bytearray([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(enc))
    return der_tlv(0x06, bytes(out))


def der_certid(issuer: x509.Certificate, serial: int, alg: str = "sha1") -> bytes:
    h = getattr(hashlib, alg)
    name_hash = h(issuer.subject.public_bytes()).digest()
    key_hash = key_bitstring_hash(issuer, h)
    algid = der_tlv(0x30, der_oid(HASH_OIDS[alg]) + b"\x05\x00")
    return der_tlv(0x30, algid + der_tlv(0x04, name_hash) + der_tlv(0x04, key_hash)
                   + der_int(serial))


def build_multi_request(certids: list[bytes]) -> bytes:
    """OCSPRequest with several Request entries (no extensions, unsigned)."""
    request_list = der_tlv(0x30, b"".join(der_tlv(0x30, cid) for cid in certids))
    tbs = der_tlv(0x30, request_list)
    return der_tlv(0x30, tbs)


# --------------------------------------------------------------------------
# server management
# --------------------------------------------------------------------------


class DemoServer:
    """One `revoca demo` process with its own process group."""

    def __init__(self, directory: Path, certs: int, port: int | None = None,
                 env: dict | None = None, args: tuple = ()):
        self.dir = Path(directory)
        self.certs = certs
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.extra_args = [str(a) for a in args]
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._ready_line = threading.Event()
        self._reader: threading.Thread | None = None
        self.log_path = self.dir.parent / f"{self.dir.name}-server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = READY_TIMEOUT, strict: bool = True) -> "DemoServer":
        """Start and wait until serving.

        strict: require the `ready:` line and /readyz 200.  Non-strict (stale-clock
        runs, where readiness may legitimately be withheld): the ready line or /readyz 200,
        or else /healthz 200 for 5 s.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.extra_env)
        cmd = [revoca_bin(), "demo", "--dir", str(self.dir), "--listen",
               f"127.0.0.1:{self.port}", "--certs", str(self.certs), *self.extra_args]
        self.lines = []
        self._ready_line.clear()
        self._log = open(self.log_path, "a", buffering=1)
        self._log.write(f"### start {' '.join(cmd)} env+={self.extra_env}\n")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        if strict:
            self.wait_ready(timeout)
        else:
            self.wait_alive(timeout)
        return self

    def _read_stdout(self):
        assert self.proc and self.proc.stdout
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            try:
                self._log.write("[stdout] " + line + "\n")
            except ValueError:
                pass
            if line.startswith("ready: "):
                self._ready_line.set()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"revoca demo exited with {self.proc.returncode} before becoming ready\n"
                    f"{self.log_tail()}")
            if self._ready_line.is_set():
                try:
                    r = http_request(self.port, "GET", "/readyz", timeout=2)
                    if r.status == 200:
                        break
                except OSError:
                    pass
            time.sleep(0.1)
        else:
            self.kill()
            raise AssertionError(
                f"revoca demo not ready within {timeout}s (ready line seen: "
                f"{self._ready_line.is_set()})\n{self.log_tail()}")
        ready = [l for l in self.lines if l.startswith("ready: ")]
        assert ready[-1].strip() == f"ready: {self.url}", \
            f"unexpected ready line {ready[-1]!r}, wanted 'ready: {self.url}'"

    def wait_alive(self, timeout: float):
        deadline = time.monotonic() + timeout
        healthy_since = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"revoca demo exited with {self.proc.returncode} before serving\n"
                    f"{self.log_tail()}")
            try:
                if self._ready_line.is_set() or \
                        http_request(self.port, "GET", "/readyz", timeout=2).status == 200:
                    return
                if http_request(self.port, "GET", "/healthz", timeout=2).status == 200:
                    healthy_since = healthy_since or time.monotonic()
                    if time.monotonic() - healthy_since >= 5:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"revoca demo not serving within {timeout}s\n{self.log_tail()}")

    @property
    def manifest(self) -> Manifest:
        return Manifest(self.dir / "manifest.json")

    def _signal_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait; return the exit code (SIGKILL + None on timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self._cleanup()
        return self.proc.returncode

    def kill(self):
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._cleanup()

    def _cleanup(self):
        # Make sure nothing from this group survives (helpers, children).
        self._signal_group(signal.SIGKILL)
        if self._reader is not None:
            self._reader.join(5)
        try:
            self._log.close()
        except Exception:
            pass


@pytest.fixture(scope="session")
def tools():
    return {t: require_tool(t) for t in ("openssl", "ocsptool", "curl")}


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared, read-only demo server (N=SHARED_CERTS)."""
    d = tmp_path_factory.mktemp("shared") / "demo"
    srv = DemoServer(d, SHARED_CERTS)
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="session")
def manifest(server) -> Manifest:
    return server.manifest


@pytest.fixture
def private_server(tmp_path):
    """Factory for private demo servers (state-mutating tests). All are killed at teardown."""
    started: list[DemoServer] = []

    def make(name: str = "demo", certs: int = PRIVATE_CERTS, port: int | None = None,
             env: dict | None = None, start: bool = True, strict: bool = True,
             args: tuple = ()) -> DemoServer:
        srv = DemoServer(tmp_path / name, certs, port=port, env=env, args=args)
        started.append(srv)
        if start:
            srv.start(strict=strict)
        return srv

    try:
        yield make
    finally:
        for s in started:
            s.kill()


# --------------------------------------------------------------------------
# response checks
# --------------------------------------------------------------------------


def parse_success(res: HttpResult, what: str = "") -> ocsp.OCSPResponse:
    assert res.status == 200, f"{what}: HTTP {res.status}, body {res.body[:64].hex()}"
    ct = res.header("content-type", "")
    assert ct.split(";")[0].strip().lower() == OCSP_RESP_CT, f"{what}: Content-Type {ct!r}"
    resp = ocsp.load_der_ocsp_response(res.body)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, \
        f"{what}: response_status {resp.response_status}"
    return resp


def expected_status(sample):
    return {
        "good": (ocsp.OCSPCertStatus.GOOD, None),
        "revoked": (ocsp.OCSPCertStatus.REVOKED, REASONS.get(sample.get("reason"))),
        "hold": (ocsp.OCSPCertStatus.REVOKED, x509.ReasonFlags.certificate_hold),
    }[sample["status"]]


def parse_rfc3339(s: str):
    import datetime as dt
    s = s.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    return dt.datetime.fromisoformat(s)


def assert_single_status(single, sample, what=""):
    """Check one single response (OCSPResponse or OCSPSingleResponse) against a sample."""
    exp_status, exp_reason = expected_status(sample)
    assert single.certificate_status == exp_status, \
        f"{what}: serial {sample['serial']} status {single.certificate_status}, " \
        f"manifest says {sample['status']}"
    if exp_status == ocsp.OCSPCertStatus.REVOKED:
        assert single.revocation_reason == exp_reason, \
            f"{what}: reason {single.revocation_reason}, manifest {sample.get('reason')}"
        if sample.get("revocation_time"):
            want = parse_rfc3339(sample["revocation_time"])
            got = single.revocation_time_utc
            assert abs((got - want).total_seconds()) <= 1.0, \
                f"{what}: revocation_time {got}, manifest {want}"
