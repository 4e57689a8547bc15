"""SSLContexts from Kafka's ssl.* settings (Python's ssl module; trio.SSLStream uses them).

Keystores (the node's own certificate and key) and truststores (the CAs it
trusts) come in two types:

- PEM: `ssl.keystore.location` names a file holding the private key and the
  certificate chain, or the values are inline: `ssl.keystore.key` and
  `ssl.keystore.certificate.chain` (keystore), `ssl.truststore.certificates`
  (truststore). An encrypted key (PKCS#8) is opened with `ssl.key.password`.
  Kafka refuses `ssl.keystore.password` with PEM, and so do we. Inline values
  may lose their line breaks on the way through a properties file; the PEM
  blocks are rewrapped before use.
- PKCS12: read with the optional `cryptography` package (the standard library
  has no PKCS#12 parser; `pip install 'kraft[pkcs12]'`), with
  `ssl.keystore.password` / `ssl.truststore.password`. Without the package
  the node refuses to start with a one-line message.

JKS (Kafka's default type) is Java's own format: refused with a message
naming PEM and PKCS12.

`ssl.enabled.protocols` (TLSv1.2, TLSv1.3) bounds the versions;
`ssl.cipher.suites` takes Kafka's (IANA) names of TLS 1.2 suites and maps
them to OpenSSL's. Python cannot restrict TLS 1.3 suites, so a list naming
only some of them is refused, and a list naming none of them disables
TLS 1.3 (as it would in Java). `ssl.client.auth` = required / requested /
none sets the server's verify mode; `ssl.endpoint.identification.algorithm`
= https (Kafka's default) verifies the server's host name on the client side,
empty turns that off (the certificate chain is always verified).

Secrets never reach a log line; inline PEM values are written for
load_cert_chain (which only reads files) into a private temporary
directory that is removed at once.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kraft.config_keys import ConfigError

__all__ = ["SslSettings", "client_context", "server_context"]

_PROTOCOLS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_TLS13_SUITES = frozenset({"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                           "TLS_CHACHA20_POLY1305_SHA256"})
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class SslSettings:
    """One listener's ssl.* values (after listener.name.<l>. overrides); `where`
    prefixes error messages (the listener). Secrets are left out of repr()."""

    where: str
    keystore_type: str = "JKS"
    keystore_location: str | None = None
    keystore_password: str | None = field(default=None, repr=False)  # secret
    keystore_key: str | None = field(default=None, repr=False)  # secret
    keystore_certificate_chain: str | None = None
    key_password: str | None = field(default=None, repr=False)  # secret
    truststore_type: str = "JKS"
    truststore_location: str | None = None
    truststore_password: str | None = field(default=None, repr=False)  # secret
    truststore_certificates: str | None = None
    enabled_protocols: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
    cipher_suites: tuple[str, ...] = ()
    client_auth: str = "none"
    endpoint_identification_algorithm: str | None = "https"

    @property
    def has_keystore(self) -> bool:
        return bool(self.keystore_location or self.keystore_key
                    or self.keystore_certificate_chain)

    @property
    def has_truststore(self) -> bool:
        return bool(self.truststore_location or self.truststore_certificates)


def server_context(s: SslSettings) -> ssl.SSLContext:
    """The context a listener serves TLS with; ConfigError if the settings are unusable."""
    if not s.has_keystore:
        raise ConfigError(f"{s.where}: an SSL listener needs a keystore (ssl.keystore.location, "
                          "or ssl.keystore.key and ssl.keystore.certificate.chain)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _common(ctx, s)
    ctx.verify_mode = {"required": ssl.CERT_REQUIRED, "requested": ssl.CERT_OPTIONAL,
                       "none": ssl.CERT_NONE}[s.client_auth]
    if s.client_auth != "none":
        _load_truststore(ctx, s, ssl.Purpose.CLIENT_AUTH)
    return ctx


def client_context(s: SslSettings) -> ssl.SSLContext:
    """The context the node's own clients (raft, replication, forwarding) connect with."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _common(ctx, s, keystore_required=False)
    ctx.check_hostname = bool(s.endpoint_identification_algorithm)
    ctx.verify_mode = ssl.CERT_REQUIRED
    _load_truststore(ctx, s, ssl.Purpose.SERVER_AUTH)
    return ctx


def _common(ctx: ssl.SSLContext, s: SslSettings, keystore_required: bool = True) -> None:
    unknown = [p for p in s.enabled_protocols if p not in _PROTOCOLS]
    if unknown or not s.enabled_protocols:
        raise ConfigError(f"{s.where}: ssl.enabled.protocols must list TLSv1.2 and/or TLSv1.3 "
                          f"(kraft does not serve {', '.join(unknown) or 'an empty list'})")
    versions = sorted(_PROTOCOLS[p] for p in s.enabled_protocols)
    ctx.minimum_version, ctx.maximum_version = versions[0], versions[-1]
    if s.cipher_suites:
        _ciphers(ctx, s)
    ctx.options |= ssl.OP_NO_COMPRESSION
    if s.has_keystore:
        _load_keystore(ctx, s)


def _ciphers(ctx: ssl.SSLContext, s: SslSettings) -> None:
    tls13 = [c for c in s.cipher_suites if c in _TLS13_SUITES]
    tls12 = [c for c in s.cipher_suites if c not in _TLS13_SUITES]
    if tls13 and set(tls13) != _TLS13_SUITES:
        raise ConfigError(f"{s.where}: ssl.cipher.suites names some TLS 1.3 suites but not all; "
                          "Python's ssl cannot restrict TLS 1.3 suites (list all three or none)")
    if not tls13:
        if ssl.TLSVersion.TLSv1_2 > ctx.minimum_version or "TLSv1.2" not in s.enabled_protocols:
            raise ConfigError(f"{s.where}: ssl.cipher.suites names no TLS 1.3 suite and TLSv1.2 "
                              "is not enabled: no handshake could succeed")
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if not tls12:
        return
    names = [_openssl_name(c, s.where) for c in tls12]
    try:
        ctx.set_ciphers(":".join(names))
    except ssl.SSLError:
        raise ConfigError(f"{s.where}: none of ssl.cipher.suites is available in "
                          f"{ssl.OPENSSL_VERSION}") from None
    have = {c["name"] for c in ctx.get_ciphers()}
    missing = [c for c, n in zip(tls12, names, strict=True) if n not in have]
    if missing:
        raise ConfigError(f"{s.where}: ssl.cipher.suites: {', '.join(missing)} not available in "
                          f"{ssl.OPENSSL_VERSION}")


def _openssl_name(iana: str, where: str) -> str:
    """OpenSSL's name of a TLS 1.2 suite given by its IANA name (Java's names are IANA's)."""
    m = re.fullmatch(r"TLS_(ECDHE_ECDSA|ECDHE_RSA|DHE_RSA|RSA)_WITH_(\w+)", iana)
    if m is None:
        raise ConfigError(f"{where}: ssl.cipher.suites: unknown suite {iana!r}")
    kx = {"ECDHE_ECDSA": "ECDHE-ECDSA-", "ECDHE_RSA": "ECDHE-RSA-", "DHE_RSA": "DHE-RSA-",
          "RSA": ""}[m.group(1)]
    cipher = m.group(2)
    cipher = re.sub(r"^AES_(128|256)_", r"AES\1_", cipher)
    cipher = cipher.replace("_CBC_SHA", "_SHA").replace("CHACHA20_POLY1305_SHA256",
                                                          "CHACHA20_POLY1305")
    return kx + cipher.replace("_", "-")


def pem_blocks(text: str, kinds: Callable[[str], bool]) -> list[str]:
    """The PEM blocks of `text` whose label `kinds` accepts, rewrapped at 64 columns."""
    out = []
    for label, body in _PEM_BLOCK.findall(text):
        if kinds(label):
            b64 = re.sub(r"\s+", "", body)
            lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
            out.append(f"-----BEGIN {label}-----\n" + "\n".join(lines)
                       + f"\n-----END {label}-----\n")
    return out


def _is_key(label: str) -> bool:
    return label.endswith("PRIVATE KEY")


def _is_cert(label: str) -> bool:
    return label in ("CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE")


def _read(path: str, where: str, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{where}: {key}={path}: {e.strerror or e}") from None


def _load_keystore(ctx: ssl.SSLContext, s: SslSettings) -> None:
    kind = s.keystore_type.upper()
    inline = bool(s.keystore_key or s.keystore_certificate_chain)
    if inline and kind != "PEM":
        raise ConfigError(f"{s.where}: ssl.keystore.key and ssl.keystore.certificate.chain "
                          "need ssl.keystore.type=PEM")
    if kind == "PEM":
        if s.keystore_password:
            raise ConfigError(f"{s.where}: SSL key store password cannot be specified with PEM "
                              "format, only key password may be specified (ssl.key.password)")
        if inline:
            if not (s.keystore_key and s.keystore_certificate_chain):
                raise ConfigError(f"{s.where}: set both ssl.keystore.key and "
                                  "ssl.keystore.certificate.chain")
            if s.keystore_location:
                raise ConfigError(f"{s.where}: set ssl.keystore.location or the inline "
                                  "ssl.keystore.key, not both")
            key_pem, chain_pem = s.keystore_key, s.keystore_certificate_chain
        else:
            assert s.keystore_location is not None
            text = _read(s.keystore_location, s.where, "ssl.keystore.location").decode(
                "ascii", "replace")
            key_pem = chain_pem = text
        keys = pem_blocks(key_pem, _is_key)
        certs = pem_blocks(chain_pem, _is_cert)
        if len(keys) != 1 or not certs:
            raise ConfigError(f"{s.where}: the PEM keystore must hold one private key and its "
                              f"certificate chain (found {len(keys)} keys, {len(certs)} "
                              "certificates)")
        _load_chain(ctx, s, "".join(certs), keys[0], s.key_password)
    elif kind == "PKCS12":
        if not s.keystore_location:
            raise ConfigError(f"{s.where}: a PKCS12 keystore needs ssl.keystore.location")
        chain, key = _pkcs12_keystore(s)
        _load_chain(ctx, s, chain, key, None)
    else:
        raise ConfigError(f"{s.where}: ssl.keystore.type={s.keystore_type} is not supported; "
                          "kraft reads PEM and PKCS12 keystores (set ssl.keystore.type)")


def _load_chain(ctx: ssl.SSLContext, s: SslSettings, chain: str, key: str,
                password: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="kraft-tls-") as tmp:
        path = os.path.join(tmp, "keystore.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + chain)
        try:
            ctx.load_cert_chain(path, password=password or None)
        except ssl.SSLError as e:
            raise ConfigError(f"{s.where}: cannot load the keystore's key and certificates "
                              f"({e.reason or e}); check ssl.key.password") from None


def _load_truststore(ctx: ssl.SSLContext, s: SslSettings, purpose: ssl.Purpose) -> None:
    """The configured truststore, else the system's CAs (as Java falls back to cacerts)."""
    if not s.has_truststore:
        ctx.load_default_certs(purpose)
        return
    kind = s.truststore_type.upper()
    if s.truststore_certificates and kind != "PEM":
        raise ConfigError(f"{s.where}: ssl.truststore.certificates needs "
                          "ssl.truststore.type=PEM")
    if kind == "PEM":
        if s.truststore_password:
            raise ConfigError(f"{s.where}: SSL trust store password cannot be specified with "
                              "PEM format")
        if s.truststore_certificates:
            text = s.truststore_certificates
        else:
            assert s.truststore_location is not None
            text = _read(s.truststore_location, s.where, "ssl.truststore.location").decode(
                "ascii", "replace")
        certs = pem_blocks(text, _is_cert)
    elif kind == "PKCS12":
        certs = _pkcs12_truststore(s)
    else:
        raise ConfigError(f"{s.where}: ssl.truststore.type={s.truststore_type} is not "
                          "supported; kraft reads PEM and PKCS12 truststores")
    if not certs:
        raise ConfigError(f"{s.where}: the truststore holds no certificates")
    try:
        ctx.load_verify_locations(cadata="".join(certs))
    except ssl.SSLError as e:
        raise ConfigError(f"{s.where}: cannot load the truststore ({e.reason or e})") from None


def _pkcs12() -> object:
    try:
        from cryptography.hazmat.primitives.serialization import pkcs12
    except ImportError:
        raise ConfigError("PKCS12 keystores need the optional 'cryptography' package "
                          "(pip install 'kraft[pkcs12]'), or use ssl.keystore.type=PEM"
                          ) from None
    return pkcs12


def _pkcs12_keystore(s: SslSettings) -> tuple[str, str]:
    pkcs12 = _pkcs12()  # first: says what to install when the package is missing
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    assert s.keystore_location is not None
    data = _read(s.keystore_location, s.where, "ssl.keystore.location")
    password = (s.keystore_password or "").encode() or None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)  # type: ignore[attr-defined]
    except ValueError as e:
        raise ConfigError(f"{s.where}: cannot open the PKCS12 keystore ({e}); check "
                          "ssl.keystore.password") from None
    if key is None or cert is None:
        raise ConfigError(f"{s.where}: the PKCS12 keystore holds no private key entry")
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    chain = "".join(c.public_bytes(Encoding.PEM).decode() for c in [cert, *extra])
    return chain, key_pem


def _pkcs12_truststore(s: SslSettings) -> list[str]:
    pkcs12 = _pkcs12()  # first: says what to install when the package is missing
    from cryptography.hazmat.primitives.serialization import Encoding

    if not s.truststore_location:
        raise ConfigError(f"{s.where}: a PKCS12 truststore needs ssl.truststore.location")
    data = _read(s.truststore_location, s.where, "ssl.truststore.location")
    password = (s.truststore_password or "").encode() or None
    try:
        _key, cert, extra = pkcs12.load_key_and_certificates(data, password)  # type: ignore[attr-defined]
    except ValueError as e:
        raise ConfigError(f"{s.where}: cannot open the PKCS12 truststore ({e}); check "
                          "ssl.truststore.password") from None
    return [c.public_bytes(Encoding.PEM).decode() for c in [*([cert] if cert else []), *extra]]
