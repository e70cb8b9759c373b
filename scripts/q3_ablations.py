#!/usr/bin/env python
"""The measurements behind the README's Q3 choices, over three seeds, and their summary.

    python -m scripts.q3_ablations [--reuse]          # make ablations (after make q3)

1. Training options: the attention model of `make q3` (the course's recipe), retrained
   with one option added (ABLATIONS), each into results/q3/ablations/<name>/ and tested
   as the main runs are (greedy, beam 5, nucleus p = 0.8 with WER@3).
2. Beam-search length normalisation: the main attention checkpoints decode the
   validation set with beam 5 under each exponent of LENGTH_ALPHAS (`hw2-q3.py test
   --split valid --length_alpha a`), into results/q3/ablations/beam_alpha/.

Writes summary.json and summary.md in results/q3/ablations/: mean and sample standard
deviation over the seeds, beside the main runs' figures.
"""
from pathlib import Path

import torch

import utils
from scripts.pool import side_by_side
from scripts.q3_experiments import BEAM_SIZE, K, TOP_P, common_flags, format_mean_std, mean_std, run, train_and_test

ABLATIONS = {  # folder: (hw2-q3.py train flags, the option added to the course's recipe)
    "init_scaled": (["--init", "scaled"], r"embeddings $\mathcal{N}(0, 1/H)$, generator bias 0"),
    "init_scaled_lstm": (["--init", "scaled_lstm"], "also orthogonal recurrent weights, forget bias 1"),
    "clip_norm1": (["--clip_norm", "1"], "gradient norm clipped at 1"),
    "length_pool20": (["--length_pool", "20"], "batches from length-sorted pools of 20"),
}
COURSE_RUN = "course's recipe (`make q3`)"  # the summary's first row: make q3's runs, no option
LENGTH_ALPHAS = (0.0, 0.5, 1.0)
DEFAULT_LENGTH_ALPHA = 0.5  # hw2-q3.py's --length_alpha default: its files carry no -alpha suffix
METRICS = [  # (label, JSON suffix, key in the test JSON or None for training, metric)
    ("best val CER", "train", None, "best_val_cer"),
    ("greedy CER", f"test-beam{BEAM_SIZE}", "greedy", "cer"),
    ("greedy WER", f"test-beam{BEAM_SIZE}", "greedy", "wer"),
    (f"beam {BEAM_SIZE} WER", f"test-beam{BEAM_SIZE}", "beam", "wer"),
    (f"nucleus WER@{K}", f"test-topp{TOP_P}", "nucleus", f"wer@{K}"),
]


def attention_metrics(folder, seeds):
    """{metric label: mean_std over seeds} of the attention runs in `folder`."""
    def value(seed, suffix, key, metric):
        record = utils.read_json(Path(folder) / f"attn-seed{seed}-{suffix}.json")
        return record[metric] if key is None else record[key][metric]

    return {label: mean_std([value(seed, suffix, key, metric) for seed in seeds])
            for label, suffix, key, metric in METRICS}


def beam_alpha_sweep(main_dir, seeds, results_dir, common, log, reuse=False):
    """Validation CER/WER of each main attention checkpoint under beam 5, per length exponent,
    each from a `hw2-q3.py test --split valid` run into `results_dir`."""
    scores = {alpha: {"cer": [], "wer": []} for alpha in LENGTH_ALPHAS}
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        checkpoint = Path(main_dir) / f"attn-seed{seed}.pt"
        for alpha in LENGTH_ALPHAS:
            output = Path(results_dir) / test_json_name(checkpoint, alpha)
            run(["hw2-q3.py", "test", *common, "--checkpoint_name", str(checkpoint), "--split", "valid",
                 "--beam_size", str(BEAM_SIZE), "--length_alpha", str(alpha), "--results_dir", str(results_dir),
                 "--no_progress"], log, output if reuse else None)
            record = utils.read_json(output)
            for metric in ("cer", "wer"):
                scores[alpha][metric].append(record["beam"][metric])
    return [{"length_alpha": alpha, "cer": mean_std(s["cer"]), "wer": mean_std(s["wer"])}
            for alpha, s in scores.items()]


def test_json_name(checkpoint, alpha):
    """The JSON that `hw2-q3.py test --split valid --beam_size 5 --length_alpha alpha` writes for `checkpoint`."""
    exponent = "" if alpha == DEFAULT_LENGTH_ALPHA else f"-alpha{alpha:g}"
    return f"{Path(checkpoint).stem}-valid-beam{BEAM_SIZE}{exponent}.json"


def summary_markdown(summary, describe=True):
    """summary.md: the options' table (with what each changes, if `describe`), then the beam exponents'."""
    seeds = ", ".join(map(str, summary["seeds"]))
    labels = [label for label, *_ in METRICS]
    described = ["what it changes"] if describe else []
    header = ["option (flag)", *described, *labels]
    lines = [f"Attention model, mean ± sample std over seeds {seeds}; the test set unless said otherwise.", "",
             "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for row in summary["training"]:
        option = "`" + " ".join(row["flags"]) + "`" if row["flags"] else "the course's recipe"
        changes = [row["changes"]] if describe else []
        cells = [option, *changes, *(format_mean_std(row["metrics"][m]) for m in labels)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Beam {BEAM_SIZE}, main attention checkpoints, validation set; hypotheses ranked by "
                  "$\\sum \\log p / \\text{length}^\\alpha$.", "", "| $\\alpha$ | CER | WER |", "|---|---|---|"]
    lines += [f"| {row['length_alpha']:g} | {format_mean_std(row['cer'])} | {format_mean_std(row['wer'])} |"
              for row in summary["beam_alpha"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--data_dir", default="data/")
    parser.add_argument("--main_dir", default="results/q3", help="the runs of `make q3`")
    parser.add_argument("--results_dir", default="results/q3/ablations")
    parser.add_argument("--only", nargs="+", choices=list(ABLATIONS), help="train only these ablations")
    parser.add_argument("--device", default="cpu", help="passed to every run: cpu, cuda or mps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side")
    parser.add_argument("--n_epochs", type=int, default=20, help="training epochs (the statement's 20)")
    parser.add_argument("--log_dir", default="logs")
    parser.add_argument("--reuse", action="store_true", help="skip runs whose result JSON exists")
    args = parser.parse_args(argv)
    parser.check(args.jobs >= 1, f"--jobs {args.jobs}: expected at least 1")
    print("Arguments:", vars(args))
    torch.set_num_threads(args.threads)
    missing = [seed for seed in args.seeds if not (Path(args.main_dir) / f"attn-seed{seed}.pt").is_file()]
    if missing:
        raise utils.UserError(f"{utils.absolute(args.main_dir)}: no attention checkpoint for seeds {missing}; "
                              "run `make q3` first")

    common = common_flags(args.data_dir, args.device, args.threads)
    def task(name, seed):
        return lambda: train_and_test("attn", ["--use_attn", *ABLATIONS[name][0]], seed,
                                      Path(args.results_dir) / name, common, args.n_epochs,
                                      Path(args.log_dir) / f"q3-{name}-attn-seed{seed}.log", args.reuse)

    side_by_side([task(name, seed) for name in args.only or ABLATIONS for seed in args.seeds], args.jobs)
    training = [{"run": COURSE_RUN, "flags": [], "changes": "-",
                 "metrics": attention_metrics(args.main_dir, args.seeds)}]
    training += [{"run": name, "flags": flags, "changes": changes,
                  "metrics": attention_metrics(Path(args.results_dir) / name, args.seeds)}
                 for name, (flags, changes) in ABLATIONS.items()
                 if (Path(args.results_dir) / name / f"attn-seed{args.seeds[0]}-train.json").is_file()]
    summary = {"args": vars(args), "seeds": args.seeds, "training": training,
               "beam_alpha": beam_alpha_sweep(args.main_dir, args.seeds, Path(args.results_dir) / "beam_alpha", common,
                                             Path(args.log_dir) / "q3-beam-alpha.log", args.reuse)}
    utils.write_json(Path(args.results_dir) / "summary.json", summary)
    text = summary_markdown(summary)
    utils.write_text(Path(args.results_dir) / "summary.md", text)
    print(text)


if __name__ == "__main__":
    utils.run_main(main)
