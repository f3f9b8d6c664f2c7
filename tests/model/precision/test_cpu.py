"""cpu.py: recorded /proc/cpuinfo texts of the CPUs robots run on set the settings and the order of trying, never
the verdict."""
from __future__ import annotations

from pathlib import Path

import pytest

from streamer.model.precision.backends import engine_for
from streamer.model.precision.choose import resolve_precision
from streamer.model.precision.cpu import CpuFeatures, detect, parse_cpuinfo

CPUINFO = Path(__file__).parent / "cpuinfo"  # recorded /proc/cpuinfo texts of the CPU classes robots run on


def recorded(name: str) -> CpuFeatures:
    return parse_cpuinfo((CPUINFO / f"{name}.txt").read_text())


# name: (model, arch, int8 native, bf16 native, reduce_range, auto's order of trying, auto's int8 engine)
CPUS = {
    "zen3_epyc_7r13": ("AMD EPYC 7R13 Processor", "x86", False, False, True, ["int8", "bf16"], "openvino"),
    "zen4_epyc_9r14": ("AMD EPYC 9R14 96-Core Processor", "x86", True, True, False, ["int8", "bf16"], "openvino"),
    "sapphire_rapids_xeon_8488c": ("Intel(R) Xeon(R) Platinum 8488C", "x86", True, True, False, ["int8", "bf16"],
                                   "openvino"),
    "rpi5_cortex_a76": ("Cortex-A76 (Raspberry Pi 5 Model B Rev 1.0)", "arm", True, False, False, ["int8", "bf16"],
                        "onnxruntime"),
    "graviton3_neoverse_v1": ("Neoverse-V1", "arm", True, True, False, ["int8", "bf16"], "onnxruntime"),
    "jetson_agx_orin_cortex_a78ae": ("Cortex-A78AE", "arm", True, False, False, ["int8", "bf16"], "onnxruntime"),
}


@pytest.mark.parametrize("name", sorted(CPUS))
def test_recorded_cpuinfo_sets_settings_and_order_never_the_verdict(name):
    model, arch, int8, bf16, reduce_range, order, engine = CPUS[name]
    cpu = recorded(name)
    assert (cpu.model, cpu.arch, cpu.native("int8"), cpu.native("bf16")) == (model, arch, int8, bf16)
    assert cpu.reduce_range() is reduce_range and cpu.int8_engine() == engine
    assert cpu.order("auto") == order  # every low precision is tried: only the gate and the race decide
    assert cpu.order("int8") == ["int8", "bf16"] and cpu.order("bf16") == ["bf16"] and cpu.order("fp32") == []
    tries, notes = resolve_precision("auto", cpu, has_openvino=True)
    assert tries == order and len(notes) == (not int8) + (not bf16)  # one note per emulated precision
    assert all("emulated" in n and "race" in n for n in notes)
    assert engine_for("int8", "auto", cpu, has_openvino=False) == "onnxruntime"  # openvino absent: ORT runs int8
    # The key a verdict is cached under changes with the CPU: a verdict measured on one never serves another.
    assert cpu.identity() != recorded("zen3_epyc_7r13" if name != "zen3_epyc_7r13" else "zen4_epyc_9r14").identity()


def test_cpu_details_name_the_flags():
    zen3, zen4, pi = recorded("zen3_epyc_7r13"), recorded("zen4_epyc_9r14"), recorded("rpi5_cortex_a76")
    assert "avx512_bf16" in zen4.reason("bf16") and "asimddp" in pi.reason("int8")
    assert "lacks" in zen3.reason("int8") and "avx512_vnni" in zen3.reason("int8") and "emulated" in zen3.reason("bf16")
    assert recorded("graviton3_neoverse_v1").native("bf16") and "i8mm" in recorded("graviton3_neoverse_v1").flags
    assert "i8mm" not in recorded("jetson_agx_orin_cortex_a78ae").flags
    empty = parse_cpuinfo("")
    assert empty.arch == "" and not empty.native("int8") and empty.native("fp32") and empty.reduce_range()
    assert "cannot read" in detect("/nonexistent/cpuinfo").note
    assert parse_cpuinfo("processor: 0\nFeatures: fp asimd\nCPU implementer: 0x41\nCPU part: 0xfff\n").model == \
        "Arm CPU part 0xfff"
