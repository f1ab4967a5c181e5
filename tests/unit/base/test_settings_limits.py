"""Processor limits are settings: the future skew of event_time (G 13) and the dead-letter
bound: default, TOML, environment, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from base.errors import ConfigError
from base.settings import DEFAULT_MAX_FUTURE_SKEW_S, Settings


def test_the_skew_has_a_default_and_comes_from_toml_then_environment(tmp_path: Path) -> None:
    assert Settings.load(environ={}).max_future_skew_s == DEFAULT_MAX_FUTURE_SKEW_S
    toml = tmp_path / "govbus.toml"
    toml.write_text("max_future_skew_s = 90\n", encoding="utf-8")
    assert Settings.load(environ={}, toml_path=toml).max_future_skew_s == 90.0
    env = {"GOVBUS_CONFIG": str(toml), "GOVBUS_MAX_FUTURE_SKEW_S": "2.5"}
    assert Settings.load(environ=env).max_future_skew_s == 2.5


@pytest.mark.parametrize("raw", ["soon", "-1", "nan", "inf", "1e400"])
def test_a_skew_that_is_no_number_of_seconds_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigError, match="max_future_skew_s"):
        Settings.load(environ={"GOVBUS_MAX_FUTURE_SKEW_S": raw})


def test_a_boolean_in_toml_is_not_a_number(tmp_path: Path) -> None:
    toml = tmp_path / "govbus.toml"
    toml.write_text("max_future_skew_s = true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="max_future_skew_s"):
        Settings.load(environ={}, toml_path=toml)


def test_the_dead_letter_bound_is_a_whole_number_setting(tmp_path: Path) -> None:
    assert Settings.load(environ={}).dead_letter_value_bytes == 1_000_000
    env = {"GOVBUS_DEAD_LETTER_VALUE_BYTES": "65536"}
    assert Settings.load(environ=env).dead_letter_value_bytes == 65536
    for raw in ("0", "1.5", "many"):
        with pytest.raises(ConfigError, match="dead_letter_value_bytes"):
            Settings.load(environ={"GOVBUS_DEAD_LETTER_VALUE_BYTES": raw})


def test_the_log_level_is_one_of_the_named_levels(tmp_path: Path) -> None:
    assert Settings.load(environ={}).log_level == "INFO"
    assert Settings.load(environ={"GOVBUS_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    toml = tmp_path / "govbus.toml"
    toml.write_text('log_level = "warning"\n', encoding="utf-8")
    assert Settings.load(environ={}, toml_path=toml).log_level == "WARNING"
    with pytest.raises(ConfigError, match="log_level must be one of DEBUG, INFO"):
        Settings.load(environ={"GOVBUS_LOG_LEVEL": "loud"})
