"""The client tests read from real publishers fed with synthetic frames: the publisher tests' fixtures."""
from tests.publish.conftest import feeder, frames, renderer  # noqa: F401 (pytest fixtures)
