"""The wrapper's client state, closing protocol, error conversion and retries, without a
broker: nothing listens on 127.0.0.1:1, and making a librdkafka client never connects in
the calling thread."""

from __future__ import annotations

import ast
import concurrent.futures
import time
from collections.abc import Callable
from pathlib import Path

import confluent_kafka
import pytest

from base.errors import (
    AuthenticationError,
    AuthorizationError,
    BrokerUnreachableError,
    ClientClosedError,
    GovbusError,
    KafkaError,
    KafkaTimeoutError,
    TransactionError,
)
from kafkaclient import (
    Admin,
    ClientState,
    Closing,
    Consumer,
    Producer,
    TopicSpec,
    retrying,
    transient,
)
from kafkaclient.convert import convert
from kafkaclient.diagnose import CLOSES_CONCLUSIVE, Evidence, probe
from kafkaclient.groups import RecordProbe
from kafkaclient.retry import Backoff

NOWHERE = "127.0.0.1:1"
ROOT = Path(__file__).resolve().parents[3]


# -- the state machine -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: Producer(NOWHERE),
        lambda: Consumer(NOWHERE, "g"),
        lambda: Admin(NOWHERE),
    ],
    ids=["producer", "consumer", "admin"],
)
def test_unopened_then_opened_then_closed_and_never_reopened(make: object) -> None:
    client = make()  # type: ignore[operator]
    state: ClientState = client.state
    assert state is ClientState.UNOPENED  # no I/O in __init__
    native = client.client
    state = client.state
    assert state is ClientState.OPENED
    assert client.client is native  # made once
    client.close()
    assert client.state is ClientState.CLOSED
    client.close()  # idempotent
    with pytest.raises(ClientClosedError, match="never reopened"):
        _ = client.client
    with pytest.raises(ClientClosedError), client:
        pass


def test_a_client_closed_before_its_first_use_is_never_made() -> None:
    producer = Producer(NOWHERE)
    producer.close()
    assert producer.state is ClientState.CLOSED and producer._inner is None
    with pytest.raises(ClientClosedError):
        producer.produce("t", b"v")


def test_every_typed_call_after_close_raises_instead_of_reopening() -> None:
    consumer = Consumer(NOWHERE, "g")
    consumer.close()
    tp = confluent_kafka.TopicPartition("t", 0, 0)
    calls: list[Callable[[], object]] = [
        lambda: consumer.consume(1, 0),
        lambda: consumer.assign([tp]),
        lambda: consumer.pause([tp]),
        lambda: consumer.resume([tp]),
        lambda: consumer.seek(tp),
        lambda: consumer.watermarks("t", 0, 0.1),
        lambda: consumer.committed([tp], 0.1),
        lambda: consumer.topic("t", 0.1),
    ]
    for call in calls:
        with pytest.raises(ClientClosedError):
            call()
    assert consumer._inner is None


def test_a_producer_flushes_before_its_first_use_and_not_after_close() -> None:
    producer = Producer(NOWHERE)
    producer.flush(0.1)  # nothing queued, nothing made
    assert producer.state is ClientState.UNOPENED
    producer.close()
    with pytest.raises(ClientClosedError):
        producer.flush(0.1)


def test_a_producer_is_closed_even_when_its_last_flush_fails() -> None:
    producer = Producer(NOWHERE, extra_config={"message.timeout.ms": 60000})
    producer.produce("t", b"never delivered")
    with pytest.raises(KafkaTimeoutError, match="not delivered"):
        producer.close(timeout_s=0.2)
    assert producer.state is ClientState.CLOSED


def test_the_record_probe_closes_its_consumer() -> None:
    probe_ = RecordProbe(NOWHERE)
    with probe_:
        assert probe_.first_records({}) == {}
    assert probe_._consumer.state is ClientState.CLOSED


def test_config_precedence_defaults_then_extra_then_explicit() -> None:
    producer = Producer(NOWHERE, extra_config={"linger.ms": 50, "acks": "1"}, client_id="x")
    assert producer.config["enable.idempotence"] is True  # default kept
    assert producer.config["linger.ms"] == 50 and producer.config["acks"] == "1"  # extra
    assert producer.config["client.id"] == "x"  # explicit
    consumer = Consumer(NOWHERE, "g", extra_config={"group.id": "overridden"})
    assert consumer.config["group.id"] == "g"


# -- the closing protocol --------------------------------------------------------------------
class _Failing(Closing):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1
        raise KafkaTimeoutError("flush failed")


def test_closing_raises_its_own_failure_when_nothing_else_is_in_flight() -> None:
    thing = _Failing()
    with pytest.raises(KafkaTimeoutError), thing:
        pass
    assert thing.closed == 1


def test_closing_lets_the_exception_in_flight_win() -> None:
    thing = _Failing()
    with pytest.raises(ValueError, match="the real problem"), thing:
        raise ValueError("the real problem")
    assert thing.closed == 1


def test_one_closing_protocol_no_other_exit_methods() -> None:
    """One mixin (kafkaclient.base.Closing) instead of an ``__exit__`` per class."""
    found = []
    for package in ("kafkaclient", "consumers", "producers", "topology", "monitoring"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name == "__exit__":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert [f.split(":")[0] for f in found] == ["kafkaclient/base.py"], found


def test_nothing_outside_the_wrapper_touches_the_native_client() -> None:
    """``.client`` is the wrapper's own: product code, tests and benchmarks use the typed
    methods (issue 13); only the wrapper and its own tests reach the native client."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {"kafkaclient", ".venv", "build"} or "site-packages" in rel.parts:
            continue
        if rel.parts[0] == "tests" and "kafkaclient" in rel.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "client":
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


# -- conversion --------------------------------------------------------------------------------
def test_authorization_failures_are_their_own_errors() -> None:
    for code in (
        confluent_kafka.KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED,
        confluent_kafka.KafkaError.GROUP_AUTHORIZATION_FAILED,
    ):
        converted = convert(confluent_kafka.KafkaException(confluent_kafka.KafkaError(code)))
        assert isinstance(converted, AuthorizationError)
        assert converted.code.endswith("_AUTHORIZATION_FAILED")
    fenced = convert(confluent_kafka.KafkaError(confluent_kafka.KafkaError._FENCED))
    assert isinstance(fenced, TransactionError)


def test_a_futures_timeout_becomes_a_govbus_timeout() -> None:
    """The bare ``TimeoutError`` of ``Future.result`` never leaves the wrapper (issue 14)."""
    converted = convert(concurrent.futures.TimeoutError(), "create topic t")
    assert isinstance(converted, KafkaTimeoutError) and converted.retriable
    assert "create topic t" in str(converted)


def test_transient_codes_are_retriable() -> None:
    err = convert(confluent_kafka.KafkaError(confluent_kafka.KafkaError._UNKNOWN_PARTITION))
    assert err.retriable and transient(err)
    assert not transient(AuthenticationError("x", code="_AUTHENTICATION"))
    assert not transient(KafkaError("fenced", code="_FENCED", retriable=True, fatal=True))
    assert not transient(ValueError("not kafka"))


# -- retrying ---------------------------------------------------------------------------------
def test_retrying_retries_what_clears_by_itself() -> None:
    attempts: list[float] = []

    def flaky() -> str:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise KafkaError("just restarted", code="_UNKNOWN_PARTITION", retriable=True)
        return "answer"

    fast = Backoff(first_s=0.01, max_s=0.02)
    assert retrying(flaky, "watermarks", time.monotonic() + 5, fast) == "answer"
    assert len(attempts) == 3


def test_retrying_never_retries_what_a_person_must_fix() -> None:
    calls = []

    def refused() -> None:
        calls.append(1)
        raise AuthenticationError("wrong password", code="_AUTHENTICATION")

    with pytest.raises(AuthenticationError):
        retrying(refused, "x", time.monotonic() + 5)
    assert calls == [1]


def test_retrying_gives_up_at_the_deadline_naming_what_and_why() -> None:
    def down() -> None:
        raise KafkaError("Local: Broker transport failure", code="_TRANSPORT", retriable=True)

    began = time.monotonic()
    with pytest.raises(KafkaTimeoutError, match=r"reading the state topics.*transport"):
        retrying(down, "reading the state topics", began + 0.3, Backoff(0.05, 0.1))
    assert time.monotonic() - began < 2.0

    def unreachable() -> None:
        raise BrokerUnreachableError("nothing answers at x", code="_TRANSPORT", retriable=True)

    with pytest.raises(BrokerUnreachableError):  # already names the cause and the fix
        retrying(unreachable, "x", time.monotonic() + 0.1, Backoff(0.05, 0.1))


def test_backoff_is_bounded() -> None:
    delays = Backoff(first_s=0.1, max_s=1.0, jitter=0.0).delays()
    assert [round(next(delays), 2) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


# -- diagnosis ---------------------------------------------------------------------------------
def _error(code: int, text: str) -> confluent_kafka.KafkaError:
    return confluent_kafka.KafkaError(code, text)


def test_refused_credentials_are_conclusive_at_once() -> None:
    evidence = Evidence({"bootstrap.servers": "b:9092", "sasl.username": "city-psb"})
    assert evidence.verdict() is None
    evidence.error(_error(confluent_kafka.KafkaError._AUTHENTICATION, "Invalid password"))
    verdict = evidence.verdict()
    assert isinstance(verdict, AuthenticationError)
    assert "city-psb" in str(verdict) and "rotate-password" in str(verdict)
    assert "\n" not in str(verdict)


def test_connections_closed_without_credentials_mean_credentials_are_missing() -> None:
    evidence = Evidence({"bootstrap.servers": "b:9092"})
    for _ in range(CLOSES_CONCLUSIVE - 1):
        evidence.log_line("FAIL", "b:9092/bootstrap: Disconnected: connection closed by peer")
    assert evidence.verdict() is None  # a broker shutting down closes a few too
    evidence.log_line("FAIL", "b:9092/bootstrap: Disconnected: connection closed by peer")
    verdict = evidence.verdict()
    assert isinstance(verdict, AuthenticationError) and verdict.code == "no_credentials"
    assert "GOVBUS_CREDENTIALS_FILE" in str(verdict)


def test_a_refused_connection_is_the_answer_only_when_the_operation_failed() -> None:
    evidence = Evidence({"bootstrap.servers": "b:9092"})
    evidence.error(_error(confluent_kafka.KafkaError._TRANSPORT, "Connection refused"))
    for _ in range(CLOSES_CONCLUSIVE):
        evidence.log_line("FAIL", "Disconnected: connection closed by peer")
    assert evidence.verdict() is None  # a restarting broker: keep waiting
    verdict = evidence.verdict(final=True)
    assert isinstance(verdict, BrokerUnreachableError) and verdict.retriable
    assert "govbus broker start" in str(verdict)


def test_evidence_older_than_the_operation_is_ignored() -> None:
    evidence = Evidence({"bootstrap.servers": "b:9092"})
    evidence.error(_error(confluent_kafka.KafkaError._AUTHENTICATION, "old"))
    assert evidence.verdict(time.monotonic() + 1) is None


def test_a_probe_of_a_closed_port_says_nothing_answers() -> None:
    began = time.monotonic()
    verdict = probe({"bootstrap.servers": NOWHERE, "group.id": "ignored"})
    assert isinstance(verdict, BrokerUnreachableError)
    assert NOWHERE in str(verdict)
    assert time.monotonic() - began < 5


def test_the_admin_names_the_cause_of_a_failed_wait() -> None:
    began = time.monotonic()
    with pytest.raises(GovbusError) as caught:
        Admin(NOWHERE).ensure_topics([TopicSpec("t")], timeout_s=1.0)
    assert isinstance(caught.value, BrokerUnreachableError), caught.value
    assert time.monotonic() - began < 10
