"""Where a student's files are: the Q3 and Q2 folders, the checkpoints, and which Q3 data to score on."""
import filecmp
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
COURSE_DATA = ROOT / "data"  # the course's P2G files, shipped with this project
P2G_FILES = ("train.tsv", "valid.tsv", "test.tsv")
SCORING_FILES = ("train.tsv", "test.tsv")  # the vocabularies come from train.tsv, the scores from test.tsv

SKIPPED_DIRS = {".git", ".venv", "venv", "env", "__pycache__", "node_modules", "site-packages", ".ipynb_checkpoints"}
SEARCH_DEPTH = 4
CHECKPOINT_DEPTH = 3


@dataclass
class Layout:
    q3_dir: Path = None
    q2_dir: Path = None
    checkpoints: list = field(default_factory=list)


def walk(folder, depth=SEARCH_DEPTH):
    """Directories under `folder` (itself first, shallowest first), skipping environments and caches."""
    found = []
    for current, dirs, files in os.walk(folder):
        level = len(Path(current).relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        if level >= depth:
            dirs[:] = []
        found.append((level, Path(current), set(files)))
    return [(path, files) for _, path, files in sorted(found, key=lambda item: (item[0], str(item[1])))]


def find_layout(folder):
    """Where the student's Q3 and Q2 files are: the shallowest directory holding each."""
    layout = Layout()
    for path, files in walk(folder):
        if layout.q3_dir is None and ("hw2-q3.py" in files or {"models.py", "data.py"} <= files):
            layout.q3_dir = path
        if layout.q2_dir is None and "hw2-q2.py" in files:
            layout.q2_dir = path
    if layout.q3_dir is not None:
        layout.checkpoints = sorted(path / name for path, files in walk(layout.q3_dir, depth=CHECKPOINT_DEPTH)
                                    for name in files if name.endswith(".pt") and not is_other_model(path / name))
    return layout


def is_other_model(path):
    """Whether `path` holds a readable state_dict with no encoder or decoder: another model's (a Q2
    CNN's, say), not a Q3 checkpoint. An unreadable file is still a checkpoint, to be reported."""
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # torch.load raises many types for a damaged or foreign file
        return False
    return isinstance(state_dict, dict) and bool(state_dict) and not any(
        str(key).startswith(("encoder.", "decoder.")) for key in state_dict)


def describe_path(path, folder):
    relative = path.relative_to(folder)
    return "./" if relative == Path(".") else f"./{relative}/"


@dataclass
class DataChoice:
    """The Q3 data the checkpoints are scored on, how it was chosen, and where it was looked for."""

    path: Path = None
    note: str = ""
    looked: list = field(default_factory=list)


def holds_p2g_data(directory):
    return directory is not None and all((directory / name).is_file() for name in SCORING_FILES)


def choose_data(option, folder, q3_dir):
    """The Q3 data: --data_dir if given; else the course's files shipped beside check_homework.py; a
    student's own data/ only when it holds the same files (the scores are then the course's anyway)."""
    if option is not None:
        return DataChoice(Path(option).resolve(), f"--data_dir {option}")
    own = next((d for d in (q3_dir / "data", folder / "data") if holds_p2g_data(d)), None)
    if holds_p2g_data(COURSE_DATA):
        if own is None:
            return DataChoice(COURSE_DATA, f"the course's data in {COURSE_DATA}")
        differing = [name for name in P2G_FILES if (COURSE_DATA / name).is_file() and not (
            (own / name).is_file() and filecmp.cmp(own / name, COURSE_DATA / name, shallow=False))]
        if not differing:
            return DataChoice(own, f"your {describe_path(own, folder)}, which holds the course's files")
        return DataChoice(COURSE_DATA, f"the course's data in {COURSE_DATA}; your {describe_path(own, folder)} "
                                       f"differs from it in {', '.join(differing)}")
    if own is not None:
        return DataChoice(own, f"your {describe_path(own, folder)} (the course's {COURSE_DATA} is missing, so it "
                               f"is not compared)")
    return DataChoice(None, "", [str(COURSE_DATA), str(q3_dir / "data")])
