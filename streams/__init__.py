"""The pure engine: event-time joins of entries, publishes and queries into figures.

No Kafka, no clock, no I/O: every instant is passed in. See docs/design.md.
"""

# First: the loader that runs a compiled module only while it matches its source.
import schemas.compiled  # noqa: F401
from streams.config import EngineConfig, StudyConfig
from streams.engine import ACCEPTED, DUPLICATE, UNKNOWN_DASHBOARD, UNKNOWN_STAGE, Engine
from streams.figures import AGING_BUCKETS, Snapshot
from streams.windows import Window, tumbling_windows

__all__ = [
    "ACCEPTED",
    "AGING_BUCKETS",
    "DUPLICATE",
    "UNKNOWN_DASHBOARD",
    "UNKNOWN_STAGE",
    "Engine",
    "EngineConfig",
    "Snapshot",
    "StudyConfig",
    "Window",
    "tumbling_windows",
]
