"""The broker a benchmark runs on, and how its processes authenticate.

``--bootstrap``, else the configured broker (``GOVBUS_BOOTSTRAP``, the settings file or a
credentials file's): used as given, with the librdkafka settings of ``Settings.load()``
(``GOVBUS_CREDENTIALS_FILE``, ``[kafka]``, ``GOVBUS_KAFKA__*``). Else a local broker is
started on a temporary state directory for the run and stopped at the end; the benchmark
acts as its administrator (:meth:`LocalBroker.admin_config`), the only user of its
loopback listener.

Worker processes (``topology.run``, the faust and quix peers, the faust gate) get the
broker's address on their command line and their credentials through their environment:
``GOVBUS_CREDENTIALS_FILE`` names the administrator's file (mode 0600) of a local broker;
with a given broker they inherit the environment the benchmark was configured by. No
secret is ever put on a command line or printed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from base.settings import Settings
from kafkaclient.base import redact
from operations.broker.local import LocalBroker

GIVEN = "given"
LOCAL = "local (started for this run)"
CREDENTIALS_ENV = "GOVBUS_CREDENTIALS_FILE"


@dataclass(frozen=True)
class BenchBroker:
    """``bootstrap``; ``config``: librdkafka client settings without ``bootstrap.servers``;
    ``env``: the environment of worker processes; ``kind``: given or local; ``pid``: the
    broker's process when this run started it (the soak counts its open files)."""

    bootstrap: str
    kind: str = GIVEN
    config: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    pid: int | None = None

    def __repr__(self) -> str:
        return f"BenchBroker({self.bootstrap!r}, {self.kind!r}, config={redact(self.config)})"


def given(bootstrap: str, settings: Settings | None = None) -> BenchBroker:
    """A broker run elsewhere: the settings' client config, this process's environment."""
    settings = settings or Settings.load()
    return BenchBroker(bootstrap, GIVEN, dict(settings.kafka), dict(os.environ))


@contextmanager
def bench_broker(address: str = "") -> Iterator[BenchBroker]:
    """The given or configured broker; else a local one for this run (see the module)."""
    settings = Settings.load()
    address = address or settings.bootstrap
    if address:
        yield given(address, settings)
        return
    with tempfile.TemporaryDirectory(prefix="govbus-bench-") as tmp:
        local = LocalBroker(
            settings.home,
            settings.kafka_version,
            settings.broker_heap,
            state_dir=Path(tmp) / "broker",
        )
        status = local.start()
        try:
            admin = local.admin_config()
            bootstrap = admin.pop("bootstrap.servers", "") or str(status.bootstrap)
            # As the workers see it: the credentials file over the settings' [kafka].
            config = {**settings.kafka, **admin}
            env = {**os.environ, CREDENTIALS_ENV: str(status.admin_credentials)}
            yield BenchBroker(bootstrap, LOCAL, config, env, status.pid)
        finally:
            local.stop()
