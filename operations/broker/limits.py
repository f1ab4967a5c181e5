"""The process limits a broker needs, raised for the broker process it spawns.

A Kafka broker keeps one file descriptor open per log segment (the ``.log`` file; its
``.index`` and ``.timeindex`` are memory-mapped, which counts against ``vm.max_map_count``
instead) plus one per client connection. A city's bus has thousands of partitions
(:mod:`operations.broker.sizing`), so the common default soft limit of 1,024 open files
stops a broker long before its heap or disk does: it logs ``Too many open files`` and
exits. The local broker therefore starts with its soft ``RLIMIT_NOFILE`` raised to the
hard limit (any process may do that), and, when this process may raise the hard limit
(root, ``CAP_SYS_RESOURCE``) and a larger number is wanted, the hard limit too, up to the
kernel's ``fs.nr_open``. Nothing here lowers a limit.

Used as the ``preexec_fn`` of the broker's ``Popen`` (in the child, before ``exec``), so the
limits of the ``govbus`` process itself stay as they were.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

NR_OPEN = Path("/proc/sys/fs/nr_open")
#: What a broker asks for: enough for a 2,000-entry, 200-agency city's ~24,000 partitions
#: with several segments each (docs/capacity.md), as the Kafka documentation suggests
#: ("100,000 or more").
WANTED_NOFILE = 100_000


@dataclass(frozen=True)
class NofileLimit:
    """An ``RLIMIT_NOFILE`` pair; ``resource.RLIM_INFINITY`` for unlimited."""

    soft: int
    hard: int


def _bigger(a: int, b: int) -> int:
    if resource.RLIM_INFINITY in (a, b):
        return resource.RLIM_INFINITY
    return max(a, b)


def _at_most(a: int, b: int) -> int:
    if a == resource.RLIM_INFINITY:
        return b
    if b == resource.RLIM_INFINITY:
        return a
    return min(a, b)


def raised(current: NofileLimit, *, wanted: int, nr_open: int, may_raise_hard: bool) -> NofileLimit:
    """The limits to set: the hard limit raised to ``wanted`` (never past ``nr_open``) when
    allowed, then the soft limit to the hard one. Never lower than ``current``."""
    hard = current.hard
    if may_raise_hard:
        hard = _bigger(hard, _at_most(wanted, nr_open))
    return NofileLimit(_bigger(current.soft, hard), hard)


def kernel_nr_open() -> int:
    """``fs.nr_open``: the most file descriptors any process may be allowed."""
    try:
        return int(NR_OPEN.read_text().strip())
    except (OSError, ValueError):
        return 1_048_576  # Linux's default


def current_nofile() -> NofileLimit:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return NofileLimit(soft, hard)


def raise_nofile(wanted: int = WANTED_NOFILE) -> NofileLimit:
    """Raise this process's ``RLIMIT_NOFILE`` as :func:`raised` says; return what it is now.

    The hard limit is raised only if the kernel allows it (EPERM otherwise: then only the
    soft limit moves, up to the hard one)."""
    current = current_nofile()
    target = raised(current, wanted=wanted, nr_open=kernel_nr_open(), may_raise_hard=True)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target.soft, target.hard))
    except (ValueError, OSError):
        # Not privileged: the soft limit up to the hard one is always allowed.
        soft_only = raised(current, wanted=wanted, nr_open=kernel_nr_open(), may_raise_hard=False)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft_only.soft, soft_only.hard))
    return current_nofile()


def broker_preexec() -> None:
    """``Popen(preexec_fn=...)`` of a broker JVM: its file limit raised (module docstring)."""
    raise_nofile()
