"""``govbus publish``: an agency sends a file of changes to one catalog entry."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from base.errors import GovbusError, KafkaTimeoutError
from base.settings import Settings
from exchange.catalog_loader import load_catalog
from govbus.cli.broker_cmd import require_broker
from govbus.cli.output import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, console, emit_json, fail
from producers import AgencyPublisher, PublisherOptions, PublishResult, PublishStatus
from producers.rows import InputFileError, Row, format_of, read_rows
from schemas import default_registry
from schemas.topics import TopicKind, topic_name
from topology.connection import connected

DEFAULT_CATALOG = Path("examples/catalog-demo.yaml")
#: How long --wait-receipts waits for the bus's decisions by default.
RECEIPT_TIMEOUT_S = 30.0
#: Waiting for the broker to acknowledge everything sent.
FLUSH_TIMEOUT_S = 60.0
STATE_SUBDIR = "publisher"

HELP = """Publish a file of changes of AGENCY to catalog entry ENTRY (G 10, G 12).

Each row is checked locally first (catalog entry published, data items in the entry, AGENCY \
the authoritative source of every item it writes unless the row is a non-authoritative report, \
identity key of the entry's kind, Avro schema); a refused row is reported with its line number \
and reason, and never sent. The rest go with acks=all and idempotence to AGENCY's own \
submission topic govbus.submit.<AGENCY>, keyed by the canonical subject; the bus moves each \
to govbus.ingest.<ENTRY> (发送到本部门的提交主题，由总线转入目录条目的接入主题).

\b
JSON Lines (.jsonl), one change per line:
  {"subject_key": "11010519491231002X", "operation": "update",
   "items": {"name": "张三"}, "authoritative": true,
   "event_id": "<uuid>", "event_time": "2025-03-01T09:30:00+08:00",
   "before": {...}, "source_system": "...", "source_sequence": 42,
   "trace_id": "...", "legal_basis": "...", "provider": "<AGENCY>"}
  subject_key, operation (create/update/delete) and items are required; for
  delete, items holds the values withdrawn. null = no value.

\b
CSV (.csv, UTF-8, header row): subject_key, operation, optional columns
  authoritative (true/false; empty = true), event_id, event_time,
  source_system, source_sequence, trace_id, legal_basis, provider;
  every other column is a data item; an empty cell = not changed.

A row without event_id gets one derived from agency, entry, file name, line and content, so \
re-publishing a file (after a crash, say) skips what the broker already acknowledged: the \
journal is kept in --state-dir. Exit 0 when every row was sent (or had been before), 1 when \
any was refused or failed, 2 for usage errors."""


@dataclass
class Summary:
    """The summary; ``to_json`` field names are an interface."""

    agency: str
    entry: str
    topic: str
    sent: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0
    skipped_already_acknowledged: int = 0
    receipts: dict[str, int] | None = None
    pending_receipts: int | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "entry": self.entry,
            "topic": self.topic,
            "sent": self.sent,
            "refused": self.refused,
            "delivered": self.delivered,
            "failed": self.failed,
            "skipped_already_acknowledged": self.skipped_already_acknowledged,
            "receipts": self.receipts,
            "pending_receipts": self.pending_receipts,
        }

    @property
    def exit_code(self) -> int:
        return EXIT_FAILURE if self.refused or self.failed else EXIT_OK


def _refusal_row(line: int, refusal: Any) -> dict[str, Any]:
    return {
        "line": line,
        "reason": refusal.reason.value,
        "message": refusal.message,
        "article": refusal.article,
    }


def _outcomes() -> list[str]:
    """Outcome names from the Receipt schema, so the summary always lists all of them."""
    definition = default_registry().current("Receipt").definition
    for spec in definition["fields"]:
        if spec["name"] == "outcome":
            return list(spec["type"]["symbols"])
    return []


def _send_all(
    publisher: AgencyPublisher, entry: str, rows: list[Row], show_progress: bool
) -> list[tuple[int, PublishResult]]:
    sent: list[tuple[int, PublishResult]] = []
    progress = Progress(
        TextColumn("publishing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
        transient=True,
    )
    with progress:
        task = progress.add_task("publish", total=len(rows))
        for row in rows:
            if row.draft is not None:
                sent.append((row.line, publisher.publish(entry, row.draft)))
            progress.advance(task)
        try:
            publisher.flush(FLUSH_TIMEOUT_S)
        except KafkaTimeoutError:
            pass  # what is still pending is reported as failed
    return sent


def _summarise(summary: Summary, rows: list[Row], results: list[tuple[int, PublishResult]]) -> None:
    refused = [(row.line, row.refusal) for row in rows if row.refusal is not None]
    refused += [(line, r.refusal) for line, r in results if r.refusal is not None]
    summary.refused = [_refusal_row(line, why) for line, why in sorted(refused)]
    for line, result in results:
        if result.status is PublishStatus.DELIVERED:
            summary.delivered += 1
        elif result.status in (PublishStatus.FAILED, PublishStatus.PENDING):
            summary.failed += 1
            error = result.error or f"no delivery report within {FLUSH_TIMEOUT_S:g}s"
            summary.failures.append({"line": line, "error": str(error)})
        elif result.status is PublishStatus.SKIPPED:
            summary.skipped_already_acknowledged += 1
    summary.sent = summary.delivered + summary.failed


def _wait(
    publisher: AgencyPublisher,
    summary: Summary,
    results: list[tuple[int, PublishResult]],
    timeout_s: float,
    as_json: bool,
) -> None:
    ids = [
        r.event_id
        for _, r in results
        if r.status in (PublishStatus.DELIVERED, PublishStatus.SKIPPED)
    ]
    counts = dict.fromkeys(_outcomes(), 0)
    try:
        got = publisher.wait_receipts(ids, timeout_s) if ids else {}
    except GovbusError as exc:
        if not as_json:
            console.print(f"[yellow]receipts not read:[/] {exc}")
        got = {}
    for receipt in got.values():
        counts[receipt.outcome] = counts.get(receipt.outcome, 0) + 1
    summary.receipts = counts
    summary.pending_receipts = len(set(ids)) - len(got)


def _print(summary: Summary) -> None:
    console.print(
        f"{summary.agency} -> [bold]{summary.topic}[/]: sent {summary.sent} "
        f"(delivered {summary.delivered}, failed {summary.failed}), "
        f"skipped (already acknowledged) {summary.skipped_already_acknowledged}, "
        f"refused {len(summary.refused)}"
    )
    for item in summary.refused:
        article = f" ({item['article']})" if item["article"] else ""
        console.print(f"  line {item['line']}: [red]{item['reason']}[/]{article} {item['message']}")
    for item in summary.failures:
        console.print(f"  line {item['line']}: [red]failed[/] {item['error']}")
    if summary.receipts is not None:
        decided = ", ".join(f"{k} {v}" for k, v in summary.receipts.items() if v) or "none"
        console.print(f"receipts: {decided}; pending {summary.pending_receipts}")


def register(app: typer.Typer) -> None:
    @app.command("publish", help=HELP)
    def publish(
        file: Path = typer.Argument(..., help="JSON Lines (.jsonl) or CSV (.csv) file, UTF-8."),
        agency: str = typer.Option(..., "--agency", help="Publishing agency id."),
        entry: str = typer.Option(..., "--entry", help="Catalog entry id."),
        catalog: Path = typer.Option(DEFAULT_CATALOG, "--catalog", help="Catalog YAML file."),
        bootstrap: str = typer.Option(
            "", help="Kafka bootstrap (default: GOVBUS_BOOTSTRAP or the running local broker)."
        ),
        fmt: str = typer.Option(
            None, "--format", help="jsonl or csv (default: from the file suffix)."
        ),
        state_dir: Path = typer.Option(
            None, "--state-dir", help="Journal of acknowledged events (default: <home>/publisher)."
        ),
        source_system: str = typer.Option(
            None, "--source-system", help="Source system of rows that name none (default: agency)."
        ),
        wait_receipts: bool = typer.Option(
            False, "--wait-receipts", help="Wait for the bus's receipt of each event."
        ),
        receipt_timeout: float = typer.Option(
            RECEIPT_TIMEOUT_S, "--receipt-timeout", help="Seconds to wait for receipts."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        settings = Settings.load()
        try:
            input_format = format_of(file, fmt)
            rows = read_rows(file, input_format, agency_id=agency, entry_id=entry)
            loaded = load_catalog(catalog).catalog
            topic_name(TopicKind.INGEST, entry)  # the entry id must be able to name a topic
            topic = topic_name(TopicKind.SUBMIT, agency)
        except (InputFileError, GovbusError) as exc:
            fail(str(exc), as_json=as_json, code=EXIT_USAGE, kind=type(exc).__name__)
        settings = require_broker(connected(settings, bootstrap), as_json)
        address = settings.bootstrap
        summary = Summary(agency, entry, topic)
        show_progress = sys.stdout.isatty() and not as_json
        try:
            with AgencyPublisher(
                address,
                agency,
                loaded,
                extra_config=settings.kafka,
                state_dir=state_dir or settings.home / STATE_SUBDIR,
                options=PublisherOptions(source_system=source_system),
            ) as publisher:
                results = _send_all(publisher, entry, rows, show_progress)
                _summarise(summary, rows, results)
                if wait_receipts:
                    _wait(publisher, summary, results, receipt_timeout, as_json)
        except GovbusError as exc:
            fail(str(exc), as_json=as_json, kind=type(exc).__name__)
        if as_json:
            emit_json(summary.to_json())
        else:
            _print(summary)
        raise typer.Exit(summary.exit_code)
