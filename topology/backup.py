"""``govbus backup`` and ``govbus restore``: what is needed to rebuild the platform, as a
folder that can be checked without a broker (GM 28, GM 29, S 45; J 17).

A backup holds:

- ``store/<table>.json``: the SQL store (catalog, agencies, grants, accounts with their
  argon2 hashes, cases, transitions, timers...), read in one transaction; login sessions
  are not kept. No password is in the SQL store in clear, so none is in a backup; agencies'
  broker credentials (SCRAM) live in the broker, not here: reissue them after a restore
  (``govbus agency add``; their ACLs follow from the catalog).
- ``topics/<topic>.jsonl``: every committed record, as written, of the state topics
  (reference data and the processors' one-source changelogs with the audit chains' heads),
  the audit streams (``govbus.audit``, ``govbus.audit.workflows``) and the conflict topics.
- ``manifest.json``: the format, when, the store's migration revision, each topic's
  partitions, configuration and end offsets, and the SHA-256 of every file.

Backup steps:

1. Copy each topic up to the end it has when its copy starts (read committed).
2. Dump the SQL store in one transaction.
3. Write the files, then the manifest with their digests last: a folder without a manifest
   is an unfinished backup.

Check (``govbus restore --check``, and step 1 of a restore):

1. Every file's digest matches the manifest.
2. The audit streams' hash chains verify (:func:`schemas.audit.verify`): a backup whose
   audit was changed is refused, and the finding names the record.

Restore steps (into an empty cluster and an empty database):

1. Check the backup (above).
2. Migrate the database and load the store (refused if it holds data).
3. Recreate every topic with its partitions and configuration and write its records back
   in order to their partitions (refused if a topic exists). Each one-source changelog
   partition gets its next incarnation: the ingest topics start again at offset 0, and the
   ids the processors derive from input positions name the incarnation, so no new input
   takes the id of one decided before the restore.
4. Republish the store to the reference state topics, so they agree with the store.

The recovery point is the backup's time; the processors resume from the restored
changelogs (their consumer groups start from the beginning of the empty ingest topics).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from base.errors import GovbusError
from consumers.snapshot import TopicCopy, copy_topic
from kafkaclient import Admin
from producers.restore import write_copy
from schemas.audit import AuditReport, verify
from schemas.topics import PREFIX, TopicKind, topic_name
from storage import migrate
from storage.backup import dump_tables, load_tables
from storage.engine import make_engine
from storage.reference import ReferenceStore
from topology.reference_service import ReferenceService
from topology.state import INCARNATION_KEY, decode_incarnation, encode_incarnation

FORMAT = "govbus-backup/1"
MANIFEST = "manifest.json"
#: The audit streams and the record each holds.
AUDIT_STREAMS: Mapping[str, str] = {
    topic_name(TopicKind.AUDIT): "Decision",
    topic_name(TopicKind.WORKFLOW_AUDIT): "WorkflowEvent",
}
#: Single topics kept besides the state topics.
KEPT_TOPICS = (
    *AUDIT_STREAMS,
    topic_name(TopicKind.CONFLICTS),
    topic_name(TopicKind.RESOLVED),
)
STATE_PREFIX = f"{PREFIX}.{TopicKind.STATE}."
#: The processors' one-source changelogs (topology.state.changelog_topic).
CHANGELOG_PREFIX = f"{STATE_PREFIX}onesource."


@dataclass(frozen=True)
class Target:
    """Where a backup is read from or restored to."""

    bootstrap: str
    database_url: str
    kafka: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class BackupReport:
    folder: str
    created_at: str
    tables: dict[str, int]
    topics: dict[str, int]
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    audit: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "created_at": self.created_at,
            "ok": self.ok,
            "tables": self.tables,
            "topics": self.topics,
            "audit": self.audit,
            "problems": self.problems,
        }


def kept_topics(names: list[str]) -> list[str]:
    """The topics a backup holds, of those the cluster has."""
    return sorted(n for n in names if n.startswith(STATE_PREFIX) or n in KEPT_TOPICS)


def take(target: Target, folder: Path, now: datetime) -> BackupReport:
    """Write a backup of ``target`` into ``folder`` (new or empty)."""
    if folder.exists() and any(folder.iterdir()):
        raise GovbusError(f"{folder} is not empty: back up into a new folder")
    (folder / "store").mkdir(parents=True, exist_ok=True)
    (folder / "topics").mkdir(exist_ok=True)
    admin = Admin(target.bootstrap, extra_config=target.kafka)
    # Step 1: the topics, each to the end it has now.
    copies = [
        copy_topic(target.bootstrap, name, extra_config=target.kafka)
        for name in kept_topics(list(admin.topics()))
    ]
    # Step 2: the store, in one transaction.
    tables = dump_tables(make_engine(target.database_url))
    # Step 3: the files, then the manifest with their digests.
    digests: dict[str, str] = {}
    for name, rows in tables.items():
        digests[f"store/{name}.json"] = _write(folder / "store" / f"{name}.json", _json(rows))
    for copy in copies:
        digests[f"topics/{copy.name}.jsonl"] = _write(
            folder / "topics" / f"{copy.name}.jsonl", _jsonl(copy)
        )
    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "store_revision": migrate.current(target.database_url),
        "tables": {name: len(rows) for name, rows in tables.items()},
        "topics": {
            c.name: {
                "partitions": c.partitions,
                "config": c.config,
                "ends": {str(p): e for p, e in sorted(c.ends.items())},
                "records": len(c.records),
            }
            for c in copies
        },
        "files": digests,
    }
    _write(folder / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    return check(folder)


def check(folder: Path) -> BackupReport:
    """Check steps 1-2: digests, then the audit chains, offline."""
    manifest = _manifest(folder)
    report = BackupReport(
        str(folder),
        str(manifest["created_at"]),
        dict(manifest["tables"]),
        {name: int(t["records"]) for name, t in manifest["topics"].items()},
    )
    # Step 1: every file as the manifest says.
    for relative, digest in sorted(manifest["files"].items()):
        path = folder / relative
        if not path.is_file():
            report.problems.append(f"{relative}: missing")
        elif _sha256(path.read_bytes()) != digest:
            report.problems.append(f"{relative}: changed since the backup (SHA-256 differs)")
    # Step 2: the audit chains, as any auditor would check them on the live stream.
    for topic, record in AUDIT_STREAMS.items():
        path = folder / "topics" / f"{topic}.jsonl"
        if topic not in manifest["topics"] or not path.is_file():
            continue
        labelled = [
            (f"{r['partition']}/{r['offset']}", _bytes(r["value"]) or b"") for r in _records(path)
        ]
        audit: AuditReport = verify(labelled, record_name=record)
        report.audit[topic] = audit.to_dict()
        report.problems += [f"{topic}: {f.to_dict()}" for f in audit.findings]
    report.ok = not report.problems
    return report


def restore(
    folder: Path, target: Target, say: Callable[[str], None] = lambda _m: None
) -> BackupReport:
    """Restore steps 1-4 into ``target`` (an empty cluster and database)."""
    # Step 1: a backup that does not check out is not restored.
    report = check(folder)
    if not report.ok:
        raise GovbusError(f"the backup does not check out: {report.problems[0]}")
    manifest = _manifest(folder)
    # Step 2: the store.
    migrate.upgrade(target.database_url)
    engine = make_engine(target.database_url)
    tables = {
        name: json.loads((folder / "store" / f"{name}.json").read_text(encoding="utf-8"))
        for name in manifest["tables"]
    }
    load_tables(engine, tables)
    say(f"数据库已恢复：{sum(len(r) for r in tables.values())} 行")
    # Step 3: the topics, record by record, in order per partition; each one-source
    # changelog partition gets its next incarnation (topology.state), since the restored
    # ingest topics start again at offset 0.
    now_ms = int(time.time() * 1000)
    for name, spec in sorted(manifest["topics"].items()):
        records = [
            (
                int(r["partition"]),
                _bytes(r["key"]),
                _bytes(r["value"]),
                int(r["timestamp_ms"]),
                [(k, _bytes(v) or b"") for k, v in r["headers"]],
            )
            for r in _records(folder / "topics" / f"{name}.jsonl")
        ]
        if name.startswith(CHANGELOG_PREFIX):
            records += _next_incarnation(records, int(spec["partitions"]), now_ms)
        write_copy(
            target.bootstrap,
            name,
            int(spec["partitions"]),
            dict(spec["config"]),
            records,
            extra_config=target.kafka,
        )
        say(f"主题已恢复：{name}（{len(records)} 条）")
    # Step 4: the reference state topics agree with the store.
    ReferenceService(
        ReferenceStore(engine), target.bootstrap, extra_config=target.kafka
    ).publish_all()
    return report


RecordTuple = tuple[int, bytes | None, bytes | None, int, list[tuple[str, bytes]]]


def _next_incarnation(
    records: list[RecordTuple], partitions: int, now_ms: int
) -> list[RecordTuple]:
    """One incarnation record per changelog partition: the last one it held, plus one."""
    held = {
        partition: decode_incarnation(value)
        for partition, key, value, _, _ in records
        if key == INCARNATION_KEY.encode()
    }
    return [
        (p, INCARNATION_KEY.encode(), encode_incarnation(held.get(p, 0) + 1), now_ms, [])
        for p in range(partitions)
    ]


# -- files --------------------------------------------------------------------------------
def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise GovbusError(f"{folder} holds no {MANIFEST}: not a backup, or an unfinished one")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GovbusError(f"{path}: unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GovbusError(f"{path}: not a {FORMAT} manifest")
    return manifest


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return _sha256(data)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, ensure_ascii=False, indent=1, sort_keys=True).encode()


def _jsonl(copy: TopicCopy) -> bytes:
    lines = [
        json.dumps(
            {
                "partition": r.partition,
                "offset": r.offset,
                "key": _text(r.key),
                "value": _text(r.value),
                "timestamp_ms": r.timestamp_ms,
                "headers": [[k, _text(v)] for k, v in r.headers],
            },
            sort_keys=True,
        )
        for r in copy.records
    ]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _text(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
