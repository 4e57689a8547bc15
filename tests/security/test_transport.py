"""TLS and SASL on the wire: kraft.net's server and client with kraft.security's settings."""

from __future__ import annotations

import contextlib
import struct
from datetime import timedelta
from typing import Any

import pytest
import trio
from kio.schema.describe_cluster.v1.request import DescribeClusterRequest
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v12.request import MetadataRequest
from kio.schema.sasl_authenticate.v2.request import SaslAuthenticateRequest
from kio.schema.sasl_handshake.v1.request import SaslHandshakeRequest

from kraft.config import KafkaConfig
from kraft.net import api_versions, sasl
from kraft.net.api_keys import ApiKey
from kraft.net.client import ConnectionFailed, KafkaClient
from kraft.net.codec import decode_response, encode_request, response_type
from kraft.net.framing import FrameDecoder
from kraft.net.messages import build, response_class
from kraft.net.registry import ApiRegistry, ApiSpec
from kraft.net.server import KafkaServer
from kraft.security.listener import client_security, server_security
from kraft.security.scram import MECHANISMS, ScramCredential, make_credential
from tests.security.certs import Pki

CREDENTIALS = {("SCRAM-SHA-512", "alice"): make_credential("SCRAM-SHA-512", "alice-secret")}
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              'username="admin" password="admin-secret" user_admin="admin-secret" '
              'user_alice="alice-secret";')


def scram_lookup(mechanism: str, user: str) -> ScramCredential | None:
    return CREDENTIALS.get((mechanism, user))


def _registry() -> ApiRegistry:
    """ApiVersions, the SASL APIs and DescribeCluster answering with the principal as
    its cluster id, so a test sees who the server thinks the client is."""
    registry = ApiRegistry()
    api_versions.register(registry)
    sasl.register(registry)

    async def whoami(ctx: Any, header: Any, request: Any) -> Any:
        return build(response_class(header), throttle_time=timedelta(0),
                     error_code=ErrorCode.none, cluster_id=ctx.principal, brokers=())

    registry.add(ApiSpec(ApiKey.DESCRIBE_CLUSTER, 0, 1), whoami)
    return registry


def _config(pki: Pki, listener: str, protocol: str, **extra: str) -> KafkaConfig:
    props = {
        "listeners": f"{listener}://127.0.0.1:0",
        "listener.security.protocol.map": f"{listener}:{protocol}",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.keystore("server")),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca),
        **extra,
    }
    return KafkaConfig(props, source="test")


def _client_config(pki: Pki, listener: str, protocol: str, keystore: str | None,
                   **extra: str) -> KafkaConfig:
    props = {"listener.security.protocol.map": f"{listener}:{protocol}",
             "ssl.truststore.type": "PEM", "ssl.truststore.location": str(pki.ca), **extra}
    if keystore is not None:
        props |= {"ssl.keystore.type": "PEM", "ssl.keystore.location": str(pki.keystore(keystore))}
    return KafkaConfig(props, source="client")


async def _serve(nursery: trio.Nursery, config: KafkaConfig, listener: str) -> tuple[str, int]:
    server = KafkaServer(_registry(), listener_name=listener,
                         security=server_security(config, listener, scram_lookup))
    bound = await nursery.start(server.serve, "127.0.0.1", 0)
    return "127.0.0.1", bound[0][1]


async def _whoami(address: tuple[str, int], config: KafkaConfig, listener: str,
                  mechanism_key: str = "sasl.mechanism.inter.broker.protocol") -> str:
    security = client_security(config, listener, mechanism_key)
    failed: ConnectionFailed | None = None
    async with KafkaClient("test", security=security, connect_timeout=10) as client:
        try:  # raised outside the client's nursery, so not inside an exception group
            response = await client.request(address, DescribeClusterRequest(
                include_cluster_authorized_operations=False), 10)
        except ConnectionFailed as e:
            failed = e
    if failed is not None:
        raise failed
    return str(response.cluster_id)


async def test_ssl_principal_is_the_client_certificate_subject(nursery: trio.Nursery,
                                                               pki: Pki) -> None:
    """Over SSL with ssl.client.auth=required, the principal is User: plus the
    certificate subject as an RFC 2253 name."""
    address = await _serve(nursery, _config(pki, "SSL", "SSL", **{"ssl.client.auth": "required"}),
                           "SSL")
    assert await _whoami(address, _client_config(pki, "SSL", "SSL", "alice"), "SSL") == \
        "User:CN=alice,OU=eng,O=kraft"


async def test_ssl_principal_mapping_rules(nursery: trio.Nursery, pki: Pki) -> None:
    """ssl.principal.mapping.rules turns the subject into a short name (first match)."""
    config = _config(pki, "SSL", "SSL", **{
        "ssl.client.auth": "required",
        "listener.name.ssl.ssl.principal.mapping.rules":
            "RULE:^CN=([^,]*),OU=eng.*$/$1/U,DEFAULT"})
    address = await _serve(nursery, config, "SSL")
    assert await _whoami(address, _client_config(pki, "SSL", "SSL", "alice"), "SSL") == \
        "User:ALICE"
    assert await _whoami(address, _client_config(pki, "SSL", "SSL", "bob"), "SSL") == \
        "User:CN=bob"


async def test_ssl_without_client_auth_is_anonymous(nursery: trio.Nursery, pki: Pki) -> None:
    """With ssl.client.auth=none a client needs no certificate and is User:ANONYMOUS."""
    address = await _serve(nursery, _config(pki, "SSL", "SSL"), "SSL")
    assert await _whoami(address, _client_config(pki, "SSL", "SSL", None), "SSL") == \
        "User:ANONYMOUS"


async def test_required_client_certificate_missing_is_refused(nursery: trio.Nursery,
                                                              pki: Pki) -> None:
    """Without a certificate where one is required the connection fails; the
    listener goes on serving clients that have one."""
    address = await _serve(nursery, _config(pki, "SSL", "SSL", **{"ssl.client.auth": "required"}),
                           "SSL")
    with pytest.raises(ConnectionFailed):
        await _whoami(address, _client_config(pki, "SSL", "SSL", None), "SSL")
    assert await _whoami(address, _client_config(pki, "SSL", "SSL", "bob"), "SSL") == \
        "User:CN=bob"


async def test_client_refuses_a_server_it_does_not_trust(nursery: trio.Nursery, pki: Pki,
                                                         other_pki: Pki) -> None:
    """The node's client verifies the server's certificate against its truststore."""
    address = await _serve(nursery, _config(other_pki, "SSL", "SSL"), "SSL")
    with pytest.raises(ConnectionFailed, match="TLS handshake"):
        await _whoami(address, _client_config(pki, "SSL", "SSL", None), "SSL")


async def test_tls12_only_and_encrypted_inline_key(nursery: trio.Nursery, pki: Pki) -> None:
    """An inline PEM keystore with an encrypted key (ssl.key.password) serves TLS 1.2
    when ssl.enabled.protocols says so."""
    config = KafkaConfig({
        "listener.security.protocol.map": "SSL:SSL",
        "ssl.keystore.type": "PEM",
        # Line breaks lost, as a one-line properties value would lose them.
        "ssl.keystore.key": pki.key("server-enc").read_text().replace("\n", " "),
        "ssl.keystore.certificate.chain": pki.cert("server").read_text(),
        "ssl.key.password": "keypass",
        "ssl.enabled.protocols": "TLSv1.2",
    }, source="test")
    address = await _serve(nursery, config, "SSL")
    assert await _whoami(address, _client_config(pki, "SSL", "SSL", None), "SSL") == \
        "User:ANONYMOUS"


def _sasl_config(pki: Pki, protocol: str, mechanisms: str, **extra: str) -> KafkaConfig:
    return _config(pki, "SECURE", protocol, **{
        "sasl.enabled.mechanisms": mechanisms,
        "listener.name.secure.plain.sasl.jaas.config": PLAIN_JAAS, **extra})


def _sasl_client(pki: Pki, protocol: str, mechanism: str, user: str, password: str
                 ) -> KafkaConfig:
    module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if mechanism == "PLAIN"
              else "org.apache.kafka.common.security.scram.ScramLoginModule")
    return _client_config(pki, "SECURE", protocol, None, **{
        "sasl.enabled.mechanisms": mechanism,
        "sasl.mechanism.inter.broker.protocol": mechanism,
        f"listener.name.secure.{mechanism.lower()}.sasl.jaas.config":
            f'{module} required username="{user}" password="{password}";'})


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
async def test_sasl_authenticates_the_user(nursery: trio.Nursery, pki: Pki, protocol: str,
                                           mechanism: str) -> None:
    """PLAIN (JAAS users) and SCRAM (stored credentials) give User:<name>; a wrong
    password fails and the listener keeps serving."""
    address = await _serve(nursery, _sasl_config(pki, protocol, "PLAIN,SCRAM-SHA-512"),
                           "SECURE")
    assert await _whoami(address, _sasl_client(pki, protocol, mechanism, "alice",
                                               "alice-secret"), "SECURE") == "User:alice"
    with pytest.raises(ConnectionFailed, match="SASL_AUTHENTICATION_FAILED"):
        await _whoami(address, _sasl_client(pki, protocol, mechanism, "alice", "wrong"),
                      "SECURE")
    with pytest.raises(ConnectionFailed, match="SASL_AUTHENTICATION_FAILED"):
        await _whoami(address, _sasl_client(pki, protocol, mechanism, "nobody", "x"),
                      "SECURE")
    assert await _whoami(address, _sasl_client(pki, protocol, mechanism, "alice",
                                               "alice-secret"), "SECURE") == "User:alice"


class Raw:
    """A hand-driven plaintext connection."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.decoder = FrameDecoder()
        self.ids = 0

    async def send(self, request: Any) -> None:
        self.ids += 1
        with contextlib.suppress(trio.BrokenResourceError):  # closed: receive says so
            await self.stream.send_all(encode_request(self.ids, "raw", request))

    async def receive(self, request: Any) -> Any:
        """The response to the last request, or None if the server closed."""
        while (frame := self.decoder.next_frame()) is None:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:  # reset: closed with our request unread
                return None
            if not data:
                return None
            self.decoder.receive_data(data)
        cls = response_type(request.__api_key__, request.__version__)
        return decode_response(frame, cls)[1]

    async def call(self, request: Any) -> Any:
        await self.send(request)
        return await self.receive(request)


async def _raw(address: tuple[str, int]) -> Raw:
    return Raw(await trio.open_tcp_stream(*address))


async def test_only_sasl_apis_before_authentication(nursery: trio.Nursery, pki: Pki) -> None:
    """Metadata before authenticating closes the connection unanswered."""
    address = await _serve(nursery, _sasl_config(pki, "SASL_PLAINTEXT", "PLAIN"), "SECURE")
    raw = await _raw(address)
    request = MetadataRequest(topics=None, allow_auto_topic_creation=False,
                              include_topic_authorized_operations=False)
    assert await raw.call(request) is None


async def test_unknown_mechanism_is_refused_with_the_enabled_list(nursery: trio.Nursery,
                                                                  pki: Pki) -> None:
    """SaslHandshake for a mechanism not enabled: UNSUPPORTED_SASL_MECHANISM listing
    the enabled ones, then the connection is closed."""
    address = await _serve(nursery, _sasl_config(pki, "SASL_PLAINTEXT", "PLAIN"), "SECURE")
    raw = await _raw(address)
    response = await raw.call(SaslHandshakeRequest(mechanism="GSSAPI"))
    assert response.error_code == ErrorCode.unsupported_sasl_mechanism
    assert list(response.mechanisms) == ["PLAIN"]
    assert await raw.call(SaslHandshakeRequest(mechanism="PLAIN")) is None


async def test_authenticate_before_handshake_is_illegal(nursery: trio.Nursery,
                                                        pki: Pki) -> None:
    """SaslAuthenticate before SaslHandshake closes the connection (illegal SASL state)."""
    address = await _serve(nursery, _sasl_config(pki, "SASL_PLAINTEXT", "PLAIN"), "SECURE")
    raw = await _raw(address)
    assert await raw.call(SaslAuthenticateRequest(auth_bytes=b"\0alice\0alice-secret")) is None


async def test_oversized_frame_before_authentication_is_refused(nursery: trio.Nursery,
                                                                pki: Pki) -> None:
    """A frame above sasl.server.max.receive.size before authentication closes the
    connection as soon as its size is read."""
    address = await _serve(nursery, _sasl_config(pki, "SASL_PLAINTEXT", "PLAIN"), "SECURE")
    raw = await _raw(address)
    await raw.stream.send_all(struct.pack(">i", 524289) + b"\0" * 64)
    assert await raw.receive(SaslHandshakeRequest(mechanism="PLAIN")) is None


async def test_scram_replayed_nonce_fails(nursery: trio.Nursery, pki: Pki) -> None:
    """A SCRAM final message that does not repeat the server's nonce fails with
    SASL_AUTHENTICATION_FAILED."""
    address = await _serve(nursery, _sasl_config(pki, "SASL_PLAINTEXT", "SCRAM-SHA-512"),
                           "SECURE")
    raw = await _raw(address)
    handshake = await raw.call(SaslHandshakeRequest(mechanism="SCRAM-SHA-512"))
    assert handshake.error_code == ErrorCode.none
    first = await raw.call(SaslAuthenticateRequest(auth_bytes=b"n,,n=alice,r=abc"))
    assert first.error_code == ErrorCode.none and first.auth_bytes.startswith(b"r=abc")
    final = await raw.call(SaslAuthenticateRequest(auth_bytes=b"c=biws,r=abcREPLAYED,p=AAAA"))
    assert final.error_code == ErrorCode.sasl_authentication_failed
    assert "nonce" in final.error_message
    assert await raw.receive(SaslAuthenticateRequest(auth_bytes=b"")) is None


def test_scram_mechanism_ids() -> None:
    """The mechanism ids are Kafka's ScramMechanism types (1 SHA-256, 2 SHA-512)."""
    assert MECHANISMS["SCRAM-SHA-256"][1] == 1 and MECHANISMS["SCRAM-SHA-512"][1] == 2


def _vm_hwm_kib() -> int:
    """Peak resident set size of this process (Linux VmHWM), KiB."""
    for line in open("/proc/self/status").read().splitlines():  # noqa: SIM115
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


@pytest.mark.slow
async def test_unauthenticated_peers_cannot_grow_memory(nursery: trio.Nursery, pki: Pki) -> None:
    """200 unauthenticated connections at once, each starting a 50 MiB frame (under
    socket.request.max.bytes, over sasl.server.max.receive.size) with 1 MiB of it, and
    1,000 connections sending garbage: each is closed by the server, the peak RSS stays
    within 64 MiB of where it was (without the pre-authentication cap the partial frames
    alone would hold 200 MiB), and the listener then still authenticates a good client."""
    config = _sasl_config(pki, "SASL_PLAINTEXT", "PLAIN")
    address = await _serve(nursery, config, "SECURE")
    partial = struct.pack(">i", 50 * 2**20) + b"\xff" * 2**20
    garbage = struct.pack(">i", 4096) + bytes(range(256)) * 16
    before = _vm_hwm_kib()

    async def send_until_closed(data: bytes) -> None:
        stream = await trio.open_tcp_stream(*address)
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(data)
            while await stream.receive_some(65536):
                pass
        await stream.aclose()

    async with trio.open_nursery() as senders:
        for _ in range(200):
            senders.start_soon(send_until_closed, partial)
    for _ in range(1000):
        await send_until_closed(garbage)
    assert _vm_hwm_kib() - before < 64 * 1024
    client = _sasl_client(pki, "SASL_PLAINTEXT", "PLAIN", "alice", "alice-secret")
    assert await _whoami(address, client, "SECURE") == "User:alice"


async def test_handshake_v0_then_raw_tokens(nursery: trio.Nursery, pki: Pki) -> None:
    """After SaslHandshake v0 the PLAIN token travels as a bare frame, answered by a bare
    (empty) frame; the connection is then authenticated; a wrong password closes it."""
    from kio.schema.sasl_handshake.v0.request import SaslHandshakeRequest as HandshakeV0

    address = await _serve(nursery, _sasl_config(pki, "SASL_PLAINTEXT", "PLAIN"), "SECURE")
    raw = await _raw(address)
    assert (await raw.call(HandshakeV0(mechanism="PLAIN"))).error_code == ErrorCode.none
    await raw.stream.send_all(struct.pack(">i", 19) + b"\0alice\0alice-secret")
    assert await raw.stream.receive_some(4) == struct.pack(">i", 0)
    who = await raw.call(DescribeClusterRequest(include_cluster_authorized_operations=False))
    assert who.cluster_id == "User:alice"
    bad = await _raw(address)
    assert (await bad.call(HandshakeV0(mechanism="PLAIN"))).error_code == ErrorCode.none
    await bad.stream.send_all(struct.pack(">i", 12) + b"\0alice\0wrong")
    assert await bad.receive(HandshakeV0(mechanism="PLAIN")) is None


# --- re-authentication (KIP-368) -------------------------------------------------------


async def _plain_login(raw: Raw, user: str, password: str, mechanism: str = "PLAIN") -> Any:
    """SaslHandshake v1 + SaslAuthenticate v2 with PLAIN credentials; the last answer."""
    handshake = await raw.call(SaslHandshakeRequest(mechanism=mechanism))
    if handshake is None or handshake.error_code != ErrorCode.none:
        return handshake
    return await raw.call(SaslAuthenticateRequest(
        auth_bytes=f"\0{user}\0{password}".encode()))


WHOAMI = DescribeClusterRequest(include_cluster_authorized_operations=False)


async def test_reauthentication_keeps_the_session(nursery: trio.Nursery, pki: Pki) -> None:
    """With connections.max.reauth.ms the answer carries the session lifetime; the
    same user re-authenticates on the same connection and keeps being served; another
    user, or another mechanism, is refused with Kafka's message and the connection
    is closed."""
    config = _sasl_config(pki, "SASL_PLAINTEXT", "PLAIN,SCRAM-SHA-512",
                          **{"listener.name.secure.connections.max.reauth.ms": "3600000"})
    address = await _serve(nursery, config, "SECURE")
    raw = await _raw(address)
    first = await _plain_login(raw, "alice", "alice-secret")
    assert first.error_code == ErrorCode.none
    assert first.session_lifetime == timedelta(hours=1)
    again = await _plain_login(raw, "alice", "alice-secret")
    assert (again.error_code, again.session_lifetime) == (ErrorCode.none, timedelta(hours=1))
    assert (await raw.call(WHOAMI)).cluster_id == "User:alice"
    other = await _plain_login(raw, "admin", "admin-secret")
    assert other.error_code == ErrorCode.sasl_authentication_failed
    assert other.error_message == ("Cannot change principals during re-authentication from "
                                   "User.alice: User.admin")
    assert await raw.call(WHOAMI) is None
    raw = await _raw(address)
    assert (await _plain_login(raw, "alice", "alice-secret")).error_code == ErrorCode.none
    switched = await _plain_login(raw, "alice", "alice-secret", mechanism="SCRAM-SHA-512")
    assert switched.error_code == ErrorCode.sasl_authentication_failed
    assert switched.error_message == ("SASL mechanism 'SCRAM-SHA-512' requested by client is "
                                      "not supported for re-authentication of mechanism 'PLAIN'")


async def test_an_expired_session_is_closed(nursery: trio.Nursery, pki: Pki,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A request after the session's lifetime, without re-authentication, closes the
    connection (the client reconnects); without connections.max.reauth.ms sessions
    never expire and a second SaslHandshake is ILLEGAL_SASL_STATE."""
    config = _sasl_config(pki, "SASL_PLAINTEXT", "PLAIN",
                          **{"listener.name.secure.connections.max.reauth.ms": "50"})
    address = await _serve(nursery, config, "SECURE")
    raw = await _raw(address)
    assert (await _plain_login(raw, "alice", "alice-secret")).error_code == ErrorCode.none
    await trio.sleep(0.2)  # past the 50 ms session (real sockets: no autojump clock)
    with caplog.at_level("INFO", logger="kraft.net"):
        assert await raw.call(WHOAMI) is None
    assert "SASL session expired" in caplog.text
    forever = await _serve(nursery, _sasl_config(pki, "SASL_PLAINTEXT", "PLAIN"), "SECURE")
    raw = await _raw(forever)
    login = await _plain_login(raw, "alice", "alice-secret")
    assert (login.error_code, login.session_lifetime) == (ErrorCode.none, timedelta(0))
    assert (await raw.call(SaslHandshakeRequest(mechanism="PLAIN"))).error_code == \
        ErrorCode.illegal_sasl_state
    assert (await raw.call(WHOAMI)).cluster_id == "User:alice"
