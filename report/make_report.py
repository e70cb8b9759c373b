#!/usr/bin/env python
"""Write the report's pages and the README from their templates and the results JSONs.

    python -m report.make_report    # make report

Each page has its template beside it, with `.in` added to its name (README.md.in,
report/q1.md.in, ...). A template is the page's Markdown in which every number is a
placeholder, `{{ expression | format }}`, evaluated over the results (see NAMESPACE) and
formatted with Python's format spec; `{{ table("name") }}` is a whole table of TABLES, and
`{{ code("models.py", "Encoder.forward") }}` an excerpt of the graded code, found by name
with the `ast` module (never by line number), so that it shows the code as it is. The
figures are copied from results/ to report/figures/. Nothing is retrained: the pages
cannot drift from the runs or the code, and a test checks that the committed pages are
what this script writes.
"""
import ast
import math
import re
import shutil
import textwrap
from pathlib import Path

from torch import nn

import utils
from models import CNN
from scripts.q2_experiments import LEARNING_RATES, OPTIONS, OTHER_SEEDS, SEED, Run, best_learning_rate
from scripts.q3_ablations import COURSE_RUN
from scripts.q3_error_analysis import markdown as error_analysis_markdown
from scripts.q3_experiments import format_mean_std, mean_std

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "report/README.md", "report/q1.md", "report/q2.md", "report/q3.md", "report/beyond.md"]
# The pages of each PDF in build_pdf.py's order (figure numbers run through a whole PDF).
PDF_PAGES = (("report/README.md", "report/q1.md", "report/q2.md", "report/q3.md"), ("report/beyond.md",))
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)

FIGURES = {
    "q1/cccp_energy.png": "q1_cccp_energy.png",
    "q1/retrieval.png": "q1_retrieval.png",
    "q2/lr_sweep.png": "q2_lr_sweep.png",
    "q2/q21_vs_q22.png": "q2_q21_vs_q22.png",
    "q2/pixel_orders.png": "q2_pixel_orders.png",
    "q2/course_reshape.png": "q2_course_reshape.png",
    "q2/bn_statistics.png": "q2_bn_statistics.png",
    "q2/first_layer_filters.png": "q2_first_layer_filters.png",
    "q2/activation_maps.png": "q2_activation_maps.png",
    "q3/no-attn-seed42-val-cer.png": "q3_no_attn_val_cer.png",
    "q3/attn-seed42-val-cer.png": "q3_attn_val_cer.png",
    "q3/attn-seed42-attention.png": "q3_attention.png",
}


class Results:
    """The results folder, read on demand: every placeholder and table reads through it."""

    def __init__(self, folder):
        self.folder = utils.absolute(folder)

    def json(self, relative):
        path = self.folder / relative
        if not path.is_file():
            raise utils.UserError(f"{path}: no such file; run `make reproduce` (or the run that writes it) first")
        return utils.read_json(path)

    def exists(self, relative):
        return (self.folder / relative).is_file()

    # ------------------------------------------------------------------- Q2
    # Read from the run folders, not from make q2's summary, so that a partial set of runs
    # renders too, each missing run said to be missing.

    def q2_path(self, network, seed=SEED, options=(), learning_rate=None):
        run = Run(network, self.best_lr() if learning_rate is None else learning_rate, seed, options)
        return f"q2/{run.name}/results.json"

    def q2(self, network, seed=SEED, options=(), learning_rate=None):
        """The full record of one Q2 run, found by what it ran with (by default: the best rate, seed 42)."""
        return self.json(self.q2_path(network, seed, options, learning_rate))

    def q2_done(self, network, seed=SEED, options=(), learning_rate=None):
        return self.exists(self.q2_path(network, seed, options, learning_rate))

    def sweep(self):
        """{learning rate: record} of the Q2.1 sweep (seed 42)."""
        return {lr: self.q2("Q2.1", learning_rate=lr) for lr in LEARNING_RATES}

    def best_lr(self):
        return best_learning_rate({lr: self.json(f"q2/{Run('Q2.1', lr).name}/results.json")
                                   for lr in LEARNING_RATES})

    def q2_seeds(self, network, key="test_acc"):
        """{mean, std, values} of a final accuracy (`test_acc` or `final_val_acc`) over the seeds run so far."""
        runs = [self.q2(network, seed) for seed in (SEED, *OTHER_SEEDS) if self.q2_done(network, seed)]
        values = [run["test_acc"] if key == "test_acc" else run["val_acc"][-1] for run in runs]
        return mean_std(values)

    def q2_effect(self, network, options):
        """The change, in points of test accuracy, that `options` make to the course's recipe (seed 42)."""
        return 100 * (self.q2(network, options=options)["test_acc"] - self.q2(network)["test_acc"])

    def q2_missing(self):
        """The make q2 runs (seeds at the best rate) that are not there yet."""
        return [Run(network, self.best_lr(), seed).name for network in ("Q2.1", "Q2.2")
                for seed in (SEED, *OTHER_SEEDS) if not self.q2_done(network, seed)]

    def q2_missing_note(self):
        missing = self.q2_missing()
        if not missing:
            return ""
        return f"*Not run yet: {', '.join(missing)}; Q2 means are over the seeds run.*"

    # ------------------------------------------------------------------- Q3

    def q3_predict_example(self):
        """(pronunciation, greedy spelling) of the first test word that the seed-42 attention model spells right."""
        path = self.folder / "q3" / "attn-seed42-test-beam5-predictions.tsv"
        if not path.is_file():
            raise utils.UserError(f"{path}: no such file; run `make q3` first")
        header, *rows = (line.split("\t") for line in path.read_text(encoding="utf-8").splitlines())
        column = header.index("greedy")
        return next((row[0], row[column]) for row in rows if row[column] == row[1])

    def q3m(self, label, metric):
        """The mean over the seeds of a row of q3/summary.json, e.g. q3m("Attention, greedy", "cer")."""
        return self.q3_summary()[label][metric]["mean"]

    def q3s(self, label, metric):
        """The sample standard deviation over the seeds of a row of q3/summary.json."""
        return self.q3_summary()[label][metric]["std"]

    def q3_val_cer(self, name, epoch):
        """Each seed's validation CER after `epoch` (from 1), as (seed 42, 1, 2)."""
        return [self.q3_train(name, seed)["epochs"][epoch - 1]["val_cer"] for seed in (SEED, *OTHER_SEEDS)]

    def q3_train(self, name, seed=SEED):
        """The training record of `name` (no-attn or attn) for one seed."""
        return self.json(f"q3/{name}-seed{seed}-train.json")

    def q3_test(self, name, decoding, seed=SEED):
        """A test record: decoding "greedy" or "beam" (from the beam-5 run) or "nucleus" / "nucleus_expected"."""
        suffix = "topp0.8" if decoding.startswith("nucleus") else "beam5"
        return self.json(f"q3/{name}-seed{seed}-test-{suffix}.json")[decoding]

    def q3_seeds(self, name, decoding, metric):
        """One test metric for each seed (42, 1, 2), e.g. q3_seeds("attn", "nucleus", "wer@3")."""
        return [self.q3_test(name, decoding, seed)[metric] for seed in (SEED, *OTHER_SEEDS)]

    def q3_errors(self, name):
        return self.json("q3/error_analysis.json")[name]

    def q3_error_share(self, name, part, whole):
        """100 x error_analysis[name][part] / [whole], e.g. the share of wrong words one edit from right."""
        errors = self.q3_errors(name)
        return 100 * errors[part] / errors[whole]

    def q3_summary(self):
        return {row["label"]: row for row in self.json("q3/summary.json")["test"]}

    def q3_training(self, name):
        return self.json("q3/summary.json")["training"][name]

    def q3_ablation(self, run):
        """{metric label: mean_std} of one row of make ablations' summary (`run` an ABLATIONS folder or COURSE_RUN)."""
        summary = self.json("q3/ablations/summary.json")
        return next(row for row in summary["training"] if row["run"] == run)["metrics"]

    def q3_beam_alpha_spread(self, metric):
        """How far apart the beam length exponents' mean validation `metric`s ("cer" or "wer") are."""
        means = [row[metric]["mean"] for row in self.json("q3/ablations/summary.json")["beam_alpha"]]
        return max(means) - min(means)

    def bench(self):
        """The numbers of make bench's outputs (results/bench/), by what they measure; "cpu" names the processor."""
        texts = {name: (self.folder / "bench" / f"{name}.txt") for name in ("bench_q2", "bench_q3_1thread", "bench_q3_2threads")}
        for path in texts.values():
            if not path.is_file():
                raise utils.UserError(f"{path}: no such file; run `make bench` first")
        q2, q3_1, q3_2 = (path.read_text(encoding="utf-8") for path in texts.values())
        number = lambda pattern, text: float(re.search(pattern, text)[1].replace(",", ""))
        out = {"cpu": re.search(r"CPU (.+)", q2)[1].strip()}
        for network in ("Q2.1", "Q2.2"):
            for threads in (1, 2):
                out[network, threads] = number(rf"{re.escape(network)}\s+{threads} channels-last\s+\S+\s+\d+\s+([\d.]+)", q2)
        for threads in (1, 2):
            out["Q2.1 plain", threads] = number(rf"plain DataLoader, {threads} thread\(s\): .*?([\d.]+) s per epoch", q2)
        for model in ("no attention", "attention"):
            block = lambda text: "\n".join(line for line in text.splitlines() if line.startswith(f"[{model}]"))
            out[model, "20 epochs", 1] = number(r"20 epochs \+ validation ~ ([\d.]+) s wall", block(q3_1))
            out[model, "20 epochs", 2] = number(r"20 epochs \+ validation ~ ([\d.]+) s wall", block(q3_2))
            out[model, "stepwise"] = number(r"baseline: .*?, ([\d.]+) s with one word at a time", block(q3_1))
            for decoding, label in (("greedy", "greedy"), ("nucleus", "nucleus p=0.8"), ("beam", "beam 5"),
                                    ("one word", "course's one-word-at-a-time greedy loop")):
                out[model, decoding] = number(rf"decoding, {re.escape(label)}: ([\d,]+) words/s wall", block(q3_1))
        return out

    def peers(self):
        """The 2024-25 submissions' own scores (results/peers.json, from scripts/peer_scores.py)."""
        return self.json("peers.json")

    def q3_effect(self, run, metric):
        """The change in the mean of `metric` (a label of q3_ablation) that option `run` makes to the course's recipe."""
        return self.q3_ablation(run)[metric]["mean"] - self.q3_ablation(COURSE_RUN)[metric]["mean"]


# ----------------------------------------------------------------------------- tables


def q1_checks(results):
    rows = results.json("q1/checks.json")["rows"]
    unknown = [row["check"] for row in rows if row["check"] not in CHECK_MATH]
    if unknown:
        raise utils.UserError(f"results/q1/checks.json: no maths for the check {unknown[0]!r}; add it to CHECK_MATH")
    lines = ["| # | check | worst error | tolerance | result |", "|---:|---|---:|---:|---|"]
    lines += [f"| {i} | {CHECK_MATH[row['check']]} | {scientific(row['error'])} | {scientific(row['tolerance'], 0)} | "
              f"{'pass' if row['passed'] else 'FAIL'} |" for i, row in enumerate(rows, 1)]
    return "\n".join(lines)


def scientific(value, digits=1):
    """1.2e-15 as $1.2 \\times 10^{-15}$; 0 as 0."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    return f"${mantissa} \\times 10^{{{int(exponent)}}}$"


def q2_sweep(results):
    """The Q2.1 learning rates, seed 42: the last epoch, the best validation epoch, the test."""
    lines = ["| learning rate | final training loss | final val acc | best val acc (epoch) | test acc |",
             "|---|---:|---:|---:|---:|"]
    for lr, run in results.sweep().items():
        rate = f"**{lr:g}**" if lr == results.best_lr() else f"{lr:g}"
        lines.append(f"| {rate} | {run['train_loss'][-1]:.3f} | {run['val_acc'][-1]:.3f} | "
                     f"{run['best_val_acc']:.3f} ({run['best_val_epoch']}) | {run['test_acc']:.3f} |")
    return "\n".join(lines)


def q2_networks(results):
    """Q2.1 beside Q2.2 at the best rate: seed 42's last epoch, then every seed's test accuracy."""
    networks = ("Q2.1", "Q2.2")

    def row(label, cell):
        return f"| {label} | " + " | ".join(cell(network) for network in networks) + " |"

    def seeds(network):
        return " / ".join(f"{results.q2(network, seed)['test_acc']:.3f}" if results.q2_done(network, seed)
                          else "not run yet" for seed in (SEED, *OTHER_SEEDS))

    last = lambda key, spec: lambda network: format(results.q2(network)[key][-1], spec)
    return "\n".join([
        "| | Q2.1 | Q2.2 |", "|---|---:|---:|",
        row("trainable parameters", lambda network: f"{results.q2(network)['n_params']:,}"),
        row("final training loss (epoch mean), seed 42", last("train_loss", ".3f")),
        row("final validation loss, seed 42", last("val_loss", ".3f")),
        row("final validation accuracy, seed 42", last("val_acc", ".3f")),
        row("test accuracy, seeds 42 / 1 / 2", seeds),
        row("test accuracy, mean ± std", lambda network: format_mean_std(results.q2_seeds(network), 3)),
    ])


def parameter_layers(model):
    """The layers of `model` that hold parameters themselves, in the order the forward pass meets them."""
    return [module for module in model.modules() if any(True for _ in module.parameters(recurse=False))]


def count(layer):
    return sum(p.numel() for p in layer.parameters(recurse=False) if p.requires_grad)


def q2_parameters(results):
    """Q2.1's and Q2.2's trainable parameters layer by layer, counted on the networks of models.py; the totals
    are the runs' own counts, and must be the sums."""
    plain = iter(parameter_layers(CNN(0.1, batch_norm=False)))
    lines = ["| layer | Q2.1 | Q2.2 |", "|---|---:|---:|"]
    totals = [0, 0]
    numbers = {nn.Conv2d: 0, nn.Linear: 0}
    for layer in parameter_layers(CNN(0.1, batch_norm=True)):
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            lines.append(f"| {type(layer).__name__}({layer.num_features}): $\\gamma$, $\\beta$ | — | {count(layer):,} |")
            totals[1] += count(layer)
            continue
        twin = next(plain)
        numbers[type(layer)] += 1
        if isinstance(layer, nn.Conv2d):
            side = " × ".join(map(str, layer.kernel_size))
            label = f"conv{numbers[nn.Conv2d]}: {layer.in_channels} → {layer.out_channels} channels, {side}"
        elif twin.in_features == layer.in_features:
            label = f"fc{numbers[nn.Linear]}: {layer.in_features:,} → {layer.out_features:,}"
        else:
            label = (f"fc{numbers[nn.Linear]}: {twin.in_features:,} (Q2.1) or {layer.in_features:,} (Q2.2) "
                     f"→ {layer.out_features:,}")
        lines.append(f"| {label} | {count(twin):,} | {count(layer):,} |")
        totals[0] += count(twin)
        totals[1] += count(layer)
    runs = [results.q2(network)["n_params"] for network in ("Q2.1", "Q2.2")]
    if totals != runs:
        raise utils.UserError(f"models.py counts {totals} parameters, the Q2 runs {runs}: rerun make q2")
    lines.append(f"| **total** | **{runs[0]:,}** | **{runs[1]:,}** |")
    return "\n".join(lines)


def q2_options(results):
    """Each option alone beside the course's recipe (seed 42, best rate); a run not yet made says so."""
    lines = ["| network | option (flag) | what it changes | final val acc | test acc | change in test acc |",
             "|---|---|---|---:|---:|---:|"]
    for network in ("Q2.1", "Q2.2"):
        course = results.q2(network)
        lines.append(f"| {network} | none: the course's recipe | - | {course['val_acc'][-1]:.3f} | "
                     f"{course['test_acc']:.3f} | - |")
        for option_network, flags, change in OPTIONS:
            if option_network != network:
                continue
            flag = "`" + " ".join(flags) + "`"
            if not results.q2_done(network, options=flags):
                lines.append(f"| {network} | {flag} | {change} | not run yet (`make q2-comparisons`) | | |")
                continue
            run = results.q2(network, options=flags)
            delta = 100 * (run["test_acc"] - course["test_acc"])
            lines.append(f"| {network} | {flag} | {change} | {run['val_acc'][-1]:.3f} | {run['test_acc']:.3f} | "
                         f"{delta:+.1f} points |")
    return "\n".join(lines)


LEAD_PAIRS = [  # (Q2.2 options, Q2.1 options): the pairs whose test accuracies q2-lead compares
    ([], []),
    (["-bn_stats", "recomputed"], []),
    (["-init", "kaiming"], ["-init", "kaiming"]),
    (["-course_reshape"], ["-course_reshape"]),
]


def q2_lead(results):
    """Q2.2's test accuracy minus Q2.1's, seed 42, for each pair of LEAD_PAIRS run so far."""
    def flags(options):
        return "`" + " ".join(options) + "`" if options else "the course's recipe"

    lines = ["| Q2.2 run | Q2.1 run | Q2.2 test acc | Q2.1 test acc | Q2.2 − Q2.1 |", "|---|---|---:|---:|---:|"]
    for q22, q21 in LEAD_PAIRS:
        if not (results.q2_done("Q2.2", options=q22) and results.q2_done("Q2.1", options=q21)):
            lines.append(f"| {flags(q22)} | {flags(q21)} | not run yet (`make q2-comparisons`) | | |")
            continue
        a, b = results.q2("Q2.2", options=q22)["test_acc"], results.q2("Q2.1", options=q21)["test_acc"]
        lines.append(f"| {flags(q22)} | {flags(q21)} | {a:.3f} | {b:.3f} | {100 * (a - b):+.1f} points |")
    return "\n".join(lines)


def q2_bn_stats(results):
    """The -bn_stats recomputed run evaluated both ways: the same weights, two sets of statistics."""
    if not results.q2_done("Q2.2", options=["-bn_stats", "recomputed"]):
        return "*The `-bn_stats recomputed` run is not there yet (`make q2-comparisons`).*"
    run = results.q2("Q2.2", options=["-bn_stats", "recomputed"])
    lines = ["| batch-norm statistics | test acc (epoch 40) | final val acc | val acc, epochs 31–40: min–max |",
             "|---|---|---|---|"]
    for label, test_acc, curve in (("torch's running averages (the course's)", run["test_acc_running_bn"],
                                    run["val_acc_running_bn"]),
                                   ("recomputed over 2,048 training images", run["test_acc"], run["val_acc"])):
        last = curve[-10:]
        lines.append(f"| {label} | {test_acc:.3f} | {curve[-1]:.3f} | {min(last):.3f}–{max(last):.3f} |")
    return "\n".join(lines)


DIGITS = {"cer": 4, "wer": 3, "wer@3": 3}  # CER to 4 decimals, WER (a share of 1,000 words) to 3, everywhere
Q3_ROWS = {  # table name: (model, decoding, metric, label) of each row; each answer has its own table
    "q3-no-attn": [("no-attn", "greedy", "cer", "CER"), ("no-attn", "greedy", "wer", "WER")],
    "q3-attn": [("attn", "greedy", "cer", "CER"), ("attn", "greedy", "wer", "WER")],
    "q3-nucleus": [("attn", "nucleus", "cer", "CER"), ("attn", "nucleus", "wer", "WER"),
                   ("attn", "nucleus", "wer@3", "WER@3")],
}


def q3_results(results, rows):
    """Test numbers for each seed, their mean ± sample standard deviation and, where the peers' file
    has them, the range and median of the 2024-25 submissions' own checkpoints."""
    seeds = (SEED, *OTHER_SEEDS)
    peers = results.peers()["q3"]
    # the submissions were scored with greedy decoding only
    with_peers = any(decoding == "greedy" and f"{name} {metric}" in peers for name, decoding, metric, _ in rows)
    lines = ["| test set | " + " | ".join(f"seed {seed}" for seed in seeds) + " | mean ± std |"
             + (" submissions: min–max (median) |" if with_peers else ""),
             "|---|" + "---:|" * (len(seeds) + 1) + ("---:|" if with_peers else "")]
    for name, decoding, metric, label in rows:
        digits = DIGITS[metric]
        values = results.q3_seeds(name, decoding, metric)
        line = (f"| {label} | " + " | ".join(f"{value:.{digits}f}" for value in values)
                + f" | {format_mean_std(mean_std(values), digits)} |")
        if with_peers:
            peer = peers.get(f"{name} {metric}") if decoding == "greedy" else None
            line += (f" {peer['min']:.{digits}f}–{peer['max']:.{digits}f} ({peer['median']:.{digits}f}) |" if peer
                     else " – |")
        lines.append(line)
    return "\n".join(lines)


def q3_training(results):
    """Best validation CER and its epoch, and the training time, of each model and seed."""
    lines = ["| model | seed | best val CER | at epoch | val CER, epoch 20 |", "|---|---|---:|---:|---:|"]
    for name, label in (("no-attn", "no attention"), ("attn", "attention")):
        for seed in (SEED, *OTHER_SEEDS):
            run = results.q3_train(name, seed)
            lines.append(f"| {label} | {seed} | {run['best_val_cer']:.4f} | {run['best_epoch']} | "
                         f"{run['epochs'][-1]['val_cer']:.4f} |")
    return "\n".join(lines)


def q3_beam(results):
    """Greedy against beam search, mean ± std over the seeds, test set."""
    lines = ["| model | decoding | CER | WER |", "|---|---|---:|---:|"]
    for label in ("No attention, greedy", "No attention, beam 5", "Attention, greedy", "Attention, beam 5"):
        model, decoding = label.split(", ")
        row = results.q3_summary()[label]
        lines.append(f"| {model.lower()} | {decoding} | {format_mean_std(row['cer'], 4)} | "
                     f"{format_mean_std(row['wer'], 3)} |")
    return "\n".join(lines)


def q3_errors(results):
    analysis = results.json("q3/error_analysis.json")
    text = error_analysis_markdown({k: v for k, v in analysis.items() if k != "seeds"}, analysis["seeds"]).rstrip("\n")
    return re.sub(r"(?<=\d)-(?=\d+ letters)", "–", text)  # "1–4 letters", typeset


def q3_samples(results):
    """The words of the seed-42 nucleus run whose three samples differ, as the course's script prints them."""
    examples = results.json("q3/attn-seed42-test-topp0.8.json")["nucleus"]["examples"]
    lines = ["| true spelling | distinct samples |", "|---|---|"]
    lines += [f"| {e['spelling']} | {', '.join(e['samples'])} |" for e in examples]
    return "\n".join(lines)


def q3_ablations(results):
    """make ablations' two tables (scripts/q3_ablations.py's summary), CER to 4 decimals and WER to 3."""
    if not results.exists("q3/ablations/summary.json"):
        return "*The option runs are not there yet (`make ablations`).*"
    summary = results.json("q3/ablations/summary.json")
    digits = lambda label: 4 if "CER" in label else 3
    labels = list(summary["training"][0]["metrics"])
    lines = [f"Attention model, mean ± sample std over seeds {', '.join(map(str, summary['seeds']))}; "
             "the test set unless said otherwise.", "",
             "| option (flag) | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for row in summary["training"]:
        option = "`" + " ".join(row["flags"]) + "`" if row["flags"] else "the course's recipe"
        lines.append(f"| {option} | " + " | ".join(format_mean_std(row["metrics"][label], digits(label))
                                                   for label in labels) + " |")
    lines += ["", "Beam 5, the main attention checkpoints, validation set; hypotheses ranked by "
                  "$\\sum \\log p / \\text{length}^\\alpha$.", "", "| $\\alpha$ | CER | WER |", "|---|---:|---:|"]
    lines += [f"| {row['length_alpha']:g} | {format_mean_std(row['cer'], 4)} | {format_mean_std(row['wer'], 3)} |"
              for row in summary["beam_alpha"]]
    return "\n".join(lines)


def q3_peers(results):
    """The submissions' own checkpoints, each group's scores as scripts/peer_scores.py read them."""
    groups = results.peers()["q3"]["groups"]
    fmt = lambda value, digits: "–" if value is None else f"{value:.{digits}f}"
    lines = ["| group | no attention: CER | WER | attention: CER | WER |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {g['group']} | {fmt(g['no-attn cer'], 4)} | {fmt(g['no-attn wer'], 3)} | {fmt(g['attn cer'], 4)} | "
              f"{fmt(g['attn wer'], 3)} |" for g in groups]
    return "\n".join(lines)


def speed(results):
    """The ratios of make bench's measurements, each from one run of one benchmark."""
    b = results.bench()
    rows = [
        ("Q3 training, 20 epochs + validation, attention: the course-style loop (decoder stepped one letter "
         "at a time, validation one word at a time) over this code, 1 thread",
         b["attention", "stepwise"] / b["attention", "20 epochs", 1]),
        ("the same, no attention", b["no attention", "stepwise"] / b["no attention", "20 epochs", 1]),
        ("Q3 greedy decoding of the test set, attention: batched over the course's one-word loop",
         b["attention", "greedy"] / b["attention", "one word"]),
        ("the same, no attention", b["no attention", "greedy"] / b["no attention", "one word"]),
        ("Q3 test decoding, attention: greedy over beam 5", b["attention", "greedy"] / b["attention", "beam"]),
        ("Q3 training, attention: 1 thread over 2 threads",
         b["attention", "20 epochs", 1] / b["attention", "20 epochs", 2]),
        ("the same, no attention", b["no attention", "20 epochs", 1] / b["no attention", "20 epochs", 2]),
        ("Q2.1 epoch: a plain `DataLoader` over this code's loader, 1 thread", b["Q2.1 plain", 1] / b["Q2.1", 1]),
        ("the same, 2 threads", b["Q2.1 plain", 2] / b["Q2.1", 2]),
        ("Q2 epoch, 1 thread: Q2.1 over Q2.2", b["Q2.1", 1] / b["Q2.2", 1]),
    ]
    lines = ["| what is compared | ratio |", "|---|---:|"]
    lines += [f"| {label} | {ratio:.1f} |" for label, ratio in rows]
    return "\n".join(lines)


CHECK_MATH = {  # q1/checks.json's checks (q1_hopfield_check.py writes them in ASCII), in the PDF's maths
    "E(q) = E1(q) + E2(q), against (1) written out in NumPy": r"$E = E_1 + E_2$, against (1) written out",
    "E(q) >= 0 (it is >= (||q|| - M)^2 / 2): violation": r"$E(\mathbf{q}) \ge \tfrac12(\lVert\mathbf{q}\rVert - M)^2 \ge 0$",
    "vecmax(z) <= lse(beta, z) <= vecmax(z) + log(N)/beta: violation":
        r"$\mathrm{vecmax}(\mathbf{z}) \le \mathrm{lse}(\beta, \mathbf{z}) \le \mathrm{vecmax}(\mathbf{z}) + \beta^{-1}\log N$",
    "lse(beta, z) - vecmax(z) never grows with beta (1e-2..1e8): growth":
        r"$\mathrm{lse}(\beta, \mathbf{z}) - \mathrm{vecmax}(\mathbf{z})$ non-increasing in $\beta \in [10^{-2}, 10^{8}]$",
    "|lse(beta, z) - vecmax(z)| at beta = 1e+08 (the limit)":
        r"$\lvert\mathrm{lse}(\beta, \mathbf{z}) - \mathrm{vecmax}(\mathbf{z})\rvert$ at $\beta = 10^{8}$",
    "grad E1(q) = q, against autograd": r"$\nabla E_1(\mathbf{q}) = \mathbf{q}$, against autograd",
    "grad(-E2)(q) = X^T softmax(beta X q), against autograd":
        r"$\nabla(-E_2)(\mathbf{q}) = \mathbf{X}^\top\mathrm{softmax}(\beta\mathbf{X}\mathbf{q})$, against autograd",
    "Hess E1 = I, against autograd": r"$\nabla^2 E_1 = \mathbf{I}$, against autograd",
    "Hess(-E2) = beta X^T (diag(p) - p p^T) X, against autograd":
        r"$\nabla^2(-E_2) = \beta\mathbf{X}^\top(\mathrm{diag}(\mathbf{p}) - \mathbf{p}\mathbf{p}^\top)\mathbf{X}$, against autograd",
    "Hess E1 psd: -(smallest eigenvalue)": r"$\nabla^2 E_1$ psd: $-\lambda_{\min}$",
    "Hess(-E2) psd: -(smallest eigenvalue)": r"$\nabla^2(-E_2)$ psd: $-\lambda_{\min}$",
    "diag(p) - p p^T symmetric": r"$\mathbf{A} = \mathrm{diag}(\mathbf{p}) - \mathbf{p}\mathbf{p}^\top$ symmetric",
    "diag(p) - p p^T diagonally dominant: violation": r"$\mathbf{A}$ diagonally dominant",
    "diag(p) - p p^T has a non-negative diagonal: violation": r"$A_{ii} \ge 0$",
    "X^T softmax(beta X q_t) = argmin E1 + E2~ found by gradient descent":
        r"$\mathbf{X}^\top\mathrm{softmax}(\beta\mathbf{X}\mathbf{q}_t) = \arg\min_{\mathbf{q}} E_1 + \tilde E_2$, by gradient descent",
    "E2(q_{t+1}) <= E2~(q_{t+1}) (concave below its tangent): violation":
        r"$E_2(\mathbf{q}_{t+1}) \le \tilde E_2(\mathbf{q}_{t+1})$",
    "E(q_{t+1}) <= E(q_t) along the CCCP iterates: largest increase":
        r"$E(\mathbf{q}_{t+1}) \le E(\mathbf{q}_t)$ along CCCP: largest increase",
    "iterates reach a fixed point: last step |q_{T+1} - q_T| (<= 2000 steps)":
        r"a fixed point is reached: $\lVert\mathbf{q}_{T+1} - \mathbf{q}_T\rVert$, $T \le 2000$",
    "the fixed point is stationary: |grad E(q_T)| by autograd":
        r"the fixed point is stationary: $\lVert\nabla E(\mathbf{q}_T)\rVert$ by autograd",
    "beta = 2: |q_1 - x_k| after one step from x_k with 6 signs flipped":
        r"$\beta = 2$: $\lVert\mathbf{q}_1 - \mathbf{x}_k\rVert$, one step from $\mathbf{x}_k$ with 6 signs flipped",
    "beta = 0.01: every noisy pattern reaches the same fixed point q*: spread":
        r"$\beta = 0.01$: every noisy pattern reaches the same $\mathbf{q}^\ast$: spread",
    "beta = 0.01: |q* - mean(x_i)| / min_i |x_i - mean(x_i)| (global fixed point)":
        r"$\beta = 0.01$: $\lVert\mathbf{q}^\ast - \bar{\mathbf{x}}\rVert / \min_i\lVert\mathbf{x}_i - \bar{\mathbf{x}}\rVert$",
    "Hopfield update of each row of Q = F.scaled_dot_product_attention(Q, X, X)":
        r"update (3) of each row of $\mathbf{Q}$ = `scaled_dot_product_attention(Q, X, X)`",
    "Hopfield update of each row of Q = nn.MultiheadAttention (1 head, W = I, no bias)":
        r"update (3) of each row of $\mathbf{Q}$ = `nn.MultiheadAttention` (1 head, $\mathbf{W} = \mathbf{I}$, no bias)",
    "Hopfield update of each row of Q = softmax(beta Q X^T) X":
        r"update (3) of each row of $\mathbf{Q}$ = $\mathrm{softmax}(\beta\mathbf{Q}\mathbf{X}^\top)\mathbf{X}$",
    "(X^T softmax(beta X Q^T), softmax per column)^T = softmax(beta Q X^T) X":
        r"$\bigl(\mathbf{X}^\top\mathrm{softmax}(\beta\mathbf{X}\mathbf{Q}^\top)\bigr)^\top = \mathrm{softmax}(\beta\mathbf{Q}\mathbf{X}^\top)\mathbf{X}$ (softmax per column)",
}


TABLES = {
    "q1-checks": q1_checks,
    "q2-sweep": q2_sweep,
    "q2-networks": q2_networks,
    "q2-parameters": q2_parameters,
    "q2-options": q2_options,
    "q2-bn-stats": q2_bn_stats,
    "q2-lead": q2_lead,
    **{name: (lambda rows: lambda results: q3_results(results, rows))(rows) for name, rows in Q3_ROWS.items()},
    "q3-peers": q3_peers,
    "speed": speed,
    "q3-training": q3_training,
    "q3-beam": q3_beam,
    "q3-samples": q3_samples,
    "q3-errors": q3_errors,
    "q3-ablations": q3_ablations,
}


# ----------------------------------------------------------------------------- code excerpts

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def find_definition(tree, dotted_name, path):
    """The ast node of `dotted_name` ("Class", "function", "Class.method") in the module `tree`."""
    node = tree
    for part in dotted_name.split("."):
        node = next((child for child in getattr(node, "body", [])
                     if isinstance(child, DEFINITIONS) and child.name == part), None)
        if node is None:
            raise utils.UserError(f"{path}: no definition {dotted_name!r}, which the report quotes; "
                                  "fix the name in its template")
    return node


def docstring_lines(node):
    """The line numbers of the docstrings of `node` and of every definition inside it."""
    lines = set()
    for inner in ast.walk(node):
        if isinstance(inner, DEFINITIONS) and ast.get_docstring(inner, clean=False) is not None:
            lines.update(range(inner.body[0].lineno, inner.body[0].end_lineno + 1))
    return lines


CODE_WIDTH = 95  # characters of a code line the PDF sets on one line (8 pt DejaVu Sans Mono across 16.5 cm)


def comment_start(line):
    """The index of the `#` that starts the comment of a line of Python (outside any string), or None."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote and line[i - 1] != "\\":
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#":
            return i
    return None


def fitted(line, width=CODE_WIDTH):
    """A line of Python as lines of at most `width` characters, broken as a programmer would: a trailing
    comment moved to a line of its own above the code, the code broken after a comma inside brackets and
    continued under the bracket's first argument (PEP 8's aligned continuation). What cannot be broken
    that way stays longer than `width`."""
    if len(line) <= width:
        return [line]
    hash_at = comment_start(line)
    if hash_at is not None and line[:hash_at].strip():
        indent = line[:len(line) - len(line.lstrip())]
        return [indent + line[hash_at:].strip(), *fitted(line[:hash_at].rstrip(), width)]
    pieces, prefix, start = [], "", 0
    stack, candidate, quote, i = [], None, None, 0  # open brackets' argument columns; last place to break
    while i < len(line):
        column = len(prefix) + i - start
        if column >= width and candidate is not None:
            cut, stack = candidate
            pieces.append(prefix + line[start:cut].rstrip())
            prefix, start, i, candidate, quote = " " * stack[-1], cut, cut, None, None  # cuts are outside strings
            continue
        char = line[i]
        if quote:
            if char == quote and line[i - 1] != "\\":
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            stack.append(column + 1)
        elif char in ")]}" and stack:
            stack.pop()
        elif char == "," and stack and line[i + 1:i + 2] == " ":
            candidate = (i + 2, list(stack))
        i += 1
    return [*pieces, prefix + line[start:]]


def code_excerpt(path, names, root=ROOT):
    """Markdown code blocks with the source of each named definition of `path` (relative to `root`), in the
    order given, decorators included, docstrings left out (the report's text says what they say), each
    line longer than CODE_WIDTH broken by `fitted`. A method comes under its class's header line and a
    `...` that stands for the rest of the class; consecutive methods of one class share the header and
    their block. Each piece is a block of its own, which the PDF keeps on one page."""
    source = (Path(root) / path).read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source, filename=str(path))
    excerpts, owner_shown = [], None
    for name in names:
        node = find_definition(tree, name, path)
        first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
        skipped = docstring_lines(node)
        text = "\n".join(lines[number - 1] for number in range(first, node.end_lineno + 1) if number not in skipped)
        owner = name.rpartition(".")[0]
        if owner and owner == owner_shown:
            excerpts[-1] += "\n\n" + text
            continue
        if owner:
            owner_node = find_definition(tree, owner, path)
            header = "\n".join(lines[owner_node.lineno - 1:owner_node.body[0].lineno - 1])
            indent = lines[node.lineno - 1][:node.col_offset]
            text = f"{header}\n{indent}...\n\n{text}"
        owner_shown = owner
        excerpts.append(text)
    blocks = ("\n".join(fitted_line for line in textwrap.dedent(text).splitlines() for fitted_line in fitted(line))
              for text in excerpts)
    return "\n\n".join(f"```python\n{block}\n```" for block in blocks)


# ----------------------------------------------------------------------------- statistics


def incomplete_beta(x, a, b):
    """The regularised incomplete beta function I_x(a, b), by its continued fraction (Numerical Recipes'
    betacf), on the side of x where the fraction converges fast."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    if x > (a + 1) / (a + b + 2):
        return 1 - incomplete_beta(1 - x, b, a)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    c, d = 1.0, 1 / (1 - (a + b) * x / (a + 1))
    fraction = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 / (1 + numerator * d)
            c = 1 + numerator / c
            fraction *= d * c
    return front * fraction / a


def student_t_p_value(t, df):
    """The two-sided p-value of Student's t with `df` degrees of freedom: I_x(df/2, 1/2), x = df / (df + t^2)."""
    return incomplete_beta(df / (df + t * t), df / 2, 0.5)


def paired_t(after, before):
    """The paired t-test of after[i] - before[i] (one pair per seed): {mean, std, t, df, p (two-sided), values}."""
    differences = [a - b for a, b in zip(after, before)]
    stats = mean_std(differences)
    t = stats["mean"] / (stats["std"] / math.sqrt(len(differences)))
    df = len(differences) - 1
    return {**stats, "t": t, "df": df, "p": student_t_p_value(t, df)}


# ----------------------------------------------------------------------------- templates


def figure_names(template):
    """The figures a page's template places, in order: `![...](figures/NAME)` and `figure("NAME", ...)`."""
    return [inline or placed for inline, placed in re.findall(r'\(figures/([\w.-]+\.png)\)|figure\("([\w.-]+\.png)"', template)]


def namespace(results, template="", source="template"):
    """What a placeholder's expression can read: the results, a few helpers, the tables."""
    def figure_number(name):
        """The number the PDF gives figure report/figures/`name`: Typst numbers the figures of each PDF
        in order, so the figures of the same PDF's earlier pages count too."""
        page = source.removesuffix(".in")
        earlier = next((pages[:pages.index(page)] for pages in PDF_PAGES if page in pages), ())
        names = [name for earlier_page in earlier
                 for name in figure_names((ROOT / f"{earlier_page}.in").read_text(encoding="utf-8"))]
        names += figure_names(template)
        if name not in names:
            raise KeyError(f"no figure {name!r} on this page; its figures: {', '.join(names)}")
        return names.index(name) + 1

    def table(name):
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        return TABLES[name](results)

    def first_epoch_below(curve, threshold):
        """The epoch (from 1) after which the curve stays below `threshold`."""
        return next(epoch for epoch in range(1, len(curve) + 1) if all(value < threshold for value in curve[epoch - 1:]))

    def epoch_of_min(curve):
        """The epoch (from 1) of the curve's lowest value."""
        return curve.index(min(curve)) + 1

    def largest_jump(curve):
        """The largest change between neighbouring epochs."""
        return max(abs(after - before) for before, after in zip(curve, curve[1:]))

    def at_epochs(first, second):
        """'both at epoch 19' or 'at epochs 18 and 20': where two seeds reach their lowest, without repeating."""
        return f"both at epoch {first}" if first == second else f"at epochs {first} and {second}"

    def slashed(values, spec):
        """'0.648 / 0.655 / 0.640': values joined as the prose's 'for seeds 42 / 1 / 2'."""
        return " / ".join(format(value, spec) for value in values)

    def figure(name, caption):
        """The Markdown of figure report/figures/`name`, or a note while its run is missing (not in italics,
        which the PDF would take for the caption of the figure before it)."""
        source = next(source for source, target in FIGURES.items() if target == name)
        if not results.exists(source):
            return f"(Figure not made yet: results/{source} comes from a run still missing.)"
        return f"![{caption}](figures/{name})"

    builtins = (abs, all, any, dict, enumerate, format, len, list, map, max, min, next, range, round, set, sorted,
                str, sum, zip)
    def code(path, *names):
        """An excerpt of the code: the named definitions of `path`, e.g. code("models.py", "Encoder.forward")."""
        return code_excerpt(path, names)

    return {"R": results, "table": table, "figure": figure, "code": code, "ms": format_mean_std,
            "paired_t": paired_t, "at_epochs": at_epochs, "first_epoch_below": first_epoch_below, "epoch_of_min": epoch_of_min, "largest_jump": largest_jump,
            "slashed": slashed, "figure_number": figure_number, "COURSE_RUN": COURSE_RUN, **{function.__name__: function for function in builtins}}


def render(template, results, source="template"):
    """`template` with every `{{ expression | format }}` replaced by its value."""
    scope = namespace(results, template, source)

    def value(match):
        expression, _, spec = match[1].rpartition("|") if "|" in match[1] else (match[1], "", "")
        line = template.count("\n", 0, match.start()) + 1
        try:
            result = eval(expression.strip(), {"__builtins__": {}, **scope})  # our own templates: trusted
            return format(result, spec.strip())
        except utils.UserError:
            raise
        except Exception as error:
            raise utils.UserError(f"{source}:{line}: {{{{ {match[1].strip()} }}}} failed: "
                                  f"{error.__class__.__name__}: {error}") from None

    return PLACEHOLDER.sub(value, template)


def write_pages(results_dir, root=ROOT):
    """Render every template into its page under `root` -> the pages that changed."""
    results = Results(results_dir)
    changed = []
    for page in PAGES:
        template = f"{page}.in"
        text = render((root / template).read_text(encoding="utf-8"), results, source=template)
        path = root / page
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            utils.write_text(path, text)
            changed.append(page)
    return changed


def copy_figures(results_dir, report_dir):
    """Copy the figures that the runs have made to report/figures/, and drop stale copies of the others."""
    (Path(report_dir) / "figures").mkdir(exist_ok=True)
    for source, target in FIGURES.items():
        path, copy = Path(results_dir) / source, Path(report_dir) / "figures" / target
        if path.is_file():
            shutil.copyfile(path, copy)
        else:
            copy.unlink(missing_ok=True)


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__)
    parser.add_argument("--results_dir", default=str(ROOT / "results"))
    opt = parser.parse_args(argv)
    for page in write_pages(opt.results_dir):
        print(f"wrote {page}")
    copy_figures(opt.results_dir, ROOT / "report")
    print("copied the figures to report/figures/")


if __name__ == "__main__":
    utils.run_main(main)
