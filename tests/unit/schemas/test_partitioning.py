"""The bus's partition function is Java kafka-clients' (GM 22: one subject, one place)."""

from __future__ import annotations

import pytest

from schemas.partitioning import murmur2, partition_for


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Kafka's UtilsTest.testMurmur2 vectors (clients/src/test/.../UtilsTest.java).
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_kafkas_java_vectors(text: str, expected: int) -> None:
    assert murmur2(text.encode("utf-8")) == expected


def test_partition_is_the_positive_hash_modulo_the_partitions() -> None:
    key = b"resident_id:11010519491231002X"
    assert partition_for(key, 3) == (murmur2(key) & 0x7FFFFFFF) % 3
    assert partition_for(b"foobar", 7) == (-790332482 & 0x7FFFFFFF) % 7
    assert {partition_for(key, 1)} == {0}
    with pytest.raises(ValueError, match="at least one partition"):
        partition_for(key, 0)
