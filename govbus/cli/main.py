"""The ``govbus`` command line: parse input, call wiring or domain, print text or ``--json``.

Each command group lives in its own module under ``govbus/cli/`` and exposes
``register(app)``; this module only assembles them.
"""

from __future__ import annotations

import typer

from govbus.cli import (
    audit_cmd,
    backup_cmd,
    broker_cmd,
    catalog_cmd,
    compliance_cmd,
    conflicts_cmd,
    db_cmd,
    demo_cmd,
    domain_cmd,
    monitor_cmd,
    processor_cmd,
    publish_cmd,
    reference_cmd,
    run_cmd,
    serve_cmd,
    subscription_cmd,
    topics_cmd,
    user_cmd,
)
from govbus.cli.output import ReportingGroup

app = typer.Typer(
    cls=ReportingGroup,
    name="govbus",
    help="govbus: real-time government data exchange bus on Apache Kafka.",
    no_args_is_help=True,
    add_completion=False,
)

for _module in (
    broker_cmd,
    db_cmd,
    domain_cmd,
    catalog_cmd,
    topics_cmd,
    demo_cmd,
    publish_cmd,
    reference_cmd,  # after catalog_cmd: adds `catalog import` to its group
    processor_cmd,
    run_cmd,
    conflicts_cmd,
    audit_cmd,
    backup_cmd,
    monitor_cmd,
    compliance_cmd,
    serve_cmd,
    user_cmd,
    subscription_cmd,
):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
