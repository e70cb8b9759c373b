"""What check_homework.py takes on a batch of 12 student folders (issue 30's measure): the six completions
of the course's skeleton and the first six single-fault variants of tests/test_checker_on_skeleton.py, two of
the completions with this project's seed-42 checkpoints beside their models.py, both parts, the default --jobs.

    python -m benchmarks.bench_checker [--jobs 2]
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from skeleton_students import make_skeleton_student  # noqa: E402
from test_checker_on_skeleton import COMPLETIONS, VARIANTS  # noqa: E402

CHECKPOINTS = ("no-attn-seed42", "attn-seed42")  # each with its .json beside it


def build_folders(root):
    """12 folders under root; the first two hold the checkpoints."""
    chosen = [*COMPLETIONS.values(), *list(VARIANTS.values())[:6]]
    folders = [make_skeleton_student(root / f"student{index:02d}", folder.q3, folder.q2)
               for index, folder in enumerate(chosen)]
    for folder in folders[:2]:
        for name in CHECKPOINTS:
            for suffix in (".pt", ".json"):
                shutil.copy(ROOT / "results" / "q3" / f"{name}{suffix}", folder / "hw2-q3" / f"{name}{suffix}")
    return folders


def cpu_model():
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.is_file() else []
    return f"{len(names)} x {names[0]}" if names else "an unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=None, help="check_homework.py's --jobs (default: its own)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-checker-") as scratch:
        folders = build_folders(Path(scratch))
        command = [sys.executable, str(ROOT / "check_homework.py"), *map(str, folders),
                   "--npz", str(ROOT / "tests" / "data" / "intel_slice.npz"),
                   *(["--jobs", str(args.jobs)] if args.jobs else [])]
        start = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
    summary = [line for line in finished.stdout.splitlines() if line.strip()][-1:]
    print(f"# python -m benchmarks.bench_checker{f' --jobs {args.jobs}' if args.jobs else ''}, "
          f"{time.strftime('%Y-%m-%d')}, {cpu_model()}")
    print(f"12 folders: {wall:.0f} s (exit status {finished.returncode}; the summary's last row: "
          f"{' '.join(summary[0].split()[1:]) if summary else '(none)'})")


if __name__ == "__main__":
    main()
