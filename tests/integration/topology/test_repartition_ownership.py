"""One repartition group owns the submission topics (issue 15; GM 22: one decision per
change): ``govbus run`` refuses a second group whose repartition stage would move every
submission to its ingest topic again, in one line naming the owner and the fix."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from base.errors import ConfigError
from kafkaclient import Admin, TopicSpec
from schemas.topics import bus_topics
from tests.support.scenario import Names
from topology.ownership import check_input
from topology.processor import ProcessorConfig
from topology.reference import StaticReference
from topology.repartitioner import Repartitioner, repartition_config

#: The stage joins its group and is assigned its partitions well within this.
WAIT_S = 90.0


def test_a_second_group_on_the_submission_topics_is_refused(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVBUS_PROFILE", "shenyang-2019")  # the demo catalog's profile
    names = Names()
    loaded = names.load()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(names.catalog_text(), encoding="utf-8")
    defs = bus_topics(
        [e.id for e in loaded.catalog.entries], [a.id for a in loaded.catalog.agencies]
    )
    Admin(bootstrap, extra_config=kafka_config).ensure_topics([TopicSpec.of(d) for d in defs])
    owner = f"govbus-own-{names.sfx}"
    stage = Repartitioner(
        repartition_config(
            ProcessorConfig(
                bootstrap, group_id=owner, commit_interval_s=0.1, extra_config=kafka_config
            )
        ),
        StaticReference(loaded.catalog, loaded.grants),
    )
    stop = threading.Event()
    thread = threading.Thread(target=stage.run, args=(stop,), daemon=True)
    thread.start()
    try:
        refusal: ConfigError | None = None
        deadline = time.monotonic() + WAIT_S
        while refusal is None and time.monotonic() < deadline:
            try:
                check_input(bootstrap, "govbus-other", catalog=catalog, extra_config=kafka_config)
                time.sleep(0.5)
            except ConfigError as exc:
                refusal = exc
        assert refusal is not None, f"no refusal within {WAIT_S}s"
        text = str(refusal)
        assert "submission topic govbus.submit.city-" in text
        assert f"repartitioned by group {owner}-repartition" in text
        assert text.endswith(f"run with --group {owner}")
        # The owner's own processors may start.
        check_input(bootstrap, owner, catalog=catalog, extra_config=kafka_config)
    finally:
        stop.set()
        thread.join(timeout=60)
