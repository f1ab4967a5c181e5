"""Shared test support (moved from tests/test_compose.py); not a test module."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


class _StrictLoader(yaml.SafeLoader):
    """Refuses duplicate keys, which plain YAML silently resolves to the last one."""


def _no_duplicates(
    loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Hashable, Any]:
    merge = "tag:yaml.org,2002:merge"  # `<<: *anchor`, resolved by construct_mapping
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value if k.tag != merge]
    dupes = {k for k in keys if keys.count(k) > 1 and k != "<<"}
    if dupes:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate keys {dupes}", node.start_mark
        )
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _compose() -> dict[str, Any]:
    compose = yaml.load((ROOT / "docker-compose.yml").read_text(), Loader=_StrictLoader)
    assert isinstance(compose, dict)
    return compose


def _with(argv: list[str], values: dict[str, str]) -> list[str]:
    """``argv`` with the values of some options replaced."""
    out = list(argv)
    for option, value in values.items():
        out[out.index(option) + 1] = value
    return out
