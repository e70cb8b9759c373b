"""Each folder checked in its own Python process, with a time limit, so that a batch goes on.

A student function that never returns, calls os._exit or kills the interpreter stops only
its own folder's process: the check it was in becomes one FAIL line and the checks after
it in its question are skipped (a stop in Q3 reruns Q2 in a fresh process); the batch
goes on. The process reports each check as it starts and ends, one JSON line at a time, in
a file of its own (the student's prints cannot mix in).

    python -m checker.runner EVENTS_FILE OPTIONS_JSON FOLDER    (started by `check_folders`)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from .folder import PARTS, FolderReport, check_folder
from .layout import ROOT
from .verdicts import Result

POLL_SECONDS = 0.05


# ----------------------------------------------------------------------------- the folder's process


class EventLog:
    """The folder's progress, one JSON line per event, flushed at once (a killed process keeps them)."""

    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")

    def write(self, event, **fields):
        self.file.write(json.dumps({"event": event, **fields}) + "\n")
        self.file.flush()

    def plan(self, header, checks):
        self.write("plan", header=header, checks=checks)

    def started(self, check_id):
        self.write("started", id=check_id)

    def finished(self, result, scores):
        self.write("result", result=vars(result), scores=scores)


def worker(argv):
    events_path, options_json, folder = argv
    log = EventLog(events_path)
    log.write("ready")  # the interpreter and torch are loaded: the time limit counts from here
    options = json.loads(options_json)
    torch.set_num_threads(options["threads"])
    settings = SimpleNamespace(data_dir=options["data_dir"], device=torch.device(options["device"]),
                               npz=Path(options["npz"]) if options["npz"] else None)
    try:
        check_folder(Path(folder), settings, log, parts=options["parts"])
    except Exception as error:  # the checker's own failure outside any check: reported, not a traceback
        log.write("error", message=f"{type(error).__name__}: {error}")
        return 1
    log.write("done")
    return 0


# ----------------------------------------------------------------------------- the grader's process


class FolderRun:
    """One folder's process and what it has reported so far."""

    def __init__(self, folder, options, timeout, scratch):
        self.folder, self.timeout = folder, timeout
        self.events_path = scratch / "events.jsonl"
        self.stderr_path = scratch / "stderr.txt"
        self.events, self.read_bytes = [], 0
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "checker.runner", str(self.events_path), json.dumps(options), str(folder)],
                cwd=scratch, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                     "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8"},
                start_new_session=True)  # its own process group: whatever the student's code starts dies with it
        self.deadline = time.monotonic() + timeout
        self.timed_out = False

    def read_events(self):
        if not self.events_path.is_file():
            return
        with open(self.events_path, "rb") as file:
            file.seek(self.read_bytes)
            chunk = file.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.read_bytes += len(complete)
        for line in complete.decode("utf-8").splitlines():
            event = json.loads(line)
            if event["event"] == "ready":
                self.deadline = time.monotonic() + self.timeout
            self.events.append(event)

    def poll(self):
        """True once the process has ended (or was stopped at its deadline)."""
        self.read_events()
        if self.process.poll() is not None:
            self.read_events()
            return True
        if time.monotonic() > self.deadline:
            self.timed_out = True
            self.stop()
            self.read_events()
            return True
        return False

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, AttributeError):  # gone already, or no process groups
            self.process.kill()
        self.process.wait()

    def last_error_line(self):
        lines = [line for line in self.stderr_path.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1].strip()[:200] if lines else ""

    def report(self):
        """The FolderReport of what the process reported, the check it stopped in failing."""
        report = FolderReport(self.folder, "")
        plan, started, done, error = [], None, False, None
        for event in self.events:
            kind = event["event"]
            if kind == "plan":
                plan, report.header = event["checks"], event["header"]
            elif kind == "started":
                started = event["id"]
            elif kind == "result":
                report.results.append(Result(**event["result"]))
                report.checkpoints += event["scores"]
                started = None
            elif kind == "done":
                done = True
            elif kind == "error":
                error = event["message"]
        self.stopped_at = None if done else started
        if done:
            return report
        report.header = report.header or "the checker's process ended before looking at the files"
        if not plan:
            report.results.append(Result("folder.run", "-", "skip", self.stopped_before_any_check(error)))
            return report
        reported = {r.id for r in report.results}
        questions = dict(plan)
        if started is not None:
            report.results.append(Result(started, questions[started], *self.stopped_in(started, error)))
        report.results += [Result(i, q, "skip", f"not run: the process stopped at {started or 'an error'}")
                           for i, q in plan if i not in reported and i != started]
        return report

    def stopped_in_q3(self):
        return bool(self.stopped_at) and self.stopped_at.startswith("q3.")

    def how_it_ended(self):
        code = self.process.returncode
        if code is not None and code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exit status {code}"

    def stopped_before_any_check(self, error):
        if error:
            return f"the checker failed before any check ({error}); please report it"
        if self.timed_out:
            return f"the checker's process did not start within {self.timeout:g} s (--timeout)"
        detail = self.last_error_line()
        return f"the checker's process ended before any check ({self.how_it_ended()}{': ' + detail if detail else ''})"

    def stopped_in(self, check_id, error):
        """(status, message) of the check during which the process stopped."""
        if error:
            return "skip", f"not checked: the checker failed here ({error}); please report it"
        hint = ""
        if check_id.endswith(("import.models", "import.script", "import.data")) or check_id == "q2.import":
            hint = " (does the file run its training when imported, without an if __name__ == '__main__' guard?)"
        if self.timed_out:
            return "fail", (f"still running when the folder's {self.timeout:g} s ran out (--timeout): does a function "
                            f"of yours loop forever?{hint}")
        return "fail", (f"the checker's process ended during this check ({self.how_it_ended()}): does your code call "
                        f"os._exit, or kill the interpreter?{hint}")


class FolderJob:
    """A folder's runs: all its checks in one process; if Q3 stops that process, Q2 in a second one."""

    def __init__(self, folder, options, timeout, scratch):
        self.folder, self.options, self.timeout, self.scratch = folder, options, timeout, scratch
        self.report = None
        self.run = self.start(PARTS)

    def start(self, parts):
        directory = self.scratch / "-".join(parts)
        directory.mkdir(parents=True)
        return FolderRun(self.folder, {**self.options, "parts": list(parts)}, self.timeout, directory)

    def poll(self):
        """True once every run of the folder has ended."""
        if not self.run.poll():
            return False
        report = self.run.report()
        if self.report is None:
            self.report = report
            if self.run.stopped_in_q3() and any(r.id.startswith("q2.") for r in report.results):
                self.run = self.start(("q2",))
                return False
        else:  # the Q2 checks, run again in a process of their own
            again = {r.id: r for r in report.results}
            self.report.results = [again.get(r.id, r) for r in self.report.results]
            self.report.checkpoints += report.checkpoints
        return True


def check_folders(folders, options, timeout, jobs, on_report):
    """Check each folder in its own process, `jobs` at a time; call on_report(index, report) in order."""
    reports, running, waiting, printed = {}, {}, list(enumerate(folders)), 0
    with tempfile.TemporaryDirectory(prefix="check_homework-") as scratch:
        while waiting or running:
            while waiting and len(running) < jobs:
                index, folder = waiting.pop(0)
                running[index] = FolderJob(folder, options, timeout, Path(scratch) / str(index))
            for index in [i for i, job in running.items() if job.poll()]:
                reports[index] = running.pop(index).report
            while printed in reports:
                on_report(printed, reports[printed])
                printed += 1
            if running:
                time.sleep(POLL_SECONDS)
    return [reports[i] for i in range(len(folders))]


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1:]))
