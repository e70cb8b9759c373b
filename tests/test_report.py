"""The report's pages and the README are written from their templates and the results JSONs."""
import re

import pytest

import utils
from helpers import ROOT
from report import make_report


def q2_run(results_dir, name, test_acc, val_acc, **extra):
    """A results.json of hw2-q2.py, reduced to what the tables read."""
    record = {"args": {"learning_rate": float(re.search(r"lr([\d.]+)", name)[1]), "seed": int(re.search(r"seed(\d+)", name)[1])},
              "status": "completed", "n_params": 755_718 if name.startswith("q22") else 5_340_742,
              "train_loss": [1.0, 0.5], "val_acc": [0.5, val_acc], "test_acc": test_acc, "best_val_epoch": 2,
              "best_val_acc": val_acc, "test_acc_at_best_val": test_acc, "epoch_seconds": [40.0, 42.0], **extra}
    utils.write_json(results_dir / "q2" / name / "results.json", record)


@pytest.fixture
def sweep(tmp_path):
    """The three Q2.1 runs of the sweep, 0.01 the best."""
    for lr, val_acc in (("0.1", 0.70), ("0.01", 0.81), ("0.001", 0.79)):
        q2_run(tmp_path, f"q21-lr{lr}-seed42", test_acc=val_acc - 0.01, val_acc=val_acc)
    return tmp_path


def test_placeholders_are_formatted_results(sweep):
    results = make_report.Results(sweep)
    text = "best {{ R.best_lr() | g }}, acc {{ R.q2('Q2.1')['test_acc'] | .3f }}, {{ 2 + 3 }}\n"
    assert make_report.render(text, results) == "best 0.01, acc 0.800, 5\n"


def test_a_bad_placeholder_names_the_template_line_and_the_error(sweep):
    results = make_report.Results(sweep)
    with pytest.raises(utils.UserError, match=r"q9\.md\.in:2: \{\{ R\.nope\(\) \}\} failed: AttributeError"):
        make_report.render("fine\n{{ R.nope() }}\n", results, source="q9.md.in")
    with pytest.raises(utils.UserError, match="unknown table 'nope'"):
        make_report.render('{{ table("nope") }}', results)


def test_missing_results_name_the_file(tmp_path):
    with pytest.raises(utils.UserError, match=r"q21-lr0\.1-seed42/results\.json: no such file"):
        make_report.render("{{ R.best_lr() }}", make_report.Results(tmp_path))


def test_q2_tables_carry_the_json_numbers_and_say_what_is_missing(sweep):
    q2_run(sweep, "q22-lr0.01-seed42", test_acc=0.8612, val_acc=0.85)
    q2_run(sweep, "q21-lr0.01-seed1", test_acc=0.8000, val_acc=0.82)
    results = make_report.Results(sweep)
    table = make_report.q2_sweep(results)
    assert "| Q2.1 lr 0.01 | 0.01 | 42 | 0.5000 | 0.8100 | 0.8000 | 2 | 0.8100 | 0.8000 | 5,340,742 | 41.0 |" in table
    seeds = make_report.q2_seeds(results).splitlines()[2:]
    assert seeds == ["| Q2.1 | 42 | 0.8100 | 0.8000 |", "| Q2.1 | 1 | 0.8200 | 0.8000 |",
                     "| Q2.1 | 2 | not run yet (`make q2`) | |", "| Q2.1 | mean ± std | 0.8150 ± 0.0071 | 0.8000 ± 0.0000 |",
                     "| Q2.2 | 42 | 0.8500 | 0.8612 |", "| Q2.2 | 1 | not run yet (`make q2`) | |",
                     "| Q2.2 | 2 | not run yet (`make q2`) | |"]
    assert results.q2_missing() == ["q21-lr0.01-seed2", "q22-lr0.01-seed1", "q22-lr0.01-seed2"]
    options = make_report.q2_options(results)
    assert "| Q2.2 | none: the course's recipe | - | 0.8500 | 0.8612 | - |" in options
    assert "| Q2.2 | `-bn_stats recomputed` | statistics recomputed for each evaluation | not run yet" in options
    assert "not there yet" in make_report.q2_bn_stats(results)


def test_batch_norm_statistics_table_shows_both_estimates_of_one_run(sweep):
    q2_run(sweep, "q22-lr0.01-seed42-bn-stats-recomputed", test_acc=0.8612, val_acc=0.89,
           val_acc_running_bn=[0.4, 0.8], test_acc_running_bn=0.7777)
    lines = make_report.q2_bn_stats(make_report.Results(sweep)).splitlines()
    assert lines[2:] == ["| torch's running averages (the course's) | 0.7777 | 0.8000 | 0.4000–0.8000 |",
                         "| recomputed over 2,048 training images | 0.8612 | 0.8900 | 0.5000–0.8900 |"]


def test_every_number_of_the_q1_table_is_in_its_json():
    rows = utils.read_json(ROOT / "results" / "q1" / "checks.json")["rows"]
    table = make_report.q1_checks(make_report.Results(ROOT / "results"))
    for row, line in zip(rows, table.splitlines()[2:]):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert float(cells[2]) == pytest.approx(row["error"], rel=0.06, abs=1e-300)
        assert float(cells[3]) == row["tolerance"] and cells[4] == ("PASS" if row["passed"] else "FAIL")
        assert re.sub("&#124;", "|", cells[1]) == row["check"]


def test_q3_sample_table_lists_the_json_examples(tmp_path):
    examples = [{"spelling": "scare", "samples": ["scare", "schar"]}, {"spelling": "yokel", "samples": ["Yochel", "yocal"]}]
    utils.write_json(tmp_path / "q3" / "attn-seed42-test-topp0.8.json", {"nucleus": {"examples": examples}})
    table = make_report.q3_samples(make_report.Results(tmp_path))
    assert table.splitlines()[2:] == ["| scare | scare, schar |", "| yokel | Yochel, yocal |"]


def test_committed_pages_are_what_make_report_writes(tmp_path):
    """Every page and the README, rendered from the committed results, equal the committed files."""
    results = make_report.Results(ROOT / "results")
    for page in make_report.PAGES:
        template = (ROOT / f"{page}.in").read_text(encoding="utf-8")
        rendered = make_report.render(template, results, source=f"{page}.in")
        assert rendered == (ROOT / page).read_text(encoding="utf-8"), f"{page} is stale: run `make report`"


def test_readme_stays_under_8_kb():
    assert len((ROOT / "README.md").read_bytes()) <= 8 * 1024
