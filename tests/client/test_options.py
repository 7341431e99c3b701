"""
Tests for L{chatroom.client.options}: parsing, and the endpoint (TCP or
TLS) the options describe.
"""

import pytest
import pytest_twisted
from twisted.internet import endpoints
from twisted.internet.error import ConnectionLost
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage

from chatroom.client.options import Options, endpoint, tlsOptions


def parse(*argv):
    config = Options()
    config.parseOptions(list(argv))
    return config


def test_defaults():
    config = parse()
    assert config["host"] == "localhost" and config["port"] == 8889 and not config["tls"]
    assert config.serverName == "localhost:8889"


def test_host_and_port():
    config = parse("--host", "chat.example.org", "--port", "9000")
    assert config.serverName == "chat.example.org:9000"
    assert isinstance(endpoint(MemoryReactorClock(), config), endpoints.HostnameEndpoint)


@pytest.mark.parametrize("argv", [
    ["--port", "0"],
    ["--port", "70000"],
    ["--cafile", "x.pem"],
    ["--tls", "--cafile", "a", "--trust-cert", "b"],
    ["--connect", "tcp:host=a:port=1", "--tls"],
])
def test_bad_options(argv):
    with pytest.raises(usage.UsageError):
        parse(*argv)


def test_connect_description():
    reactor = MemoryReactorClock()
    config = parse("--connect", "tcp:host=127.0.0.1:port=1234")
    ep = endpoint(reactor, config)
    ep.connect(None)
    assert reactor.tcpClients[0][:2] == ("127.0.0.1", 1234)


def _selfSigned(tmp_path, name="localhost"):
    """
    A self-signed certificate for C{name} and its key, as PEM files.
    """
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certPath = tmp_path / ("%s.pem" % name)
    certPath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyPath = tmp_path / ("%s.key" % name)
    keyPath.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(certPath), str(keyPath)


def test_tls_options_name_the_server(tmp_path):
    pytest.importorskip("OpenSSL")
    pytest.importorskip("service_identity")
    cert, _ = _selfSigned(tmp_path)
    config = parse("--tls", "--trust-cert", cert, "--host", "127.0.0.1", "--server-name", "localhost")
    assert tlsOptions(config)._hostnameASCII == "localhost"
    assert type(endpoint(MemoryReactorClock(), config)).__name__ == "_WrapperEndpoint"


async def _pingOverTLS(tmp_path, trusted, serverName="localhost"):
    """
    Serve TLS with a fresh self-signed certificate on loopback, connect
    with C{--trust-cert trusted(cert)}, send a ping; the reply or failure.
    """
    from twisted.internet import reactor, ssl
    from twisted.internet.protocol import Factory
    from twisted.protocols.basic import Int32StringReceiver

    from chatroom.client.protocol import ChatClientProtocol
    from chatroom.protocol import decode, encode

    class Pong(Int32StringReceiver):
        def stringReceived(self, data):
            self.sendString(encode({"type": "ok", "id": decode(data)["id"], "tls": True}))

    cert, key = _selfSigned(tmp_path)
    with open(cert, "rb") as c, open(key, "rb") as k:
        server = ssl.PrivateCertificate.loadPEM(c.read() + k.read())
    tlsPort = reactor.listenSSL(0, Factory.forProtocol(Pong), server.options(), interface="127.0.0.1")
    try:
        config = parse(
            "--tls", "--trust-cert", trusted(cert, tmp_path), "--host", "127.0.0.1",
            "--port", str(tlsPort.getHost().port), "--server-name", serverName,
        )
        protocol = await endpoints.connectProtocol(endpoint(reactor, config), ChatClientProtocol())
        try:
            return await protocol.request("ping")
        finally:
            protocol.transport.loseConnection()
    finally:
        await tlsPort.stopListening()


@pytest_twisted.ensureDeferred
async def test_tls_handshake_with_trusted_certificate(tmp_path):
    pytest.importorskip("service_identity")
    reply = await _pingOverTLS(tmp_path, lambda cert, tmp: cert)
    assert reply["tls"] is True


@pytest_twisted.ensureDeferred
async def test_tls_refuses_an_untrusted_certificate(tmp_path):
    pytest.importorskip("service_identity")
    other = tmp_path / "other"
    other.mkdir()

    def stranger(cert, tmp):
        return _selfSigned(other)[0]

    # The handshake fails, so the connection closes before any reply.
    with pytest.raises(ConnectionLost):
        await _pingOverTLS(tmp_path, stranger)


@pytest_twisted.ensureDeferred
async def test_tls_refuses_a_certificate_for_another_name(tmp_path):
    pytest.importorskip("service_identity")
    with pytest.raises(ConnectionLost):
        await _pingOverTLS(tmp_path, lambda cert, tmp: cert, serverName="chat.example.org")


def test_tls_cafile_with_no_certificate(tmp_path):
    pytest.importorskip("OpenSSL")
    path = tmp_path / "empty.pem"
    path.write_text("nothing here")
    with pytest.raises(usage.UsageError):
        tlsOptions(parse("--tls", "--cafile", str(path)))


def test_tls_with_platform_trust():
    pytest.importorskip("OpenSSL")
    pytest.importorskip("service_identity")
    creator = tlsOptions(parse("--tls", "--host", "chat.example.org"))
    assert creator._hostnameASCII == "chat.example.org"
