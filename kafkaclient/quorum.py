"""The active KRaft controller: the leader of the metadata quorum, asked with Kafka's
DescribeQuorum request (KIP-595), which librdkafka does not offer.

A broker answers DescribeCluster with *some* live broker as "controller" in KRaft mode
(clients cannot reach the controllers), so that answer says nothing about the quorum; the
quorum's own answer does. A broker forwards DescribeQuorum to the active controller, so any
broker of the bootstrap list can be asked; the caller needs DESCRIBE on the cluster (the
administrator has it).

The request goes over a plain socket on a ``PLAINTEXT`` or ``SASL_PLAINTEXT`` (PLAIN)
listener, the local broker's ADMIN listener; other security protocols are not spoken here
(:func:`quorum_leader` returns None: unknown).

Protocol (each request and answer framed by a 4-byte big-endian length):

1. SaslHandshake v1 naming PLAIN (SASL_PLAINTEXT only); SaslAuthenticate v1 with
   ``\\0user\\0password``.
2. DescribeQuorum v0 for ``__cluster_metadata`` partition 0 (a flexible request: header v2).
3. Read the partition's ``leader_id`` (-1: the quorum has no leader).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Mapping
from typing import Any

from base.errors import KafkaError

METADATA_TOPIC = "__cluster_metadata"
SASL_HANDSHAKE, SASL_AUTHENTICATE, DESCRIBE_QUORUM = 17, 36, 55
CLIENT_ID = b"govbus-quorum"
#: One answer is a few hundred bytes; refuse anything absurd.
MAX_FRAME = 1 << 20


def quorum_leader(config: Mapping[str, Any], timeout_s: float = 5.0) -> int | None:
    """The active controller's node id (-1: the quorum has no leader), asked of the first
    broker of ``config['bootstrap.servers']`` that answers; None when the listener's
    security protocol is not one spoken here. Raises :class:`KafkaError` when no broker
    answers or the request is refused."""
    protocol = str(config.get("security.protocol", "PLAINTEXT")).upper()
    mechanism = str(config.get("sasl.mechanism", config.get("sasl.mechanisms", "PLAIN")))
    if protocol not in ("PLAINTEXT", "SASL_PLAINTEXT") or mechanism.upper() != "PLAIN":
        return None
    user = str(config.get("sasl.username", ""))
    password = str(config.get("sasl.password", ""))
    last: Exception | None = None
    for address in str(config.get("bootstrap.servers", "")).split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
                wire = _Wire(sock)
                if protocol == "SASL_PLAINTEXT":
                    wire.authenticate(user, password)
                return wire.describe_quorum()
        except (OSError, ValueError, struct.error) as exc:
            last = exc
    raise KafkaError(f"describe the metadata quorum: no broker answered ({last})")


class _Wire:
    """Requests on one connection, numbered from 1."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._correlation = 0

    # Step 1
    def authenticate(self, user: str, password: str) -> None:
        body = self._call(SASL_HANDSHAKE, 1, _string(b"PLAIN"), flexible=False)
        (error,) = struct.unpack_from(">h", body, 0)
        if error:
            raise KafkaError(f"SASL handshake refused (error {error})")
        token = b"\0" + user.encode() + b"\0" + password.encode()
        body = self._call(
            SASL_AUTHENTICATE, 1, struct.pack(">i", len(token)) + token, flexible=False
        )
        (error,) = struct.unpack_from(">h", body, 0)
        if error:
            raise KafkaError(f"SASL authentication refused (error {error})")

    # Steps 2 and 3
    def describe_quorum(self) -> int:
        name = METADATA_TOPIC.encode()
        request = (
            _uvarint(2)  # one topic
            + _uvarint(len(name) + 1)
            + name
            + _uvarint(2)  # one partition
            + struct.pack(">i", 0)
            + b"\0"  # the partition's tagged fields
            + b"\0"  # the topic's
            + b"\0"  # the request's
        )
        body = self._call(DESCRIBE_QUORUM, 0, request, flexible=True)
        (error,) = struct.unpack_from(">h", body, 0)
        if error:
            raise KafkaError(f"describe the metadata quorum refused (error {error})")
        pos = 2
        topics, pos = _read_uvarint(body, pos)
        if topics < 2:
            raise KafkaError("describe the metadata quorum: no topic in the answer")
        length, pos = _read_uvarint(body, pos)
        pos += length - 1
        partitions, pos = _read_uvarint(body, pos)
        if partitions < 2:
            raise KafkaError("describe the metadata quorum: no partition in the answer")
        _index, error, leader = struct.unpack_from(">ihi", body, pos)
        if error:
            raise KafkaError(f"describe the metadata quorum: partition error {error}")
        return int(leader)

    def _call(self, api: int, version: int, body: bytes, flexible: bool) -> bytes:
        self._correlation += 1
        header = struct.pack(">hhih", api, version, self._correlation, len(CLIENT_ID)) + CLIENT_ID
        if flexible:
            header += b"\0"
        frame = header + body
        self._sock.sendall(struct.pack(">i", len(frame)) + frame)
        answer = self._read_frame()
        (correlation,) = struct.unpack_from(">i", answer, 0)
        if correlation != self._correlation:
            raise KafkaError("describe the metadata quorum: an answer out of order")
        pos = 4
        if flexible and api != SASL_HANDSHAKE:
            tags, pos = _read_uvarint(answer, pos)
            if tags:
                raise KafkaError("describe the metadata quorum: unexpected header tags")
        return answer[pos:]

    def _read_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self._read(4))
        if not 0 < size <= MAX_FRAME:
            raise KafkaError(f"describe the metadata quorum: a frame of {size} bytes")
        return self._read(size)

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self._sock.recv(n - len(out))
            if not chunk:
                raise KafkaError("describe the metadata quorum: the broker closed the connection")
            out += chunk
        return out


def _string(value: bytes) -> bytes:
    return struct.pack(">h", len(value)) + value


def _uvarint(n: int) -> bytes:
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
