"""Errors that end the daemon with a clear one-line message, and the exit statuses systemd acts on."""
from __future__ import annotations

# sysexits.h EX_CONFIG: the unit lists it in RestartPreventExitStatus=, so a bad config, bad weights or a taken
# port stops the service once with a clear line instead of a restart loop.
EXIT_CONFIG = 78
EXIT_RUNTIME = 1


class StreamerError(Exception):
    """Base for errors we explain to the user; the CLI prints `str(exc)` and exits with `exit_code`."""

    exit_code = EXIT_RUNTIME


class ConfigError(StreamerError):
    """The configuration is invalid; the message names the key and the fix."""

    exit_code = EXIT_CONFIG


class WeightsError(StreamerError):
    """Weights are missing, unreadable, or not the network we build; the message says how to get the right file."""

    exit_code = EXIT_CONFIG


class ListenError(ConfigError, OSError):
    """A listener cannot bind its port; a config problem (choose another port) and an OSError for callers that
    catch socket errors."""


class SourceError(ConfigError):
    """The configured source can never deliver (a file that is not a decodable video); restarting will not help."""


class NonFiniteOutput(StreamerError):
    """The network's output holds NaN or inf (broken weights or numerics): never a result. The daemon drops and
    counts the frame; a photo upload answers 500, `infer` fails naming the file, `run --check` refuses the weights."""
