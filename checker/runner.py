"""Each question of each folder checked in a Python process of its own, with a time limit, so
that a batch goes on.

A student function that never returns, calls os._exit or kills the interpreter stops only its
own process: the check it was in becomes one FAIL line, the checks after it in that question
are skipped, and the other question and the next folder go on. The process writes each check
as it starts and ends, one JSON line at a time, to a file of its own (the student's prints
cannot mix in), read when the process has ended.

    python -m checker.runner EVENTS_FILE PART FOLDER OPTIONS_JSON    (started by `check_folders`)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import torch

from .folder import PARTS, FolderReport, check_part, header, plan
from .layout import ROOT, find_layout
from .verdicts import Result


def worker(events_path, part, folder, options_json):
    options = json.loads(options_json)
    torch.set_num_threads(options["threads"])
    settings = SimpleNamespace(data_dir=options["data_dir"], device=torch.device(options["device"]),
                               npz=Path(options["npz"]) if options["npz"] else None)
    with open(events_path, "a", encoding="utf-8") as events:
        def write(**event):
            events.write(json.dumps(event) + "\n")
            events.flush()  # a killed process keeps what it wrote

        try:
            check_part(Path(folder), part, settings, started=lambda check_id: write(started=check_id),
                       finished=lambda result, score=None: write(result=vars(result), score=score))
        except Exception as error:  # the checker's own failure outside any check: reported, not a traceback
            write(error=f"{type(error).__name__}: {error}")
            return 1
    return 0


def run_part(folder, part, options, timeout):
    """(events, how the process ended: 'timeout', 'exit status 0', 'killed by signal SIGKILL: <its last
    line on stderr>', ...)."""
    with tempfile.TemporaryDirectory(prefix="check_homework-") as scratch:
        events_path, stderr_path = Path(scratch) / "events.jsonl", Path(scratch) / "stderr.txt"
        with open(stderr_path, "w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "checker.runner", str(events_path), part, str(folder), json.dumps(options)],
                cwd=scratch, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                     "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8"},
                start_new_session=True)  # its own process group: whatever the student's code starts dies with it
            try:
                code = process.wait(timeout)
                ended = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                ended = "timeout"
        events = ([json.loads(line) for line in events_path.read_text(encoding="utf-8").splitlines()
                   if line.endswith("}")] if events_path.is_file() else [])
        lines = [line.strip() for line in stderr_path.read_text(errors="replace").splitlines() if line.strip()]
    if ended != "timeout" and lines:
        ended += f": {lines[-1][:200]}"
    return events, ended


def stopped_in(check_id, part, ended, error, timeout):
    """(status, message) of the check during which the process stopped."""
    if error:
        return "skip", f"not checked: the checker failed here ({error}); please report it"
    hint = (" (does the file run its training when imported, without an if __name__ == '__main__' guard?)"
            if ".import" in check_id else "")
    if ended == "timeout":
        return "fail", (f"still running when {part.upper()}'s {timeout:g} s ran out (--timeout): does a function of "
                        f"yours loop forever?{hint}")
    return "fail", (f"the checker's process ended during this check ({ended}): does your code call os._exit, or "
                    f"kill the interpreter?{hint}")


def part_results(folder, part, options, timeout):
    """([Result], [score]) of one part run in its own process, the check it stopped in failing."""
    events, ended = run_part(folder, part, options, timeout)
    results = [Result(**e["result"]) for e in events if "result" in e]
    scores = [e["score"] for e in events if e.get("score") is not None]
    started = [e["started"] for e in events if "started" in e]
    error = next((e["error"] for e in events if "error" in e), None)
    questions = dict(plan(find_layout(folder), part))
    done = {r.id for r in results}
    if len(done) == len(questions):
        return results, scores
    stopped = started[-1] if started and started[-1] not in done else None
    if stopped:
        results.append(Result(stopped, questions[stopped], *stopped_in(stopped, part, ended, error, timeout)))
    else:
        why = error or ("its process did not start within the time limit (--timeout)" if ended == "timeout"
                        else f"its process ended before any check ({ended})")
        results.append(Result(f"{part}.run", part.upper(), "skip", f"not checked: {why}; please report it"))
    results += [Result(i, q, "skip", f"not run: the process stopped at {stopped or 'an error'}")
                for i, q in questions.items() if i not in done and i != stopped]
    return results, scores


def check_folder_in_processes(folder, options, timeout):
    report = FolderReport(folder, header(folder, find_layout(folder), SimpleNamespace(**options)))
    for part in PARTS:
        results, scores = part_results(folder, part, options, timeout)
        report.results += results
        report.checkpoints += scores
    return report


def check_folders(folders, options, timeout, jobs, on_report):
    """Check each folder, `jobs` at a time; call on_report(index, report) in order, as soon as it can."""
    reports = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for index, report in enumerate(pool.map(partial(check_folder_in_processes, options=options, timeout=timeout),
                                                folders)):
            on_report(index, report)
            reports.append(report)
    return reports


if __name__ == "__main__":
    sys.exit(worker(*sys.argv[1:]))
