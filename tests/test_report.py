"""The report's tables are generated from the results JSONs and must agree with them."""
import re

import pytest

import utils
from helpers import ROOT
from report import make_report

SUMMARY = {
    "best_learning_rate": 0.01,
    "runs": [
        {"run": "Q2.1 lr 0.1", "learning_rate": 0.1, "status": "diverged at epoch 3", "n_params": 5340742,
         "seconds_per_epoch": 41.5},
        {"run": "Q2.1 lr 0.01", "learning_rate": 0.01, "status": "completed", "n_params": 5340742,
         "final_train_loss": 0.12345, "final_val_acc": 0.8123, "test_acc": 0.8234, "best_val_epoch": 31,
         "best_val_acc": 0.8345, "test_acc_at_best_val": 0.8256, "seconds_per_epoch": 42.0},
        {"run": "Q2.2", "learning_rate": 0.01, "status": "completed", "n_params": 755718,
         "final_train_loss": 0.2, "final_val_acc": 0.85, "test_acc": 0.8612, "best_val_epoch": 38,
         "best_val_acc": 0.8701, "test_acc_at_best_val": 0.8633, "seconds_per_epoch": 33.3},
    ],
}


def test_q2_tables_carry_the_json_numbers(tmp_path):
    utils.write_json(tmp_path / "q2" / "summary.json", SUMMARY)
    sweep = make_report.q2_sweep(tmp_path)
    assert "| Q2.1 lr 0.01 | 0.01 | 0.1235 | 0.8123 | 0.8234 | 31 | 0.8345 | 0.8256 | 5,340,742 | 42.0 |" in sweep
    assert "diverged at epoch 3" in sweep and "**0.01**" in sweep
    networks = make_report.q2_networks(tmp_path)
    assert networks.count("\n| Q2") == 2 and "| Q2.2 | 0.01 | 0.2000 | 0.8500 | 0.8612 | 38 |" in networks


def test_fill_rewrites_only_the_blocks_and_refuses_unknown_ones(tmp_path):
    utils.write_json(tmp_path / "q2" / "summary.json", SUMMARY)
    text = "intro\n<!-- begin q2-sweep -->\nstale\n<!-- end q2-sweep -->\noutro\n"
    filled = make_report.fill(text, tmp_path)
    assert filled.startswith("intro\n<!-- begin q2-sweep -->\n| run |") and filled.endswith("<!-- end q2-sweep -->\noutro\n")
    assert "stale" not in filled and make_report.fill(filled, tmp_path) == filled
    with pytest.raises(utils.UserError, match="unknown table block 'nope'"):
        make_report.fill("<!-- begin nope -->\n<!-- end nope -->", tmp_path)


def test_missing_results_name_the_file(tmp_path):
    with pytest.raises(utils.UserError, match="summary.json: no such file"):
        make_report.q2_sweep(tmp_path)


def test_committed_report_matches_the_committed_results():
    for page in sorted((ROOT / "report").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in make_report.BLOCK.finditer(text):
            rendered = make_report.TABLES[match["name"]](ROOT / "results")
            assert match["body"] == rendered, f"{page.name}: table {match['name']} is stale; run `make report`"


def test_every_number_of_the_q1_table_is_in_its_json():
    rows = utils.read_json(ROOT / "results" / "q1" / "checks.json")["rows"]
    table = make_report.q1_checks(ROOT / "results")
    for row, line in zip(rows, table.splitlines()[2:]):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert float(cells[2]) == pytest.approx(row["error"], rel=0.06, abs=1e-300)
        assert float(cells[3]) == row["tolerance"] and cells[4] == ("PASS" if row["passed"] else "FAIL")
        assert re.sub("&#124;", "|", cells[1]) == row["check"]


def test_q3_sample_table_lists_the_json_examples(tmp_path):
    examples = [{"spelling": "scare", "samples": ["scare", "schar"]}, {"spelling": "yokel", "samples": ["Yochel", "yocal"]}]
    utils.write_json(tmp_path / "q3" / "attn-seed42-test-topp0.8.json", {"nucleus": {"examples": examples}})
    table = make_report.q3_samples(tmp_path)
    assert table.splitlines()[2:] == ["| scare | scare, schar |", "| yokel | Yochel, yocal |"]


def test_batch_norm_statistics_table_shows_both_estimates(tmp_path):
    q22 = {**SUMMARY["runs"][2], "folder": "cnn-bn-run", "test_acc_running_bn": 0.7777}
    utils.write_json(tmp_path / "q2" / "summary.json", {**SUMMARY, "runs": [*SUMMARY["runs"][:2], q22]})
    utils.write_json(tmp_path / "q2" / "cnn-bn-run" / "results.json",
                     {"test_acc": 0.8612, "val_acc": [0.5] * 30 + [0.8 + i / 100 for i in range(10)],
                      "test_acc_running_bn": 0.7777, "val_acc_running_bn": [0.4] * 30 + [0.6, 0.8] * 5})
    lines = make_report.q2_bn_stats(tmp_path).splitlines()
    assert lines[2:] == ["| Q2.2 | recomputed | 0.8612 | 0.8900 | 0.8000 - 0.8900 |",
                         "| Q2.2 | running averages | 0.7777 | 0.8000 | 0.6000 - 0.8000 |"]


def test_seed_table_lists_the_seeds_of_make_q2s_settings_and_their_mean(tmp_path):
    def run(folder, seed, acc, status="completed", **changes):
        args = {"batch_norm": "bn" in folder, "learning_rate": 0.01, "course_reshape": False, "seed": seed,
                "threads": 1, **changes}
        utils.write_json(tmp_path / "q2" / folder / "results.json",
                         {"args": args, "status": status, "val_acc": [0.5, acc + 0.01], "test_acc": acc})

    rows = [{**SUMMARY["runs"][1], "folder": "cnn-42"}, {**SUMMARY["runs"][2], "folder": "cnn-bn-42"}]
    utils.write_json(tmp_path / "q2" / "summary.json", {**SUMMARY, "runs": rows})
    run("cnn-42", 42, 0.80)
    run("cnn-1", 1, 0.82, threads=2)  # how it was run does not matter
    run("cnn-bn-42", 42, 0.85)
    run("cnn-42-reshape", 42, 0.60, course_reshape=True)  # what it computed does
    run("cnn-7", 7, 0.10, status="diverged at epoch 3")
    assert make_report.q2_seeds(tmp_path).splitlines()[2:] == [
        "| Q2.1 | 42 | 0.8100 | 0.8000 |", "| Q2.1 | 1 | 0.8300 | 0.8200 |",
        "| Q2.1 | mean ± std | 0.8200 ± 0.0141 | 0.8100 ± 0.0141 |", "| Q2.2 | 42 | 0.8600 | 0.8500 |"]


def test_q3_ablation_table_carries_the_json_numbers(tmp_path):
    def stats(mean, std):
        return {"mean": mean, "std": std, "values": []}

    labels = ["best val CER", "greedy CER", "greedy WER", "beam 5 WER", "nucleus WER@3"]
    summary = {"seeds": [42, 1], "training": [{"run": "clip_norm0", "changes": "no clipping",
                                               "metrics": {label: stats(0.1 * i, 0.01) for i, label in enumerate(labels)}}],
               "beam_alpha": [{"length_alpha": 0.5, "cer": stats(0.2052, 0.0031), "wer": stats(0.7, 0.02)}]}
    utils.write_json(tmp_path / "q3" / "ablations" / "summary.json", summary)
    lines = make_report.q3_ablations(tmp_path).splitlines()
    assert lines[0].startswith("Attention model, mean ± sample std over seeds 42, 1;")
    assert lines[2] == "| run | what changes | " + " | ".join(labels) + " |"
    assert lines[4] == ("| clip_norm0 | no clipping | 0.0000 ± 0.0100 | 0.1000 ± 0.0100 | 0.2000 ± 0.0100 | "
                        "0.3000 ± 0.0100 | 0.4000 ± 0.0100 |")
    assert lines[-1] == "| 0.5 | 0.2052 ± 0.0031 | 0.7000 ± 0.0200 |"


# ----------------------------------------------------------------------------- the numbers quoted in the Q1/Q2 prose

Q2_SEEDS = (42, 1, 2)


def _page(name):
    return (ROOT / "report" / name).read_text(encoding="utf-8")


def _q2_runs_at_best_rate():
    """{(batch_norm, seed): results} for the two networks at lr 0.01 as make q2 runs them, seeds 42, 1, 2."""
    runs = {}
    for path in (ROOT / "results" / "q2").glob("*/results.json"):
        run = utils.read_json(path)
        args = run["args"]
        if (args["learning_rate"] == 0.01 and not args["course_reshape"] and args["init"] == "kaiming"
                and args["bn_stats"] == "recomputed" and run["status"] == "completed"):
            runs[args["batch_norm"], args["seed"]] = run
    assert {(bn, seed) for bn in (False, True) for seed in Q2_SEEDS} <= set(runs), "a Q2 run of the report is missing"
    return runs


def _per_seed(values):
    return " / ".join(f"{value:.3f}" for value in values)


def _first_epoch_at(accuracies, threshold):
    return next(epoch for epoch, acc in enumerate(accuracies, 1) if acc >= threshold)


def test_q2_prose_quotes_the_per_seed_test_accuracies_of_the_jsons():
    runs = _q2_runs_at_best_rate()
    q21 = [runs[False, seed]["test_acc"] for seed in Q2_SEEDS]
    q22 = [runs[True, seed]["test_acc"] for seed in Q2_SEEDS]
    q22_running = [runs[True, seed]["test_acc_running_bn"] for seed in Q2_SEEDS]
    q2, theory = _page("q2.md"), _page("q2_theory.md")
    # the answers of Q2.2 (q2.md) and Q2.3 (q2_theory.md) state the reversal with these numbers
    assert f"{_per_seed(q22_running)} against Q2.1's {_per_seed(q21)} (seeds 42 / 1 / 2)" in theory
    assert f"{_per_seed(q22)} for seeds 42 / 1 / 2, ahead of Q2.1's {_per_seed(q21)}" in q2
    assert f"the same weights score {_per_seed(q22_running)}: behind Q2.1 for every seed" in q2
    # what the text says about them must stay true
    assert all(a > b for a, b in zip(q22, q21)) and all(a < b for a, b in zip(q22_running, q21))
    # the per-seed table of q2.md, and the margins stated under it
    for seed, a, b, c in zip(Q2_SEEDS, q21, q22, q22_running):
        assert f"| {seed} | {a:.3f} | {b:.3f} | {c:.3f} |" in q2
    ahead = [100 * (b - a) for a, b in zip(q21, q22)]
    behind = [100 * (a - c) for a, c in zip(q21, q22_running)]
    assert f"Q2.2 is {min(ahead):.1f} to {max(ahead):.1f} points ahead for every seed" in q2
    assert f"it is {min(behind):.1f} to {max(behind):.1f} points behind for every seed" in q2
    assert f"test accuracy {q22[0]:.3f} against {q21[0]:.3f} for seed 42" in theory


def test_q2_prose_quotes_the_sweep_and_the_curves_of_the_jsons():
    summary = {row["run"]: row for row in utils.read_json(ROOT / "results" / "q2" / "summary.json")["runs"]}
    best, low, high = (summary[f"Q2.1 lr {lr}"] for lr in ("0.01", "0.1", "0.001"))
    q2, theory = _page("q2.md"), _page("q2_theory.md")
    assert (f"validation accuracy {best['final_val_acc']:.3f} after the last epoch, against "
            f"{low['final_val_acc']:.3f} at 0.1 and {high['final_val_acc']:.3f} at 0.001 (seed 42). "
            f"Its test accuracy is {best['test_acc']:.3f}.") in q2
    runs = _q2_runs_at_best_rate()
    q21, q22 = runs[False, 42], runs[True, 42]
    losses = (f"training loss {q21['train_loss'][-1]:.2f}, validation loss {q21['val_loss'][-1]:.2f} at epoch 40), "
              f"Q2.2 cannot ({q22['train_loss'][-1]:.2f} and {q22['val_loss'][-1]:.2f})")
    assert losses in theory
    assert (f"Q2.2 ends at {q22['train_loss'][-1]:.2f} for training and {q22['val_loss'][-1]:.2f} for validation"
            in q2)
    # Q2.2's training loss is below Q2.1's in the first epochs only, and falls more slowly after them
    lower = [epoch for epoch, (a, b) in enumerate(zip(q22["train_loss"], q21["train_loss"]), 1) if a < b]
    assert lower == list(range(1, len(lower) + 1)) and len(lower) == 2
    assert "below Q2.1's only in the first two epochs" in theory and "higher than Q2.1's from epoch 3 on" in q2
    e22, e21 = _first_epoch_at(q22["val_acc"], 0.80), _first_epoch_at(q21["val_acc"], 0.80)
    assert f"Q2.2's validation accuracy passes 0.80 at epoch {e22}, Q2.1's at epoch {e21}." in q2
    assert f"Q2.2 passes 0.80 at epoch {e22}, Q2.1 at epoch {e21}." in theory


def test_q2_batch_norm_statistics_paragraph_quotes_the_seed_42_json():
    run = _q2_runs_at_best_rate()[True, 42]
    recomputed, running = run["val_acc"], run["val_acc_running_bn"]
    def largest_step(accs):
        return max(abs(b - a) for a, b in zip(accs, accs[1:]))
    gaps = [100 * (a - b) for a, b in zip(recomputed, running)]
    q2 = _page("q2.md")
    assert f"({min(running):.2f} to {max(running):.2f} for seed 42, and by up to {largest_step(running):.2f}" in q2
    assert f"at every one of the 40 epochs (by {min(gaps):.0f} to {max(gaps):.0f} points)" in q2 and min(gaps) > 0
    assert f"differ by at most {largest_step(recomputed):.2f} instead of {largest_step(running):.2f}" in q2
    assert (f"{100 * (run['test_acc'] - run['test_acc_running_bn']):.1f} points more test accuracy at the end "
            f"({run['test_acc']:.3f} against {run['test_acc_running_bn']:.3f})") in q2


def test_q1_prose_quotes_the_checks_and_the_separation_condition_of_its_examples():
    import math

    import torch

    import q1_hopfield_check as q1

    rows = utils.read_json(ROOT / "results" / "q1" / "checks.json")["rows"]
    text = _page("q1.md")
    assert all(row["passed"] for row in rows) and f"All {len(rows)} checks pass" in text
    (average,) = [row for row in rows if "|q* - mean(x_i)|" in row["check"]]  # check #22
    assert f"at most ${100 * average['error']:.1f}\\%$ of the distance" in text

    def threshold(n, beta, m2):  # Ramsauer et al.'s sufficient condition on the separation
        return 2 / (beta * n) + math.log(2 * (n - 1) * n * beta * m2) / beta

    def separations(X):
        gram = X @ X.T
        return [float(gram[i, i] - torch.cat([gram[i, :i], gram[i, i + 1:]]).max()) for i in range(len(X))]

    # the retrieval example: N random +-1 patterns in D = side^2, beta = 2
    n, d = q1.RETRIEVAL_PATTERNS, q1.RETRIEVAL_SIDE ** 2
    assert f"$N = {n}$ random $\\pm1$ patterns in $D = {d}$, so $M^2 = {d}$, at $\\beta = {q1.LARGE_BETA:g}$" in text
    assert f"\\approx {threshold(n, q1.LARGE_BETA, d):.2f}$" in text
    assert f"$1/(\\beta N M) = 1/{round(q1.LARGE_BETA * n * math.sqrt(d))}$" in text
    # the two-dimensional example of cccp_energy.png, drawn as plot_cccp_energy draws it
    X = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=q1.DTYPE) * 1.5
    m2 = float(torch.linalg.vector_norm(X, dim=1).max() ** 2)
    deltas = sorted(separations(X), reverse=True)
    assert f"the longest pattern has $M^2 = {m2:.1f}$" in text and f"\\approx {threshold(5, 2.0, m2):.2f}$" in text
    assert "The separations of the five patterns are " + ", ".join(f"${v:.2f}$" for v in deltas[:-1]) in text
    assert f" and ${deltas[-1]:.2f}$." in text
    assert sum(v >= threshold(5, 2.0, m2) for v in deltas) == 2  # "the first two meet the condition"
    # "the third misses it narrowly and is still retrieved"; a run started on either of the two shortest moves away
    ends = [q1.cccp_trajectory(X, x, 2.0)[-1] for x in X]
    retrieved = [float(torch.linalg.vector_norm(end - x)) < 0.01 for end, x in zip(ends, X)]
    by_separation = [r for _, r in sorted(zip(separations(X), retrieved), reverse=True)]
    assert by_separation == [True, True, True, False, False]


# ----------------------------------------------------------------------------- the numbers quoted in the Q3 prose

Q3_SEEDS = (42, 1, 2)


def _q3_json(name):
    return utils.read_json(ROOT / "results" / "q3" / name)


def _q3_mean(name, suffix, *keys):
    values = []
    for seed in Q3_SEEDS:
        record = _q3_json(f"{name}-seed{seed}-{suffix}.json")
        for key in keys:
            record = record[key]
        values.append(record)
    return sum(values) / len(values)


def test_q3_answers_quote_the_mean_test_scores():
    q3 = _page("q3.md")
    no_attn = [_q3_mean("no-attn", "test-beam5", "greedy", m) for m in ("cer", "wer")]
    attn = [_q3_mean("attn", "test-beam5", "greedy", m) for m in ("cer", "wer")]
    nucleus = [_q3_mean("attn", "test-topp0.8", "nucleus", m) for m in ("cer", "wer", "wer@3")]
    assert f"**Test CER {no_attn[0]:.3f}, WER {no_attn[1]:.3f}**" in q3
    assert f"**Test CER {attn[0]:.3f}, WER {attn[1]:.3f}**" in q3
    assert f"**Test CER {nucleus[0]:.3f}, WER {nucleus[1]:.3f}, WER@3 {nucleus[2]:.3f}**" in q3
    assert f"(CER {no_attn[0]:.3f} -> {attn[0]:.3f})" in q3
    best_epochs = [_q3_json(f"attn-seed{seed}-train.json")["best_epoch"] for seed in Q3_SEEDS]
    assert "The best epochs were {}, {} and {}.".format(*best_epochs) in q3


def test_q3_prose_quotes_the_expected_wer_at_3_and_its_draws():
    expected = [_q3_json(f"attn-seed{seed}-test-topp0.8.json")["nucleus_expected"]["wer@3"] for seed in Q3_SEEDS]
    drawn = [_q3_json(f"attn-seed{seed}-test-topp0.8.json")["nucleus"]["wer@3"] for seed in Q3_SEEDS]
    q3 = _page("q3.md")
    assert "{:.3f}, {:.3f} and {:.3f}\nfor the three seeds (mean {:.3f};".format(*expected, sum(expected) / 3) in q3
    assert "against draws of {:.3f},\n{:.3f} and {:.3f}".format(*drawn) in q3
    largest = max(abs(d - e) for d, e in zip(drawn, expected))
    assert f"within {largest:.3f} of its expectation" in q3 and largest < max(expected) - min(expected)


def test_q3_error_analysis_prose_quotes_its_json():
    attn = _q3_json("error_analysis.json")["attn"]
    q3 = _page("q3.md")
    wrong, only_case = attn["capitalised_wrong"], attn["capitalised_wrong_only_in_case"]
    assert f"Of those {wrong} errors, {only_case} ({only_case / wrong:.0%}) are in the capital alone" in q3
    share = attn["lower_case_given_a_capital"] / attn["lower_case_words"]
    assert f"capitalises {share:.0%} of the words written in lower" in q3
    (ch, n_ch), (ph, n_ph), (gh, n_gh) = attn["missed_h_digraphs"][:3]
    assert (ch, ph, gh) == ("ch", "ph", "gh")
    missed_h = dict((c, n) for c, n, _ in attn["most_missed"])["h"]
    assert f"account for\n  {n_ch}, {n_ph} and {n_gh} of the attention model's {missed_h} missed" in q3


def test_q3_ablation_prose_quotes_the_per_seed_validation_cer():
    def best(folder):
        return ", ".join(f"{utils.read_json(ROOT / folder / f'attn-seed{seed}-train.json')['best_val_cer']:.4f}"
                         for seed in Q3_SEEDS)

    q3 = " ".join(_page("q3.md").split())
    assert f"({best('results/q3/ablations/init_torch')} against {best('results/q3')})" in q3


def test_readme_results_tables_carry_the_results():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    summary = {row["label"]: row for row in utils.read_json(ROOT / "results" / "q3" / "summary.json")["test"]}

    def cell(stats):
        return f"{stats['mean']:.4f} ± {stats['std']:.4f}"

    for label, row_label, metrics in (("no attention, greedy", "No attention, greedy", ("cer", "wer")),
                                      ("attention, greedy", "Attention, greedy", ("cer", "wer")),
                                      ("attention, beam 5", "Attention, beam 5", ("cer", "wer")),
                                      ("attention, nucleus p = 0.8", "Attention, nucleus p=0.8", ("cer", "wer", "wer@3"))):
        assert f"| {label} | " + " | ".join(cell(summary[row_label][m]) for m in metrics) + " |" in readme
    runs = _q2_runs_at_best_rate()
    for label, batch_norm, key in (("Q2.1", False, "test_acc"), ("Q2.2, batch-norm statistics recomputed (ours)", True, "test_acc"),
                                   ("Q2.2, torch's running averages (the course's)", True, "test_acc_running_bn")):
        values = [runs[batch_norm, seed][key] for seed in Q2_SEEDS]
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        assert f"| {label} | {mean:.4f} ± {std:.4f} |" in readme
