"""
TLS on the main port: an C{ssl:} endpoint description (what C{--port
ssl:8889:privateKey=...:certKey=...} hands to strports) with a self-signed
certificate made in the test.  A client that trusts the certificate chats;
one that does not is refused before any request is read.
"""

import datetime
import ipaddress

import pytest
import pytest_twisted
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from twisted.internet import reactor, ssl
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, serverFromString, wrapClientTLS

from chatroom.client.options import Options as ClientOptions, endpoint as clientEndpoint
from chatroom.server import ChatFactory
from chatroom.tap import Options as ServerOptions
from tests.support import wire


def selfSigned(directory, name="localhost"):
    """
    Write a self-signed certificate for C{name} (and 127.0.0.1) and its key
    as PEM files in C{directory}; their paths.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certPath = directory / ("%s-cert.pem" % (name,))
    keyPath = directory / ("%s-key.pem" % (name,))
    certPath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyPath.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(certPath), str(keyPath)


@pytest_twisted.async_yield_fixture
async def tlsServer(chat, tmp_path):
    """
    The test's chat service also listening with TLS, as C{--port ssl:...}
    makes it; C{(port, certificate path)}.
    """
    certPath, keyPath = selfSigned(tmp_path)
    description = "ssl:0:interface=127.0.0.1:privateKey=%s:certKey=%s" % (keyPath, certPath)
    # The option twistd takes accepts it too.
    ServerOptions().parseOptions(["--port", description, "--debug-port", "none"])
    port = await serverFromString(reactor, description).listen(ChatFactory(chat.service.sessions, 65536))
    yield port.getHost().port, certPath
    await port.stopListening()


def trusting(certPath):
    with open(certPath, "rb") as f:
        return ssl.optionsForClientTLS("localhost", trustRoot=ssl.Certificate.loadPEM(f.read()))


async def connectTLS(port, options):
    return await connectProtocol(wrapClientTLS(options, TCP4ClientEndpoint(reactor, "127.0.0.1", port)), wire.TestClient())


@pytest_twisted.ensureDeferred
async def test_chat_over_tls(chat, tlsServer):
    """
    Clients that trust the certificate register, log in and chat, with the
    text intact; TLS and plain clients talk to each other.
    """
    port, certPath = tlsServer
    alice = await connectTLS(port, trusting(certPath))
    try:
        await alice.request("register", user="爱丽丝", password="秘密")
        reply = await alice.request("login", user="爱丽丝", password="秘密")
        assert reply["user"] == "爱丽丝"
        bob = await chat.user("bob")
        ok = await alice.request("send", to="bob", text="加密的你好 🔒")
        event = await bob.event(type="message", msg_id=ok["msg_id"])
        assert event["text"] == "加密的你好 🔒"
        ok = await bob.request("send", to="爱丽丝", text="收到 ✅")
        event = await alice.event(type="message", msg_id=ok["msg_id"])
        assert event["text"] == "收到 ✅"
    finally:
        await alice.close()


@pytest_twisted.ensureDeferred
async def test_untrusted_certificate_is_refused(chat, tlsServer, tmp_path):
    """
    A client that trusts another certificate fails the handshake: no
    request of it is answered.
    """
    port, certPath = tlsServer
    otherCert, _ = selfSigned(tmp_path, name="other")
    client = await connectTLS(port, trusting(otherCert))
    with pytest.raises(SSL.Error):
        await client.request("ping")
    assert client.replies == []
    await client.closed


@pytest_twisted.ensureDeferred
async def test_platform_trust_refuses_a_self_signed_certificate(chat, tlsServer):
    """
    Without being told to trust it, a client refuses the self-signed
    certificate (default trust is the platform's authorities).
    """
    port, _ = tlsServer
    client = await connectTLS(port, ssl.optionsForClientTLS("localhost"))
    with pytest.raises(SSL.Error):
        await client.request("ping")
    await client.closed


@pytest_twisted.ensureDeferred
async def test_terminal_client_tls_endpoint(chat, tlsServer):
    """
    The terminal client's C{--tls --trust-cert} endpoint reaches the TLS
    server and chats.
    """
    port, certPath = tlsServer
    config = ClientOptions()
    config.parseOptions(["--tls", "--trust-cert", certPath, "--host", "127.0.0.1", "--port", str(port),
                         "--server-name", "localhost"])
    client = await connectProtocol(clientEndpoint(reactor, config), wire.TestClient())
    try:
        await client.request("register", user="终端", password="pw")
        await client.request("login", user="终端", password="pw")
        ok = await client.request("group.send", group="lobby", text="来自终端 🖥")
        assert ok["msg_id"]
    finally:
        await client.close()
