"""Closing conflicts (GM 19): agencies whose values differ consult promptly (及时协商); failing
that the city big data bureau coordinates and verifies (协调核实).

A conflict (``Conflict`` record) stays open until a ``ConflictResolution`` names its
``conflict_id``. The first resolution of a conflict is the one that counts; a second is
refused. Pure functions on decoded records (dicts of the Avro fields), no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from base.errors import CoordinationError

ARTICLE = "GM 19"
#: Fields a resolution copies from its conflict, so a reader of resolutions alone can follow.
COPIED = ("entry", "canonical_subject", "item")
OPEN, RESOLVED = "open", "resolved"


class Resolution(StrEnum):
    """How a conflict was settled (symbols of the ``ResolutionKind`` Avro enum)."""

    AUTHORITATIVE_CONFIRMED = "authoritative_confirmed"  # the authoritative value stands
    SOURCE_CORRECTED = "source_corrected"  # the authoritative source corrected its value
    REPORT_WITHDRAWN = "report_withdrawn"  # the reporting agency withdrew its report

    @property
    def option(self) -> str:
        """The spelling on the command line (``authoritative-confirmed``)."""
        return self.value.replace("_", "-")


@dataclass(frozen=True)
class CaseLog:
    """The conflicts raised and the resolutions written so far, each in topic order."""

    conflicts: Sequence[Mapping[str, Any]]
    resolutions: Sequence[Mapping[str, Any]]


def conflict_key(conflict_id: object) -> str:
    """A conflict id (UUID or text in any case) as one canonical string."""
    try:
        return str(uuid.UUID(str(conflict_id)))
    except ValueError as exc:
        raise CoordinationError(
            f"{conflict_id!r} is not a conflict id (a UUID)",
            code="bad_conflict_id",
            article=ARTICLE,
        ) from exc


def distinct(conflicts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Each conflict once, the first record kept: a resent report repeats its conflict's
    record under the same id (topology.records.conflict)."""
    first: dict[str, Mapping[str, Any]] = {}
    for c in conflicts:
        first.setdefault(conflict_key(c["conflict_id"]), c)
    return list(first.values())


def first_resolutions(resolutions: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """conflict id -> its first resolution, from resolutions in topic order."""
    out: dict[str, Mapping[str, Any]] = {}
    for r in resolutions:
        out.setdefault(conflict_key(r["conflict_id"]), r)
    return out


def resolve(
    conflict_id: str,
    log: CaseLog,
    *,
    resolution: Resolution,
    resolved_by: str,
    note: str | None,
    at: datetime,
) -> dict[str, Any]:
    """The ``ConflictResolution`` record closing ``conflict_id``; refuses an unknown conflict,
    one already resolved, a missing decider and a naive time."""
    key = conflict_key(conflict_id)
    found = [c for c in log.conflicts if conflict_key(c["conflict_id"]) == key]
    if not found:
        raise CoordinationError(f"no conflict {key}", code="unknown_conflict", article=ARTICLE)
    done = first_resolutions(log.resolutions).get(key)
    if done is not None:
        raise CoordinationError(
            f"conflict {key} was already resolved ({done['resolution']}) by "
            f"{done['resolved_by']} at {done['resolved_at']}",
            code="already_resolved",
            article=ARTICLE,
        )
    if not resolved_by.strip():
        raise CoordinationError(
            "a resolution names who decided (an agency id or the bureau)",
            code="no_decider",
            article=ARTICLE,
        )
    if at.tzinfo is None:
        raise CoordinationError(
            "the resolution time must carry a time zone", code="naive_time", article=ARTICLE
        )
    conflict = found[0]
    return {
        "conflict_id": key,
        **{k: conflict[k] for k in COPIED},
        "resolution": resolution.value,
        "resolved_by": resolved_by.strip(),
        "note": note or None,
        "resolved_at": at,
        "article": ARTICLE,
    }


def with_state(
    conflict: Mapping[str, Any], resolutions: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The conflict's fields plus ``state`` and the resolution's fields (None while open)."""
    done = resolutions.get(conflict_key(conflict["conflict_id"]))
    return {
        **conflict,
        "state": OPEN if done is None else RESOLVED,
        "resolution": None if done is None else str(done["resolution"]),
        "resolved_by": None if done is None else done["resolved_by"],
        "resolved_at": None if done is None else done["resolved_at"],
        "resolution_note": None if done is None else done["note"],
        "resolution_article": None if done is None else done["article"],
    }
