"""Resolve Apache Kafka's jars from Maven Central into the govbus cache.

Maven's own local repository (``~/.m2``) caches the downloads; the resolved runtime
classpath is copied to ``<home>/kafka/<version>/libs`` with a marker file written last,
so an interrupted resolution is redone rather than half-used.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from base.errors import RepositoryError, ToolMissingError

#: Maven resolves ~46 jars (~40 MB); on a slow mirror a cold resolution takes minutes.
MAVEN_TIMEOUT_S = 900
_MARKER = ".resolved"


@dataclass(frozen=True)
class KafkaRuntime:
    """A resolved Kafka runtime: its version and the directory holding every jar."""

    version: str
    libs: Path

    @property
    def classpath(self) -> str:
        return str(self.libs / "*")


def require_tool(name: str) -> str:
    """Return the path of ``name`` on PATH or raise :class:`ToolMissingError` naming it."""
    path = shutil.which(name)
    if path is None:
        hint = {
            "java": "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)",
            "mvn": "install Apache Maven (Debian: apt-get install maven)",
        }.get(name, "install it")
        raise ToolMissingError(f"'{name}' was not found on PATH: {hint}")
    return path


def resolve(home: Path, version: str, *, maven_settings: Path | None = None) -> KafkaRuntime:
    """Return Kafka ``version``'s runtime under ``home``, resolving it with Maven if needed.

    ``maven_settings`` is a Maven ``settings.xml`` (a mirror behind a firewall, say); its
    ``localRepository`` and mirrors apply to this resolution only.
    """
    target = home / "kafka" / version
    libs = target / "libs"
    if (target / _MARKER).exists():
        return KafkaRuntime(version, libs)
    mvn = require_tool("mvn")
    target.mkdir(parents=True, exist_ok=True)
    pom = target / "pom.xml"
    pom.write_text(resources.files("operations.broker").joinpath("pom.xml").read_text("utf-8"))
    if libs.exists():
        shutil.rmtree(libs)
    cmd = [
        mvn,
        "-B",
        "-q",
        *(["-s", str(maven_settings)] if maven_settings else []),
        "-f",
        str(pom),
        f"-Dkafka.version={version}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RepositoryError(
            f"Maven did not resolve Kafka {version} within {MAVEN_TIMEOUT_S}s: "
            "is the Maven repository reachable?"
        ) from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RepositoryError(
            f"Maven could not resolve org.apache.kafka:kafka_2.13:{version} "
            f"(exit {done.returncode}); the repository may be unreachable:\n{tail}"
        )
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise RepositoryError(f"Maven finished but no kafka_2.13 jar is in {libs}")
    (target / _MARKER).write_text(version)
    return KafkaRuntime(version, libs)
