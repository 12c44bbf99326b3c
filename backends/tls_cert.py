"""The peer certificate of a TLS connection: when it expires, who issued it, which names it covers.

A verified connection hands over the certificate already decoded; an unverified one
(`verify = false`) only as DER bytes, which are decoded with `cryptography`, imported then and
only then so a headless check of verified endpoints does not pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.core.loglines import printable


@dataclass(frozen=True)
class CertInfo:
    not_after: float  # epoch seconds
    issuer: str
    names: tuple[str, ...]

    def days_left(self, now: float) -> int:
        """Whole days until expiry, rounded down (negative once it has expired)."""
        return int((self.not_after - now) // 86400)

    def describe(self) -> str:
        names = ", ".join(self.names) or "-"
        return f"certificate for {names}; issued by {self.issuer}"


def peer_certificate(ssl_object: Any) -> CertInfo | None:
    """Read the certificate the server presented on `ssl_object` (an ssl.SSLObject/SSLSocket)."""
    if ssl_object is None:
        return None
    decoded = ssl_object.getpeercert()
    if decoded:
        return _from_decoded(decoded)
    der = ssl_object.getpeercert(binary_form=True)
    return _from_der(der) if der else None


def _from_decoded(cert: dict[str, Any]) -> CertInfo:
    fields = {key: value for rdn in cert.get("issuer", ()) for key, value in rdn}
    issuer = _issuer(fields.get("commonName"), fields.get("organizationName"))
    names = tuple(value for _kind, value in cert.get("subjectAltName", ()))
    if not names:
        names = tuple(value for rdn in cert.get("subject", ()) for key, value in rdn
                      if key == "commonName")
    import ssl  # not for reading a config or rebuilding a snapshot: only once one is read

    return CertInfo(float(ssl.cert_time_to_seconds(cert["notAfter"])), printable(issuer),
                    tuple(printable(str(n)) for n in names))


def _from_der(der: bytes) -> CertInfo:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [str(entry.value) for entry in san
                  if isinstance(entry, x509.DNSName | x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    if not names:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]

    def first(oid: x509.ObjectIdentifier) -> str | None:
        found = cert.issuer.get_attributes_for_oid(oid)
        return str(found[0].value) if found else None

    issuer = _issuer(first(NameOID.COMMON_NAME), first(NameOID.ORGANIZATION_NAME))
    return CertInfo(cert.not_valid_after_utc.timestamp(), issuer,
                    tuple(printable(n) for n in names))


def _issuer(common_name: str | None, organization: str | None) -> str:
    """`R11 (Let's Encrypt)`: the issuer's common name, and its organisation when it differs."""
    parts = [p for p in (common_name, organization) if p]
    if len(parts) == 2 and parts[0] != parts[1]:
        return printable(f"{parts[0]} ({parts[1]})")
    return printable(parts[0]) if parts else "unknown"
