#!/usr/bin/env python
"""The scores of other 2024-25 submissions that the report compares ours with, as one JSON.

    python -m scripts.peer_scores      # writes results/peers.json

Q3: each group's test CER and WER, read from ../shared/data/peer-checkpoints.md (twelve public
submissions' own checkpoints, each scored with that group's own driver); the range and median of each
column are computed here and must equal the file's own summary line. Q2: the test accuracies that
three 2024-25 student reports give for Q2.1 and Q2.2 on the course's Intel file (no checkpoints of
theirs were scored), kept here with their source so that the pages quote them from one place.
"""
import re
import statistics
from pathlib import Path

import utils

ROOT = Path(__file__).resolve().parents[1]
PEER_CHECKPOINTS = ROOT.parent / "shared" / "data" / "peer-checkpoints.md"
COLUMNS = ("no-attn cer", "no-attn wer", "attn cer", "attn wer")  # the file's table, left to right
STUDENT_REPORTS_Q2 = {  # test accuracy, lowest and highest of the three reports, on the course's file
    "source": "the test accuracies that three 2024-25 student reports give, on the course's intel_landscapes.v2.npz",
    "Q2.1": [0.69, 0.70],
    "Q2.2": [0.73, 0.75],
}


def read_groups(text, path):
    """The rows of the file's table -> [{"group": "A", "no-attn cer": 0.2926 or None, ...}]."""
    groups = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 1 + len(COLUMNS) or not re.fullmatch(r"[A-Z]", cells[0]):
            continue
        values = [None if cell == "-" else float(cell) for cell in cells[1:]]
        groups.append({"group": cells[0], **dict(zip(COLUMNS, values))})
    if not groups:
        raise utils.UserError(f"{path}: no table of groups (| A | CER | WER | CER | WER |) found")
    return groups


def column_summary(groups, column):
    values = [group[column] for group in groups if group[column] is not None]
    return {"n": len(values), "min": min(values), "max": max(values), "median": statistics.median(values)}


def check_summary(text, summary, path):
    """The file's summary line must say what its table gives: its numbers are the ones the pages cite."""
    text = " ".join(text.split())  # the summary runs over several lines
    for model, label in (("no-attn", "without attention"), ("attn", "with attention")):
        match = re.search(rf"{label} \((\d+) groups\) CER (\d\.\d+)-(\d\.\d+), median (\d\.\d+); WER (\d\.\d+)-(\d\.\d+), "
                          rf"median (\d\.\d+)", text, re.IGNORECASE)
        if match is None:
            raise utils.UserError(f"{path}: no summary line for the runs {label}")
        n, *numbers = match.groups()
        ours = summary[f"{model} cer"], summary[f"{model} wer"]
        computed = [ours[0]["min"], ours[0]["max"], ours[0]["median"], ours[1]["min"], ours[1]["max"], ours[1]["median"]]
        if int(n) != ours[0]["n"] or any(abs(float(a) - b) > 5e-5 for a, b in zip(numbers, computed)):
            raise utils.UserError(f"{path}: the summary {label} ({match[0]}) is not what its table gives ({computed})")


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", default=str(PEER_CHECKPOINTS), help="peer-checkpoints.md")
    parser.add_argument("--out", default=str(ROOT / "results" / "peers.json"))
    opt = parser.parse_args(argv)
    path = Path(opt.peers)
    if not path.is_file():
        raise utils.UserError(f"{utils.absolute(path)}: no such file; it lives in the shared data beside the "
                              "repository")
    text = path.read_text(encoding="utf-8")
    groups = read_groups(text, path)
    summary = {column: column_summary(groups, column) for column in COLUMNS}
    check_summary(text, summary, path)
    record = {"q3": {"source": "../shared/data/peer-checkpoints.md: each group's own checkpoints, scored with its own "
                               "hw2-q3.py test on the course's test.tsv, greedy decoding",
                     "groups": groups, **summary},
              "q2": STUDENT_REPORTS_Q2}
    utils.write_json(Path(opt.out), record)
    print(f"wrote {opt.out} ({len(groups)} groups)")


if __name__ == "__main__":
    utils.run_main(main)
