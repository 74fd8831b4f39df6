"""TLS and mutual TLS with certificates made by openssl for this run."""
import grpc
import pytest


def read(p):
    return p.read_bytes()


def say(target, creds, stubs, pb2, message="tls", timeout=10):
    with grpc.secure_channel(target, creds) as ch:
        return stubs[1].EchoStub(ch).Say(pb2.EchoRequest(message=message), timeout=timeout)


def test_tls(new_shim, certs, stubs, pb2):
    shim = new_shim("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"))
    creds = grpc.ssl_channel_credentials(root_certificates=read(certs / "ca.pem"))
    assert say(shim.target, creds, stubs, pb2, "over tls").message == "over tls"
    # By name too: the certificate has DNS:localhost.
    assert say(f"localhost:{shim.port}", creds, stubs, pb2, "by name").message == "by name"
    # A plaintext client cannot talk to it.
    with grpc.insecure_channel(shim.target) as ch:
        with pytest.raises(grpc.RpcError) as e:
            stubs[1].EchoStub(ch).Say(pb2.EchoRequest(message="plain"), timeout=5)
        assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    # A client that trusts another CA refuses the server.
    wrong = grpc.ssl_channel_credentials(root_certificates=read(certs / "rogue-ca.pem"))
    with pytest.raises(grpc.RpcError) as e:
        say(shim.target, wrong, stubs, pb2, timeout=5)
    assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert shim.stop() == 0


def test_mutual_tls(new_shim, certs, stubs, pb2):
    shim = new_shim("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
                    "--tls-client-ca", str(certs / "ca.pem"), "--require-client-cert")
    ca = read(certs / "ca.pem")
    good = grpc.ssl_channel_credentials(root_certificates=ca, private_key=read(certs / "client.key"),
                                        certificate_chain=read(certs / "client.pem"))
    assert say(shim.target, good, stubs, pb2, "mtls").message == "mtls"

    no_cert = grpc.ssl_channel_credentials(root_certificates=ca)
    with pytest.raises(grpc.RpcError) as e:
        say(shim.target, no_cert, stubs, pb2, timeout=5)
    assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)

    rogue = grpc.ssl_channel_credentials(root_certificates=ca, private_key=read(certs / "rogue.key"),
                                         certificate_chain=read(certs / "rogue.pem"))
    with pytest.raises(grpc.RpcError) as e:
        say(shim.target, rogue, stubs, pb2, timeout=5)
    assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)

    # The shim is still fine after the refused handshakes.
    assert say(shim.target, good, stubs, pb2, "again").message == "again"
    assert shim.stop() == 0
