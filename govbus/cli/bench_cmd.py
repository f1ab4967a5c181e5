"""``govbus bench``: the pipeline benchmark (``python -m bench``, issue 9) from the CLI.

The benchmark lives in the source tree (``bench/``), not in the installed package: this
command runs it from the checkout govbus was installed from (editable install), and says
so when there is none.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from govbus.cli.output import EXIT_USAGE, fail

#: The checkout of an editable install: govbus/cli/bench_cmd.py -> the repository.
ROOT = Path(__file__).resolve().parents[2]


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        events: int = typer.Option(0, help="Events per throughput measurement (0: 15000)."),
        quick: bool = typer.Option(False, "--quick", help="Small sizes (2000 events)."),
        only: str = typer.Option(
            "", help="Comma-separated sections: raw,govbus,peers,variants,scaling,latency."
        ),
        bootstrap: str = typer.Option(
            "", help="Kafka bootstrap (default: the configured broker, else a local one)."
        ),
        profile: bool = typer.Option(False, "--profile", help="One more run under pyinstrument."),
        out: Path = typer.Option(None, help="Directory for JSON, PNG, profile (bench/results)."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Measure govbus against raw Kafka and Python peers in one run (bench/README.md)."""
        if not (ROOT / "bench" / "__main__.py").is_file():
            fail(
                f"no benchmark next to this govbus ({ROOT}): run it from a source checkout "
                "with `python -m bench`",
                as_json=as_json,
                code=EXIT_USAGE,
            )
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from bench.__main__ import main as bench_main

        argv = ["--bootstrap", bootstrap] if bootstrap else []
        argv += ["--events", str(events)] if events else []
        argv += ["--quick"] if quick else []
        argv += ["--only", only] if only else []
        argv += ["--profile"] if profile else []
        argv += ["--out", str(out)] if out else []
        argv += ["--json"] if as_json else []
        try:
            code = bench_main(argv)
        except SystemExit as exc:  # argparse usage errors, failed measurements
            if isinstance(exc.code, int) or exc.code is None:
                raise typer.Exit(exc.code or 0) from exc
            fail(str(exc.code), as_json=as_json)
        raise typer.Exit(code)
