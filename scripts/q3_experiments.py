"""Every Q3 run of the report, over three seeds, and their summary.

    python -m scripts.q3_experiments [--seeds 42 1 2] [--reuse] [--results_dir results/q3]   # make q3

For each seed: train without and with attention (the statement's hyperparameters, the course's recipe), test
both greedily and with beam search (size 5), and sample the attention model with nucleus
sampling (p = 0.8: WER@3, and both WERs averaged exactly over the sampling). Writes
summary.json and summary.md (mean and sample standard deviation over the seeds) in the
results directory. --reuse skips runs whose JSON exists.
"""
import statistics
from pathlib import Path

import utils
from scripts.pool import python, side_by_side

ROOT = Path(__file__).resolve().parents[1]

BEAM_SIZE, TOP_P, K = 5, 0.8, 3
ROWS = [  # (label, run, test JSON suffix, decoding key in it, metrics)
    ("No attention, greedy", "no-attn", "beam5", "greedy", ("cer", "wer")),
    (f"No attention, beam {BEAM_SIZE}", "no-attn", "beam5", "beam", ("cer", "wer")),
    ("Attention, greedy", "attn", "beam5", "greedy", ("cer", "wer")),
    (f"Attention, beam {BEAM_SIZE}", "attn", "beam5", "beam", ("cer", "wer")),
    (f"Attention, nucleus p={TOP_P}", "attn", f"topp{TOP_P}", "nucleus", ("cer", "wer", f"wer@{K}")),
    (f"Attention, nucleus p={TOP_P}, expected over the sampling", "attn", f"topp{TOP_P}", "nucleus_expected",
     ("wer", f"wer@{K}")),
]


def run(command, log, reuse_if=None):
    if reuse_if is not None and reuse_if.is_file():
        print(f"reusing {reuse_if}")
        return
    print("$ " + " ".join(command), flush=True)
    status = python(command, ROOT, log)
    if status:
        raise utils.UserError(f"`{' '.join(command)}` failed with exit code {status}; see {log}")


def train_and_test(name, flags, seed, results, common, n_epochs, log, reuse=False, attention_plots=0):
    """Train one model (hw2-q3.py `flags`) with `seed` into `results`/`name`-seed`seed`.pt,
    then test it greedily and with beam search, and an attention model with nucleus sampling.

    `common` are the flags of every run (data, device, threads); the output goes to `log`;
    with `reuse`, a step whose JSON exists is skipped.
    """
    results, stem = Path(results), f"{name}-seed{seed}"
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    base = [*common, "--results_dir", str(results), "--no_progress", "--seed", str(seed),
            "--checkpoint_name", str(results / f"{stem}.pt")]

    def output(suffix):
        return results / f"{stem}-{suffix}.json" if reuse else None

    run(["hw2-q3.py", "train", *flags, *base, "--n_epochs", str(n_epochs)], log, output("train"))
    plots = ["--attention_plots", str(attention_plots)] if attention_plots else []
    run(["hw2-q3.py", "test", *base, "--beam_size", str(BEAM_SIZE), *plots], log, output(f"test-beam{BEAM_SIZE}"))
    if "--use_attn" in flags:
        run(["hw2-q3.py", "test", *base, "--topp", str(TOP_P), "--k", str(K)], log, output(f"test-topp{TOP_P}"))


def common_flags(data_dir, device, threads):
    """The flags every hw2-q3.py run of an experiment script shares."""
    return ["--data_dir", data_dir, "--device", device, "--threads", str(threads)]


def mean_std(values):
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def format_mean_std(stats, digits=4):
    """A mean_std record as 'mean ± std'."""
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def summary_markdown(summary):
    """The tables of summary.md: test metrics, then training, as mean ± sample std over seeds."""
    def cell(row, metric):
        return format_mean_std(row[metric]) if metric in row else "–"

    lines = [f"Test set, mean ± sample std over seeds {', '.join(map(str, summary['seeds']))}.", "",
             f"| Model, decoding | CER | WER | WER@{K} |", "|---|---|---|---|"]
    lines += [f"| {row['label']} | {cell(row, 'cer')} | {cell(row, 'wer')} | {cell(row, f'wer@{K}')} |"
              for row in summary["test"]]
    lines += ["", "| Training | best validation CER | best epoch per seed | seconds (all epochs + validation) |",
              "|---|---|---|---|"]
    for name, t in summary["training"].items():
        lines.append(f"| {name} | {format_mean_std(t['best_val_cer'])} | "
                     f"{', '.join(map(str, t['best_epoch']))} | {format_mean_std(t['seconds'], digits=0)} |")
    return "\n".join(lines) + "\n"


def summarise(results_dir, seeds):
    results = Path(results_dir)
    rows = []
    for label, name, suffix, key, metrics in ROWS:
        tests = [utils.read_json(results / f"{name}-seed{seed}-test-{suffix}.json") for seed in seeds]
        rows.append({"label": label, **{m: mean_std([t[key][m] for t in tests]) for m in metrics}})
    training = {}
    for name in ("no-attn", "attn"):
        runs = [utils.read_json(results / f"{name}-seed{seed}-train.json") for seed in seeds]
        training[name] = {"best_val_cer": mean_std([r["best_val_cer"] for r in runs]),
                          "best_epoch": [r["best_epoch"] for r in runs],
                          "seconds": mean_std([r["total_seconds"] for r in runs])}
    summary = {"seeds": seeds, "test": rows, "training": training}
    utils.write_json(results / "summary.json", summary)
    text = summary_markdown(summary)
    utils.write_text(results / "summary.md", text)
    print(text)


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--data_dir", default="data/")
    parser.add_argument("--results_dir", default="results/q3")
    parser.add_argument("--device", default="cpu", help="passed to every run: cpu, cuda or mps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side")
    parser.add_argument("--n_epochs", type=int, default=20, help="training epochs (the statement's 20)")
    parser.add_argument("--log_dir", default=str(ROOT / "logs"))
    parser.add_argument("--reuse", action="store_true", help="skip runs whose result JSON exists")
    parser.add_argument("--summary_only", action="store_true", help="only rebuild summary.{json,md}")
    args = parser.parse_args(argv)
    parser.check(args.jobs >= 1, f"--jobs {args.jobs}: expected at least 1")
    common = common_flags(args.data_dir, args.device, args.threads)
    if not args.summary_only:
        def task(name, flags, seed):
            plots = 4 if name == "attn" and seed == args.seeds[0] else 0
            return lambda: train_and_test(name, flags, seed, args.results_dir, common, args.n_epochs,
                                          Path(args.log_dir) / f"q3-{name}-seed{seed}.log", args.reuse,
                                          attention_plots=plots)

        side_by_side([task(name, flags, seed) for seed in args.seeds
                      for name, flags in (("no-attn", []), ("attn", ["--use_attn"]))], args.jobs)
    summarise(args.results_dir, args.seeds)


if __name__ == "__main__":
    utils.run_main(main)
