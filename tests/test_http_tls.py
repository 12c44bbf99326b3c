"""HTTPS endpoints: verification on by default, `verify = false`, and a CA file of one's own."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import OPSCONSOLE


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTPS server with a self-signed certificate for 127.0.0.1; yields URL and cert."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, timeout=60,
                   capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/health", cert
    server.shutdown()
    server.server_close()


def check(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", "check", "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def test_tls_is_verified_unless_told_otherwise(https_server: tuple[str, Path],
                                               write_config: Callable[[str], Path],
                                               cli_env: dict[str, str]) -> None:
    url, cert = https_server
    strict = check(write_config(f"[[http]]\nname = 'api'\nurl = '{url}'\n"), cli_env)
    assert strict.returncode == 2
    assert "CRITICAL http:api - TLS: " in strict.stdout
    assert "certificate verify failed" in strict.stdout
    loose = check(write_config(f"[[http]]\nname = 'api'\nurl = '{url}'\nverify = false\n"
                               "latency_warn = '30s'\n",
                               "loose.toml"), cli_env)
    assert loose.returncode == 0, loose.stdout
    own_ca = check(write_config(f"[[http]]\nname = 'api'\nurl = '{url}'\nverify = '{cert}'\n"
                                "latency_warn = '30s'\n",
                                "ca.toml"), cli_env)
    assert own_ca.returncode == 0, own_ca.stdout
    assert "OK http:api - 200 in" in own_ca.stdout
