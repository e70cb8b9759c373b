"""What both benchmarks share: the drivers as modules, the CPU's name, the line that heads an output."""
import importlib
import platform
import sys
import time
from pathlib import Path


def driver(name):
    """The driver script `name` (hw2-q2 or hw2-q3) as a module, to time its functions."""
    return importlib.import_module(name)


def cpu_name():
    """The CPU model, as /proc/cpuinfo names it (absolute times are only comparable on one CPU)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def invocation(module, argv=None):
    """'# python -m module args (date)': the line that heads a benchmark's saved output."""
    args = sys.argv[1:] if argv is None else argv
    return f"# {' '.join(['python', '-m', module, *map(str, args)])} ({time.strftime('%Y-%m-%d')})"
