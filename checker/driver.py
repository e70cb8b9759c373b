"""The student's own hw2-q3.py run as the statement runs it, `python hw2-q3.py train`, for one epoch
on a slice of the data: whether the submission as submitted trains, before a check says it does not."""
import functools
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .layout import P2G_FILES
from .verdicts import breaks, departs

SLICE_LINES = 32
TRAIN_SECONDS = 120


def own_training(st):
    """('' if the student's `hw2-q3.py train` runs one epoch on SLICE_LINES words, else what it raised),
    or None when it cannot be run here (no hw2-q3.py, no data, out of time). Run once per folder."""
    script = st.folder / "hw2-q3.py"
    if not script.is_file() or st.data.path is None:
        return None
    return training_outcome(st.folder, st.data.path)


@functools.cache
def training_outcome(folder, data_path):
    script = folder / "hw2-q3.py"
    with tempfile.TemporaryDirectory(prefix="own-train-") as scratch:
        data = Path(scratch) / "data"
        data.mkdir()
        for name in P2G_FILES:
            lines = (data_path / name).read_text(encoding="utf-8").splitlines(keepends=True)[:SLICE_LINES]
            (data / name).write_text("".join(lines), encoding="utf-8")
        command = [sys.executable, str(script), "train", "--n_epochs", "1", "--batch_size", "8", "--hidden_size",
                   "16", "--data_dir", str(data), "--checkpoint_name", str(Path(scratch) / "probe.pt")]
        try:
            run = subprocess.run(command, cwd=scratch, capture_output=True, text=True, timeout=TRAIN_SECONDS,
                                 env={**os.environ, "PYTHONPATH": str(folder), "MPLBACKEND": "Agg"})
        except subprocess.TimeoutExpired:
            return None
    if run.returncode == 0:
        return ""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    raised = lines[-1].strip() if lines else f"exit status {run.returncode}"
    for filename, line in reversed(re.findall(r'File "([^"]+)", line (\d+)', run.stderr)):
        path = Path(filename).resolve()
        if path.is_relative_to(folder):  # the last traceback frame in the student's folder
            return f"{raised} (at {path.relative_to(folder)}:{line})"
    return raised


def judged_by_own_training(st, finding, skeleton):
    """A departure from the skeleton (`finding`; `skeleton` says what the skeleton does instead): a FAIL with
    what the student's own train raises on it, else a WARN, the submission working as submitted."""
    own = own_training(st)
    if own:
        breaks(f"{finding}: your own hw2-q3.py train raises {own} (run for one epoch on {SLICE_LINES} words); "
               f"{skeleton}")
    how = ("your own hw2-q3.py train runs with it (one epoch here, greedy validation included)" if own == ""
           else "your own hw2-q3.py train could not be run here")
    departs(f"{finding}: {how}; {skeleton}")
