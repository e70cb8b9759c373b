"""What the checker writes: one text line per check, a summary table for a batch, JSON and CSV."""
import csv
import io

import utils

from .verdicts import totals

CHECKPOINT_PREFIX = "q3.checkpoint."
SCORE_COLUMNS = (("attention", "use_attn"), ("test CER", "test_cer"), ("test WER", "test_wer"),
                 ("expected test WER@3", "expected_test_wer@3"))


def print_report(name, report):
    print(f"== {name}: {report.header}")
    width = max((len(r.id) for r in report.results), default=0)
    for r in report.results:
        print(f"{r.status.upper():<4}  {r.id:<{width}}  {r.question:<5}  {r.message}")
    counts = totals(report.results)
    print(f"Totals: {counts['pass']} passed, {counts['fail']} failed, {counts['warn']} warned, "
          f"{counts['skip']} skipped\n", flush=True)


def print_summary(named_reports):
    """One row per folder: its counts and its checkpoints' test CER/WER."""
    width = max(len("folder"), *(len(name) for name, _ in named_reports))
    print(f"{'folder':<{width}}  passed  failed  warned  skipped  checkpoints (test CER/WER)")
    for name, report in named_reports:
        counts = totals(report.results)
        scores = ", ".join(f"{s['file']} {s['test_cer']:.4f}/{s['test_wer']:.4f}" for s in report.checkpoints)
        print(f"{name:<{width}}  {counts['pass']:>6}  {counts['fail']:>6}  {counts['warn']:>6}  {counts['skip']:>7}  "
              f"{scores or '-'}")


def write_json(path, named_reports):
    utils.write_json(path, {"folders": [
        {"folder": name, "header": report.header, "checks": [vars(r) for r in report.results],
         "checkpoints": report.checkpoints}
        for name, report in named_reports]})


def checkpoint_results(report):
    return [r for r in report.results if r.id.startswith(CHECKPOINT_PREFIX)]


def write_csv(path, named_reports):
    """One row per folder, one column per check (pass/fail/warn/skip), then each checkpoint's verdict and scores."""
    check_ids = list(dict.fromkeys(r.id for _, report in named_reports for r in report.results
                                   if not r.id.startswith(CHECKPOINT_PREFIX)))
    most = max((len(checkpoint_results(report)) for _, report in named_reports), default=0)
    header = ["folder", "passed", "failed", "warned", "skipped", *check_ids]
    for n in range(1, most + 1):
        header += [f"checkpoint {n}", f"checkpoint {n} status"]
        header += [f"checkpoint {n} {label}" for label, _ in SCORE_COLUMNS]
    rows = [header]
    for name, report in named_reports:
        status = {r.id: r.status for r in report.results}
        scores = {score["file"]: score for score in report.checkpoints}
        row = [name, *totals(report.results).values(), *(status.get(i, "") for i in check_ids)]
        for result in checkpoint_results(report):
            file = result.id.removeprefix(CHECKPOINT_PREFIX)
            score = scores.get(file, {})
            row += [file, result.status, *("" if score.get(key) is None else score[key] for _, key in SCORE_COLUMNS)]
        rows.append(row)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    utils.write_text(path, text.getvalue())
