"""A realistic stand-in for Prow deck, GCS and Logilica, for demos, tests and benchmarks.

with Sandbox() as sandbox:            # default_world(); or Sandbox(generated_world(20, 200))
    env = sandbox.env()               # LOGILICA_*, STORAGE_EMULATOR_HOST
    jobs_yaml = sandbox.write_jobs_yaml(tmp_path)
    ...run the crawler...
    assert max(sandbox.recorder.count_by_id().values()) == 1
"""

from .counter import RequestCounter
from .faults import Faults
from .logilica import Recorder
from .records import SandboxBuild, SandboxJob
from .server import Sandbox
from .world import World
from .worldgen import default_world, generated_world

__all__ = [
    "Faults",
    "Recorder",
    "RequestCounter",
    "Sandbox",
    "SandboxBuild",
    "SandboxJob",
    "World",
    "default_world",
    "generated_world",
]
