"""Where the bus puts a subject: the partition of an ingest topic, computed by the bus.

The partition of an ingest record is part of the bus contract: one-source state lives per
ingest partition, so every event of one (entry, subject) must reach the same partition,
whoever published it and with whichever client. Agencies therefore never choose it: the
repartition stage (:mod:`topology.repartition`) computes it from the canonical subject.

The function is Java kafka-clients' default for keyed records (``Utils.murmur2`` of the
key's bytes, made positive with ``& 0x7fffffff``, modulo the partition count), so anyone
can check where a subject lands with the tools they already have, and librdkafka's
``partitioner=murmur2_random`` agrees for non-empty keys. Pure: no Kafka client.
"""

from __future__ import annotations

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK32 = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2(byte[])`` as a signed 32-bit int (Java's return value)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK32
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK32
        k ^= k >> 24
        k = (k * _M) & _MASK32
        h = (h * _M) & _MASK32
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK32
    h ^= h >> 13
    h = (h * _M) & _MASK32
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of ``key`` among ``partitions`` (Java's ``toPositive(murmur2) % n``)."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions
