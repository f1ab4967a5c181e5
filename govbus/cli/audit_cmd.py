"""``govbus audit verify``: check the audit stream's hash chains (S 42; schemas.audit).

Reads ``govbus.audit`` to its end (read committed) and follows every chain. Exit code 0
when nothing is wrong, 1 when a record is changed, missing, duplicated or re-sealed, when
a chain forks or decides an input twice (two processor groups on one input), or when a
chain ends before a head recorded earlier (``--expect`` a previous ``--json`` report).
``--sign KEY`` signs the report's heads (a checkpoint); ``--trust PUBLIC`` accepts an
``--expect`` report's heads only when that signature verifies (:mod:`schemas.audit.signing`).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from base.errors import GovbusError, SignatureError
from consumers.reader import read_labelled
from govbus.cli.broker_cmd import connected_settings
from govbus.cli.output import EXIT_FAILURE, EXIT_USAGE, console, emit, emit_json, fail, failed
from schemas.audit import AuditReport, Head, heads_document, of_entries, signing, verify
from schemas.topics import TopicKind, topic_name


def _expected(path: Path | None, trust: Path | None, as_json: bool) -> dict[str, Head] | None:
    """The heads of an earlier report; with ``trust``, only if their signature verifies."""
    if path is None:
        if trust is not None:
            fail("--trust goes with --expect", as_json=as_json, code=EXIT_USAGE)
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        heads = {c: Head(int(h["seq"]), str(h["hash"])) for c, h in report["heads"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        fail(
            f"{path} is not a `govbus audit verify --json` report: {exc}",
            as_json=as_json,
            code=EXIT_USAGE,
        )
    if trust is not None:
        try:
            signing.check(trust, heads_document(heads), report.get("signature"))
        except SignatureError as exc:
            fail(f"{path}: {exc}", as_json=as_json, kind="SignatureError")
    return heads


def _signed(key: Path, report: AuditReport, as_json: bool) -> dict[str, str]:
    """The signature of ``report``'s heads with the private ``key`` (a checkpoint)."""
    try:
        return signing.sign(key, heads_document(report.heads))
    except SignatureError as exc:
        fail(str(exc), as_json=as_json, kind="SignatureError")


def _print_report(topic: str, report: AuditReport, signature: dict[str, str] | None) -> None:
    state = "[green]intact[/]" if report.ok else "[bold red]NOT intact[/]"
    console.print(
        f"{topic}: {state}: {report.records} chained record(s) in "
        f"{len(report.heads)} chain(s), {report.unchained} unchained"
    )
    if signature is not None:
        console.print(f"heads signed ({signature['algorithm']}): {signature['value']}")
    if report.findings:
        table = Table("finding", "chain", "seq", "at (partition/offset)", "detail")
        for f in report.findings:
            table.add_row(f.kind, f.chain, str(f.seq or "-"), f.where or "-", f.detail)
        console.print(table)


def register(app: typer.Typer) -> None:
    audit = typer.Typer(help="The audit stream: every event and decision, tamper-evident.")
    app.add_typer(audit, name="audit")

    @audit.command("keygen")
    def keygen(
        private: Path = typer.Option(..., "--private", help="Private key file (0600)."),
        public: Path = typer.Option(..., "--public", help="Public key file."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Make an auditor's Ed25519 key pair for signing checkpoints (keep it off the bus)."""
        try:
            signing.new_key(private, public)
        except (SignatureError, OSError) as exc:
            fail(str(exc), as_json=as_json, kind="SignatureError")
        payload = {"private": str(private), "public": str(public), "algorithm": "ed25519"}
        emit(as_json, payload, f"key pair: {private} (0600), {public}")

    @audit.command("verify")
    def verify_cmd(
        entry: list[str] = typer.Option(
            [], "--entry", help="Only the chains of this catalog entry (repeatable)."
        ),
        expect: Path = typer.Option(
            None, "--expect", help="An earlier --json report: its heads must still be there."
        ),
        trust: Path = typer.Option(
            None, "--trust", help="Public key: accept --expect's heads only if it signed them."
        ),
        sign: Path = typer.Option(
            None, "--sign", help="Private key: sign this report's heads (a checkpoint)."
        ),
        bootstrap: str = typer.Option("", help="Kafka bootstrap (default: settings)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Recompute every audit record's hash and follow each chain's links."""
        settings = connected_settings(bootstrap, as_json, code=EXIT_FAILURE)
        expected = _expected(expect, trust, as_json)
        topic = topic_name(TopicKind.AUDIT)
        try:
            messages = read_labelled(settings.bootstrap, topic, extra_config=settings.kafka)
        except GovbusError as exc:
            failed(exc, as_json=as_json)
        report = verify(messages, include=of_entries(entry) if entry else None, expected=expected)
        signature = None if sign is None else _signed(sign, report, as_json)
        if as_json:
            emit_json({"topic": topic, **report.to_dict(), "signature": signature})
        else:
            _print_report(topic, report, signature)
        if not report.ok:
            raise typer.Exit(EXIT_FAILURE)
