"""`govbus db upgrade` says when unconditional data starts going to subscribers only
(migration 0004; G 15 ¶1, S 25 ¶1): only on a database that existed before it."""

from __future__ import annotations

from govbus.cli.db_cmd import SUBSCRIPTIONS_NOTICE, crossed_subscriptions
from storage import migrate


def test_the_notice_is_given_once_when_an_existing_database_crosses_0004() -> None:
    assert crossed_subscriptions("0003", "0004")
    assert crossed_subscriptions("0001", migrate.head())
    assert not crossed_subscriptions(None, "0004")  # a new database: nothing to keep
    assert not crossed_subscriptions("0004", "0004")
    assert not crossed_subscriptions("0002", "0003")
    assert "订阅" in SUBSCRIPTIONS_NOTICE and "legacy_unconditional" in SUBSCRIPTIONS_NOTICE
