"""Tamper evidence for ``govbus.audit`` (S 42: data must be kept from 篡改): hash chains.

The same sealing serves every record whose last field is ``record_hash`` (optional bytes)
after ``chain``, ``seq`` and ``prev_hash``: the processors' ``Decision`` records and the
workflows' ``WorkflowEvent`` records (one chain, ``workflows``, on
``govbus.audit.workflows``); :func:`verify` takes the record name.

Every ``Decision`` record the processors write (one per input event, its deliveries listed;
who received a subject's data is read from them by :mod:`schemas.audit.trail`) belongs to
one chain, the ingest partition whose message it records (``chain`` =
``"<topic>/<partition>"``), and has a ``seq`` in it from 1 without gaps. Sealing a record
(the processor, :func:`seal`):

1. Encode it with ``chain``, ``seq``, ``prev_hash`` (the previous record's
   ``record_hash``; null at seq 1) and ``record_hash`` null. ``record_hash`` is the last
   field, so the message ends with its null branch (one zero byte).
2. ``record_hash`` = SHA-256 of exactly those bytes: the single-object header (the writer
   schema's fingerprint) and every field, ``prev_hash`` included.
3. Replace the trailing null with the hash (:mod:`schemas.tail`): the message written.

:func:`verify` recomputes each hash from the bytes as they are in the topic and follows
each chain: a changed record no longer matches its hash; a removed, inserted or reordered
one breaks a ``seq`` or ``prev_hash`` link. Deleting a chain's newest records is only
seen against a head recorded earlier (``heads`` of an earlier report: pass it as
``expected``), which is what an auditor keeps. Pure functions; no I/O.

Two writers on one chain (a second processor group over the same ingest partition, which
restores the chain's head and goes on from it) are found two ways, each reported once
per chain at its first record:

* **forked**: two different records claim one ``seq``, or one predecessor (``prev_hash``):
  the chain splits there. The links are then followed along one branch (the one that
  continues the previous record), so the other branch's records are not reported again
  as broken links.
* **replayed**: a record with the ``audit_id`` of an earlier record of its chain (and
  another hash). The processor derives ``audit_id`` from the input's position (topic,
  partition, offset) and the kind (:mod:`topology.records`; one record per input, two
  for a rejected one; records before Decision v5 added the delivery's recipient), and
  commits each input's records once (exactly once), so the same id twice means the same
  input decided twice: found as soon as a second group re-reads the input, before the two
  writers collide on a ``seq``. A ``WorkflowEvent`` is identified by its
  ``transition_id`` (:data:`INPUT_ID`): the same transition sealed twice is replayed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from base.errors import EncodingError, SchemaError
from schemas.registry import SchemaRegistry, default_registry
from schemas.tail import check_tail, optional_value
from schemas.topics import TopicKind, topic_name

RECORD = "Decision"
HASH_FIELD = "record_hash"
DIGEST_SIZE = 32
OPTIONAL_BYTES = ["null", "bytes"]
#: The sealed tail: the union's bytes branch, the length 32 (zig-zag 0x40), the digest.
_SEALED_PREFIX = optional_value(b"\0" * DIGEST_SIZE)[:-DIGEST_SIZE]
_NULL = optional_value(None)

#: Finding kinds (``Finding.kind``); names are part of ``govbus audit verify --json``.
UNDECODABLE = "undecodable"
ALTERED = "altered"  # the bytes no longer hash to record_hash
UNSEALED = "unsealed"  # a record in a chain without a record_hash
DUPLICATE = "duplicate"  # one seq twice
GAP = "gap"  # seqs missing
BROKEN_LINK = "broken_link"  # prev_hash is not the previous record's hash
TRUNCATED = "truncated"  # the chain ends before a head recorded earlier
REWRITTEN = "rewritten"  # the record at an earlier head's seq has another hash
FORKED = "forked"  # two records claim one seq or one predecessor: two writers, one chain
REPLAYED = "replayed"  # a record decides an input its chain already decided
#: The field naming what a sealed record records, by record: the same value twice in one
#: chain, with another hash, is a replay (records without one are not compared).
INPUT_ID = {RECORD: "audit_id", "WorkflowEvent": "transition_id"}


@dataclass(frozen=True)
class Finding:
    kind: str
    chain: str
    seq: int | None
    where: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Head:
    """The newest record of a chain: what an auditor records to detect truncation."""

    seq: int
    hash: str  # hex

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AuditReport:
    records: int
    unchained: int
    heads: Mapping[str, Head]
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "chains": len(self.heads),
            "unchained": self.unchained,
            "heads": {c: h.to_dict() for c, h in sorted(self.heads.items())},
            "findings": [f.to_dict() for f in self.findings],
        }


def of_entries(entries: Iterable[str]) -> Callable[[str], bool]:
    """``include`` for :func:`verify`: the chains of these catalog entries' ingest topics."""
    prefixes = tuple(topic_name(TopicKind.INGEST, e) + "/" for e in entries)
    return lambda chain: chain.startswith(prefixes)


def heads_document(heads: Mapping[str, Head]) -> bytes:
    """The canonical bytes of a set of chain heads: what a checkpoint signature covers."""
    data = {c: h.to_dict() for c, h in sorted(heads.items())}
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def check_schema(registry: SchemaRegistry | None = None, record: str = RECORD) -> None:
    """The current schema of ``record`` must end with record_hash, an optional bytes field."""
    definition = (registry or default_registry()).current(record).definition
    check_tail(definition, [HASH_FIELD], union=OPTIONAL_BYTES)


def seal(unsealed: bytes) -> tuple[bytes, bytes]:
    """(the message to write, its record_hash) for a Decision encoded with record_hash null."""
    if not unsealed.endswith(_NULL):
        raise EncodingError("the Decision was not encoded with record_hash null", code="sealed")
    digest = hashlib.sha256(unsealed).digest()
    # schemas.tail.set_tail(unsealed, [digest]), written out: this runs for every record.
    return unsealed[:-1] + _SEALED_PREFIX + digest, digest


def _unsealed(message: bytes, digest: bytes) -> bytes | None:
    """The bytes that were hashed, or None when the message does not end in ``digest``."""
    tail = _SEALED_PREFIX + digest
    if len(digest) != DIGEST_SIZE or not message.endswith(tail):
        return None
    return message[: -len(tail)] + _NULL


Labelled = tuple[str, bytes]  # (where: "partition/offset", message bytes)
#: One record's claim on its chain: (prev_hash, record_hash, where).
Claim = tuple[bytes | None, bytes, str]
#: Records of one chain by seq; more than one claim at a seq is a fork.
Claims = Mapping[int, list[Claim]]


def verify(
    messages: Iterable[Labelled],
    *,
    registry: SchemaRegistry | None = None,
    include: Callable[[str], bool] | None = None,
    expected: Mapping[str, Head] | None = None,
    record_name: str = RECORD,
) -> AuditReport:
    """Check every chain in ``messages`` (any order); ``include`` selects chains by name;
    ``record_name`` is the sealed record they hold (Decision, WorkflowEvent)."""
    reg = registry or default_registry()
    seen = _Chains(INPUT_ID.get(record_name, INPUT_ID[RECORD]))
    records = unchained = 0
    for where, message in messages:
        try:
            record = reg.decode(record_name, message)
        except SchemaError as exc:
            seen.findings.append(Finding(UNDECODABLE, "", None, where, str(exc)))
            continue
        chain, seq = record.get("chain"), record.get("seq")
        if chain is None or seq is None:
            unchained += 1
            continue
        if include is not None and not include(chain):
            continue
        records += 1
        seen.add(chain, seq, record, message, where)
    heads = seen.judge()
    findings = seen.findings
    for chain, head in sorted((expected or {}).items()):
        if include is not None and not include(chain):
            continue
        findings += _against(chain, head, seen.chains.get(chain, {}))
    return AuditReport(records, unchained, heads, tuple(findings))


class _Chains:
    """The claims of the records read so far, by chain and seq, and what is wrong."""

    def __init__(self, input_id: str) -> None:
        #: The record's field naming the input it decides (a replay decides it twice).
        self.input_id = input_id
        self.findings: list[Finding] = []
        self.chains: dict[str, dict[int, list[Claim]]] = {}
        self.decided: dict[str, dict[str, list[tuple[int, bytes, str]]]] = {}

    def add(
        self, chain: str, seq: int, record: Mapping[str, Any], message: bytes, where: str
    ) -> None:
        digest = record.get(HASH_FIELD)
        hashed = _unsealed(message, digest) if isinstance(digest, bytes) else None
        if not isinstance(digest, bytes) or hashed is None:
            self.findings.append(Finding(UNSEALED, chain, seq, where, "no record_hash at the end"))
            return
        if hashlib.sha256(hashed).digest() != digest:
            # Still in its place: the links around it are judged by the hash it claims.
            self.findings.append(Finding(ALTERED, chain, seq, where, "content does not match hash"))
        claims = self.chains.setdefault(chain, {}).setdefault(seq, [])
        if any(digest == d for _, d, _ in claims):
            self.findings.append(Finding(DUPLICATE, chain, seq, where, f"seq {seq} appears again"))
            return
        prev = record.get("prev_hash")
        claims.append((prev if isinstance(prev, bytes) else None, digest, where))
        ident = record.get(self.input_id)
        if ident is not None:
            by_id = self.decided.setdefault(chain, {})
            by_id.setdefault(str(ident), []).append((seq, digest, where))

    def judge(self) -> dict[str, Head]:
        """Each chain's head, after adding the findings of its forks, replays and links."""
        heads: dict[str, Head] = {}
        for chain, by_seq in sorted(self.chains.items()):
            path = _follow(by_seq)
            self.findings += _fork(chain, by_seq)
            self.findings += _replay(chain, self.decided.get(chain, {}))
            self.findings += _links(chain, path)
            top, (_, digest, _) = path[-1]
            heads[chain] = Head(top, digest.hex())
        return heads


def _follow(by_seq: Claims) -> list[tuple[int, Claim]]:
    """One record per seq along the longest linked branch: at each seq the record that
    continues the previous chosen one and leads furthest (a fork's other branch is left
    aside), ties by the smallest hash (the same answer in any input order)."""
    seqs = sorted(by_seq)
    reach: dict[bytes, int] = {}
    for seq in reversed(seqs):
        after = by_seq.get(seq + 1, [])
        for _, digest, _ in by_seq[seq]:
            reach[digest] = 1 + max((reach[d] for p, d, _ in after if p == digest), default=0)
    path: list[tuple[int, Claim]] = []
    previous: bytes | None = None
    for seq in seqs:
        chosen = min(by_seq[seq], key=lambda c: (c[0] != previous, -reach[c[1]], c[1]))
        path.append((seq, chosen))
        previous = chosen[1]
    return path


def _fork(chain: str, by_seq: Claims) -> list[Finding]:
    """The first seq that two different records claim, directly or by one predecessor."""
    contested = {seq for seq, claims in by_seq.items() if len(claims) > 1}
    successors: dict[bytes, list[int]] = {}
    for seq, claims in by_seq.items():
        for prev, _, _ in claims:
            if prev is not None:
                successors.setdefault(prev, []).append(seq)
    contested.update(min(seqs) for seqs in successors.values() if len(seqs) > 1)
    if not contested:
        return []
    first = min(contested)
    places = sorted(w for _, _, w in by_seq[first])
    after = [
        s for seqs in successors.values() if len(seqs) > 1 and min(seqs) == first for s in seqs
    ]
    if len(places) == 1 and after:  # one record here, its twin claims the predecessor later
        places = sorted(w for s in after for _, _, w in by_seq[s])
    more = len(contested) - 1
    detail = (
        f"the chain forks at seq {first}: records at {', '.join(places)} claim this place or its"
        f" predecessor ({more} later place(s) contested); two writers extended one chain"
        " (a second processor group on the same input?)"
    )
    return [Finding(FORKED, chain, first, places[-1], detail)]


def _replay(chain: str, by_id: Mapping[str, list[tuple[int, bytes, str]]]) -> list[Finding]:
    """The first record that decides an input its chain already decided (see above)."""
    again: list[tuple[int, str, int, str]] = []
    for audit_id, seen in by_id.items():
        if len({digest for _, digest, _ in seen}) > 1:
            first, *later = sorted(seen)
            again += [(seq, where, first[0], audit_id) for seq, _, where in later]
    if not again:
        return []
    seq, where, earlier, audit_id = min(again)
    detail = (
        f"decides again the input decided at seq {earlier} (audit_id {audit_id}); "
        f"{len(again)} record(s) repeat earlier decisions: the input was processed twice "
        "(a second processor group on the same input?)"
    )
    return [Finding(REPLAYED, chain, seq, where, detail)]


def _links(chain: str, path: list[tuple[int, Claim]]) -> list[Finding]:
    out: list[Finding] = []
    previous: bytes | None = None
    expected_seq = 1
    for seq, (prev, digest, where) in path:
        if seq != expected_seq:
            missing = f"{expected_seq}..{seq - 1}" if seq - 1 > expected_seq else str(seq - 1)
            out.append(Finding(GAP, chain, seq, where, f"seq {missing} missing"))
            previous = None  # unknown: the link of this record cannot be checked
        elif prev != previous:
            out.append(Finding(BROKEN_LINK, chain, seq, where, "prev_hash is not seq-1's hash"))
        previous, expected_seq = digest, seq + 1
    return out


def _against(chain: str, head: Head, by_seq: Claims) -> list[Finding]:
    found = by_seq.get(head.seq)
    if not found:
        top = max(by_seq, default=0)
        return [Finding(TRUNCATED, chain, head.seq, "", f"chain ends at seq {top}")]
    if all(digest.hex() != head.hash for _, digest, _ in found):
        where = sorted(w for _, _, w in found)[0]
        return [Finding(REWRITTEN, chain, head.seq, where, "hash differs from the head")]
    return []
