"""An engine API behind a self-signed certificate, as interface engines usually are: a
real TLS server on loopback (a certificate made for 127.0.0.1) in front of the demo
estate's Mirth-shaped API. Trusting it through ``ca_file`` collects; without it the pass
fails at once (no retries) saying to set ``ca_file``."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, func, select

from collectors.runner import run_source
from core.config import EngineLogin, Settings, SourceConfig
from core.model import RunStatus
from store.schema import api_calls, channel_stats


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mirth.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem, key_pem = folder / "engine.pem", folder / "engine.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert_pem, key_pem


@pytest.fixture
def tls_engine(estate_factory: Any, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(https base URL of the Mirth API, the certificate's PEM)``: TLS terminated here,
    each request forwarded to the estate's plain HTTP server."""
    upstream = estate_factory(facilities=2).base_url

    class Forward(http.server.BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "content-length")}
            answer = httpx.request(self.command, upstream + self.path, headers=headers,
                                   content=body, timeout=10)
            self.send_response(answer.status_code)
            for key, value in answer.headers.multi_items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection",
                                       "content-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = _forward

        def log_message(self, *args: Any) -> None:
            pass

    cert, key = _self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/mirth/api", cert
    finally:
        server.shutdown()
        server.server_close()


def _source(base_url: str, **kw: Any) -> SourceConfig:
    return SourceConfig(name="mirth", kind="mirth", base_url=base_url, max_retries=2,
                        login=EngineLogin(username="admin", password="admin"),
                        facility_by_group={"FAC01": "FAC01", "FAC02": "FAC02"}, **kw)


def _run(engine: Engine, source: SourceConfig) -> Any:
    settings = Settings(database_url=str(engine.url), sources=[source])
    return run_source(settings, engine, source, sleep=lambda _s: None)


def test_a_self_signed_engine_is_read_once_its_certificate_is_trusted(
        engine: Engine, tls_engine: tuple[str, Path]) -> None:
    url, cert = tls_engine
    result = _run(engine, _source(url, ca_file=str(cert)))
    assert result.status is RunStatus.OK, result.error
    with engine.connect() as conn:
        facilities = set(conn.execute(select(channel_stats.c.facility_id)).scalars())
    assert facilities == {"FAC01", "FAC02"}


def test_an_untrusted_certificate_fails_at_once_saying_to_set_ca_file(
        engine: Engine, tls_engine: tuple[str, Path]) -> None:
    url, _ = tls_engine
    result = _run(engine, _source(url))
    assert result.status is RunStatus.ERROR
    assert "not trusted" in result.error and "ca_file" in result.error
    with engine.connect() as conn:  # one attempt: a retry would meet the same certificate
        calls = conn.execute(select(func.count()).select_from(api_calls).where(
            api_calls.c.error_class == "UntrustedCertificate")).scalar_one()
    assert calls == 1
