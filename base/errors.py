"""The one exceptions module of govbus.

Every error govbus raises derives from :class:`GovbusError`. Third-party errors
(librdkafka, SQLAlchemy, subprocess, fastavro) are converted where they enter the
project, with ``raise ... from exc`` so the original stays attached.

Errors a person causes and must fix before anything can work (:data:`PERSON_ERRORS`: a
setting, a catalog, credentials, an ACL, an id already taken) are told in one line naming
the cause and the fix: a command exits 2, and a supervised worker is not restarted for them.

Tree::

    GovbusError
    ├── ConfigError                 bad settings, unknown keys, unreadable TOML
    ├── DomainError                 a rule of the regulations is broken (exchange/)
    │   ├── CatalogError            inconsistent catalog entry (cites the article)
    │   │   └── LifecycleError      an illegal catalog lifecycle transition
    │   ├── ProfileError            invalid jurisdiction profile file
    │   ├── IdentityKeyError        invalid resident ID / credit code / licence number
    │   ├── CalendarError           a date in a year with no holiday arrangement loaded
    │   ├── DeadlineError           a deadline cannot be computed (naive time, no such obligation)
    │   ├── PolicyError             sharing / opening policy cannot be applied
    │   │   └── GrantError          a sharing grant is invalid for its entry
    │   ├── CoordinationError       a conflict cannot be resolved: unknown, already resolved (GM 19)
    │   └── WorkflowError           a workflow step lacks what its article requires (422)
    │       ├── StateError          the step is not allowed in the case's current state (409)
    │       ├── PermissionDenied    the caller's role may not take the step (403)
    │       └── NotFound            no such case (404)
    ├── SchemaError                 Avro contract problems (schemas/)
    │   ├── UnknownSchemaError      a fingerprint no released schema version has
    │   └── EncodingError           a record does not fit the schema / bytes do not decode
    ├── BrokerError                 provisioning and running the local Kafka broker
    │   ├── ToolMissingError        java or mvn is not on PATH
    │   ├── RepositoryError         Maven could not resolve Kafka's jars
    │   ├── PortInUseError          a requested listener port is taken
    │   └── BrokerStartError        the process died or never answered metadata
    ├── KafkaError                  a librdkafka error, converted (``.code``, ``.retriable``)
    │   ├── KafkaTimeoutError       an operation did not finish in its time budget
    │   ├── DeliveryError           a produced message was not acknowledged
    │   ├── TransactionError        a transactional step failed (``.abortable``, ``.fatal``)
    │   ├── ClientClosedError       a wrapped client was used after ``close()`` (never reopened)
    │   ├── BrokerUnreachableError  nothing answers at the bootstrap address (refused, unknown host)
    │   ├── AuthenticationError     the broker wants credentials, or refused the ones given
    │   └── AuthorizationError      the principal lacks an ACL (topic, group, transactional id)
    ├── PublishError                the agency publisher cannot go on (topic missing, state dir)
    ├── AccessError                 credentials and broker ACLs (reserved name, file mode, listener)
    ├── SignatureError              an audit checkpoint's key or signature is not valid
    ├── LoginError                  no valid credentials: name, password or token (401)
    └── StorageError                SQL store problems (SQLAlchemy / Alembic), converted
        └── DuplicateError          a row with that id exists already (``.code`` names what)
"""

from __future__ import annotations


class GovbusError(Exception):
    """Root of every govbus error."""


class ConfigError(GovbusError):
    """Settings cannot be read or are invalid."""


class DomainError(GovbusError):
    """A rule of the regulations is broken. ``article`` cites the text (e.g. "GM 9")."""

    def __init__(self, message: str, *, code: str = "", article: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.article = article


class CatalogError(DomainError):
    """A catalog entry is inconsistent."""


class LifecycleError(CatalogError):
    """A catalog entry lifecycle transition is not allowed."""


class ProfileError(DomainError):
    """A jurisdiction profile file is invalid."""


class IdentityKeyError(DomainError):
    """An identity key (GM 18) is invalid; ``code`` names the reason."""


class CalendarError(DomainError):
    """A date falls in a year whose holiday arrangement is not loaded (D1)."""


class DeadlineError(DomainError):
    """A deadline cannot be computed: naive trigger time, obligation or case not in profile."""


class PolicyError(DomainError):
    """Sharing or opening policy cannot be applied."""


class GrantError(PolicyError):
    """A sharing grant does not fit its catalog entry."""


class CoordinationError(DomainError):
    """A conflict cannot be resolved (GM 19); ``code`` names why (unknown, already resolved)."""


class WorkflowError(DomainError):
    """A workflow step (a sharing application, ...) lacks what its article requires: a
    refusal without reasons (G 15 ¶2), items outside the entry (S 22), ..."""


class StateError(WorkflowError):
    """The step is not allowed in the case's current state (e.g. approving a withdrawn
    application), or the case changed since it was read."""


class PermissionDenied(WorkflowError):
    """The caller's role, or the agency it acts for, may not take the step."""


class NotFound(WorkflowError):
    """No case (or account) with that id."""


class SchemaError(GovbusError):
    """An Avro contract problem. ``code`` names the reason; ``field`` the offending field path."""

    def __init__(self, message: str, *, code: str = "", field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class UnknownSchemaError(SchemaError):
    """A message names a writer schema fingerprint that no released version has."""


class EncodingError(SchemaError):
    """A record does not fit its schema, or bytes do not decode."""


class BrokerError(GovbusError):
    """Provisioning or running the local Kafka broker failed."""


class ToolMissingError(BrokerError):
    """A required tool (java, mvn) is not installed."""


class RepositoryError(BrokerError):
    """Maven could not resolve Apache Kafka's jars."""


class PortInUseError(BrokerError):
    """A requested port is already in use."""


class BrokerStartError(BrokerError):
    """The broker process died or did not answer a metadata request in time."""


class KafkaError(GovbusError):
    """A librdkafka error, converted where it entered."""

    def __init__(
        self, message: str, *, code: str = "", retriable: bool = False, fatal: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retriable = retriable
        self.fatal = fatal


class KafkaTimeoutError(KafkaError):
    """An operation did not finish within its time budget."""


class DeliveryError(KafkaError):
    """A produced message was not acknowledged by the broker."""


class TransactionError(KafkaError):
    """A transactional step failed."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        retriable: bool = False,
        fatal: bool = False,
        abortable: bool = False,
    ) -> None:
        super().__init__(message, code=code, retriable=retriable, fatal=fatal)
        self.abortable = abortable


class ClientClosedError(KafkaError):
    """A wrapped client was used after ``close()``: a closed client is never reopened; make
    a new one."""


class BrokerUnreachableError(KafkaError):
    """Nothing answers at the bootstrap address: connection refused, unknown host, or no
    answer in time. Retriable: a broker that restarts answers again."""


class AuthenticationError(KafkaError):
    """The broker closes unauthenticated connections (no credentials configured), or refused
    the credentials given (wrong user name or password, or a removed credential)."""


class AuthorizationError(KafkaError):
    """The broker refused a request: the principal lacks an ACL (``code`` names the kind:
    TOPIC_, GROUP_, TRANSACTIONAL_ID_ or CLUSTER_AUTHORIZATION_FAILED)."""


class PublishError(GovbusError):
    """The agency publisher cannot go on: an ingest or receipts topic is missing, or its
    state directory is locked by another publisher or unreadable. ``code`` names the reason."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class AccessError(GovbusError):
    """Agency credentials or broker ACLs cannot be issued, read or applied."""


class SignatureError(GovbusError):
    """An audit checkpoint's key cannot be read or its signature does not verify."""


class LoginError(GovbusError):
    """No valid credentials for the HTTP service: an unknown name, a wrong password, an
    expired or revoked token. The message never says which."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class StorageError(GovbusError):
    """The SQL store failed."""


class DuplicateError(StorageError):
    """A row with that id exists already (a unique key); ``code`` names what
    (``agency_exists``, ``agency_revoked``...)."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


#: Errors a person causes and must fix (see the module docstring).
PERSON_ERRORS: tuple[type[GovbusError], ...] = (
    ConfigError,
    DomainError,
    AccessError,
    AuthenticationError,
    AuthorizationError,
    DuplicateError,
)
