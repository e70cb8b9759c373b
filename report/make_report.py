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
import re
import shutil
import textwrap
from pathlib import Path

from torch import nn

import utils
from models import CNN
from scripts.q2_experiments import LEARNING_RATES, OPTIONS, OTHER_SEEDS, SEED, Run, best_learning_rate
from scripts.q3_ablations import COURSE_RUN
from scripts.q3_ablations import summary_markdown as ablations_markdown
from scripts.q3_error_analysis import markdown as error_analysis_markdown
from scripts.q3_experiments import format_mean_std, mean_std

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "report/README.md", "report/q1.md", "report/q2.md", "report/q3.md", "report/beyond.md"]
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
        self.folder = Path(folder)

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

    def q3_effect(self, run, metric):
        """The change in the mean of `metric` (a label of q3_ablation) that option `run` makes to the course's recipe."""
        return self.q3_ablation(run)[metric]["mean"] - self.q3_ablation(COURSE_RUN)[metric]["mean"]


# ----------------------------------------------------------------------------- tables


def q1_checks(results):
    rows = results.json("q1/checks.json")["rows"]
    lines = ["| # | check | worst error | tolerance | result |", "|---|---|---|---|---|"]
    lines += [f"| {i} | {row['check'].replace('|', '&#124;')} | {row['error']:.1e} | {row['tolerance']:.0e} | "
              f"{'PASS' if row['passed'] else 'FAIL'} |" for i, row in enumerate(rows, 1)]
    return "\n".join(lines)


def q2_sweep(results):
    """The Q2.1 learning rates, seed 42: the last epoch, the best validation epoch, the test."""
    lines = ["| learning rate | final training loss | final val acc | best val acc (epoch) | test acc |",
             "|---|---:|---:|---:|---:|"]
    for lr, run in results.sweep().items():
        rate = f"**{lr:g}**" if lr == results.best_lr() else f"{lr:g}"
        lines.append(f"| {rate} | {run['train_loss'][-1]:.4f} | {run['val_acc'][-1]:.4f} | "
                     f"{run['best_val_acc']:.4f} ({run['best_val_epoch']}) | {run['test_acc']:.4f} |")
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
        row("final training loss, seed 42", last("train_loss", ".4f")),
        row("final validation loss, seed 42", last("val_loss", ".4f")),
        row("final validation accuracy, seed 42", last("val_acc", ".4f")),
        row("test accuracy, seed 42", lambda network: f"{results.q2(network)['test_acc']:.4f}"),
        row("test accuracy, seeds 42 / 1 / 2", seeds),
        row("test accuracy, mean ± std", lambda network: format_mean_std(results.q2_seeds(network))),
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
        lines.append(f"| {network} | none: the course's recipe | - | {course['val_acc'][-1]:.4f} | "
                     f"{course['test_acc']:.4f} | - |")
        for option_network, flags, change in OPTIONS:
            if option_network != network:
                continue
            flag = "`" + " ".join(flags) + "`"
            if not results.q2_done(network, options=flags):
                lines.append(f"| {network} | {flag} | {change} | not run yet (`make q2-comparisons`) | | |")
                continue
            run = results.q2(network, options=flags)
            delta = 100 * (run["test_acc"] - course["test_acc"])
            lines.append(f"| {network} | {flag} | {change} | {run['val_acc'][-1]:.4f} | {run['test_acc']:.4f} | "
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
        lines.append(f"| {flags(q22)} | {flags(q21)} | {a:.4f} | {b:.4f} | {100 * (a - b):+.1f} points |")
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
        lines.append(f"| {label} | {test_acc:.4f} | {curve[-1]:.4f} | {min(last):.4f}–{max(last):.4f} |")
    return "\n".join(lines)


Q3_ROWS = [  # (model, decoding, metric, label, format) of the Q3 answers' table
    ("no-attn", "greedy", "cer", "no attention, greedy: CER", ".4f"),
    ("no-attn", "greedy", "wer", "no attention, greedy: WER", ".3f"),
    ("attn", "greedy", "cer", "attention, greedy: CER", ".4f"),
    ("attn", "greedy", "wer", "attention, greedy: WER", ".3f"),
    ("attn", "nucleus", "cer", "attention, nucleus $p = 0.8$: CER", ".4f"),
    ("attn", "nucleus", "wer", "attention, nucleus $p = 0.8$: WER", ".3f"),
    ("attn", "nucleus", "wer@3", "attention, nucleus $p = 0.8$: WER@3", ".3f"),
]


def q3_results(results):
    """The test numbers Q3.1a-c ask for, for each seed, and their mean ± sample standard deviation."""
    seeds = (SEED, *OTHER_SEEDS)
    lines = ["| test set | " + " | ".join(f"seed {seed}" for seed in seeds) + " | mean ± std |",
             "|---|" + "---:|" * (len(seeds) + 1)]
    for name, decoding, metric, label, spec in Q3_ROWS:
        values = results.q3_seeds(name, decoding, metric)
        lines.append(f"| {label} | " + " | ".join(format(value, spec) for value in values)
                     + f" | {format_mean_std(mean_std(values))} |")
    return "\n".join(lines)


def q3_training(results):
    """Best validation CER and its epoch, and the training time, of each model and seed."""
    lines = ["| model | seed | best val CER | at epoch | val CER, epoch 20 | seconds (20 epochs + validation) |",
             "|---|---|---:|---:|---:|---:|"]
    for name, label in (("no-attn", "no attention"), ("attn", "attention")):
        for seed in (SEED, *OTHER_SEEDS):
            run = results.q3_train(name, seed)
            lines.append(f"| {label} | {seed} | {run['best_val_cer']:.4f} | {run['best_epoch']} | "
                         f"{run['epochs'][-1]['val_cer']:.4f} | {run['total_seconds']:.0f} |")
    return "\n".join(lines)


def q3_beam(results):
    """Greedy against beam search, mean ± std over the seeds, test set."""
    lines = ["| model | decoding | CER | WER |", "|---|---|---:|---:|"]
    for label in ("No attention, greedy", "No attention, beam 5", "Attention, greedy", "Attention, beam 5"):
        model, decoding = label.split(", ")
        row = results.q3_summary()[label]
        lines.append(f"| {model.lower()} | {decoding} | {format_mean_std(row['cer'])} | {format_mean_std(row['wer'])} |")
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
    if not results.exists("q3/ablations/summary.json"):
        return "*The option runs are not there yet (`make ablations`).*"
    # what each option changes is said in the text above the table, which leaves its columns room
    return ablations_markdown(results.json("q3/ablations/summary.json"), describe=False).rstrip("\n")


TABLES = {
    "q1-checks": q1_checks,
    "q2-sweep": q2_sweep,
    "q2-networks": q2_networks,
    "q2-parameters": q2_parameters,
    "q2-options": q2_options,
    "q2-bn-stats": q2_bn_stats,
    "q2-lead": q2_lead,
    "q3-results": q3_results,
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


def code_excerpt(path, names, root=ROOT):
    """A Markdown code block with the source of each named definition of `path` (relative to `root`), in the
    order given, decorators included, docstrings left out (the report's text says what they say). A method
    comes under its class's header line and a `...` that stands for the rest of the class; consecutive
    methods of one class share the header."""
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
    return "```python\n" + "\n\n".join(textwrap.dedent(text) for text in excerpts) + "\n```"


# ----------------------------------------------------------------------------- templates


def namespace(results):
    """What a placeholder's expression can read: the results, a few helpers, the tables."""
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
            "first_epoch_below": first_epoch_below, "epoch_of_min": epoch_of_min, "largest_jump": largest_jump,
            "slashed": slashed, "COURSE_RUN": COURSE_RUN, **{function.__name__: function for function in builtins}}


def render(template, results, source="template"):
    """`template` with every `{{ expression | format }}` replaced by its value."""
    scope = namespace(results)

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
