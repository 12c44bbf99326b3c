"""Certificate expiry of https endpoints, against a real TLS server whose certificate (issued by
a CA of the test's own) expires in three days."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import OPSCONSOLE


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Octb Test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _make_certs(directory: Path, lifetime: datetime.timedelta) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 and localhost it signs, valid for `lifetime`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Octb Test CA")).issuer_name(_name("Octb Test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + lifetime)
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, cert_file, key_file


@pytest.fixture
def expiring_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server whose certificate expires in 3 days and a few hours; yields URL and CA."""
    ca_file, cert_file, key_file = _make_certs(tmp_path, datetime.timedelta(days=3, hours=6))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/health", ca_file
    server.shutdown()
    server.server_close()


def _check_json(config: Path, env: dict[str, str]) -> tuple[int, dict]:
    done = subprocess.run([*OPSCONSOLE, "--headless", "check", "--format", "json",
                           "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)["checks"][0]


def test_certificate_expiring_in_three_days_is_critical_by_default(
        expiring_server: tuple[str, Path], write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    url, ca = expiring_server
    code, check = _check_json(write_config(f"[[http]]\nname = 'api'\nurl = '{url}'\n"
                                           f"verify = '{ca}'\n"), cli_env)
    assert code == 2, check
    assert check["status"] == "CRITICAL"
    assert check["summary"].startswith("200 in ")
    assert check["summary"].endswith(", certificate expires in 3 days")
    days = next(p for p in check["perfdata"] if p["label"] == "api_cert_days")
    assert (days["value"], days["warn"], days["crit"]) == (3, 21, 7)
    assert "certificate for 127.0.0.1, localhost" in check["details"]
    assert "issued by Octb Test CA (Octb Test)" in check["details"]


def test_thresholds_are_configurable_and_unverified_certs_are_read_too(
        expiring_server: tuple[str, Path], write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    url, ca = expiring_server
    warn_only = write_config(f"[[http]]\nname = 'api'\nurl = '{url}'\nverify = '{ca}'\n"
                             "cert_warn = 10\ncert_crit = 2\n", "warn.toml")
    code, check = _check_json(warn_only, cli_env)
    assert (code, check["status"]) == (1, "WARNING"), check
    assert "certificate expires in 3 days" in check["summary"]

    # verify = false: the certificate is not checked, but its expiry still is
    unverified = write_config(f"[[http]]\nname = 'api'\nurl = '{url}'\nverify = false\n"
                              "cert_warn = 3\ncert_crit = 1\n", "loose.toml")
    code, check = _check_json(unverified, cli_env)
    assert (code, check["status"]) == (0, "OK"), check
    assert check["summary"].endswith("certificate expires in 3 days")
    assert "certificate for 127.0.0.1, localhost; issued by Octb Test CA (Octb Test)" \
        in check["details"]


def test_cert_crit_above_cert_warn_is_a_config_error(write_config: Callable[..., Path],
                                                     cli_env: dict[str, str]) -> None:
    config = write_config("[[http]]\nname = 'api'\nurl = 'https://127.0.0.1:1/'\n"
                          "cert_warn = 5\ncert_crit = 10\n")
    done = subprocess.run([*OPSCONSOLE, "--headless", "check", "--config", str(config)],
                          capture_output=True, text=True, env=cli_env, timeout=60, check=False)
    assert done.returncode == 3 or done.returncode == 2, done
    assert "cert_crit" in (done.stdout + done.stderr)
    assert "must not be more than cert_warn" in (done.stdout + done.stderr)
