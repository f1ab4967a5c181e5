"""``govbus backup FOLDER`` and ``govbus restore FOLDER [--check]`` (GM 28, GM 29, S 45).

What a backup holds, the check and the restore steps: :mod:`topology.backup`. Exit code 0
when the backup checks out (digests and audit chains), 1 when it does not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from base.errors import GovbusError
from govbus.cli.broker_cmd import connected_settings
from govbus.cli.common import BOOTSTRAP_OPT, JSON_OPT
from govbus.cli.output import EXIT_FAILURE, console, emit_json, failed
from topology import backup


def _target(bootstrap: str, as_json: bool) -> backup.Target:
    settings = connected_settings(bootstrap, as_json)
    return backup.Target(settings.bootstrap, settings.effective_database_url, dict(settings.kafka))


def _show(report: backup.BackupReport, as_json: bool, done: str) -> None:
    if as_json:
        emit_json(report.to_dict())
    else:
        records = sum(report.topics.values())
        rows = sum(report.tables.values())
        state = done if report.ok else "未通过校验 (NOT intact)"
        console.print(
            f"{report.folder}: {state}；{len(report.tables)} 张表 {rows} 行，"
            f"{len(report.topics)} 个主题 {records} 条记录（{report.created_at}）"
        )
        for problem in report.problems:
            console.print(f"  [red]{problem}[/]")
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


def register(app: typer.Typer) -> None:
    @app.command("backup")
    def backup_cmd(
        folder: Path = typer.Argument(..., help="A new or empty folder for the backup."),
        bootstrap: str = BOOTSTRAP_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Back up the SQL store, state topics, audit streams and conflicts, verifiably."""
        target = _target(bootstrap, as_json)
        try:
            report = backup.take(target, folder, datetime.now(UTC))
        except GovbusError as exc:
            failed(exc, as_json=as_json)
        _show(report, as_json, "备份完成，校验通过 (backed up, intact)")

    @app.command("restore")
    def restore_cmd(
        folder: Path = typer.Argument(..., help="A folder written by `govbus backup`."),
        check: bool = typer.Option(False, "--check", help="Only check it; write nothing."),
        bootstrap: str = BOOTSTRAP_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        """Restore a backup into an empty cluster and database (or --check it)."""
        try:
            if check:
                report = backup.check(folder)
            else:
                say = (lambda _m: None) if as_json else console.print
                report = backup.restore(folder, _target(bootstrap, as_json), say)
        except GovbusError as exc:
            failed(exc, as_json=as_json)
        _show(report, as_json, "校验通过 (intact)" if check else "恢复完成 (restored)")
