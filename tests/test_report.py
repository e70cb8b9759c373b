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
