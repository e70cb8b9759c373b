#!/usr/bin/env python
"""Every Q2 run of the homework, then its figures and summary table.

    python -m scripts.q2_experiments            # what `make q2` runs
    python -m scripts.q2_experiments --reuse    # keep runs that already completed
    python -m scripts.q2_experiments --comparisons   # the runs the report compares with (make q2-comparisons)

1. Q2.1: the plain network at learning rates 0.1, 0.01 and 0.001.
2. The best rate, by final-epoch validation accuracy read back from the runs' JSONs.
3. Q2.2: the batch-norm + global-average-pooling network at that rate; and both networks
   with `-course_reshape`, the course's pixel handling, to measure what it costs.
4. Figures (the sweep, Q2.1 against Q2.2, transposed against course-reshaped pixels, a
   few images both ways) and `summary.json` / `summary.md` in the results folder.

With --comparisons it runs instead, at the best rate of a finished `make q2`, both
networks with seeds 1 and 2 and Q2.1 with torch's default initialisation, which the
report and the README set beside make q2's runs.

Runs go `--jobs` at a time, one torch thread each: at batch size 8 a second thread
barely speeds one run up, while a second run in parallel doubles the throughput.
"""
import argparse
import importlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import utils

ROOT = Path(__file__).resolve().parents[1]
LEARNING_RATES = (0.1, 0.01, 0.001)
NETWORKS = {"Q2.1": ["-no_batch_norm"], "Q2.2": []}
COMPARISONS = [[*flags, "-seed", seed] for flags in NETWORKS.values() for seed in ("1", "2")] + [
    [*NETWORKS["Q2.1"], "-init", "pytorch"]]


def run_dir(q2, results_dir, flags, epochs):
    """The folder hw2-q2.py (the module `q2`) writes for these flags: it names it after its configuration."""
    return Path(results_dir) / q2.run_name(q2.parse_args([*flags, "-epochs", str(epochs)]))


def completed(folder):
    path = Path(folder) / "results.json"
    return path.is_file() and utils.read_json(path)["status"] == "completed"


def run_all(q2, flag_sets, opt):
    """Run hw2-q2.py once per flag list, `opt.jobs` at a time; returns {tuple(flags): results}."""
    common = ["-epochs", str(opt.epochs), "-data_path", opt.data_path, "-results_dir", opt.results_dir,
              "-device", opt.device, "-threads", "1", "-no_progress"]

    def run(flags):
        folder = run_dir(q2, opt.results_dir, flags, opt.epochs)
        if not (opt.reuse and completed(folder)):
            log = Path(opt.log_dir) / f"{folder.name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            print(f"running {folder.name} (log: {log})", flush=True)
            with open(log, "w") as out:
                subprocess.run([sys.executable, str(ROOT / "hw2-q2.py"), *flags, *common],
                               stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
        path = folder / "results.json"
        if not path.is_file():
            raise utils.UserError(f"{folder.name} wrote no results; see {opt.log_dir}/{folder.name}.log")
        return utils.read_json(path)

    with ThreadPoolExecutor(opt.jobs) as pool:
        return dict(zip(map(tuple, flag_sets), pool.map(run, flag_sets)))


def best_learning_rate(sweep):
    """The rate whose completed run ends with the highest validation accuracy."""
    finished = {lr: r for lr, r in sweep.items() if r["status"] == "completed"}
    if not finished:
        raise utils.UserError("every learning rate of the sweep diverged")
    return max(finished, key=lambda lr: finished[lr]["val_acc"][-1])


def summary_row(name, results, folder):
    """The summary's line for one run; `folder` (its results folder's name) leads to the full record."""
    row = {"run": name, "folder": folder, "learning_rate": results["args"]["learning_rate"],
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


def markdown_table(rows):
    columns = [("run", "run", str), ("learning_rate", "lr", "{:g}".format),
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
    """Two panels, training loss and validation accuracy per epoch, one line per run."""
    fig, (loss_ax, acc_ax) = utils.pyplot().subplots(1, 2, figsize=(11, 4))
    for label, results in curves.items():
        epochs = range(1, len(results["train_loss"]) + 1)
        loss_ax.plot(epochs, results["train_loss"], marker=".", label=label)
        acc_ax.plot(epochs, results["val_acc"], marker=".", label=label)
    for ax, ylabel in ((loss_ax, "Training loss"), (acc_ax, "Validation accuracy")):
        ax.set_xlabel("Epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    utils.save_figure(fig, stem)


def plot_pixel_orders(data_path, stem, n_images=6):
    """The first training images of each class as the network sees them, transposed and course-reshaped."""
    import numpy as np

    plt = utils.pyplot()

    with np.load(data_path) as archive:
        labels = archive["train_labels"].reshape(-1)
        picks = [int(np.flatnonzero(labels == c)[0]) for c in range(n_images)]
        raw = archive["train_images"][picks]
    views = {"transposed (ours)": utils.intel_images_to_tensor(raw),
             "course reshape": utils.intel_images_to_tensor(raw, course_reshape=True)}
    fig, axes = plt.subplots(2, n_images, figsize=(2 * n_images, 4.4))
    for row, (view, images) in enumerate(views.items()):
        for col, image in enumerate(images):
            axes[row, col].imshow(image.permute(1, 2, 0).numpy() * 256 / 255)
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
            if row == 0:
                axes[row, col].set_title(utils.INTEL_CLASSES[labels[picks[col]]])
        axes[row, 0].set_ylabel(view)
    utils.save_figure(fig, stem)


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--data_path", default="data/intel_landscapes_48x48.npz")
    parser.add_argument("--results_dir", default="results/q2")
    parser.add_argument("--log_dir", default="logs")
    parser.add_argument("--device", default="cpu", help="passed to every run: cpu, cuda or mps")
    parser.add_argument("--reuse", action="store_true", help="keep runs whose results.json says completed")
    parser.add_argument("--no_course_reshape", action="store_true", help="skip the two course-reshape runs")
    parser.add_argument("--comparisons", action="store_true",
                        help="only the other seeds and torch's initialisation, at the best rate of summary.json")
    opt = parser.parse_args(argv)
    parser.check(opt.epochs >= 1, f"--epochs {opt.epochs}: expected at least 1")
    parser.check(opt.jobs >= 1, f"--jobs {opt.jobs}: expected at least 1")
    print("Arguments:", vars(opt))
    if not Path(opt.data_path).is_file():
        raise utils.UserError(f"{opt.data_path}: no such file; run `make data` first")
    q2 = importlib.import_module("hw2-q2")
    if opt.comparisons:
        summary = Path(opt.results_dir) / "summary.json"
        if not summary.is_file():
            raise utils.UserError(f"{summary}: no such file; run `make q2` first (it picks the learning rate)")
        best_lr = utils.read_json(summary)["best_learning_rate"]
        run_all(q2, [[*flags, "-learning_rate", f"{best_lr:g}"] for flags in COMPARISONS], opt)
        return

    sweep_flags = [["-no_batch_norm", "-learning_rate", f"{lr:g}"] for lr in LEARNING_RATES]
    sweep = dict(zip(LEARNING_RATES, run_all(q2, sweep_flags, opt).values()))
    best_lr = best_learning_rate(sweep)
    print(f"best learning rate by final validation accuracy: {best_lr:g}")

    at_best = {(network, reshape): [*flags, "-learning_rate", f"{best_lr:g}", *(["-course_reshape"] if reshape else [])]
               for network, flags in NETWORKS.items() for reshape in (False, True)
               if not (reshape and opt.no_course_reshape)}
    pending = [flags for key, flags in at_best.items() if key != ("Q2.1", False)]
    finished = run_all(q2, pending, opt)
    runs = {key: sweep[best_lr] if key == ("Q2.1", False) else finished[tuple(flags)] for key, flags in at_best.items()}

    out = Path(opt.results_dir)
    plot_comparison({f"lr {lr:g}": r for lr, r in sweep.items() if r["train_loss"]}, out / "lr_sweep",
                    "Q2.1 network: learning-rate sweep (SGD, batch 8)")
    plot_comparison({f"{network} (lr {best_lr:g})": runs[(network, False)] for network in NETWORKS},
                    out / "q21_vs_q22", "Q2.1 (flatten) against Q2.2 (batch norm + global average pooling)")
    q22 = runs[("Q2.2", False)]
    if q22.get("val_acc_running_bn"):
        utils.plot_series({"statistics recomputed before each evaluation": q22["val_acc"],
                           "torch's running averages": q22["val_acc_running_bn"]},
                          "Validation accuracy", out / "bn_statistics",
                          f"Q2.2 (lr {best_lr:g}), same weights: two sets of batch-norm statistics")
    def folder(flags):
        return run_dir(q2, opt.results_dir, flags, opt.epochs).name

    rows = [summary_row(f"Q2.1 lr {lr:g}", sweep[lr], folder(flags)) for lr, flags in zip(LEARNING_RATES, sweep_flags)]
    rows += [summary_row("Q2.2", runs[("Q2.2", False)], folder(at_best[("Q2.2", False)]))]
    if not opt.no_course_reshape:
        plot_comparison({f"{network}, {'course reshape' if reshape else 'transposed'}": runs[(network, reshape)]
                         for network in NETWORKS for reshape in (False, True)},
                        out / "course_reshape", f"Pixels transposed (ours) against the course's reshape (lr {best_lr:g})")
        rows += [summary_row(f"{network} course reshape", runs[(network, True)], folder(at_best[(network, True)]))
                 for network in NETWORKS]
    plot_pixel_orders(opt.data_path, out / "pixel_orders")
    utils.write_json(out / "summary.json", {"args": vars(opt), "best_learning_rate": best_lr, "runs": rows})
    table = markdown_table(rows)
    utils.write_text(out / "summary.md", table)
    print(table)


if __name__ == "__main__":
    utils.run_main(main)
