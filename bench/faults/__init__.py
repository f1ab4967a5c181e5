"""The fault suite (issue 18 item 2): ``python -m bench.faults [--short|--long]``.

Each scenario publishes through the project's agency publisher while two ``topology.run``
workers process, injects one kind of fault again and again (:mod:`bench.faults.run`),
records every send and every read of the outputs (:mod:`bench.faults.record`) and checks
the history as Jepsen's Kafka checker does (:mod:`bench.faults.checker`): acknowledged
but lost, duplicated, out of order per subject, read from an aborted transaction.
Results and commands: docs/reliability.md.
"""
