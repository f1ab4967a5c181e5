"""Sub-command groups shared by the command modules."""

from __future__ import annotations

import typer


def command_group(app: typer.Typer, name: str, help_text: str) -> typer.Typer:
    """The sub-command group ``name`` of ``app``: the one another module registered, else a
    new one (``govbus catalog`` is filled by two modules)."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help=help_text)
    app.add_typer(group, name=name)
    return group
