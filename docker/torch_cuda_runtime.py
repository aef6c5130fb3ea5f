"""Prints the pip requirement for the CUDA runtime libraries libtorch_cpu itself loads (cudart, cupti),
when the installed torch wheel is a CUDA build (PyPI's is); prints nothing for a CPU-only wheel.

The CPU image installs torch without its dependencies (3 GB of GPU libraries it never calls), and then
only these two small ones, which libtorch_cpu.so of a CUDA wheel cannot be loaded without."""
import importlib.metadata
import re

for requirement in importlib.metadata.requires("torch") or []:
    match = re.match(r"cuda-toolkit\[[^\]]*\]\s*==\s*([\w.]+)", requirement)
    if match:
        print(f"cuda-toolkit[cudart,cupti]=={match.group(1)}")
