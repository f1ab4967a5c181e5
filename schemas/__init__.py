"""The Avro contract of govbus: record schemas, their released versions, the wire format.

Messages use Avro single-object encoding (marker, CRC-64-AVRO fingerprint, body), so
every message names its writer schema; :func:`decode` reads any released version as
the current one.
"""

from schemas.codec import HEADER_SIZE, MARKER, NAMESPACE, SchemaVersion
from schemas.registry import SchemaRegistry, decode, default_registry, encode

__all__ = [
    "HEADER_SIZE",
    "MARKER",
    "NAMESPACE",
    "SchemaRegistry",
    "SchemaVersion",
    "decode",
    "default_registry",
    "encode",
]
