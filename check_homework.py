"""Check a student's own Homework 2 by running it: one line per check, PASS, FAIL, WARN or SKIP.

    python check_homework.py FOLDER [FOLDER ...] [--json FILE] [--csv FILE] [--timeout 300] [--jobs 2]
                             [--data_dir data/] [--npz FILE] [--device cpu]

FOLDER holds the Q3 files (models.py, hw2-q3.py, data.py, checkpoints *.pt) and the Q2
files (hw2-q2.py, utils.py), together or in subfolders such as hw2-q3/ and hw2-q2/; they
are searched for. The student's modules are imported in isolation (their folder first on
the path, their own utils.py, data.py and models.py, never this project's) and checked by
behaviour on tiny inputs made here, with the course's constructor signatures
(shared/spec/interfaces.md); their source is read only for their own calls (the arguments
their drivers pass, the loss they train with). Checkpoints are scored on the course's P2G
files shipped in this project's data/.

Each folder runs in its own process with a time limit: a function that never returns or
ends the interpreter fails the check it was in, and the batch goes on. What FAIL,
WARN and SKIP mean is the policy in checker/__init__.py. A student's code runs with your
rights: check untrusted submissions in a container or a virtual machine.

Exit status: 0 nothing failed, 1 a check failed, 2 a bad command line or a folder with
nothing to check.
"""
import os
import sys
from pathlib import Path

import utils
from checker import output, runner
from checker.layout import find_layout


def parse_args(argv):
    parser = utils.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="a student's homework folder (several: one row each)")
    parser.add_argument("--json", type=Path, default=None, help="also write every verdict to this JSON file")
    parser.add_argument("--csv", type=Path, default=None,
                        help="also write one row per folder, one column per check and checkpoint score, to this CSV")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds a folder's process may take; the check still running then fails, and the "
                             "questions after it get a process and this time of their own")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="folders checked at once")
    parser.add_argument("--data_dir", type=Path, default=None,
                        help="the Q3 data (train.tsv, test.tsv); default: the course's files in this project's "
                             "data/ (a folder's own data/ when it holds the same files)")
    parser.add_argument("--npz", type=Path, default=None, help="the Intel .npz, to check how Q2 reads the images")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads per folder (the checks' models are tiny, and more threads on busy "
                             "cores measured 10x slower)")
    args = parser.parse_args(argv)
    for folder in map(utils.absolute, args.folders):
        parser.check(not folder.is_file(), f"{folder}: a file; expected the homework folder that holds it, "
                                           f"{folder.parent}")
        parser.check(folder.is_dir(), f"{folder}: no such folder")
    if args.npz is not None:
        parser.check(args.npz.is_file(), f"--npz {utils.absolute(args.npz)}: no such file")
    parser.check(args.threads >= 1, f"--threads {args.threads}: expected at least 1")
    parser.check(args.jobs >= 1, f"--jobs {args.jobs}: expected at least 1")
    parser.check(args.timeout > 0, f"--timeout {args.timeout:g}: expected a positive number of seconds")
    if args.data_dir is not None:
        parser.check(args.data_dir.is_dir(), f"--data_dir {utils.absolute(args.data_dir)}: no such folder")
    for folder in map(utils.absolute, args.folders):
        layout = find_layout(folder.resolve())
        parser.check(layout.q3_dir or layout.q2_dir,
                     f"{folder}: nothing to check (no hw2-q3.py, models.py with data.py, or hw2-q2.py in it "
                     f"or below it)")
    utils.resolve_device(args.device, flag="--device")
    return args


def main(argv=None):
    args = parse_args(argv)
    options = {"data_dir": str(args.data_dir.resolve()) if args.data_dir else None,
               "npz": str(args.npz.resolve()) if args.npz else None, "device": args.device, "threads": args.threads}
    names = [str(folder) for folder in args.folders]
    reports = runner.check_folders([f.resolve() for f in args.folders], options, args.timeout, args.jobs,
                                   on_report=lambda index, report: output.print_report(names[index], report))
    named = list(zip(names, reports))
    if len(named) > 1:
        output.print_summary(named)
    if args.json:
        output.write_json(args.json, named)
    if args.csv:
        output.write_csv(args.csv, named)
    return 1 if any(r.status == "fail" for report in reports for r in report.results) else 0


if __name__ == "__main__":
    sys.exit(utils.run_main(main))
