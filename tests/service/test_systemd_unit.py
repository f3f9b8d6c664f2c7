"""The systemd unit and its installer: `systemd-analyze verify` finds nothing to say about the unit, the directives
the daemon relies on are there, and install.sh lays files out under a staging root, twice, without surprises."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "depth-streamer@.service"
INSTALL = REPO / "systemd" / "install.sh"
EXEC_START = "/opt/depth-streamer/venv/bin/depth-streamer"

REQUIRED = {
    ("Service", "Type"): "notify",
    ("Service", "NotifyAccess"): "main",
    ("Service", "WatchdogSec"): "30",
    ("Service", "Restart"): "on-failure",
    ("Service", "RestartSec"): "5",
    ("Service", "RestartPreventExitStatus"): "78",
    ("Service", "ExecStart"): f"{EXEC_START} run --config /etc/depth-streamer/%i.toml --camera-id %i",
    ("Service", "ExecReload"): "/bin/kill -HUP $MAINPID",
    ("Service", "TimeoutStopSec"): "10",
    ("Service", "KillSignal"): "SIGTERM",
    ("Service", "DynamicUser"): "yes",
    ("Service", "SupplementaryGroups"): "video",
    ("Service", "DeviceAllow"): "char-video4linux rw",
    ("Service", "DevicePolicy"): "closed",
    ("Service", "ProtectSystem"): "strict",
    ("Service", "ProtectHome"): "yes",
    ("Service", "PrivateTmp"): "yes",
    ("Service", "NoNewPrivileges"): "yes",
    ("Service", "StateDirectory"): "depth-streamer",
    ("Service", "CacheDirectory"): "depth-streamer",
    ("Service", "ConfigurationDirectory"): "depth-streamer",
    ("Service", "RestrictAddressFamilies"): "AF_UNIX AF_INET AF_INET6",
    ("Service", "LockPersonality"): "yes",
    ("Service", "RestrictRealtime"): "yes",
    ("Service", "ProtectKernelTunables"): "yes",
    ("Service", "ProtectKernelModules"): "yes",
    ("Service", "ProtectControlGroups"): "yes",
    ("Service", "SystemCallArchitectures"): "native",
    ("Service", "UMask"): "0077",
    ("Service", "Environment"): "PYTHONUNBUFFERED=1",
    ("Install", "WantedBy"): "multi-user.target",
}
# Settings that would break the daemon: PrivateDevices hides /dev/video*, and PyTorch (oneDNN) / ONNX Runtime / CUDA
# need writable+executable memory for their JIT-compiled kernels.
FORBIDDEN = {("Service", "PrivateDevices"): "yes", ("Service", "MemoryDenyWriteExecute"): "yes"}


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:  # fail, never skip: an unverified unit is how a service dies on its first boot
        pytest.fail("systemd-analyze not found; run `make setup` (it apt-installs systemd)", pytrace=False)
    return path


def directives(text: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> every value in order, from unit-file text (comments and blank lines dropped)."""
    found: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        found.setdefault((section, key.strip()), []).append(value.strip())
    return found


def verify(systemd_analyze: str, folder: Path, text: str) -> tuple[int, list[str]]:
    """Run `systemd-analyze verify` on `text` saved as an instance of the template; (exit status, lines about it).

    verify checks that ExecStart's binary exists, and /opt/depth-streamer is not installed here, so the copy has its
    binary swapped for an executable that exists; everything else is verified as written.
    """
    stand_in = shutil.which("true") or "/bin/true"
    assert EXEC_START in text
    unit = folder / "depth-streamer@cam0.service"
    unit.write_text(text.replace(EXEC_START, stand_in))
    env = {**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "", "LC_ALL": "C"}
    done = subprocess.run([systemd_analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60, env=env, cwd=folder)
    # verify also loads the units ours depends on; only its words about our unit are ours to fix.
    about_us = [line for line in (done.stdout + done.stderr).splitlines()
                if "depth-streamer" in line or str(folder) in line]
    return done.returncode, about_us


def test_unit_verifies_without_a_word(systemd_analyze: str, tmp_path: Path) -> None:
    status, lines = verify(systemd_analyze, tmp_path, UNIT.read_text())
    assert lines == [], "systemd-analyze verify complained:\n" + "\n".join(lines)
    assert status == 0


def test_verify_would_catch_a_mistake(systemd_analyze: str, tmp_path: Path) -> None:
    """The filter above is not blind: a misspelt directive in the same unit is reported."""
    broken = UNIT.read_text().replace("[Service]\n", "[Service]\nRestartSecs=5\n", 1)
    _, lines = verify(systemd_analyze, tmp_path, broken)
    assert any("RestartSecs" in line for line in lines), lines


def test_unit_has_the_directives_the_daemon_relies_on() -> None:
    found = directives(UNIT.read_text())
    missing = {k: v for k, v in REQUIRED.items() if v not in found.get(k, [])}
    assert not missing, f"missing or different in {UNIT.name}: {missing}"
    present = {k: v for k, v in FORBIDDEN.items() if v in found.get(k, [])}
    assert not present, f"these break the daemon: {present}"
    assert ("Service", "OMP_NUM_THREADS") not in found  # a note, not a forced value: threads come from the config


def run_install(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=60, env=full_env)


def test_install_twice_into_a_staging_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    real_before = {p: Path(p).exists() for p in ("/opt/depth-streamer", "/etc/depth-streamer")}
    first = run_install(DESTDIR=str(root), SKIP_VENV="1")
    assert first.returncode == 0, first.stderr + first.stdout

    unit = root / "etc/systemd/system/depth-streamer@.service"
    config = root / "etc/depth-streamer/cam0.toml"
    assert unit.read_text() == UNIT.read_text()  # default PREFIX: installed exactly as written
    assert config.read_bytes() == (REPO / "configs/default.toml").read_bytes()
    assert (root / "opt/depth-streamer/examples/default.toml").is_file()
    assert not (root / "opt/depth-streamer/venv").exists()  # SKIP_VENV=1
    assert "+ systemctl" not in first.stdout  # a staged install never pokes the live systemd
    assert "weights fetch" in first.stdout and "systemctl enable --now depth-streamer@cam0" in first.stdout

    config.write_text(config.read_text() + "\n# edited by the operator\n")
    edited = config.read_text()
    second = run_install(DESTDIR=str(root), SKIP_VENV="1")
    assert second.returncode == 0, second.stderr + second.stdout
    assert config.read_text() == edited, "a second run overwrote the operator's config"
    assert "keeping" in second.stdout
    assert unit.read_text() == UNIT.read_text()
    assert {p: Path(p).exists() for p in real_before} == real_before  # nothing outside DESTDIR


def test_install_moves_paths_with_prefix(systemd_analyze: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    done = run_install(DESTDIR=str(root), SKIP_VENV="1", PREFIX="/srv/depth", SYSTEMD_DIR="/usr/lib/systemd/system")
    assert done.returncode == 0, done.stderr + done.stdout
    text = (root / "usr/lib/systemd/system/depth-streamer@.service").read_text()
    assert directives(text)[("Service", "ExecStart")] == [
        "/srv/depth/venv/bin/depth-streamer run --config /etc/depth-streamer/%i.toml --camera-id %i"]
    assert "/opt/depth-streamer" not in text
    assert (root / "srv/depth/examples").is_dir() and (root / "etc/depth-streamer/cam0.toml").is_file()


def test_install_dry_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    done = run_install("--dry-run", DESTDIR=str(root), SKIP_VENV="1")
    assert done.returncode == 0, done.stderr + done.stdout
    assert not root.exists()
    assert "+ install" in done.stdout and "nothing was changed" in done.stdout


def test_install_refuses_to_stage_a_venv(tmp_path: Path) -> None:
    done = run_install(DESTDIR=str(tmp_path / "root"))
    assert done.returncode == 2 and "SKIP_VENV=1" in done.stderr
    assert not (tmp_path / "root").exists()
