"""One Kafka request without a client library: the tests need the request log to have something
in it, and the package's tests must not depend on a Kafka client."""

import socket
import struct


def api_versions_request(bootstrap_servers: str, client_id: str) -> None:
    """Sends one ApiVersions v0 request over TCP and checks its answer (error code 0)."""
    host, port = bootstrap_servers.rsplit(":", 1)
    client = client_id.encode()
    # Request header v1: api_key, api_version, correlation_id, client_id (int16 length + bytes).
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _read_exactly(connection, 4))[0]
        answer = _read_exactly(connection, size)
    correlation_id, error_code = struct.unpack(">ih", answer[:6])
    assert (correlation_id, error_code) == (7, 0), (correlation_id, error_code)


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        assert chunk, "the broker closed the connection"
        data += chunk
    return data
