"""The typed settings object: defaults < TOML file < environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from base.errors import ConfigError
from base.settings import KAFKA_VERSION, Settings


def test_defaults_without_environment(tmp_path: Path) -> None:
    s = Settings.load(environ={"XDG_CACHE_HOME": str(tmp_path)})
    assert s.kafka_version == KAFKA_VERSION
    assert s.bootstrap == ""
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'govbus' / 'govbus.db'}"


def test_toml_then_environment_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "govbus.toml"
    cfg.write_text(
        'bootstrap = "toml:9092"\nprofile = "shenyang-2019"\n[kafka]\n"client.id" = "x"\n',
        encoding="utf-8",
    )
    s = Settings.load(environ={"GOVBUS_CONFIG": str(cfg), "GOVBUS_BOOTSTRAP": "env:9092"})
    assert s.bootstrap == "env:9092"  # environment beats the file
    assert s.profile == "shenyang-2019"  # the file beats the default
    assert s.kafka == {"client.id": "x"}
    pg = "postgresql+psycopg://u@h/db"
    assert Settings.load(environ={"GOVBUS_DATABASE_URL": pg}).effective_database_url == pg


def test_unknown_key_and_bad_toml_are_config_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('bootstrp = "typo"\n')
    with pytest.raises(ConfigError, match="bootstrp"):
        Settings.load(environ={}, toml_path=cfg)
    cfg.write_text("not toml = = =")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(environ={}, toml_path=cfg)
    with pytest.raises(ConfigError, match="not found"):
        Settings.load(environ={}, toml_path=tmp_path / "missing.toml")


def test_settings_are_frozen() -> None:
    s = Settings.load(environ={})
    with pytest.raises(AttributeError):
        s.bootstrap = "x"  # type: ignore[misc]  # the error under test: a frozen field
    assert s.with_overrides(bootstrap="a:1").bootstrap == "a:1"
