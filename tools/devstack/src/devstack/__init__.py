"""The local Praktika stack: every service, the sandbox fakes and the nginx gateway as processes.

``make run`` starts it on the standard ports against ``praktika_<svc>`` databases; end-to-end
tests start the very same stack (same environment, same gateway configuration) on free ports,
their own databases and a private vhost, so the two never disturb each other.
"""

from devstack.layout import StackLayout
from devstack.processes import down, up

__all__ = ["StackLayout", "down", "up"]
