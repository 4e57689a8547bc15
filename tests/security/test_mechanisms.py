"""SASL mechanisms, JAAS parsing, principal mapping and --add-scram, without sockets."""

from __future__ import annotations

import base64

import pytest

from kraft.config_keys import ConfigError
from kraft.metadata import bootstrap
from kraft.net.security import AuthenticationFailed
from kraft.security import jaas
from kraft.security.plain import PlainServer
from kraft.security.principal import NoMatchingRule, PrincipalMapper, subject_dn
from kraft.security.scram import ScramClient, ScramServer, make_credential
from kraft.security.scram_format import parse_add_scram

# RFC 7677 section 3: SCRAM-SHA-256, user "user", password "pencil".
RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FINAL = (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_scram_sha_256_matches_rfc_7677() -> None:
    """Client and server produce exactly RFC 7677's example exchange."""
    cred = make_credential("SCRAM-SHA-256", "pencil", 4096, RFC_SALT)
    server = ScramServer("SCRAM-SHA-256", lambda u: cred if u == "user" else None,
                         server_nonce=lambda: RFC_SERVER_NONCE)
    client = ScramClient("SCRAM-SHA-256", "user", "pencil", nonce=RFC_CLIENT_NONCE)
    first = client.initial_response()
    assert first == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = server.evaluate(first)
    assert server_first == (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                            b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    final = client.evaluate(server_first)
    assert final == RFC_CLIENT_FINAL
    assert server.evaluate(final) == RFC_SERVER_FINAL
    assert server.complete and server.authorization_id == "user"
    assert client.evaluate(RFC_SERVER_FINAL) is None


def test_scram_client_rejects_a_server_without_the_credential() -> None:
    """A server-final signature that is not the server key's fails the client."""
    client = ScramClient("SCRAM-SHA-256", "user", "pencil", nonce=RFC_CLIENT_NONCE)
    client.initial_response()
    client.evaluate(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    with pytest.raises(AuthenticationFailed):
        client.evaluate(b"v=" + base64.b64encode(b"\0" * 32))


def test_scram_refuses_another_authorization_id_and_tokens() -> None:
    """An authzid other than the user, and the delegation-token extension, fail."""
    cred = make_credential("SCRAM-SHA-512", "pw")
    with pytest.raises(AuthenticationFailed, match="authorization id"):
        ScramServer("SCRAM-SHA-512", lambda u: cred).evaluate(b"n,a=admin,n=alice,r=x")
    with pytest.raises(AuthenticationFailed, match="delegation"):
        ScramServer("SCRAM-SHA-512", lambda u: cred).evaluate(b"n,,n=alice,r=x,tokenauth=true")


@pytest.mark.parametrize(("message", "error"), [
    (b"\0alice\0alice-secret", None),
    (b"alice\0alice\0alice-secret", None),
    (b"\0alice\0wrong", "Invalid username or password"),
    (b"\0nobody\0x", "Invalid username or password"),
    (b"admin\0alice\0alice-secret", "authorization id"),
    (b"\0alice", "expected 3 tokens"),
    (b"\0\0x", "username not specified"),
])
def test_plain_server(message: bytes, error: str | None) -> None:
    """PLAIN accepts the right password (authzid empty or the user) with Kafka's messages
    for everything else."""
    server = PlainServer({"alice": "alice-secret"})
    if error is None:
        assert server.evaluate(message) == b"" and server.authorization_id == "alice"
    else:
        with pytest.raises(AuthenticationFailed, match=error):
            server.evaluate(message)


def test_jaas_parse() -> None:
    """A JAAS entry gives its module, flag and options (quoted values unescaped)."""
    entry = jaas.parse('org.x.PlainLoginModule required username="a b" user_c="p\\"q" k=v;')
    assert entry.login_module == "org.x.PlainLoginModule" and entry.flag == "required"
    assert entry.options == {"username": "a b", "user_c": 'p"q', "k": "v"}


@pytest.mark.parametrize("text", ["org.x.M required a=\"b\"", "org.x.M maybe;",
                                  "org.x.M required a=\"b\"; org.y.N required;"])
def test_jaas_parse_errors(text: str) -> None:
    """A missing ';', a bad flag or two modules are ConfigErrors."""
    with pytest.raises(ConfigError):
        jaas.parse(text)


def test_subject_dn_is_rfc_2253() -> None:
    """The most specific RDN comes first and special characters are escaped."""
    cert = {"subject": ((("countryName", "US"),), (("organizationName", "A, Inc"),),
                        (("commonName", "alice"),))}
    assert subject_dn(cert) == "CN=alice,O=A\\, Inc,C=US"


def test_principal_mapping_rules() -> None:
    """Rules apply in order; L and U change the case; no match is an error."""
    mapper = PrincipalMapper("RULE:^CN=(.*?),OU=(.*?)$/$1@$2/L, RULE:^CN=([a-z]+)$/$1/")
    assert mapper.name("CN=Alice,OU=Eng") == "alice@eng"
    assert mapper.name("CN=bob") == "bob"
    with pytest.raises(NoMatchingRule):
        mapper.name("O=x")
    assert PrincipalMapper("DEFAULT").name("CN=x,O=y") == "CN=x,O=y"
    with pytest.raises(ConfigError):
        PrincipalMapper("RULE:broken")


def test_add_scram_and_bootstrap_file(tmp_path) -> None:
    """--add-scram builds the credential record, which survives the bootstrap file."""
    record = parse_add_scram('SCRAM-SHA-256=[name=user,salt="W22ZaJ0SNY7soEsUEjb6gQ==",'
                             'password=pencil]')
    expected = make_credential("SCRAM-SHA-256", "pencil", 4096, RFC_SALT)
    assert (record.name, record.mechanism, record.stored_key, record.iterations) == (
        "user", 1, expected.stored_key, 4096)
    bootstrap.write(tmp_path, [record])
    assert bootstrap.read(tmp_path) == [record]
    data = bytearray((tmp_path / bootstrap.FILE_NAME).read_bytes())
    data[30] ^= 1
    (tmp_path / bootstrap.FILE_NAME).write_bytes(bytes(data))
    with pytest.raises(bootstrap.BootstrapError):
        bootstrap.read(tmp_path)


@pytest.mark.parametrize("text", ["SCRAM-SHA-1=[name=a,password=b]",
                                  "SCRAM-SHA-256=[password=b]",
                                  "SCRAM-SHA-256=[name=a,password=b,iterations=10]",
                                  "SCRAM-SHA-256=[name=a]"])
def test_add_scram_errors(text: str) -> None:
    """Malformed --add-scram values are ValueErrors."""
    with pytest.raises(ValueError, match="add-scram"):
        parse_add_scram(text)
