"""The governance workflows as pure state machines (no I/O, no clock).

* :mod:`exchange.workflows.roles`: roles, actions and the one permission table.
* :mod:`exchange.workflows.cases`: what every machine shares: who acts and when (``Act``),
  the recorded ``Transition``, the check of free text.
* :mod:`exchange.workflows.share_application`: conditional-sharing applications
  (G 15, G17 15, S 25, S 28), their answers, deemed consent and disputes.
* :mod:`exchange.workflows.timing`: reply deadlines from the profile, reminders, answer
  times in working days (D1, D2).

Subscriptions and the catalog lifecycle (issue 16 items 3 and 4) will be further machines
here, stored as further ``kind`` values of the same case and transition tables.
"""
