"""Each folder checked in processes of its own, with a time limit, so that a batch goes on: a student
function that never returns or ends the interpreter fails the check it was in, the rest of that question
skips, the questions after it run in a fresh process. Each check's start and end go as JSON lines to a file
of the process's own, where the student's prints cannot mix in. The processes are forked from a server
that has imported torch and the checker once (multiprocessing's forkserver): a fresh interpreter would
spend several seconds of CPU a folder importing them again.
"""
import json
import multiprocessing
import os
import signal
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import torch

from .folder import PARTS, FolderReport, check_part, header, plan
from .layout import find_layout
from .verdicts import Result

# Where there is no forkserver (Windows), each process is a fresh interpreter.
SERVER = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                                     else "spawn")
if SERVER.get_start_method() == "forkserver":  # torch._dynamo: the student's first optimizer step imports it
    SERVER.set_forkserver_preload(["checker.folder", "matplotlib.pyplot", "torch._dynamo"])


def worker(scratch, parts, folder, options):
    """Check `parts` in order, in a session of the process's own (whatever the student's code starts dies
    with it), in `scratch`, the student's prints to nowhere and the interpreter's last words to a file."""
    if hasattr(os, "setsid"):  # POSIX
        os.setsid()
    os.chdir(scratch)
    for fd, path in ((1, os.devnull), (2, "stderr.txt")):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT), fd)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(encoding="utf-8", errors="replace")
    matplotlib.use("Agg")  # a student's plt.show() never waits for a window
    torch.set_num_threads(options["threads"])
    settings = SimpleNamespace(data_dir=options["data_dir"], device=torch.device(options["device"]),
                               npz=Path(options["npz"]) if options["npz"] else None)
    with open("events.jsonl", "a", encoding="utf-8") as events:
        def write(**event):
            events.write(json.dumps(event) + "\n")
            events.flush()  # a killed process keeps what it wrote

        try:
            for part in parts:
                check_part(folder, part, settings, started=lambda check_id: write(started=check_id),
                           finished=lambda result, score=None: write(result=vars(result), score=score))
        except Exception as error:  # the checker's own failure outside any check: reported, not a traceback
            write(error=f"{type(error).__name__}: {error}")
            sys.exit(1)


def run_parts(folder, parts, options, timeout):
    """(events, how the process ended: 'timeout', 'exit status 0', 'killed by signal SIGKILL: <last stderr line>')."""
    with tempfile.TemporaryDirectory(prefix="check_homework-") as scratch:
        process = SERVER.Process(target=worker, args=(scratch, parts, folder, options))
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (AttributeError, ProcessLookupError):  # Windows, or it has no session of its own yet
                process.kill()
            process.join()
            ended = "timeout"
        else:
            code = process.exitcode
            ended = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        events_path, stderr_path = Path(scratch) / "events.jsonl", Path(scratch) / "stderr.txt"
        events = ([json.loads(line) for line in events_path.read_text(encoding="utf-8").splitlines()
                   if line.endswith("}")] if events_path.is_file() else [])
        lines = ([line.strip() for line in stderr_path.read_text(errors="replace").splitlines() if line.strip()]
                 if stderr_path.is_file() else [])
    if ended != "timeout" and lines:
        ended += f": {lines[-1][:200]}"
    return events, ended


def stopped_in(check_id, part, ended, error, timeout):
    """(status, message) of the check the process stopped in."""
    if error:
        return "skip", f"not checked: the checker failed here ({error}); please report it"
    hint = (" (does the file run its training when imported, without an if __name__ == '__main__' guard?)"
            if ".import" in check_id else "")
    if ended == "timeout":
        return "fail", (f"still running when the {timeout:g} s of {part.upper()}'s checks ran out (--timeout): does a "
                        f"function of yours loop forever?{hint}")
    return "fail", (f"the checker's process ended during this check ({ended}): does your code call os._exit, or "
                    f"kill the interpreter?{hint}")


def parts_results(folder, parts, options, timeout):
    """([Result], [score], the parts not started) of `parts` run in one process, in order."""
    events, ended = run_parts(folder, parts, options, timeout)
    results = [Result(**e["result"]) for e in events if "result" in e]
    scores = [e["score"] for e in events if e.get("score") is not None]
    started = [e["started"] for e in events if "started" in e]
    error = next((e["error"] for e in events if "error" in e), None)
    layout, done = find_layout(folder), {r.id for r in results}
    for index, part in enumerate(parts):
        questions = dict(plan(layout, part))
        if set(questions) <= done:
            continue
        stopped = started[-1] if started and started[-1] in questions and started[-1] not in done else None
        if stopped:
            results.append(Result(stopped, questions[stopped], *stopped_in(stopped, part, ended, error, timeout)))
        else:
            why = error or ("its process did not start within the time limit (--timeout)" if ended == "timeout"
                            else f"its process ended before any check ({ended})")
            results.append(Result(f"{part}.run", part.upper(), "skip", f"not checked: {why}; please report it"))
        results += [Result(i, q, "skip", f"not run: the process stopped at {stopped or 'an error'}")
                    for i, q in questions.items() if i not in done and i != stopped]
        return results, scores, parts[index + 1:]
    return results, scores, []


def check_folder_in_processes(folder, options, timeout):
    """Its parts in one process; those after a part that stopped it, in another."""
    report = FolderReport(header(folder, find_layout(folder), SimpleNamespace(**options)))
    parts = list(PARTS)
    while parts:
        results, scores, parts = parts_results(folder, parts, options, timeout)
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
