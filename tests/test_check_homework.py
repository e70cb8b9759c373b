"""check_homework.py: our own folder passes, mutants of our files fail exactly the right checks,
checkpoint scores equal `hw2-q3.py test`'s, exit codes, JSON."""
import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import check_homework
import utils
from helpers import INTEL_SLICE, ROOT, q3, run_script, slice_data, train_briefly

Q3_FILES = ("models.py", "hw2-q3.py", "utils.py")
Q2_FILES = ("models.py", "hw2-q2.py", "utils.py")


def make_student(root, q3_patches=None, q2_patches=None, q3_dir="hw2-q3", q2_dir="hw2-q2"):
    """A student's folder made of copies of our files, with `{file: [(old, new), ...]}` patched in."""
    for subdir, files, patches in ((q3_dir, Q3_FILES, q3_patches or {}), (q2_dir, Q2_FILES, q2_patches or {})):
        target = Path(root) / subdir
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            text = (ROOT / name).read_text(encoding="utf-8")
            for old, new in patches.get(name, []):
                assert text.count(old) == 1, f"{name} holds {old!r} {text.count(old)} times: update the mutant"
                text = text.replace(old, new)
            (target / name).write_text(text, encoding="utf-8")
    return Path(root)


def check(folder, **options):
    settings = {"data_dir": None, "npz": None, "device": torch.device("cpu"), **options}
    results, scores, _ = check_homework.check_folder(Path(folder).resolve(), SimpleNamespace(**settings))
    return {r.id: r for r in results}, scores


@pytest.fixture
def fewer_draws(monkeypatch):
    """Fewer nucleus draws for folders whose hw2-q3.py is ours unchanged: the full 20,000 are
    drawn on our own folder and on the nucleus mutants."""
    monkeypatch.setattr(check_homework, "NUCLEUS_SUPPORT_DRAWS", 500)
    monkeypatch.setattr(check_homework, "NUCLEUS_FREQUENCY_DRAWS", 2000)


def failing(results):
    return {id for id, r in results.items() if r.status == "fail"}


def test_our_own_folder_passes_every_check():
    results, scores = check(ROOT, npz=INTEL_SLICE)
    assert all(r.status == "pass" for r in results.values()), {id: r.message for id, r in results.items()
                                                               if r.status != "pass"}
    assert {"q3.attention.formula", "q3.nucleus.frequencies", "q2.layout", "q2.params.bn"} <= results.keys()
    assert "W_s = self.W_s, W_h = self.W_h" in results["q3.attention.formula"].message
    assert "HWC" in results["q2.layout"].message
    assert len(scores) == sum(1 for id in results if id.startswith("q3.checkpoint.")) == 6
    assert sys.modules["utils"] is utils  # ours again after the student's (here: the same files) were unloaded


def test_a_real_checkpoint_scores_as_hw2_q3_test(tmp_path, fewer_draws):
    checkpoint = ROOT / "results" / "q3" / "attn-seed42.pt"
    folder = make_student(tmp_path)
    (folder / "hw2-q3" / checkpoint.name).symlink_to(checkpoint)
    _, scores = check(folder, data_dir=ROOT / "data")
    course = course_test_scores(checkpoint, ROOT / "data", tmp_path)
    assert (scores[0]["test_cer"], scores[0]["test_wer"]) == (course["cer"], course["wer"])


def test_an_unchanged_copy_in_subfolders_passes(tmp_path, fewer_draws):
    results, _ = check(make_student(tmp_path))
    assert not failing(results)
    assert results["q2.layout"].status == "skip"  # no --npz


MUTANTS = {
    "attention masked to 0": (
        {"models.py": [('e.masked_fill(~mask.unsqueeze(1), float("-inf"))', "e.masked_fill(~mask.unsqueeze(1), 0.0)")]},
        {}, {"q3.attention.padding", "q3.model.batch_invariance"}, "-inf"),
    "attention without a mask": (
        {"models.py": [('e = e.masked_fill(~mask.unsqueeze(1), float("-inf"))', "e = e")]},
        {}, {"q3.attention.padding", "q3.model.batch_invariance"}, "padding gets weight"),
    "reshape_state with the halves swapped": (
        {"models.py": [("torch.cat([part[0], part[1]], dim=-1)", "torch.cat([part[1], part[0]], dim=-1)")]},
        {}, {"q3.reshape_state"}, "swapped"),
    "dropout on the LSTM's input only": (
        {"models.py": [("return self.dropout(enc_output), (h, c)", "return enc_output, (h, c)"),
                       ("return self.dropout(lstm_output), dec_state, alpha", "return lstm_output, dec_state, alpha")]},
        {}, {"q3.dropout.placement"}, "never on the encoder outputs, decoder outputs"),
    "nucleus dropping the token that crosses p": (
        {"hw2-q3.py": [("kept = sorted_probs * (mass_before < p)", "kept = sorted_probs * (sorted_probs.cumsum(-1) < p)")]},
        {}, {"q3.nucleus.support", "q3.nucleus.frequencies"}, "crosses p"),
    "nucleus sampling the whole distribution": (
        {"hw2-q3.py": [("kept = sorted_probs * (mass_before < p)", "kept = sorted_probs")]},
        {}, {"q3.nucleus.support", "q3.nucleus.frequencies"}, "outside the top-p set"),
    "nucleus not implemented": (
        {"hw2-q3.py": [('renormalised distribution (1,); also (B, V) -> (B, 1)."""\n',
                        'renormalised distribution (1,); also (B, V) -> (B, 1)."""\n'
                        '    raise NotImplementedError("Add your implementation.")\n')]},
        {}, {"q3.nucleus.support", "q3.nucleus.frequencies"}, "NotImplementedError: Add your implementation. (at hw2-q3.py:"),
    "attention not implemented (as the skeleton)": (
        {"models.py": [("    def __init__(self, hidden_size):\n        super().__init__()\n",
                        '    def __init__(self, hidden_size):\n        super().__init__()\n'
                        '        raise NotImplementedError("Add your implementation.")\n')]},
        {}, {"q3.attention.shapes", "q3.attention.padding", "q3.attention.formula"},
        "NotImplementedError: Add your implementation. (at models.py:"),
    "hw2-q3.py with a syntax error": (
        {"hw2-q3.py": [("\nDECODE_BATCH_SIZE = 500", "\nDECODE_BATCH_SIZE = (500")]},
        {}, {"q3.import.script"}, "SyntaxError"),
    "a CNN with an extra layer": (
        {}, {"models.py": [("nn.Linear(1024, 512),\n", "nn.Linear(1024, 512),\n            nn.ReLU(),\n"
                                                        "            nn.Linear(512, 512),\n")]},
        {"q2.params.plain", "q2.params.bn"}, "linear 512->512"),
    "hw2-q2.py importing a missing package": (
        {}, {"hw2-q2.py": [("\nimport torch\n", "\nimport torch\nimport plotly.express as px\n")]},
        {"q2.import"}, "needs the package 'plotly'"),
    "a loader that reshapes HWC rows to (3, 48, 48)": (
        {}, {"utils.py": [("def load_intel(path, course_reshape=False,", "def load_intel(path, course_reshape=True,")]},
        {"q2.layout"}, "transpose, do not reshape"),
}


@pytest.mark.parametrize("name", MUTANTS)
def test_a_mutant_fails_exactly_its_checks(name, tmp_path, request):
    if "plotly" in name and importlib.util.find_spec("plotly"):
        pytest.skip("plotly is installed here")
    q3_patches, q2_patches, expected, hint = MUTANTS[name]
    if "hw2-q3.py" not in q3_patches:
        request.getfixturevalue("fewer_draws")
    results, _ = check(make_student(tmp_path, q3_patches, q2_patches), npz=INTEL_SLICE)
    assert failing(results) == expected, {id: results[id].message for id in failing(results)}
    assert any(hint in results[id].message for id in expected), [results[id].message for id in expected]
    assert all(len(r.message.splitlines()) == 1 for r in results.values())


def test_a_broken_import_skips_the_checks_that_need_it(tmp_path, fewer_draws):
    results, _ = check(make_student(tmp_path, {"hw2-q3.py": [("\nDECODE_BATCH_SIZE = 500", "\nDECODE_BATCH_SIZE = (500")]}))
    message = results["q3.import.script"].message
    assert "hw2-q3.py:" in message and "hw2-q3.py does not import" in message
    assert {results[id].status for id in ("q3.greedy_next_token", "q3.nucleus.support")} == {"skip"}
    assert results["q3.attention.formula"].status == "pass"  # models.py still imports and is checked


def test_each_folder_gets_its_own_modules(tmp_path, fewer_draws):
    broken = make_student(tmp_path / "a", {"models.py": [("torch.cat([part[0], part[1]], dim=-1)",
                                                          "torch.cat([part[1], part[0]], dim=-1)")]})
    fine = make_student(tmp_path / "b")
    assert "q3.reshape_state" in failing(check(broken)[0])
    assert "q3.reshape_state" not in failing(check(fine)[0])
    assert sys.modules["models"].__file__ == str(ROOT / "models.py")


@pytest.fixture(scope="module")
def trained_student(tmp_path_factory):
    """A student's folder, hw2/hw2-q3 deep, holding a course-style bare state_dict (attention) and one of
    our checkpoint dicts (no attention), and a data folder with the full train.tsv and 200 test words."""
    root = tmp_path_factory.mktemp("trained")
    make_student(root, q3_dir="hw2/hw2-q3", q2_dir="hw2/hw2-q2")
    q3_dir = root / "hw2" / "hw2-q3"
    data_dir = slice_data(root / "data", n_train=10 ** 6, n_eval=200)
    attn, _, src_vocab, tgt_vocab = train_briefly(use_attn=True)
    torch.save(attn.state_dict(), q3_dir / "attn.pt")
    plain, _, _, _ = train_briefly(use_attn=False)
    config = {"hidden_size": 32, "dropout": 0.1, "use_attn": False}
    utils.save_checkpoint(q3.checkpoint_payload(plain, config, src_vocab, tgt_vocab), q3_dir / "no-attn.pt")
    return root, q3_dir, data_dir


def course_test_scores(checkpoint, data_dir, results_dir, *flags):
    """What `hw2-q3.py test` scores for the checkpoint (run in this process: the same code, faster)."""
    q3.main(["test", "--checkpoint_name", str(checkpoint), "--data_dir", str(data_dir),
             "--results_dir", str(results_dir), "--no_progress", *flags])
    return utils.read_json(results_dir / f"{checkpoint.stem}-test-greedy.json")["greedy"]


def test_checkpoint_scores_equal_hw2_q3_test(trained_student, tmp_path, fewer_draws):
    root, q3_dir, data_dir = trained_student
    results, scores = check(root, data_dir=data_dir)
    assert {results[f"q3.checkpoint.{name}"].status for name in ("attn.pt", "no-attn.pt")} == {"pass"}
    assert results["q3.checkpoint.attn.pt"].question == "Q3.1b"
    by_file = {Path(s["file"]).name: s for s in scores}
    assert by_file["attn.pt"]["use_attn"] and not by_file["no-attn.pt"]["use_attn"]
    attn = course_test_scores(q3_dir / "attn.pt", data_dir, tmp_path, "--use_attn", "--hidden_size", "32")
    plain = course_test_scores(q3_dir / "no-attn.pt", data_dir, tmp_path)
    assert (by_file["attn.pt"]["test_cer"], by_file["attn.pt"]["test_wer"]) == (attn["cer"], attn["wer"])
    assert (by_file["no-attn.pt"]["test_cer"], by_file["no-attn.pt"]["test_wer"]) == (plain["cer"], plain["wer"])
    assert "Test CER: " in results["q3.checkpoint.attn.pt"].message


def test_a_checkpoint_of_other_modules_fails_with_its_keys(trained_student, tmp_path, fewer_draws):
    root, q3_dir, data_dir = trained_student
    folder = make_student(tmp_path)
    state_dict = torch.load(q3_dir / "attn.pt", weights_only=True)
    renamed = {key.replace("decoder.attn.W_s", "decoder.attn.query_proj"): value for key, value in state_dict.items()}
    torch.save(renamed, folder / "hw2-q3" / "old.pt")
    results, scores = check(folder, data_dir=data_dir)
    assert failing(results) == {"q3.checkpoint.old.pt"} and not scores
    assert "keys don't match" in results["q3.checkpoint.old.pt"].message
    assert "decoder.attn.query_proj.weight" in results["q3.checkpoint.old.pt"].message


def test_command_line_json_and_exit_codes(trained_student, tmp_path):
    root, _, data_dir = trained_student
    broken = make_student(tmp_path / "broken", {"models.py": [("torch.cat([part[0], part[1]], dim=-1)",
                                                               "torch.cat([part[1], part[0]], dim=-1)")]})
    report = tmp_path / "out" / "report.json"
    run = run_script(ROOT / "check_homework.py", root, broken, "--json", report, "--data_dir", data_dir)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "FAIL  q3.reshape_state" in run.stdout and "PASS  q3.attention.formula" in run.stdout
    assert "Totals: " in run.stdout and "folder" in run.stdout.splitlines()[-3]  # the summary table
    folders = json.loads(report.read_text())["folders"]
    assert [f["folder"] for f in folders] == [str(root), str(broken)]
    checks = {c["id"]: c for c in folders[1]["checks"]}
    assert checks["q3.reshape_state"]["status"] == "fail" and checks["q3.reshape_state"]["question"] == "Q3.1a"
    assert set(checks["q3.reshape_state"]) == {"id", "question", "status", "message"}
    assert {Path(c["file"]).name for c in folders[0]["checkpoints"]} == {"attn.pt", "no-attn.pt"}
    assert set(folders[0]["checkpoints"][0]) == {"file", "use_attn", "test_cer", "test_wer"}
    assert [p.name for p in report.parent.iterdir()] == ["report.json"]  # written in one rename


def test_nothing_failed_exits_0(tmp_path, capsys, fewer_draws):
    folder = make_student(tmp_path / "student")
    report = tmp_path / "report.json"
    report.write_text("old")
    assert utils.run_main(check_homework.main, [str(folder), "--json", str(report)]) == 0
    assert json.loads(report.read_text())["folders"][0]["folder"] == str(folder)
    assert "0 failed" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["{tmp}/missing"], "no such folder"),
    (["{tmp}"], "nothing to check"),
    (["{tmp}", "--npz", "{tmp}/none.npz"], "no such file"),
    (["{root}", "--device", "tpu"], "--device tpu"),
    ([], "required"),
])
def test_bad_command_lines_exit_2_with_one_line(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        utils.run_main(check_homework.main, [a.format(tmp=tmp_path, root=ROOT) for a in argv])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
