"""The machine a script runs on: how many threads each process should use, and a description for its log.

Standard library only (no NumPy, no PyTorch at import time), so that any script or module can import it.
:func:`default_threads` shares the machine's cores among the processes that ``torchrun`` started on it
(``LOCAL_WORLD_SIZE``); :func:`machine_info` is the ``"machine"`` entry of a training log.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys

__all__ = ["cpu_count", "local_processes", "default_threads", "cpu_flags", "cpu_name", "cpu_capability", "machine_info",
           "same_build"]


def cpu_count() -> int:
    """The number of logical CPUs of the machine (``os.cpu_count()``; 1 when Python cannot tell)."""
    return os.cpu_count() or 1


def local_processes() -> int:
    """How many processes of this job run on this machine: ``LOCAL_WORLD_SIZE`` (set by torchrun), else 1."""
    value = os.environ.get("LOCAL_WORLD_SIZE")
    if value is None or value == "":
        return 1
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"environment variable LOCAL_WORLD_SIZE must be a positive integer (torchrun sets it); "
                         f"got {value!r}")
    return int(value)


def default_threads() -> int:
    """Threads per process that use every core once: all CPUs divided by the processes on this machine, at least 1.

    A plain ``python script.py`` gets all cores; ``torchrun --nproc_per_node 2`` on a 2-core machine
    gives each of its two processes 1 thread, so they do not oversubscribe the cores.
    """
    return max(1, cpu_count() // local_processes())


def _version(module: str) -> str | None:
    try:
        return importlib.import_module(module).__version__
    except ImportError:
        return None


def _cpuinfo(cpuinfo: str | None) -> str:
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                return f.read()
        except OSError:
            return ""
    if not isinstance(cpuinfo, str):
        raise ValueError(f"cpuinfo must be the text of /proc/cpuinfo (a str); got {type(cpuinfo).__name__}")
    return cpuinfo


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The feature flags of the first CPU in ``cpuinfo`` (the text of ``/proc/cpuinfo``, read when not given).

    E.g. ``"avx2"``, ``"avx512f"``, ``"avx512_bf16"``; an empty set where there is no such file or line (not Linux).
    """
    line = next((line for line in _cpuinfo(cpuinfo).splitlines() if line.startswith("flags")), "")
    return set(line.split(":", 1)[1].split()) if ":" in line else set()


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name from ``/proc/cpuinfo`` plus ``" avx512"`` when it has AVX-512 (flag ``avx512f``).

    Falls back to ``platform.processor()`` (or the architecture) where there is no model name. Older logs record
    this as ``machine["cpu"]`` to tell whether a rerun can be exact; :func:`same_build` is the newer way.
    """
    text = _cpuinfo(cpuinfo)
    names = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")]
    name = names[0] if names else (platform.processor() or platform.machine())
    return name + (" avx512" if "avx512f" in cpu_flags(text) else "")


def cpu_capability() -> str | None:
    """The instruction set PyTorch's CPU kernels use here: ``"AVX512"``, ``"AVX2"``, ``"DEFAULT"``...

    ``torch.backends.cpu.get_cpu_capability()``; ``None`` when PyTorch is not installed. Two machines with the
    same PyTorch build but different capabilities run different kernels, which add floats in a different order:
    a training run then drifts apart from its log after a few hundred steps (seen on this book's machines, an
    AVX-512 one and an AVX2-only one).
    """
    if _version("torch") is None:
        return None
    backends = getattr(sys.modules["torch"], "backends", None)
    getter = getattr(getattr(backends, "cpu", None), "get_cpu_capability", None)
    return getter() if getter is not None else None


def same_build(logged_machine: dict) -> bool:
    """Whether a log's ``"machine"`` entry (:func:`machine_info`) names this process's PyTorch build and CPU kernels.

    Only then can a rerun be asked to reproduce the logged numbers exactly; elsewhere compare with a tolerance.
    A log written before the ``"cpu_capability"`` key existed does not say which kernels it ran, so it is never
    the same build.
    """
    if not isinstance(logged_machine, dict):
        raise ValueError(f"logged_machine must be the 'machine' dict of a log; got {type(logged_machine).__name__}")
    torch_version = _version("torch")
    return (torch_version is not None and logged_machine.get("torch") == torch_version
            and logged_machine.get("cpu_capability") is not None
            and logged_machine.get("cpu_capability") == cpu_capability())


def machine_info(threads: int | None = None) -> dict:
    """A JSON-ready description of this machine and process for a training log.

    Keys: ``cpus`` (logical CPUs), ``processor`` (``platform.processor()``, or ``platform.machine()``
    when that is empty, as on most Linux systems), ``machine`` (the architecture), ``platform``,
    ``python``, ``torch`` and ``numpy`` (versions, ``None`` when not installed), ``cpu_capability``
    (:func:`cpu_capability`), ``local_processes``
    (processes of the job on this machine) and ``threads``: ``threads`` if given, else PyTorch's
    current intra-op thread count (``None`` without PyTorch).
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive int or None; got {threads!r}")
    torch_version = _version("torch")
    if threads is None and torch_version is not None:
        threads = sys.modules["torch"].get_num_threads()
    return {
        "cpus": cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch_version,
        "numpy": _version("numpy"),
        "cpu_capability": cpu_capability(),
        "local_processes": local_processes(),
        "threads": threads,
    }
