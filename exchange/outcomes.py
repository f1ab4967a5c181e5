"""What the gate answers: the outcome of a change event and the reason codes.

Both are ``StrEnum``: a member *is* its wire string (``Outcome.ACCEPTED == "accepted"``),
so receipts, audit records, dead letters and metric labels carry the same text as before
these enums existed. The strings are part of the bus contract: never rename one.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from exchange.identity import Reason
from exchange.onesource import STALE_BY_SEQUENCE, STALE_BY_TIME, DecisionKind


class Outcome(StrEnum):
    """A change event's outcome (``Receipt.outcome``; the audit record's ``kind``)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    STOPPED = "stopped"
    CONFIRMATION = "confirmation"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    #: Older than the authoritative record, never applied (Receipt v2, Decision v3).
    STALE = "stale"


#: The event outcome of the most serious item decision (exchange.onesource).
OUTCOME_OF: Mapping[DecisionKind, Outcome] = {
    DecisionKind.ACCEPT: Outcome.ACCEPTED,
    DecisionKind.DUPLICATE: Outcome.DUPLICATE,
    DecisionKind.STOPPED: Outcome.STOPPED,
    DecisionKind.CONFIRMATION: Outcome.CONFIRMATION,
    DecisionKind.CONFLICT: Outcome.CONFLICT,
    DecisionKind.STALE: Outcome.STALE,
}


class ReasonCode(StrEnum):
    """Why: every code a receipt, a dead letter, an audit record of the gate or a refusal
    of the agency publisher carries: one set (the admission rules, :mod:`exchange.admission`,
    are the same on both sides).

    Dead letters of undecodable bytes carry the schema error's own code instead
    (``unknown_fingerprint``, ``bad_marker``...: :mod:`schemas.registry`).
    """

    # Admission (exchange.admission): the publisher refuses, the gate rejects.
    UNKNOWN_ENTRY = "unknown_entry"
    ENTRY_NOT_PUBLISHED = "entry_not_published"
    ENTRY_WITHDRAWN = "entry_withdrawn"
    DUPLICATE_ITEM = "duplicate_item"
    ITEM_TYPE_MISMATCH = "item_type_mismatch"
    ITEM_TOO_LONG = "item_too_long"
    # Refusals of the agency publisher only (producers.publisher, exchange.ingest_checks).
    UNKNOWN_AGENCY = "unknown_agency"
    PROVIDER_MISMATCH = "provider_mismatch"
    SCHEMA_INVALID = "schema_invalid"
    DUPLICATE_EVENT_ID = "duplicate_event_id"
    BAD_ROW = "bad_row"
    # Rejections by the gate (exchange.gate, steps 1-4).
    WRONG_TOPIC = "wrong_topic"
    UNKNOWN_PROVIDER = "unknown_provider"
    EMPTY_CHANGE = "empty_change"
    EVENT_TIME_IN_FUTURE = "event_time_in_future"
    EVENT_TOO_LARGE = "event_too_large"
    SUBJECT_KIND_MISMATCH = "subject_kind_mismatch"
    IDENTITY_LENGTH = "identity_length"
    IDENTITY_CHARACTERS = "identity_characters"
    IDENTITY_ORGANISATION_TYPE = "identity_organisation_type"
    IDENTITY_REGION = "identity_region"
    IDENTITY_BIRTH_DATE = "identity_birth_date"
    IDENTITY_CHECKSUM = "identity_checksum"
    IDENTITY_AMBIGUOUS = "identity_ambiguous"
    KEY_NOT_CANONICAL = "key_not_canonical"
    # One number, one source refused the change as a whole (exchange.onesource errors).
    INVALID_CHANGE = "invalid_change"
    WRONG_ENTRY = "wrong_entry"
    RECORD_MISMATCH = "record_mismatch"
    # Item decisions of one number, one source (exchange.onesource).
    AUTHORITATIVE_SOURCE = "authoritative_source"
    EVENT_SEEN = "event_seen"
    SAME_VALUE = "same_value"
    ALREADY_ABSENT = "already_absent"
    NOT_THE_SOURCE = "not_the_source"
    ITEM_NOT_IN_CATALOG = "item_not_in_catalog"
    MULTI_SOURCE_VERIFIED = "multi_source_verified"
    VALUE_DIFFERS = "value_differs"
    SOURCE_HAS_NO_VALUE = "source_has_no_value"
    SOURCE_SEQUENCE_NOT_NEWER = STALE_BY_SEQUENCE
    EVENT_TIME_OLDER = STALE_BY_TIME
    # The processor's own dead letters.
    UNDECODABLE = "undecodable"
    PROCESSING_FAILED = "processing_failed"

    @classmethod
    def identity(cls, reason: Reason) -> ReasonCode:
        """The code of an invalid identity number (``identity_<reason>``)."""
        return cls(f"identity_{reason.value}")


#: The receipt's text for the one-source codes (others carry their own sentence).
DESCRIPTIONS: Mapping[ReasonCode, str] = {
    ReasonCode.AUTHORITATIVE_SOURCE: "accepted from the authoritative source",
    ReasonCode.EVENT_SEEN: "this event id was already processed",
    ReasonCode.SAME_VALUE: "the authoritative record already holds this value",
    ReasonCode.ALREADY_ABSENT: "nothing to delete",
    ReasonCode.NOT_THE_SOURCE: "the provider is not the authoritative source of this item",
    ReasonCode.ITEM_NOT_IN_CATALOG: "the item is not in the catalog entry",
    ReasonCode.MULTI_SOURCE_VERIFIED: "the report confirms the authoritative value",
    ReasonCode.VALUE_DIFFERS: (
        "the report differs from the authoritative value; raised to the bureau"
    ),
    ReasonCode.SOURCE_HAS_NO_VALUE: "the source holds no value; raised to the bureau",
    ReasonCode.SOURCE_SEQUENCE_NOT_NEWER: (
        "the source sequence is not newer than the authoritative record's; not applied"
    ),
    ReasonCode.EVENT_TIME_OLDER: (
        "the event time is older than the authoritative record's; not applied"
    ),
}
