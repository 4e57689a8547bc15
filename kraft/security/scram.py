"""SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), as Kafka serves them.

Credentials (`ScramCredential`) are what the metadata log stores
(UserScramCredentialRecord): salt, StoredKey = H(ClientKey), ServerKey and
the iteration count, never the password. `make_credential` derives them:
SaltedPassword = PBKDF2-HMAC(password, salt, iterations), ClientKey =
HMAC(SaltedPassword, "Client Key"), ServerKey = HMAC(SaltedPassword,
"Server Key").

The exchange (three messages each way, after the handshake):

    client-first  n,[a=authzid],n=user,r=cnonce
    server-first  r=cnonce+snonce,s=base64(salt),i=iterations
    client-final  c=base64(gs2 header),r=cnonce+snonce,p=base64(ClientProof)
    server-final  v=base64(ServerSignature)

The server checks that the final message repeats its nonce exactly (a
replayed or altered nonce fails), that the channel binding is the gs2 header
of the first message (kraft, like Kafka, does no channel binding: `n`), and
that H(ClientProof XOR HMAC(StoredKey, AuthMessage)) == StoredKey, in
constant time. An unknown user, a wrong proof, an authorization id other
than the user and the delegation-token extension (`tokenauth`, not served)
fail with Kafka's message; a malformed message is a ValueError.
Kafka's iteration bounds: at least 4096, at most 16384.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from kraft.net.security import AuthenticationFailed

__all__ = [
    "MAX_ITERATIONS",
    "MECHANISMS",
    "MIN_ITERATIONS",
    "ScramClient",
    "ScramCredential",
    "ScramServer",
    "make_credential",
]

# Kafka's ScramMechanism: name -> (hash, type id in UserScramCredentialRecord / the APIs).
MECHANISMS: dict[str, tuple[str, int]] = {"SCRAM-SHA-256": ("sha256", 1),
                                          "SCRAM-SHA-512": ("sha512", 2)}
MECHANISM_BY_TYPE = {type_: name for name, (_, type_) in MECHANISMS.items()}
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
DEFAULT_ITERATIONS = 4096


@dataclass(frozen=True, slots=True)
class ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


def _hmac(hash_name: str, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hash_name).digest()


def make_credential(mechanism: str, password: str, iterations: int = DEFAULT_ITERATIONS,
                    salt: bytes | None = None) -> ScramCredential:
    """The stored credential for `password` (a fresh random salt unless given)."""
    hash_name = MECHANISMS[mechanism][0]
    salt = salt if salt is not None else secrets.token_bytes(32)
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)
    client_key = _hmac(hash_name, salted, b"Client Key")
    stored_key = hashlib.new(hash_name, client_key).digest()
    server_key = _hmac(hash_name, salted, b"Server Key")
    return ScramCredential(salt, stored_key, server_key, iterations)


def _attributes(message: str, what: str) -> list[tuple[str, str]]:
    out = []
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ValueError(f"invalid {what}: {part[:20]!r}")
        out.append((part[0], part[2:]))
    return out


def _saslname(name: str) -> str:
    """RFC 5802 saslname decoding: =2C is ',' and =3D is '='; any other '=' is invalid."""
    if "=" in name.replace("=2C", "").replace("=3D", ""):
        raise ValueError("invalid username encoding")
    return name.replace("=2C", ",").replace("=3D", "=")


def _encode_name(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _failed(mechanism: str) -> AuthenticationFailed:
    return AuthenticationFailed("Authentication failed during authentication due to invalid "
                                f"credentials with SASL mechanism {mechanism}")


class ScramServer:
    """The server side of one SCRAM exchange (kraft.net.security.SaslServerMechanism).

    `credential(name)` looks the user's credential for this mechanism up (None:
    unknown user)."""

    def __init__(self, mechanism: str,
                 credential: Callable[[str], ScramCredential | None], *,
                 server_nonce: Callable[[], str] = lambda: secrets.token_urlsafe(24)) -> None:
        self.mechanism = mechanism
        self._server_nonce = server_nonce
        self.hash_name = MECHANISMS[mechanism][0]
        self._lookup = credential
        self._step = 0
        self.complete = False
        self.authorization_id = ""
        self._username = ""
        self._gs2_header = ""
        self._nonce = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._credential: ScramCredential | None = None

    def evaluate(self, response: bytes) -> bytes:
        message = response.decode("utf-8")
        if self._step == 0:
            self._step = 1
            return self._first(message)
        if self._step == 1:
            self._step = 2
            return self._final(message)
        raise ValueError("SCRAM exchange already complete")

    def _first(self, message: str) -> bytes:
        parts = message.split(",", 2)
        if len(parts) != 3 or parts[0] not in ("n", "y"):
            raise ValueError("invalid client-first message (channel binding is not supported)")
        authzid = parts[1]
        if authzid and not authzid.startswith("a="):
            raise ValueError("invalid authorization id in the client-first message")
        self._gs2_header = f"{parts[0]},{authzid},"
        self._client_first_bare = parts[2]
        fields = parts[2].split(",")
        attrs = _attributes(",".join(fields[:2]), "client-first message")
        if len(attrs) != 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise ValueError("client-first message must start with n=user,r=nonce")
        # Extensions (Kafka's ScramExtensions) follow as key=value; tokenauth asks for a
        # delegation token, which kraft does not serve.
        extensions = dict(field.partition("=")[::2] for field in fields[2:])
        self._username = _saslname(attrs[0][1])
        if authzid and _saslname(authzid[2:]) != self._username:
            raise AuthenticationFailed("Authentication failed: Client requested an "
                                       "authorization id that is different from username")
        if extensions.get("tokenauth", "").lower() == "true":
            raise AuthenticationFailed("Authentication failed: delegation tokens are not "
                                       "supported")
        self._credential = self._lookup(self._username)
        if self._credential is None:
            raise _failed(self.mechanism)
        if self._credential.iterations < MIN_ITERATIONS:
            raise _failed(self.mechanism)
        self._nonce = attrs[1][1] + self._server_nonce()
        salt = base64.b64encode(self._credential.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={self._credential.iterations}"
        return self._server_first.encode()

    def _final(self, message: str) -> bytes:
        assert self._credential is not None
        without_proof, sep, proof_part = message.rpartition(",p=")
        if not sep:
            raise ValueError("client-final message has no proof")
        attrs = _attributes(without_proof, "client-final message")
        if len(attrs) < 2 or attrs[0][0] != "c" or attrs[1][0] != "r":
            raise ValueError("client-final message must start with c=...,r=...")
        if attrs[0][1] != base64.b64encode(self._gs2_header.encode()).decode():
            raise _failed(self.mechanism)  # the channel binding does not match the first
        if not hmac.compare_digest(attrs[1][1].encode(), self._nonce.encode()):
            raise AuthenticationFailed("Authentication failed: Invalid client nonce in the "
                                       "final client message.")
        proof = base64.b64decode(proof_part, validate=True)
        auth_message = ",".join([self._client_first_bare, self._server_first,
                                 without_proof]).encode()
        signature = _hmac(self.hash_name, self._credential.stored_key, auth_message)
        if len(proof) != len(signature):
            raise _failed(self.mechanism)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        computed = hashlib.new(self.hash_name, client_key).digest()
        if not hmac.compare_digest(computed, self._credential.stored_key):
            raise _failed(self.mechanism)
        self.authorization_id = self._username
        self.complete = True
        server_signature = _hmac(self.hash_name, self._credential.server_key, auth_message)
        return b"v=" + base64.b64encode(server_signature)


class ScramClient:
    """The client side (kraft.net.security.SaslClientMechanism); verifies the server's
    signature, so a server that does not know the credential is not trusted."""

    def __init__(self, mechanism: str, username: str, password: str, *,
                 nonce: str | None = None) -> None:
        self.mechanism = mechanism
        self.hash_name = MECHANISMS[mechanism][0]
        self.username = username
        self.password = password
        self._nonce = nonce or secrets.token_urlsafe(24)
        self._first_bare = f"n={_encode_name(username)},r={self._nonce}"
        self._server_signature: bytes | None = None

    def initial_response(self) -> bytes:
        return ("n,," + self._first_bare).encode()

    def evaluate(self, challenge: bytes) -> bytes | None:
        message = challenge.decode("utf-8")
        if self._server_signature is None:
            return self._final(message)
        attrs = dict(_attributes(message, "server-final message"))
        if "e" in attrs:
            raise AuthenticationFailed(f"server error: {attrs['e']}")
        if not hmac.compare_digest(base64.b64decode(attrs.get("v", "")),
                                   self._server_signature):
            raise AuthenticationFailed("invalid server signature in the server-final message")
        return None

    def _final(self, server_first: str) -> bytes:
        attrs = dict(_attributes(server_first, "server-first message"))
        nonce, salt, iterations = attrs.get("r", ""), attrs.get("s", ""), attrs.get("i", "")
        if not nonce.startswith(self._nonce) or nonce == self._nonce:
            raise AuthenticationFailed("invalid server nonce in the server-first message")
        if not iterations.isdigit() or int(iterations) < MIN_ITERATIONS:
            raise AuthenticationFailed(f"server asked for {iterations!r} iterations")
        salted = hashlib.pbkdf2_hmac(self.hash_name, self.password.encode(),
                                     base64.b64decode(salt), int(iterations))
        client_key = _hmac(self.hash_name, salted, b"Client Key")
        stored_key = hashlib.new(self.hash_name, client_key).digest()
        without_proof = f"c={base64.b64encode(b'n,,').decode()},r={nonce}"
        auth_message = ",".join([self._first_bare, server_first, without_proof]).encode()
        signature = _hmac(self.hash_name, stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = _hmac(self.hash_name, salted, b"Server Key")
        self._server_signature = _hmac(self.hash_name, server_key, auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
