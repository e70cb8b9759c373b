"""What check_homework.py takes on a batch of 12 student folders (issue 30's measure): the six completions
of the course's skeleton and the first six single-fault variants of tests/test_checker_on_skeleton.py, the
first two with this project's seed-42 checkpoints beside their models.py, both parts, the default --jobs.

    python -m benchmarks.bench_checker [--folders 12] [--jobs 2]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import cpu_name, invocation

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from skeleton_students import make_skeleton_student  # noqa: E402
from test_checker_on_skeleton import COMPLETIONS, VARIANTS  # noqa: E402

CHECKPOINTS = ("no-attn-seed42", "attn-seed42")  # each with its .json beside it


def build_folders(root, count):
    """`count` folders under root, the first two with the checkpoints."""
    chosen = [*COMPLETIONS.values(), *VARIANTS.values()][:count]
    folders = [make_skeleton_student(root / f"student{index:02d}", folder.q3, folder.q2)
               for index, folder in enumerate(chosen)]
    for folder in folders[:2]:
        for name in CHECKPOINTS:
            for suffix in (".pt", ".json"):
                shutil.copy(ROOT / "results" / "q3" / f"{name}{suffix}", folder / "hw2-q3" / f"{name}{suffix}")
    return folders


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folders", type=int, default=12, choices=range(1, 13), metavar="1..12",
                        help="how many of the 12 folders")
    parser.add_argument("--jobs", type=int, default=None, help="check_homework.py's --jobs (default: its own)")
    args = parser.parse_args(argv)
    print(invocation(__spec__.name, argv))
    print(f"CPU {cpu_name()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-checker-") as scratch:
        folders = build_folders(Path(scratch), args.folders)
        command = [sys.executable, str(ROOT / "check_homework.py"), *map(str, folders),
                   "--npz", str(ROOT / "tests" / "data" / "intel_slice.npz"),
                   *(["--jobs", str(args.jobs)] if args.jobs else [])]
        start = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    checked = sum(line.startswith("== ") for line in finished.stdout.splitlines())
    print(f"{checked} of {args.folders} folders checked in {seconds:.0f} s wall (check_homework.py's exit status "
          f"{finished.returncode}: 1 when a check failed, as the variants' do)")


if __name__ == "__main__":
    main()
