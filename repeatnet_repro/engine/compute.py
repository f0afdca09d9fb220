"""How a run computes on its device: precision, memory format and compilation, resolved once per run.

The defaults are what measured fastest (README, "Speed"; results/benchmarks/): `trainer.precision=auto` is bf16
autocast on CUDA and on CPUs with native bf16 dot products (AVX512-BF16 or AMX-BF16: bf16 with channels_last
trains 2.1x faster than fp32 there), fp32 on other CPUs (bf16 is emulated there); `trainer.channels_last=true` on
every device (on CPU 1.1-1.2x in fp32, 1.2x more under bf16). torch.compile is off unless asked for: on CPU it
gained 0-3 % for a minute of start-up per run. Every switch is honoured on every device, so the CPU test suite
runs the code path a GPU run takes.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import Any, Dict

import torch


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """The CPU multiplies bf16 in hardware (avx512_bf16 or amx_bf16 in /proc/cpuinfo) and oneDNN can use it;
    elsewhere bf16 is emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags)) and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def bf16_fast(device: torch.device) -> bool:
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


@dataclasses.dataclass(frozen=True)
class Compute:
    """What the run record states under `compute`: the precision, memory format and compilation used."""

    precision: str  # bf16 (autocast; parameters, optimiser state and loss stay fp32) or fp32
    channels_last: bool
    compile: bool

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    def record(self) -> Dict[str, Any]:
        return {"precision": self.precision, "memory_format": "channels_last" if self.channels_last else "contiguous",
                "compile": self.compile}


def resolve_compute(device: torch.device, precision: str, channels_last: bool, compile: bool) -> Compute:
    """trainer.precision (auto | fp32 | bf16), trainer.channels_last and trainer.compile on `device`."""
    bf16 = precision == "bf16" or (precision == "auto" and bf16_fast(device))
    return Compute("bf16" if bf16 else "fp32", bool(channels_last), bool(compile))
