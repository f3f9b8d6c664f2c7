"""The one command pattern: every command module registers itself and is listed; --config, --set, --weights and
--precision are declared in cli/flags.py alone; the flags become the same config overrides for every command."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import streamer.cli.flags as flags
from streamer.cli import COMMANDS, build_parser
from streamer.cli.run import RUN_FLAGS
from streamer.config.schema import Override
from streamer.model.precision import REQUESTS

CLI = Path(flags.__file__).parent
SHARED = {"--config", "--set", "--weights", "--precision", "--calibration", "--backend", "--device"}


def test_every_command_module_registers_and_is_listed():
    modules = {p.stem for p in CLI.glob("*.py")} - {"__init__", "flags"}
    assert {m.__name__.rpartition(".")[2] for m in COMMANDS} == modules
    assert all(callable(m.register) for m in COMMANDS)


def test_the_shared_flags_are_declared_in_flags_py_alone():
    found = []
    for path in CLI.parent.rglob("*.py"):
        if path.name == "flags.py" and path.parent == CLI:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"
                    and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in SHARED):
                found.append(f"{path.relative_to(CLI.parent)}:{node.lineno} {node.args[0].value}")
    assert not found, found


def test_flags_become_the_same_overrides_for_run_and_infer():
    parser = build_parser()
    run = parser.parse_args(["run", "--set", "source.fps=15", "--precision", "int8", "--threads", "2",
                             "--http-port", "0", "--weights", "w.pt"])
    assert flags.overrides(run, RUN_FLAGS) == [Override("source.fps", 15, "--set 'source.fps=15'"),
                                               Override("model.threads", 2, "--threads"),
                                               Override("model.precision", "int8", "--precision"),
                                               Override("http.port", 0, "--http-port")]
    assert run.weights == "w.pt" and run.config is None
    infer = parser.parse_args(["infer", "a.png", "--set", "source.fps=15", "--threads", "2"])
    assert flags.overrides(infer, flags.MODEL_FLAGS) == [Override("source.fps", 15, "--set 'source.fps=15'"),
                                                         Override("model.threads", 2, "--threads"),
                                                         Override("model.precision", "fp32", "--precision")]


@pytest.mark.parametrize("argv", [["run"], ["infer", "a.png"], ["quantize"], ["bench", "pipeline", "v.mp4"],
                                  ["bench", "soak", "v.mp4"], ["bench", "outputs", "v.mp4"]])
def test_every_precision_flag_takes_the_same_choices(argv, capsys):
    parser = build_parser()
    for choice in REQUESTS:
        assert parser.parse_args([*argv, "--precision", choice]).precision == choice
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--precision", "fp8"])
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
