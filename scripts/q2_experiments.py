#!/usr/bin/env python
"""Every Q2 run of the homework, then its figures and summary tables.

    python -m scripts.q2_experiments                 # make q2: the course's recipe
    python -m scripts.q2_experiments --comparisons   # make q2-comparisons: our options beside it
    ... --reuse                                      # keep runs that completed with the same command line

make q2, with the course's recipe (torch's initialisation, batch-norm running averages):
1. Q2.1: the plain network at learning rates 0.1, 0.01 and 0.001, seed 42.
2. The best rate, by final-epoch validation accuracy read back from the runs' JSONs.
3. At that rate: Q2.2 (batch norm + global average pooling) with seed 42, and both
   networks with seeds 1 and 2.
4. Figures (the sweep, Q2.1 against Q2.2) and summary.json / summary.md.

--comparisons, at the best rate of a finished make q2 and seed 42: each option added
alone to the course's recipe (He initialisation, recomputed batch-norm statistics, the
course's reshape of the stored pixels), with their figures and comparisons.json / .md.

Runs go `--jobs` at a time, one torch thread each: at batch size 8 a second thread
barely speeds one run up, while a second run in parallel doubles the throughput.
"""
import statistics
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch

import utils
from scripts.pool import python, side_by_side

ROOT = Path(__file__).resolve().parents[1]
LEARNING_RATES = (0.1, 0.01, 0.001)
SEED = 42
OTHER_SEEDS = (1, 2)
NETWORKS = {"Q2.1": ["-no_batch_norm"], "Q2.2": []}
# (network, option flags, what the option changes): each is one option added to the course's recipe
OPTIONS = [
    ("Q2.2", ["-bn_stats", "recomputed"], "statistics recomputed for each evaluation"),
    ("Q2.1", ["-init", "kaiming"], "He-normal weights, zero biases"),
    ("Q2.2", ["-init", "kaiming"], "He-normal weights, zero biases"),
    ("Q2.1", ["-course_reshape"], "pixels reshaped as the course does"),
    ("Q2.2", ["-course_reshape"], "pixels reshaped as the course does"),
]


@dataclass(frozen=True)
class Settings:
    """How every run of a script call is made: epochs, data, where results and logs go, device, reuse."""

    epochs: int
    jobs: int
    data_path: str
    results_dir: str
    log_dir: str
    device: str
    reuse: bool


class Run:
    """One hw2-q2.py run: the network, its rate, seed and options, and the folder it writes."""

    def __init__(self, network, learning_rate, seed=SEED, options=()):
        self.network, self.learning_rate, self.seed, self.options = network, learning_rate, seed, list(options)
        suffix = "".join("-" + token.lstrip("-").replace("_", "-") for token in self.options)
        self.name = f"{network.replace('.', '').lower()}-lr{learning_rate:g}-seed{seed}{suffix}"
        self.flags = [*NETWORKS[network], "-learning_rate", f"{learning_rate:g}", "-seed", str(seed), *self.options]

    @property
    def label(self):
        return " ".join([self.network, *self.options]) if self.options else self.network


def run_all(runs, opt):
    """Run hw2-q2.py for each Run, `opt.jobs` at a time (`opt` the Settings) -> {run name: results}.

    With --reuse, a run whose results.json completed with this very command line is kept.
    """
    def run(spec):
        argv = [*spec.flags, "-epochs", str(opt.epochs), "-data_path", opt.data_path, "-results_dir",
                opt.results_dir, "-run_name", spec.name, "-device", opt.device, "-threads", "1", "-no_progress"]
        path = Path(opt.results_dir) / spec.name / "results.json"
        kept = opt.reuse and path.is_file() and utils.read_json(path).get("argv") == argv
        if not kept:
            log = Path(opt.log_dir) / f"q2-{spec.name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            print(f"running {spec.name} (log: {log})", flush=True)
            log.write_text("")
            python([ROOT / "hw2-q2.py", *argv], ROOT, log)
            if not path.is_file() or utils.read_json(path).get("argv") != argv:
                raise utils.UserError(f"{spec.name} wrote no results; see {log}")
        return utils.read_json(path)

    results = side_by_side([partial(run, spec) for spec in runs], opt.jobs)
    return dict(zip((spec.name for spec in runs), results))


def best_learning_rate(sweep):
    """The rate whose completed run ends with the highest validation accuracy."""
    finished = {lr: r for lr, r in sweep.items() if r["status"] == "completed"}
    if not finished:
        raise utils.UserError("every learning rate of the sweep diverged")
    return max(finished, key=lambda lr: finished[lr]["val_acc"][-1])


def summary_row(label, results, folder):
    """The summary's line for one run; `folder` (its results folder's name) leads to the full record."""
    args = results["args"]
    row = {"run": label, "folder": folder, "learning_rate": args["learning_rate"], "seed": args["seed"],
           "status": results["status"], "n_params": results["n_params"]}
    if results["status"] == "completed":
        row.update(final_train_loss=results["train_loss"][-1], final_val_acc=results["val_acc"][-1],
                   test_acc=results["test_acc"], best_val_epoch=results["best_val_epoch"],
                   best_val_acc=results["best_val_acc"], test_acc_at_best_val=results["test_acc_at_best_val"])
    if "test_acc_running_bn" in results:
        row["test_acc_running_bn"] = results["test_acc_running_bn"]
    seconds = results["epoch_seconds"]
    row["seconds_per_epoch"] = round(sum(seconds) / len(seconds), 1) if seconds else None
    return row


def seed_statistics(rows):
    """{key: {mean, std, values}} of the final validation and test accuracies of runs that differ by seed only."""
    stats = {}
    for key in ("final_val_acc", "test_acc"):
        values = [row[key] for row in rows]
        stats[key] = {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                      "values": values}
    return stats


def markdown_table(rows):
    columns = [("run", "run", str), ("learning_rate", "lr", "{:g}".format), ("seed", "seed", str),
               ("final_train_loss", "final train loss", "{:.4f}".format),
               ("final_val_acc", "final val acc", "{:.4f}".format), ("test_acc", "test acc", "{:.4f}".format),
               ("best_val_epoch", "best val epoch", str), ("best_val_acc", "best val acc", "{:.4f}".format),
               ("test_acc_at_best_val", "test acc at best val", "{:.4f}".format),
               ("n_params", "parameters", "{:,}".format), ("seconds_per_epoch", "s/epoch", str)]
    lines = ["| " + " | ".join(title for _, title, _ in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        cells = [fmt(row[key]) if row.get(key) is not None else row["status"] if key == "test_acc" else "-"
                 for key, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_comparison(curves, stem, title):
    """Two panels, training loss and validation accuracy per epoch, one line per run and one legend for both.

    Drawn at the size the report prints it (6.4 in wide, within the text width of 6.5 in), with 8-9.5 pt text."""
    fig, (loss_ax, acc_ax) = utils.pyplot().subplots(1, 2, figsize=(6.4, 2.9), layout="constrained")
    for label, results in curves.items():
        epochs = range(1, len(results["train_loss"]) + 1)
        loss_ax.plot(epochs, results["train_loss"], marker=".", markersize=3, linewidth=1.2, label=label)
        acc_ax.plot(epochs, results["val_acc"], marker=".", markersize=3, linewidth=1.2, label=label)
    for ax, ylabel in ((loss_ax, "Training loss"), (acc_ax, "Validation accuracy")):
        ax.set_xlabel("Epoch", fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
        ax.grid(alpha=0.3)
    fig.legend(*loss_ax.get_legend_handles_labels(), loc="outside lower center", ncols=min(len(curves), 4),
               fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=9.5)
    utils.save_figure(fig, stem)


def plot_pixel_orders(data_path, stem, n_images=6):
    """The first training images of each class as the network sees them, transposed and course-reshaped.

    Drawn at the size the report prints it (6.4 in wide, within the text width of 6.5 in), with 8-9 pt text."""
    plt = utils.pyplot()
    views = {"transposed\n(ours)": utils.load_intel(data_path)["train"],
             "course\nreshape": utils.load_intel(data_path, course_reshape=True)["train"]}
    labels = views["course\nreshape"][1]
    picks = [int(torch.nonzero(labels == c)[0]) for c in range(n_images)]
    views = {view: images[picks] for view, (images, _) in views.items()}
    fig, axes = plt.subplots(2, n_images, figsize=(6.4, 2.4), layout="constrained", squeeze=False)
    for row, (view, images) in enumerate(views.items()):
        for col, image in enumerate(images):
            axes[row, col].imshow(image.permute(1, 2, 0).numpy() * 256 / 255)
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
            if row == 0:
                axes[row, col].set_title(utils.INTEL_CLASSES[labels[picks[col]]], fontsize=9)
        axes[row, 0].set_ylabel(view, fontsize=9)
    utils.save_figure(fig, stem)


def course_recipe(opt):
    """make q2 with the Settings `opt`: the sweep, then both networks over three seeds at the best rate
    -> summary.json."""
    sweep = [Run("Q2.1", lr) for lr in LEARNING_RATES]
    swept = run_all(sweep, opt)
    by_rate = {spec.learning_rate: swept[spec.name] for spec in sweep}
    best_lr = best_learning_rate(by_rate)
    print(f"best learning rate by final validation accuracy: {best_lr:g}", flush=True)
    seeded = {network: [Run(network, best_lr, seed) for seed in (SEED, *OTHER_SEEDS)] for network in NETWORKS}
    # seed by seed, so that the seed-42 Q2.2 run, the one the questions ask for, comes first
    pending = [specs[i] for i in range(1 + len(OTHER_SEEDS)) for specs in seeded.values()
               if specs[i].name not in swept]
    finished = {**swept, **run_all(pending, opt)}

    out = Path(opt.results_dir)
    plot_comparison({f"lr {spec.learning_rate:g}": by_rate[spec.learning_rate] for spec in sweep
                     if by_rate[spec.learning_rate]["train_loss"]},
                    out / "lr_sweep", "Q2.1 network: learning-rate sweep (SGD, batch 8, seed 42)")
    plot_comparison({f"{network} (lr {best_lr:g})": finished[specs[0].name] for network, specs in seeded.items()},
                    out / "q21_vs_q22", "Q2.1 (flatten) against Q2.2 (batch norm + global average pooling), seed 42")
    rows = [summary_row(f"Q2.1 lr {spec.learning_rate:g}", swept[spec.name], spec.name) for spec in sweep]
    seeds = {}
    for network, specs in seeded.items():
        network_rows = [summary_row(f"{network} seed {spec.seed}", finished[spec.name], spec.name) for spec in specs]
        rows += [row for row in network_rows if row["folder"] not in swept]
        seeds[network] = seed_statistics(network_rows)
    utils.write_json(out / "summary.json", {"settings": asdict(opt), "best_learning_rate": best_lr, "runs": rows,
                                            "seeds": seeds})
    table = markdown_table(rows)
    utils.write_text(out / "summary.md", table)
    print(table)


def comparisons(opt):
    """make q2-comparisons with the Settings `opt`: each option alone beside the course's recipe, seed 42
    -> comparisons.json."""
    summary_path = Path(opt.results_dir) / "summary.json"
    if not summary_path.is_file():
        raise utils.UserError(f"{utils.absolute(summary_path)}: no such file; run `make q2` first (it picks the "
                              "learning rate)")
    summary = utils.read_json(summary_path)
    best_lr = summary["best_learning_rate"]
    baseline = {network: Run(network, best_lr) for network in NETWORKS}
    finished = {}
    for spec in baseline.values():
        path = Path(opt.results_dir) / spec.name / "results.json"
        if not path.is_file():
            raise utils.UserError(f"{utils.absolute(path)}: no such file; run `make q2` first (the course's recipe, "
                                  "seed 42)")
        finished[spec.name] = utils.read_json(path)
    variants = [(Run(network, best_lr, options=flags), change) for network, flags, change in OPTIONS]
    finished.update(run_all([spec for spec, _ in variants], opt))

    out = Path(opt.results_dir)
    rows = [{**summary_row(f"{network} (course's recipe)", finished[spec.name], spec.name), "changes": "-"}
            for network, spec in baseline.items()]
    rows += [{**summary_row(spec.label, finished[spec.name], spec.name), "changes": change}
             for spec, change in variants]
    reshaped = {spec.network: finished[spec.name] for spec, _ in variants if "-course_reshape" in spec.options}
    plot_comparison({f"{network}, {view}": results for network in NETWORKS
                     for view, results in (("transposed", finished[baseline[network].name]),
                                           ("course reshape", reshaped[network]))},
                    out / "course_reshape", f"Pixels transposed against the course's reshape (lr {best_lr:g}, seed 42)")
    recomputed = next(finished[spec.name] for spec, _ in variants if "recomputed" in spec.options)
    utils.plot_series({"recomputed over 2,048 training images": recomputed["val_acc"],
                       "torch's running averages": recomputed["val_acc_running_bn"]},
                      "Validation accuracy", out / "bn_statistics",
                      f"Q2.2 (lr {best_lr:g}, seed 42), same weights: two sets of batch-norm statistics")
    plot_pixel_orders(opt.data_path, out / "pixel_orders")
    utils.write_json(out / "comparisons.json", {"settings": asdict(opt), "best_learning_rate": best_lr, "runs": rows})
    table = markdown_table(rows)
    utils.write_text(out / "comparisons.md", table)
    print(table)


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--data_path", default="data/intel_landscapes_48x48.npz")
    parser.add_argument("--results_dir", default="results/q2")
    parser.add_argument("--log_dir", default="logs")
    parser.add_argument("--device", default="cpu", help="passed to every run: cpu, cuda or mps")
    parser.add_argument("--reuse", action="store_true", help="keep runs that completed with the same command line")
    parser.add_argument("--comparisons", action="store_true",
                        help="each option beside the course's recipe, at the best rate of summary.json")
    opt = parser.parse_args(argv)
    parser.check(opt.epochs >= 1, f"--epochs {opt.epochs}: expected at least 1")
    parser.check(opt.jobs >= 1, f"--jobs {opt.jobs}: expected at least 1")
    print("Arguments:", vars(opt))
    if not Path(opt.data_path).is_file():
        raise utils.UserError(f"{utils.absolute(opt.data_path)}: no such file; run `make data` first")
    settings = Settings(opt.epochs, opt.jobs, opt.data_path, opt.results_dir, opt.log_dir, opt.device, opt.reuse)
    (comparisons if opt.comparisons else course_recipe)(settings)


if __name__ == "__main__":
    utils.run_main(main)
