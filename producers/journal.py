"""The publisher's local memory: which events the broker acknowledged, and their receipts.

With a state directory, one agency's journal lives in ``<state_dir>/<agency>/``:

* ``acknowledged.jsonl``: one JSON object per acknowledged event (event id, entry,
  topic, partition, offset, source system, source sequence), appended when its delivery
  report arrives and flushed to the OS at once, so a crash of the process loses none;
  fsync'ed on :meth:`Journal.sync` (flush and close of the publisher).
* ``receipts.jsonl``: every receipt read from the receipts topic, so a receipt read once
  (and committed in the consumer group) is still answered after a restart.
* ``lock``: held (``flock``) while a publisher uses the directory; a second publisher on
  the same directory is refused.

A restarted publisher skips events whose id is in the journal ("a restart does not
resend what was acknowledged"). A crash between the broker's acknowledgement and the
journal write makes the event go again; the gate answers it as a duplicate (by event id).
A torn last line (crash mid-write) is dropped on load. Without a state directory the
journal lives in memory for the publisher's lifetime.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from base.errors import PublishError
from producers.model import Receipt

ACKS_FILE = "acknowledged.jsonl"
RECEIPTS_FILE = "receipts.jsonl"
LOCK_FILE = "lock"


@dataclass(frozen=True)
class Ack:
    """An event the broker acknowledged."""

    event_id: str
    entry: str
    topic: str
    partition: int
    offset: int
    source_system: str
    source_sequence: int

    def to_json(self) -> dict[str, Any]:
        """The journal line: every field by its name (read back by ``Ack(**line)``)."""
        return asdict(self)


class Journal:
    """Acknowledged events, receipts and source sequence watermarks of one agency."""

    def __init__(self, state_dir: Path | None, agency_id: str) -> None:
        self.directory = None if state_dir is None else state_dir / agency_id
        self._acks: dict[str, Ack] = {}
        self._receipts: dict[str, Receipt] = {}
        self._watermarks: dict[str, int] = {}
        self._files: dict[str, IO[str]] = {}
        self._lock: IO[str] | None = None
        self._open = False

    def open(self) -> None:
        """Lock the directory and load it (idempotent; the first use calls it)."""
        if self._open:
            return
        if self.directory is not None:
            self._lock_directory(self.directory)
            try:
                for line in _read_lines(self.directory / ACKS_FILE):
                    self._remember_ack(Ack(**line))
                for line in _read_lines(self.directory / RECEIPTS_FILE):
                    receipt = Receipt.from_record(line)
                    self._receipts[receipt.event_id] = receipt
            except (TypeError, KeyError, ValueError) as exc:
                self._unlock()
                raise PublishError(
                    f"state journal in {self.directory} is not readable: {exc}",
                    code="journal_unreadable",
                ) from exc
        self._open = True

    def _lock_directory(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            lock = (directory / LOCK_FILE).open("a", encoding="utf-8")
        except OSError as exc:
            raise PublishError(
                f"cannot use state directory {directory}: {exc}", code="state_dir_unusable"
            ) from exc
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock.close()
            raise PublishError(
                f"state directory {directory} is in use by another publisher",
                code="state_dir_locked",
            ) from exc
        self._lock = lock

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the flock
            self._lock = None

    # -- queries -----------------------------------------------------------------
    def acknowledged(self, event_id: str) -> Ack | None:
        self.open()
        return self._acks.get(event_id)

    def receipt(self, event_id: str) -> Receipt | None:
        self.open()
        return self._receipts.get(event_id)

    def next_sequence(self, source_system: str, floor: int) -> int:
        """A sequence number above every one used for ``source_system`` and at least
        ``floor`` (the caller passes the clock in microseconds, so numbers keep growing
        across restarts even for events never acknowledged)."""
        self.open()
        value = max(self._watermarks.get(source_system, -1) + 1, floor)
        self._watermarks[source_system] = value
        return value

    def note_sequence(self, source_system: str, sequence: int) -> None:
        """Raise the watermark of ``source_system`` to a sequence given by the caller."""
        self._watermarks[source_system] = max(self._watermarks.get(source_system, -1), sequence)

    # -- records -----------------------------------------------------------------
    def record_ack(self, ack: Ack) -> None:
        self.open()
        self._remember_ack(ack)
        if self.directory is not None:
            self._append(ACKS_FILE, ack.to_json())

    def record_receipt(self, receipt: Receipt) -> None:
        self.open()
        self._receipts[receipt.event_id] = receipt
        if self.directory is not None:
            self._append(RECEIPTS_FILE, receipt.to_json())

    def _remember_ack(self, ack: Ack) -> None:
        self._acks[ack.event_id] = ack
        self.note_sequence(ack.source_system, ack.source_sequence)

    def _append(self, name: str, payload: dict[str, Any]) -> None:
        if self.directory is None:
            return
        handle = self._files.get(name)
        if handle is None:
            handle = (self.directory / name).open("a", encoding="utf-8")
            self._files[name] = handle
        handle.write(json.dumps(payload, ensure_ascii=False) + "\n")
        handle.flush()  # in the OS now: survives a crash of this process

    def sync(self) -> None:
        """fsync the journal files (survives a crash of the machine)."""
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        try:
            self.sync()
        finally:
            for handle in self._files.values():
                handle.close()
            self._files.clear()
            self._unlock()
            self._open = False


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """JSON objects of a journal file; a torn last line is cut off the file first."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    complete = raw[: raw.rfind(b"\n") + 1]
    if len(complete) != len(raw):
        with path.open("r+b") as handle:
            handle.truncate(len(complete))
    out = []
    for line in complete.decode("utf-8").splitlines():
        if line.strip():
            value = json.loads(line)
            if not isinstance(value, dict):
                raise ValueError(f"journal line is not an object: {line[:80]!r}")
            out.append(value)
    return out
