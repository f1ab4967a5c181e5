"""The in-process schema registry: every released version of every govbus record.

Built once from the packaged files::

    schemas/avro/<Record>.avsc                  the current version (reader schema)
    schemas/avro/released/<Record>/v<N>.avsc    every released version, kept forever

The current file must equal the newest released version byte for byte. Each released
file is parsed exactly once; messages are looked up by the fingerprint in their header,
and any released version is read as the current version (Avro schema resolution).
Versions of one record that differ only in what the Parsing Canonical Form strips (docs,
defaults, logical types) share a fingerprint; the header then names the newest of them,
which reads the same bytes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from base.errors import SchemaError, UnknownSchemaError
from schemas.codec import (
    SchemaVersion,
    decode_with,
    encode_built,
    encode_with,
    load_version,
    read_fingerprint,
)
from schemas.tail import TailWriter, check_tail, set_tail

AVRO_DIR = "avro"
RELEASED_DIR = "released"
SCHEMA_SUFFIX = ".avsc"
_VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.avsc")


class SchemaRegistry:
    """Released schema versions by record name and by fingerprint."""

    def __init__(self, versions: Iterable[SchemaVersion]) -> None:
        by_record: dict[str, list[SchemaVersion]] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for v in versions:
            by_record.setdefault(v.record_name, []).append(v)
            other = self._by_fingerprint.setdefault(v.fingerprint, v)
            if other.record_name != v.record_name:
                raise SchemaError(
                    f"{v.label} and {other.label} have the same fingerprint {v.fingerprint.hex()}",
                    code="fingerprint_collision",
                )
            if other.version < v.version:  # same wire form (e.g. only docs changed): newest
                self._by_fingerprint[v.fingerprint] = v
        self._versions: dict[str, tuple[SchemaVersion, ...]] = {}
        for name, found in sorted(by_record.items()):
            ordered = tuple(sorted(found, key=lambda v: v.version))
            if [v.version for v in ordered] != list(range(1, len(ordered) + 1)):
                raise SchemaError(
                    f"{name}: released versions {[v.version for v in ordered]} "
                    "are not 1..N without gaps",
                    code="version_gap",
                )
            self._versions[name] = ordered
        self._current = {name: found[-1] for name, found in self._versions.items()}

    @classmethod
    def load(cls, root: Traversable | None = None) -> SchemaRegistry:
        """Read and parse every released file under ``root`` (default: the packaged ``avro``)."""
        base = root if root is not None else resources.files("schemas").joinpath(AVRO_DIR)
        released = base.joinpath(RELEASED_DIR)
        if not released.is_dir():
            raise SchemaError(f"no {RELEASED_DIR}/ directory under {base}", code="no_schemas")
        versions: list[SchemaVersion] = []
        for record_dir in sorted(released.iterdir(), key=lambda t: t.name):
            if not record_dir.is_dir():
                continue
            record_versions = _load_record(record_dir)
            _check_current(base, record_versions[-1])
            versions.extend(record_versions)
        released_names = {v.record_name for v in versions}
        for item in base.iterdir():
            stem = item.name.removesuffix(SCHEMA_SUFFIX)
            if item.name.endswith(SCHEMA_SUFFIX) and stem not in released_names:
                raise SchemaError(
                    f"{item.name} has no released version under {RELEASED_DIR}/{stem}/",
                    code="unreleased_current",
                )
        return cls(versions)

    @property
    def record_names(self) -> tuple[str, ...]:
        """Names of all records with a released version, sorted."""
        return tuple(self._versions)

    def versions(self, record_name: str) -> tuple[SchemaVersion, ...]:
        """All released versions of a record, oldest first."""
        try:
            return self._versions[record_name]
        except KeyError:
            raise SchemaError(f"no schema named {record_name!r}", code="unknown_record") from None

    def current(self, record_name: str) -> SchemaVersion:
        """The current (newest) version: what is written, and what every message is read as."""
        return self.versions(record_name)[-1]

    def version(self, record_name: str, number: int) -> SchemaVersion:
        """Released version ``number`` (1-based) of a record."""
        found = self.versions(record_name)
        if not 1 <= number <= len(found):
            raise SchemaError(
                f"{record_name} has versions 1..{len(found)}, not {number}", code="unknown_version"
            )
        return found[number - 1]

    def writer_of(self, data: bytes) -> SchemaVersion:
        """The schema version a single-object message names in its header."""
        digest = read_fingerprint(data)
        writer = self._by_fingerprint.get(digest)
        if writer is None:
            raise UnknownSchemaError(
                f"no released schema version has fingerprint {digest.hex()}",
                code="unknown_fingerprint",
            )
        return writer

    def encode(
        self, record_name: str, record: Mapping[str, Any], *, version: int | None = None
    ) -> bytes:
        """Encode with the current version (or an older released ``version``)."""
        if version is None:
            return encode_with(self.current(record_name), record)
        return encode_with(self.version(record_name, version), record)

    def encode_built(self, record_name: str, record: Mapping[str, Any]) -> bytes:
        """Encode with the current version, without the pre-encode guard: only for a record
        the bus built itself from typed values (:func:`schemas.codec.encode_built`)."""
        return encode_built(self.current(record_name), record)

    def tail_setter(
        self, record_name: str, names: Sequence[str]
    ) -> Callable[[bytes, Sequence[str | None]], bytes]:
        """For messages of the current version written with the trailing optional strings
        ``names`` null: a function that sets them, without encoding again (checked here,
        once: ``names`` must be the last fields, each ``["null", "string"]``)."""
        check_tail(self.current(record_name).definition, names)
        return set_tail

    def tail_writer(self, record_name: str, names: Sequence[str]) -> TailWriter:
        """For messages of the current version written with the last fields ``names`` at
        their defaults: a function that sets them, of any type, without encoding the rest
        again (checked here, once: ``names`` must be the last fields, each with a default)."""
        return TailWriter(self.current(record_name).definition, names)

    def decode(self, record_name: str, data: bytes) -> dict[str, Any]:
        """Decode a message of any released version of ``record_name`` as the current version."""
        reader = self._current.get(record_name)
        if reader is None:
            raise SchemaError(f"no schema named {record_name!r}", code="unknown_record")
        writer = self.writer_of(data)
        if writer.record_name != record_name:
            raise UnknownSchemaError(
                f"message was written as {writer.label}, not as any {record_name} version",
                code="other_record",
            )
        return decode_with(writer, reader, data)


def _load_record(record_dir: Traversable) -> list[SchemaVersion]:
    loaded: list[SchemaVersion] = []
    for item in record_dir.iterdir():
        match = _VERSION_FILE.fullmatch(item.name)
        if match is None:
            if item.name.endswith(SCHEMA_SUFFIX):
                raise SchemaError(
                    f"{record_dir.name}/{item.name}: released files are named v<N>.avsc",
                    code="bad_file_name",
                )
            continue
        loaded.append(load_version(record_dir.name, int(match.group(1)), item.read_bytes()))
    if not loaded:
        raise SchemaError(f"{record_dir.name}: no released version", code="no_schemas")
    return sorted(loaded, key=lambda v: v.version)


def _check_current(base: Traversable, newest: SchemaVersion) -> None:
    current = base.joinpath(newest.record_name + SCHEMA_SUFFIX)
    if not current.is_file():
        raise SchemaError(f"{newest.label}: {current.name} is missing", code="no_current")
    if current.read_bytes() != newest.source:
        raise SchemaError(
            f"{current.name} differs from its newest release {newest.label}: "
            "a changed schema must be released as a new version",
            code="current_not_released",
        )


@functools.cache
def default_registry() -> SchemaRegistry:
    """The registry of the packaged schemas, built on first use and kept."""
    return SchemaRegistry.load()


def encode(record_name: str, record: Mapping[str, Any]) -> bytes:
    """Encode ``record`` with the current version of ``record_name`` (default registry)."""
    return default_registry().encode(record_name, record)


def decode(record_name: str, data: bytes) -> dict[str, Any]:
    """Decode any released version of ``record_name`` as its current version (default registry)."""
    return default_registry().decode(record_name, data)
