"""A non-looping file with source.on_eof = "stop" is a finite job: at its end the daemon exits 0 by itself."""
from __future__ import annotations

import re

from .harness import REALSHORT, START_TIMEOUT_S


def test_end_of_file_exits_zero(spawn):
    daemon = spawn("--set", "source.pace=false", "--set", 'source.on_eof="stop"', source=REALSHORT)
    rc = daemon.wait_exit(START_TIMEOUT_S)
    assert rc is not None, f"still running {START_TIMEOUT_S:g} s after start on a 36-frame file:\n{daemon.log}"
    assert rc == 0, daemon.log
    assert "source ended" in daemon.log and "end of file" in daemon.log
    assert "ERROR" not in daemon.log and "Traceback" not in daemon.log
    # The last frame of the file is processed before the exit (the warm-up may have taken all the others).
    published = re.search(r"after (\d+) depth frames", daemon.log)
    assert published and int(published.group(1)) >= 1, daemon.log
