"""The report's pages and the README are written from their templates, the results JSONs and the code;
scripts/q2_features.py draws the companion's Q2.2 figures."""
import re

import pytest
import torch

import utils
from helpers import INTEL_SLICE, ROOT
from models import CNN
from report import make_report
from scripts import q2_features


def q2_run(results_dir, name, test_acc, val_acc, **extra):
    """A results.json of hw2-q2.py, reduced to what the tables read."""
    record = {"args": {"learning_rate": float(re.search(r"lr([\d.]+)", name)[1]), "seed": int(re.search(r"seed(\d+)", name)[1])},
              "status": "completed", "n_params": 755_718 if name.startswith("q22") else 5_340_742,
              "train_loss": [1.0, 0.5], "val_loss": [1.2, 0.9], "val_acc": [0.5, val_acc], "test_acc": test_acc, "best_val_epoch": 2,
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
    assert make_report.q2_sweep(results).splitlines()[2:] == [
        "| 0.1 | 0.500 | 0.700 | 0.700 (2) | 0.690 |",
        "| **0.01** | 0.500 | 0.810 | 0.810 (2) | 0.800 |",
        "| 0.001 | 0.500 | 0.790 | 0.790 (2) | 0.780 |"]
    networks = make_report.q2_networks(results)
    assert "| trainable parameters | 5,340,742 | 755,718 |" in networks
    assert "| test accuracy, seeds 42 / 1 / 2 | 0.800 / 0.800 / not run yet | 0.861 / not run yet / not run yet |" \
        in networks
    assert "| test accuracy, mean ± std | 0.800 ± 0.000 | 0.861 ± 0.000 |" in networks
    assert results.q2_missing() == ["q21-lr0.01-seed2", "q22-lr0.01-seed1", "q22-lr0.01-seed2"]
    options = make_report.q2_options(results)
    assert "| Q2.2 | none: the course's recipe | - | 0.850 | 0.861 | - |" in options
    assert "| Q2.2 | `-bn_stats recomputed` | statistics recomputed for each evaluation | not run yet" in options
    assert "not there yet" in make_report.q2_bn_stats(results)


def test_parameter_table_sums_to_the_runs_counts_and_refuses_a_mismatch(sweep):
    q2_run(sweep, "q22-lr0.01-seed42", test_acc=0.8612, val_acc=0.85)
    table = make_report.q2_parameters(make_report.Results(sweep)).splitlines()
    assert table[2] == "| conv1: 3 → 32 channels, 3 × 3 | 896 | 896 |"
    assert "| fc1: 4,608 (Q2.1) or 128 (Q2.2) → 1,024 | 4,719,616 | 132,096 |" in table
    assert table[-1] == "| **total** | **5,340,742** | **755,718** |"
    q2_run(sweep, "q22-lr0.01-seed42", test_acc=0.8612, val_acc=0.85, n_params=1)
    with pytest.raises(utils.UserError, match="models.py counts"):
        make_report.q2_parameters(make_report.Results(sweep))


def test_q3_results_tables_have_each_seed_then_mean_and_std_and_the_peers_range(tmp_path):
    peers = {"groups": [], "no-attn cer": {"n": 2, "min": 0.2926, "max": 0.3213, "median": 0.3046},
             "no-attn wer": {"n": 2, "min": 0.795, "max": 0.817, "median": 0.802}}
    utils.write_json(tmp_path / "peers.json", {"q3": peers})
    for name, cer in (("no-attn", 0.30), ("attn", 0.20)):
        for k, seed in enumerate((42, 1, 2)):
            record = {"greedy": {"cer": cer + k / 100, "wer": 0.7 + k / 100}}
            utils.write_json(tmp_path / "q3" / f"{name}-seed{seed}-test-beam5.json", record)
            if name == "attn":
                record = {"nucleus": {"cer": 0.25, "wer": 0.75, "wer@3": 0.6 + k / 100}}
                utils.write_json(tmp_path / "q3" / f"attn-seed{seed}-test-topp0.8.json", record)
    results = make_report.Results(tmp_path)
    lines = make_report.TABLES["q3-no-attn"](results).splitlines()
    assert lines[0] == "| test set | seed 42 | seed 1 | seed 2 | mean ± std | submissions: min–max (median) |"
    assert lines[2] == "| CER | 0.3000 | 0.3100 | 0.3200 | 0.3100 ± 0.0100 | 0.2926–0.3213 (0.3046) |"
    assert lines[3] == "| WER | 0.700 | 0.710 | 0.720 | 0.710 ± 0.010 | 0.795–0.817 (0.802) |"
    lines = make_report.TABLES["q3-nucleus"](results).splitlines()
    assert lines[0] == "| test set | seed 42 | seed 1 | seed 2 | mean ± std |"  # no submission scored nucleus
    assert lines[-1] == "| WER@3 | 0.600 | 0.610 | 0.620 | 0.610 ± 0.010 |"


SOURCE = '''"""A module."""
import functools


def plain(x):
    """Its docstring."""
    return x + 1  # why: a comment stays


class Model:
    """A class docstring."""

    def __init__(self):
        self.w = 2

    @functools.lru_cache
    def forward(self, x):
        """Another docstring,
        on two lines."""
        return self.w * x

    def step(self, x):
        return x
'''


def test_a_code_excerpt_is_found_by_name_without_its_docstrings(tmp_path):
    (tmp_path / "module.py").write_text(SOURCE, encoding="utf-8")
    excerpt = make_report.code_excerpt("module.py", ["plain"], root=tmp_path)
    assert excerpt == "```python\ndef plain(x):\n    return x + 1  # why: a comment stays\n```"
    whole_class = make_report.code_excerpt("module.py", ["Model"], root=tmp_path)
    assert "docstring" not in whole_class and "def __init__" in whole_class and "def step" in whole_class


def test_methods_come_under_their_class_header_once_with_decorators(tmp_path):
    (tmp_path / "module.py").write_text(SOURCE, encoding="utf-8")
    excerpt = make_report.code_excerpt("module.py", ["Model.forward", "Model.step", "plain"], root=tmp_path)
    assert excerpt.splitlines() == [
        "```python", "class Model:", "    ...", "", "    @functools.lru_cache", "    def forward(self, x):",
        "        return self.w * x", "", "    def step(self, x):", "        return x", "```", "",
        "```python", "def plain(x):", "    return x + 1  # why: a comment stays", "```"]


@pytest.mark.parametrize("line, width, expected", [
    ("x = 1  # short", 40, ["x = 1  # short"]),
    ("    y = f(a)  # a comment that makes the line too long", 30, ["    # a comment that makes the line too long",
                                                                   "    y = f(a)"]),
    ("z = conv(alpha, beta, gamma=1, delta=2)", 26, ["z = conv(alpha, beta,", "         gamma=1, delta=2)"]),
    ("w = g(h(aa, bb), 'x, y', cc, dd)", 20, ["w = g(h(aa, bb),", "      'x, y', cc,", "      dd)"]),
    ("v = 'a string, with commas, is not broken'", 20, ["v = 'a string, with commas, is not broken'"]),
    ("u = f(a, g(bbbbbbbb, cccccccc), d)", 24, ["u = f(a, g(bbbbbbbb,", "           cccccccc), d)"]),
])
def test_a_long_code_line_is_broken_as_a_programmer_would(line, width, expected):
    assert make_report.fitted(line, width) == expected


def test_broken_lines_are_the_same_python(tmp_path):
    """Every excerpt of the report, as broken for the PDF, parses to the same syntax tree as the source."""
    import ast
    import textwrap
    for path, names in (("models.py", ["ConvBlock", "CNN", "BahdanauAttention"]),
                        ("hw2-q3.py", ["nucleus_distribution", "nucleus_sampling"])):
        source = (ROOT / path).read_text(encoding="utf-8")
        tree = ast.parse(source)
        for name in names:
            node = next(n for n in tree.body if getattr(n, "name", None) == name)
            original = textwrap.dedent(ast.get_source_segment(source, node))
            broken = "\n".join(part for line in original.splitlines() for part in make_report.fitted(line, 60))
            assert ast.dump(ast.parse(broken)) == ast.dump(ast.parse(original)), name


def test_paired_t_matches_known_p_values():
    assert make_report.student_t_p_value(2.228, 10) == pytest.approx(0.05, abs=2e-4)
    assert make_report.student_t_p_value(12.706, 1) == pytest.approx(0.05, abs=2e-4)
    t = 2.9  # df 2 has a closed form: p = 1 - t / sqrt(2 + t^2)
    assert make_report.student_t_p_value(t, 2) == pytest.approx(1 - t / (2 + t * t) ** 0.5, rel=1e-9)
    result = make_report.paired_t([0.82, 0.84, 0.80], [0.80, 0.80, 0.78])
    assert result["df"] == 2 and result["mean"] == pytest.approx(0.08 / 3)
    assert result["t"] == pytest.approx(result["mean"] / (result["std"] / 3 ** 0.5))


def test_every_q1_check_has_its_maths_and_a_new_one_is_refused(tmp_path):
    rows = utils.read_json(ROOT / "results" / "q1" / "checks.json")["rows"]
    assert all(row["check"] in make_report.CHECK_MATH for row in rows)
    utils.write_json(tmp_path / "q1" / "checks.json", {"rows": [{"check": "a new check", "error": 0.0,
                                                                 "tolerance": 1e-9, "passed": True}]})
    with pytest.raises(utils.UserError, match="no maths for the check 'a new check'"):
        make_report.q1_checks(make_report.Results(tmp_path))


def test_speed_table_is_ratios_of_the_bench_files():
    results = make_report.Results(ROOT / "results")
    bench = results.bench()
    table = make_report.speed(results)
    ratio = bench["attention", "greedy"] / bench["attention", "one word"]
    assert f"| {ratio:.1f} |" in table and " s " not in table


def test_a_name_the_code_lacks_is_one_clear_error(tmp_path):
    (tmp_path / "module.py").write_text(SOURCE, encoding="utf-8")
    for name in ("Encoder.forward", "Model.backward", "plain.inner"):
        with pytest.raises(utils.UserError, match=rf"module\.py: no definition '{re.escape(name)}'"):
            make_report.code_excerpt("module.py", [name], root=tmp_path)


def test_the_report_quotes_the_graded_code_as_it_is():
    """Each excerpt of the pages is the current source of what it names (the pages are rendered from it)."""
    text = (ROOT / "report" / "q3.md").read_text(encoding="utf-8")
    assert make_report.code_excerpt("models.py", ["BahdanauAttention"]) in text
    assert make_report.code_excerpt("hw2-q3.py", ["nucleus_distribution", "nucleus_sampling"]) in text


def test_batch_norm_statistics_table_shows_both_estimates_of_one_run(sweep):
    q2_run(sweep, "q22-lr0.01-seed42-bn-stats-recomputed", test_acc=0.8612, val_acc=0.89,
           val_acc_running_bn=[0.4, 0.8], test_acc_running_bn=0.7777)
    lines = make_report.q2_bn_stats(make_report.Results(sweep)).splitlines()
    assert lines[2:] == ["| torch's running averages (the course's) | 0.778 | 0.800 | 0.400–0.800 |",
                         "| recomputed over 2,048 training images | 0.861 | 0.890 | 0.500–0.890 |"]


def test_every_number_of_the_q1_table_is_in_its_json():
    rows = utils.read_json(ROOT / "results" / "q1" / "checks.json")["rows"]
    table = make_report.q1_checks(make_report.Results(ROOT / "results"))

    def number(cell):  # "$1.2 \\times 10^{-15}$" or "0"
        match = re.fullmatch(r"\$([\d.]+) \\times 10\^\{(-?\d+)\}\$", cell)
        return float(match[1]) * 10 ** int(match[2]) if match else float(cell)

    for row, line in zip(rows, table.splitlines()[2:]):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert number(cells[2]) == pytest.approx(row["error"], rel=0.06, abs=1e-300)
        assert number(cells[3]) == row["tolerance"] and cells[4] == ("pass" if row["passed"] else "FAIL")
        assert cells[1] == make_report.CHECK_MATH[row["check"]]


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


def test_q2_features_draws_both_figures_from_a_state_dict(tmp_path):
    torch.manual_seed(0)
    torch.save(CNN(0.1, batch_norm=True).state_dict(), tmp_path / "model.pt")
    q2_features.main(["--checkpoint", str(tmp_path / "model.pt"), "--data_path", str(INTEL_SLICE),
                      "--out", str(tmp_path)])
    for stem in ("first_layer_filters", "activation_maps"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 0 and (tmp_path / f"{stem}.pdf").is_file()


def test_q2_features_without_its_checkpoint_says_which_run_makes_it(tmp_path):
    with pytest.raises(utils.UserError, match=r"no such checkpoint; `make q2` trains Q2.2"):
        q2_features.main(["--checkpoint", str(tmp_path / "missing.pt")])


PEERS = """| group | no attention: CER | WER | attention: CER | WER |
|---|---|---|---|---|
| A | 0.2926 | 0.7950 | 0.2410 | 0.7840 |
| B | 0.3006 | 0.7980 | 0.2041 | 0.7190 |
| I | - | - | 0.2192 | 0.7410 |

Summary: without attention (2 groups) CER 0.2926-0.3006, median 0.2966; WER
0.7950-0.7980, median 0.7965. With attention (3 groups) CER 0.2041-0.2410, median
0.2192; WER 0.7190-0.7840, median 0.7410.
"""


def test_peer_scores_reads_the_groups_and_checks_the_files_summary(tmp_path):
    from scripts import peer_scores
    (tmp_path / "peers.md").write_text(PEERS, encoding="utf-8")
    peer_scores.main(["--peers", str(tmp_path / "peers.md"), "--out", str(tmp_path / "peers.json")])
    q3 = utils.read_json(tmp_path / "peers.json")["q3"]
    assert [g["group"] for g in q3["groups"]] == ["A", "B", "I"] and q3["groups"][2]["no-attn cer"] is None
    assert q3["no-attn cer"] == {"n": 2, "min": 0.2926, "max": 0.3006, "median": pytest.approx(0.2966)}
    (tmp_path / "peers.md").write_text(PEERS.replace("0.2192;", "0.2200;"), encoding="utf-8")
    with pytest.raises(utils.UserError, match="is not what its table gives"):
        peer_scores.main(["--peers", str(tmp_path / "peers.md"), "--out", str(tmp_path / "peers.json")])
