"""The demo workspace: a seeded model of the platform served through real API formats.

:mod:`.transport` dispatches requests by host to a registry of handlers (one module per provider);
the handlers share only :mod:`.context` and :mod:`.model`, never the transport (no circle).
May import only the shared basics: the collectors cannot tell it from the real APIs.
"""
