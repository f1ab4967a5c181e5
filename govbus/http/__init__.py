"""The HTTP service (``govbus serve``): FastAPI routers over :mod:`topology.workflows`.

Routers are thin: they parse, authenticate and call the application layer the CLI also
uses; permissions are the one table in :mod:`exchange.workflows.roles`.
"""
