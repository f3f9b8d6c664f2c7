"""The command tests' fixtures: the train tests' rendered set (train, eval) and the publisher tests' synthetic frames
(view against a real MJPEG server)."""
from tests.publish.conftest import feeder, frames, renderer  # noqa: F401 (pytest fixtures)
from tests.train.conftest import tiny_demo  # noqa: F401 (pytest fixture)
