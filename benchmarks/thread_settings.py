"""Thread settings of the benchmarks that compare against PyTorch (``bench_cnn``,
``bench_gpt``), written once so that both set them alike.

A BLAS reads its thread count when NumPy is imported, so each setting runs in a child
process started with the environment it needs: one thread for NumPy's BLAS and for PyTorch
(each contender gets one core), then the libraries' defaults.
"""

from __future__ import annotations

import os
import subprocess
import sys


def set_torch_threads(threads: str) -> str:
    """Pin PyTorch to one thread when ``threads == "1"``; return its thread count as the report
    prints it, or "not installed"."""
    try:
        import torch
    except ImportError:
        return "not installed"
    if threads == "1":
        torch.set_num_threads(1)
    return str(torch.get_num_threads())


def run_each_thread_setting(script: str, arguments: list[str]) -> int:
    """Run ``script --threads 1 ARGUMENTS`` with every BLAS pinned to one thread, then
    ``--threads default`` with the BLAS variables unset; nonzero if either run failed."""
    from tinytorch.benchmarking import THREAD_VARIABLES  # here: this process times nothing

    status = 0
    for threads in ("1", "default"):
        environment = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
        if threads == "1":
            environment.update({variable: "1" for variable in THREAD_VARIABLES})
        status |= subprocess.run([sys.executable, script, "--threads", threads, *arguments], env=environment).returncode
        print()
    return status
