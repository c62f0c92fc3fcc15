"""helpers.machine: thread defaults under torchrun's LOCAL_WORLD_SIZE, and the machine description of a log."""

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import machine
from helpers.machine import (
    cpu_capability,
    cpu_count,
    cpu_flags,
    cpu_name,
    default_threads,
    local_processes,
    machine_info,
    same_build,
)


def test_default_threads_shares_the_cores(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert local_processes() == 1
    assert cpu_count() == (os.cpu_count() or 1)
    assert default_threads() == cpu_count()
    for cpus, procs, expected in [(2, 2, 1), (8, 2, 4), (8, 3, 2), (2, 4, 1), (1, 1, 1), (16, 1, 16)]:
        monkeypatch.setattr(machine.os, "cpu_count", lambda c=cpus: c)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", str(procs))
        assert local_processes() == procs
        assert default_threads() == expected
    monkeypatch.setattr(machine.os, "cpu_count", lambda: None)   # Python cannot tell
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert cpu_count() == 1 and default_threads() == 1


@pytest.mark.parametrize("bad", ["0", "two", "-1", "1.5"])
def test_bad_local_world_size(monkeypatch, bad):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", bad)
    with pytest.raises(ValueError, match="LOCAL_WORLD_SIZE must be a positive integer"):
        default_threads()


def test_machine_info(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        info = machine_info()
        assert info["threads"] == 1
        assert machine_info(3)["threads"] == 3
    finally:
        torch.set_num_threads(old)
    assert info["cpus"] == os.cpu_count()
    assert info["processor"] == (platform.processor() or platform.machine()) and info["processor"]
    assert info["machine"] == platform.machine()
    assert info["python"] == platform.python_version()
    assert info["torch"] == torch.__version__ and info["numpy"] == np.__version__
    assert info["local_processes"] == 1
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability() == cpu_capability()
    assert json.loads(json.dumps(info)) == info          # JSON-ready
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert machine_info()["local_processes"] == 2
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be a positive int"):
            machine_info(bad)


def test_import_is_stdlib_only():
    code = ("import sys; import helpers.machine as m; "
            "print(sorted({'torch', 'numpy'} & set(sys.modules)), m.default_threads() >= 1)")
    env = {k: v for k, v in os.environ.items() if k != "LOCAL_WORLD_SIZE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True"]


def test_same_build_needs_the_same_torch_and_the_same_cpu_kernels():
    here = machine_info()
    assert isinstance(cpu_capability(), str) and cpu_capability()
    assert same_build(here)
    assert not same_build({**here, "torch": "0.0.1"})
    other = "AVX2" if here["cpu_capability"] != "AVX2" else "AVX512"
    assert not same_build({**here, "cpu_capability": other})
    assert not same_build({k: v for k, v in here.items() if k != "cpu_capability"})   # an older log: cannot tell
    with pytest.raises(ValueError, match="the 'machine' dict of a log"):
        same_build("2.14.1")


def test_cpu_flags_and_name_from_cpuinfo_text():
    text = ("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 avx512f\n"
            "processor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert cpu_flags(text) == {"fpu", "sse2", "avx2", "avx512f"}
    assert cpu_name(text) == "AMD EPYC avx512"
    assert cpu_name(text.replace(" avx512f", "")) == "AMD EPYC"
    assert cpu_flags("no such lines") == set()
    assert cpu_name("no such lines") == (platform.processor() or platform.machine())
    with pytest.raises(ValueError, match="text of /proc/cpuinfo"):
        cpu_flags(b"flags: avx2")
    assert isinstance(cpu_flags(), set) and cpu_name()          # this machine, whatever it is
