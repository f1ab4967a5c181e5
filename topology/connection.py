"""How a govbus process on this host reaches the broker: configured, or the local one.

A configured ``bootstrap`` (``GOVBUS_BOOTSTRAP``, TOML, or a credentials file's) is used as
configured. Otherwise, when the local broker runs, its loopback ADMIN listener is used with
its administrator's credentials, read from the file the broker wrote (mode 0600): the local
broker admits no unauthenticated client. Only the broker's files are read
(:mod:`base.broker_files`); the provisioning code is never loaded here.
"""

from __future__ import annotations

from base.broker_files import BrokerFiles
from base.credentials import read_client_config
from base.settings import Settings


def connected(settings: Settings, bootstrap: str = "") -> Settings:
    """``settings`` as they connect, to ``bootstrap`` when one is given (``--bootstrap``).

    A configured broker is used as configured. With none configured, the running local
    broker's administrator credentials are filled in, but only for that broker: when
    ``bootstrap`` names another address, its password is not sent there. Otherwise the
    settings are unchanged (``bootstrap`` may stay '')."""
    if settings.bootstrap:
        return settings.with_overrides(bootstrap=bootstrap) if bootstrap else settings
    files = BrokerFiles(settings.home / "broker")
    if files.live_pid() is not None:
        admin = read_client_config(files.admin_credentials)
        local = admin.pop("bootstrap.servers", "")
        if not bootstrap or bootstrap == local:
            return settings.with_overrides(bootstrap=local, kafka={**admin, **settings.kafka})
    return settings.with_overrides(bootstrap=bootstrap) if bootstrap else settings
