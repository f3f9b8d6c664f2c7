"""The command tests that train and eval use the train tests' rendered set and thread cap."""
from tests.train.conftest import _few_threads, tiny_demo  # noqa: F401 (pytest fixtures)
