"""Liveness probes through the stream processors: a ping in, an acknowledgement out.

Operators (and ``govbus demo``) send a ping through the faust worker and time the round
trip; the acknowledgement carries the ping unchanged plus when and by whom it was seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Ack:
    ping: str
    seen_by: str
    seen_at: datetime

    def to_bytes(self) -> bytes:
        return json.dumps(
            {"ping": self.ping, "seen_by": self.seen_by, "seen_at": self.seen_at.isoformat()},
            ensure_ascii=False,
        ).encode("utf-8")


def acknowledge(ping: bytes, worker: str, at: datetime) -> Ack:
    """Acknowledge one ping; undecodable bytes are kept visible, never dropped."""
    return Ack(ping=ping.decode("utf-8", errors="replace"), seen_by=worker, seen_at=at)
