#!/usr/bin/env python
"""Fill the report's tables from the results JSONs and copy its figures.

    python -m report.make_report    # make report

Every table of report/*.md stands between a `<!-- begin NAME -->` and an
`<!-- end NAME -->` line; this script rewrites what is between them from results/, so
the text cannot drift from the runs. The figures are copied from results/ to
report/figures/. Nothing is retrained.
"""
import argparse
import re
import shutil
from pathlib import Path

import utils
from scripts.q2_experiments import markdown_table
from scripts.q3_ablations import summary_markdown as ablations_markdown
from scripts.q3_error_analysis import markdown as error_analysis_markdown
from scripts.q3_experiments import format_mean_std, mean_std, summary_markdown

ROOT = Path(__file__).resolve().parents[1]
REPORT_DIR = ROOT / "report"
BLOCK = re.compile(r"(<!-- begin (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end (?P=name) -->)", re.S)

FIGURES = {
    "q1/cccp_energy.png": "q1_cccp_energy.png",
    "q1/retrieval.png": "q1_retrieval.png",
    "q2/lr_sweep.png": "q2_lr_sweep.png",
    "q2/q21_vs_q22.png": "q2_q21_vs_q22.png",
    "q2/pixel_orders.png": "q2_pixel_orders.png",
    "q2/course_reshape.png": "q2_course_reshape.png",
    "q2/bn_statistics.png": "q2_bn_statistics.png",
    "q3/no-attn-seed42-val-cer.png": "q3_no_attn_val_cer.png",
    "q3/attn-seed42-val-cer.png": "q3_attn_val_cer.png",
    "q3/attn-seed42-attention.png": "q3_attention.png",
}


def _read(results_dir, relative):
    path = Path(results_dir) / relative
    if not path.is_file():
        raise utils.UserError(f"{path}: no such file; run `make reproduce` (or the run that writes it) first")
    return utils.read_json(path)


def q1_checks(results_dir):
    rows = _read(results_dir, "q1/checks.json")["rows"]
    lines = ["| # | check | worst error | tolerance | result |", "|---|---|---|---|---|"]
    lines += [f"| {i} | {row['check'].replace('|', '&#124;')} | {row['error']:.1e} | {row['tolerance']:.0e} | "
              f"{'PASS' if row['passed'] else 'FAIL'} |" for i, row in enumerate(rows, 1)]
    return "\n".join(lines) + "\n"


def _q2_rows(results_dir, select):
    summary = _read(results_dir, "q2/summary.json")
    return [row for row in summary["runs"] if select(row["run"])], summary["best_learning_rate"]


def q2_sweep(results_dir):
    rows, best = _q2_rows(results_dir, lambda run: run.startswith("Q2.1 lr"))
    return markdown_table(rows) + f"\nBest learning rate by final-epoch validation accuracy: **{best:g}**.\n"


def q2_networks(results_dir):
    rows, best = _q2_rows(results_dir, lambda run: run == "Q2.2")
    sweep, _ = _q2_rows(results_dir, lambda run: run == f"Q2.1 lr {best:g}")
    return markdown_table(sweep + rows)


def q2_course_reshape(results_dir):
    rows, best = _q2_rows(results_dir, lambda run: run in ("Q2.2", "Q2.2 course reshape", "Q2.1 course reshape"))
    sweep, _ = _q2_rows(results_dir, lambda run: run == f"Q2.1 lr {best:g}")
    return markdown_table(sweep + rows)


def _q2_run(results_dir, row):
    """The full record of a summary row's run."""
    return _read(results_dir, f"q2/{row['folder']}/results.json")


def q2_bn_stats(results_dir):
    """Batch-norm runs evaluated both ways: statistics recomputed (what they report) and running averages."""
    rows, _ = _q2_rows(results_dir, lambda run: run.startswith("Q2.2"))
    lines = ["| run | batch-norm statistics | test acc (epoch 40) | final val acc | val acc, epochs 31-40: min - max |",
             "|---|---|---|---|---|"]
    for row in rows:
        run = _q2_run(results_dir, row)
        if "val_acc_running_bn" not in run:
            continue
        for label, test_acc, curve in (("recomputed", run["test_acc"], run["val_acc"]),
                                       ("running averages", run["test_acc_running_bn"], run["val_acc_running_bn"])):
            last = curve[-10:]
            lines.append(f"| {row['run']} | {label} | {test_acc:.4f} | {curve[-1]:.4f} | "
                         f"{min(last):.4f} - {max(last):.4f} |")
    return "\n".join(lines) + "\n"


# Arguments that say how and where a run was executed, not what it computed.
EXECUTION_ARGS = {"seed", "threads", "no_progress", "results_dir", "data_path", "device"}


def q2_seeds(results_dir):
    """Q2.1 and Q2.2 at the best rate for every seed: runs whose arguments are make q2's but for the seed."""
    def settings(run):
        return {key: value for key, value in run["args"].items() if key not in EXECUTION_ARGS}

    runs = [utils.read_json(path) for path in Path(results_dir, "q2").glob("*/results.json")]
    lines = ["| network | seed | final val acc | test acc (epoch 40) |", "|---|---|---|---|"]
    _, best = _q2_rows(results_dir, lambda run: False)
    for network, name in (("Q2.1", f"Q2.1 lr {best:g}"), ("Q2.2", "Q2.2")):
        rows, _ = _q2_rows(results_dir, lambda run: run == name)
        reference = settings(_q2_run(results_dir, rows[0]))
        seeds = sorted((run for run in runs if settings(run) == reference and run["status"] == "completed"),
                       key=lambda run: (run["args"]["seed"] != 42, run["args"]["seed"]))
        lines += [f"| {network} | {run['args']['seed']} | {run['val_acc'][-1]:.4f} | {run['test_acc']:.4f} |"
                  for run in seeds]
        if len(seeds) > 1:
            final_val = mean_std([run["val_acc"][-1] for run in seeds])
            test = mean_std([run["test_acc"] for run in seeds])
            lines.append(f"| {network} | mean ± std | {format_mean_std(final_val)} | {format_mean_std(test)} |")
    return "\n".join(lines) + "\n"


def q3_summary(results_dir):
    return summary_markdown(_read(results_dir, "q3/summary.json"))


def q3_errors(results_dir):
    analysis = _read(results_dir, "q3/error_analysis.json")
    return error_analysis_markdown({k: v for k, v in analysis.items() if k != "seeds"}, analysis["seeds"])


def q3_samples(results_dir):
    """The words of the seed-42 nucleus run whose three samples differ, as the course's script prints them."""
    examples = _read(results_dir, "q3/attn-seed42-test-topp0.8.json")["nucleus"]["examples"]
    lines = ["| true spelling | distinct samples |", "|---|---|"]
    lines += [f"| {e['spelling']} | {', '.join(e['samples'])} |" for e in examples]
    return "\n".join(lines) + "\n"


def q3_ablations(results_dir):
    return ablations_markdown(_read(results_dir, "q3/ablations/summary.json"))


TABLES = {
    "q1-checks": q1_checks,
    "q2-sweep": q2_sweep,
    "q2-networks": q2_networks,
    "q2-course-reshape": q2_course_reshape,
    "q2-bn-stats": q2_bn_stats,
    "q2-seeds": q2_seeds,
    "q3-summary": q3_summary,
    "q3-samples": q3_samples,
    "q3-errors": q3_errors,
    "q3-ablations": q3_ablations,
}


def fill(text, results_dir, source="report"):
    """`text` with every table block rewritten from the results; an unknown block name is an error."""
    def render(match):
        name = match["name"]
        if name not in TABLES:
            raise utils.UserError(f"{source}: unknown table block '{name}'; known: {', '.join(TABLES)}")
        return match.group(1) + TABLES[name](results_dir) + match.group(4)

    return BLOCK.sub(render, text)


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results_dir", default=str(ROOT / "results"))
    parser.add_argument("--report_dir", default=str(REPORT_DIR))
    opt = parser.parse_args(argv)
    report_dir = Path(opt.report_dir)
    for page in sorted(report_dir.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        filled = fill(text, opt.results_dir, source=page.name)
        if filled != text:
            utils.write_text(page, filled)
            print(f"updated the tables of {page}")
    for source, target in FIGURES.items():
        path = Path(opt.results_dir) / source
        if not path.is_file():
            raise utils.UserError(f"{path}: no such figure; run `make reproduce` first")
        (report_dir / "figures").mkdir(exist_ok=True)
        shutil.copyfile(path, report_dir / "figures" / target)
    print(f"copied {len(FIGURES)} figures to {report_dir / 'figures'}")


if __name__ == "__main__":
    utils.run_main(main)
