"""The student's own hw2-q3.py run as the statement runs it, `python hw2-q3.py train`, for one epoch
on a slice of the data: whether the submission as submitted trains. It runs in the checker's process
(the folder's own, with its time limit), with the student's modules already imported, once per folder."""
import contextlib
import functools
import io
import re
import runpy
import sys
import tempfile
from pathlib import Path

import torch

from .layout import P2G_FILES
from .student import describe_error, student_frame
from .verdicts import breaks, cannot_judge, departs, needs

SLICE_LINES = {"train.tsv": 32, "valid.tsv": 4, "test.tsv": 4}  # 4 steps of 8 words; 4 decoded greedily
FLAGS = ("--n_epochs", "1", "--batch_size", "8", "--hidden_size", "16")  # what the run adds to the statement's command
RUN = (f"run with {' '.join(FLAGS)} on the first {SLICE_LINES['train.tsv']} training words and "
       f"{SLICE_LINES['valid.tsv']} validation words")


def own_training(st):
    """('' if the student's `hw2-q3.py train`, then `hw2-q3.py train --use_attn` (the statement's Q3.1a and
    Q3.1b commands) each run one epoch on the slice, else what the first that fails raised, at file:line),
    or None when it cannot be run here (no hw2-q3.py or no data)."""
    if not (st.folder / "hw2-q3.py").is_file() or st.data.path is None or getattr(st.script, "functions_alone", 0):
        return None
    return next(filter(None, (training_outcome(st.folder, st.data.path, use_attn) for use_attn in (False, True))), "")


@functools.cache
def training_outcome(folder, data_path, use_attn):
    with tempfile.TemporaryDirectory(prefix="own-train-") as scratch, contextlib.chdir(scratch), torch.enable_grad():
        data = Path(scratch) / "data"
        data.mkdir()
        for name in P2G_FILES:
            lines = (data_path / name).read_text(encoding="utf-8").splitlines(keepends=True)
            (data / name).write_text("".join(lines[:SLICE_LINES[name]]), encoding="utf-8")
        command = "hw2-q3.py train --use_attn" if use_attn else "hw2-q3.py train"
        argv, sys.argv = sys.argv, [str(folder / "hw2-q3.py"), *command.split()[1:], *FLAGS, "--data_dir", str(data),
                                    "--checkpoint_name", str(Path(scratch) / "probe.pt")]
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(printed):
                runpy.run_path(sys.argv[0], run_name="__main__")
        except SystemExit as error:
            if error.code not in (None, 0):
                lines = printed.getvalue().strip().splitlines() or [f"exit status {error.code}"]
                return f"`{command}` exits: {lines[-1]}"
        except Exception as error:
            own = student_frame(error, folder)
            return f"`{command}` raises {describe_error(error, folder) if own else f'{type(error).__name__}: {error}'}"
        finally:
            sys.argv = argv
    return ""


def raised_at(outcome):
    """The student's file:line an own-training outcome names (the outcome itself where it names none)."""
    found = re.search(r"\(at (\S+:\d+)", outcome)
    return found[1] if found else outcome


def check_own_training(st, raised, failed):
    """The submission as submitted: the group's own `hw2-q3.py train` without and with --use_attn, each run
    once per folder; a fault another check reported where it raises is not counted twice."""
    if getattr(st.script, "functions_alone", False):
        needs("not run: hw2-q3.py does not import (see q3.import.script)")
    own = own_training(st)
    if own is None:
        cannot_judge("not run: no Q3 data found (pass --data_dir)")
    if "unrecognized arguments" in own or "error: argument" in own:
        cannot_judge(f"not run: your hw2-q3.py does not take the course's flags ({own})")
    reported = [check for where, check in raised.items() if where == raised_at(own) or where in own]
    if raised_at(own).startswith("models.py"):  # a fault of their models another check reported explains it
        reported += [check for check in failed if check.startswith("q3.") and not check.startswith("q3.import.")]
    if reported:
        needs(f"your own {own} (see {reported[0]})")
    if own:
        breaks(f"your own {own} ({RUN})", where=raised_at(own))
    return (f"your own hw2-q3.py train, without and with --use_attn, runs one epoch on {SLICE_LINES['train.tsv']} "
            f"words, greedy validation included")


def judged_by_own_training(st, finding, skeleton):
    """A departure from the skeleton (`finding`; `skeleton` says what the skeleton does instead): a FAIL with
    what the student's own train raises on it, else a WARN, the submission working as submitted."""
    own = own_training(st)
    if own:
        breaks(f"{finding}: your own {own} ({RUN}); {skeleton}", where=raised_at(own))
    how = ("your own hw2-q3.py train runs with it (one epoch here, greedy validation included)" if own == ""
           else "your own hw2-q3.py train could not be run here")
    departs(f"{finding}: {how}; {skeleton}")
