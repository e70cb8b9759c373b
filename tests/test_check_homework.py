"""check_homework.py: our own folder passes, mutants of our files fail exactly their own check (and
correct variants fail nothing), checkpoint scores equal `hw2-q3.py test`'s, a folder that hangs or
kills its process fails one line while the batch goes on, exit codes, JSON and CSV."""
import csv
import importlib.util
import json
import re
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import check_homework
import utils
from checker import checkpoints, layout, q3_checks
from checker.folder import PARTS, Check, check_folder, judge
from checker.student import Student
from helpers import INTEL_SLICE, ROOT, q3, run_script, slice_data, train_briefly
from mutants import MUTANTS, UNSEEN_KINDS
from skeleton_students import SKELETON
from student_copies import SKELETON_Q2, SKELETON_Q3, make_student

def check(folder, parts=PARTS, **options):
    settings = {"data_dir": None, "npz": None, "device": torch.device("cpu"), **options}
    report = check_folder(Path(folder).resolve(), SimpleNamespace(**settings), parts)
    return {r.id: r for r in report.results}, report.checkpoints


@pytest.fixture
def fewer_draws(monkeypatch):
    """Fewer nucleus draws for folders whose sampling is ours unchanged: the full 6,000 are
    drawn on our own folder and on the nucleus mutants."""
    monkeypatch.setattr(q3_checks, "NUCLEUS_SUPPORT_DRAWS", 500)
    monkeypatch.setattr(q3_checks, "NUCLEUS_FREQUENCY_DRAWS", 2000)


def with_status(results, status):
    return {id for id, r in results.items() if r.status == status}


def test_our_own_folder_passes_every_check():
    results, scores = check(ROOT, npz=INTEL_SLICE)
    assert all(r.status == "pass" for r in results.values()), {id: r.message for id, r in results.items()
                                                               if r.status != "pass"}
    assert {"q3.attention.formula", "q3.nucleus.frequencies", "q2.layout", "q2.params.bn", "q2.signature",
            "q2.maxpool_switch", "q2.dropout.placement", "q2.block.order"} <= results.keys()
    assert "W_s = self.W_s, W_h = self.W_h, v = self.v, W_out = self.W_out" in results["q3.attention.formula"].message
    assert "HWC" in results["q2.layout"].message
    assert len(scores) == sum(1 for id in results if id.startswith("q3.checkpoint.")) == 6
    assert all(s[f"expected_test_wer@{checkpoints.K}"] is not None for s in scores if s["use_attn"])
    assert sys.modules["utils"] is utils  # ours again after the student's (here: the same files) were unloaded


def test_a_real_checkpoint_scores_as_the_course_driver_on_the_course_data_by_default(tmp_path, fewer_draws):
    checkpoint = ROOT / "results" / "q3" / "attn-seed42.pt"
    folder = make_student(tmp_path)
    (folder / "hw2-q3" / checkpoint.name).symlink_to(checkpoint)
    results, _ = check(folder)  # no --data_dir: the course's files beside check_homework.py
    assert results[f"q3.checkpoint.{checkpoint.name}"].status == "pass"
    message = results[f"q3.checkpoint.{checkpoint.name}"].message
    assert "with the statement's nucleus rule at p = 0.8" in message and "your nucleus_sampling" not in message
    assert "on 1000 words" in message and f"the course's data in {ROOT / 'data'}" in message
    data_dir = slice_data(tmp_path / "data", n_train=10 ** 6, n_eval=100)  # the course decodes a word at a time
    _, scores = check(folder, data_dir=data_dir)
    course = course_driver_scores(checkpoint, folder / "hw2-q3", data_dir, tmp_path, "--use_attn")
    assert (scores[0]["test_cer"], scores[0]["test_wer"]) == pytest.approx(course, abs=5e-5)


def test_a_checkpoints_expected_wer_says_the_students_failing_sampler_gives_other_numbers(tmp_path):
    """The expected WER and WER@3 beside a checkpoint follow the statement's nucleus rule, not the student's
    sampler; where that sampler fails its checks, the line says so. The checkpoint's line stays a PASS:
    the sampler's fault is the nucleus checks' FAIL, not counted twice."""
    checkpoint = ROOT / "results" / "q3" / "attn-seed42.pt"
    folder = make_student(tmp_path, MUTANTS["nucleus dropping the token that crosses p"].q3)
    (folder / "hw2-q3" / checkpoint.name).symlink_to(checkpoint)
    results, scores = check(folder)
    assert with_status(results, "fail") == {"q3.nucleus.support", "q3.nucleus.frequencies"}
    verdict = results[f"q3.checkpoint.{checkpoint.name}"]
    assert verdict.status == "pass", verdict.message
    assert (f"with the statement's nucleus rule at p = 0.8, expected over the sampling: Test WER "
            f"{scores[0]['expected_test_wer']:.4f}, Test WER@3 {scores[0]['expected_test_wer@3']:.4f}; your "
            f"nucleus_sampling fails its checks, so it gives other numbers") in verdict.message


def test_an_unchanged_copy_in_subfolders_passes(tmp_path, fewer_draws):
    results, _ = check(make_student(tmp_path))
    assert not with_status(results, "fail") and not with_status(results, "warn")
    assert results["q2.layout"].status == "skip"  # no --npz


@pytest.mark.parametrize("name", [*MUTANTS, *UNSEEN_KINDS])
def test_a_mutant_gets_its_predicted_verdicts(name, tmp_path, request):
    if "plotly" in name and importlib.util.find_spec("plotly"):
        pytest.skip("plotly is installed here")
    mutant = {**MUTANTS, **UNSEEN_KINDS}[name]
    if not mutant.touches_sampling():
        request.getfixturevalue("fewer_draws")
    parts = [part for part, edits in zip(PARTS, (mutant.q3, mutant.q2)) if edits]  # a mutant is of one question's files
    results, _ = check(make_student(tmp_path, mutant.q3, mutant.q2), parts, npz=INTEL_SLICE)
    assert with_status(results, "fail") == mutant.failing, {id: results[id].message
                                                            for id in with_status(results, "fail")}
    assert with_status(results, "warn") == {id for id, (status, _) in mutant.expected.items() if status == "warn"}
    for id, (status, hint) in mutant.expected.items():
        assert (results[id].status, hint in results[id].message) == (status, True), results[id].message
    assert all(len(r.message.splitlines()) == 1 for r in results.values())


def test_a_crash_of_the_checker_is_a_skip_and_a_crash_of_the_student_is_a_fail(tmp_path):
    folder = make_student(tmp_path, {"models.py": [("reshape_state", "def reshape_state(state):\n"
                                                                      "    return {}['missing']\n")]})
    spec = importlib.util.spec_from_file_location("student_models", folder / "hw2-q3" / "models.py")
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    st = Student(folder / "hw2-q3", torch.device("cpu"), models=models)
    finding = judge(Check("theirs", "Q3", "models", q3_checks.check_reshape_state), st, (), {})
    assert finding.status == "fail" and str(finding).startswith("raises KeyError: 'missing' (at models.py:")
    assert "in reshape_state)" in str(finding)
    finding = judge(Check("ours", "Q3", "models", lambda st: torch.zeros(2) + torch.zeros(3)), st, (), {})
    assert finding.status == "skip" and "the checker could not handle" in str(finding) and "tests/" not in str(finding)


def test_a_broken_import_skips_the_checks_that_need_it(tmp_path, fewer_draws):
    results, _ = check(make_student(tmp_path, MUTANTS["hw2-q3.py with a syntax error"].q3))
    message = results["q3.import.script"].message
    assert "hw2-q3.py:" in message and "hw2-q3.py does not import" in message
    assert {results[id].status for id in ("q3.greedy_next_token", "q3.nucleus.support")} == {"skip"}
    assert results["q3.attention.formula"].status == "pass"  # models.py still imports and is checked


def test_each_folder_gets_its_own_modules(tmp_path, fewer_draws):
    broken = make_student(tmp_path / "a", MUTANTS["reshape_state with the halves swapped"].q3)
    fine = make_student(tmp_path / "b")
    assert "q3.reshape_state" in with_status(check(broken)[0], "fail")
    assert "q3.reshape_state" not in with_status(check(fine)[0], "fail")
    assert sys.modules["models"].__file__ == str(ROOT / "models.py")


@pytest.fixture(scope="module")
def trained_student(tmp_path_factory):
    """A student's folder, hw2/hw2-q3 deep, holding a bare state_dict (attention) and one with this
    project's JSON beside it (no attention), and a data folder with the full train.tsv and 200 test words."""
    root = tmp_path_factory.mktemp("trained")
    make_student(root, q3_dir="hw2/hw2-q3", q2_dir="hw2/hw2-q2")
    q3_dir = root / "hw2" / "hw2-q3"
    data_dir = slice_data(root / "data", n_train=10 ** 6, n_eval=200)
    attn, _, src_vocab, tgt_vocab = train_briefly(use_attn=True)
    torch.save(attn.state_dict(), q3_dir / "attn.pt")
    plain, _, _, _ = train_briefly(use_attn=False)
    config = {"model": {"hidden_size": 32, "dropout": 0.1, "use_attn": False},
              "src_vocab": src_vocab.itos, "tgt_vocab": tgt_vocab.itos}
    utils.save_checkpoint(plain, q3_dir / "no-attn.pt", config)
    return root, q3_dir, data_dir


def our_driver_scores(checkpoint, data_dir, results_dir, *flags):
    """What this project's `hw2-q3.py test` reports for the checkpoint (in this process): for the exact
    expected nucleus scores, which the course's driver, drawing once, cannot give."""
    q3.main(["test", "--checkpoint_name", str(checkpoint), "--data_dir", str(data_dir),
             "--results_dir", str(results_dir), "--no_progress", *flags])
    suffix = f"topp{flags[flags.index('--topp') + 1]}" if "--topp" in flags else "greedy"
    result = utils.read_json(results_dir / f"{checkpoint.stem}-test-{suffix}.json")
    return result["nucleus_expected"] if "--topp" in flags else result["greedy"]


def course_driver_scores(checkpoint, models_dir, data_dir, scratch, *flags):
    """(CER, WER) that the course's own `hw2-q3.py test` prints for the checkpoint: the skeleton's driver and
    data.py beside the folder's models.py, run as the statement runs it."""
    folder = Path(scratch) / "course-driver"
    folder.mkdir(exist_ok=True)
    for name in ("hw2-q3.py", "data.py"):
        shutil.copy(SKELETON / "hw2-q3" / name, folder / name)
    shutil.copy(models_dir / "models.py", folder / "models.py")
    run = run_script(folder / "hw2-q3.py", "test", "--checkpoint_name", checkpoint, "--data_dir", data_dir, *flags,
                     cwd=folder)
    printed = re.search(r"Test CER: ([\d.]+), Test WER: ([\d.]+)", run.stdout)
    assert printed, run.stderr
    return float(printed[1]), float(printed[2])


def test_checkpoint_scores_equal_the_course_drivers(trained_student, tmp_path, fewer_draws):
    root, q3_dir, _ = trained_student
    data_dir = slice_data(tmp_path / "data", n_train=10 ** 6, n_eval=40)  # the course decodes a word at a time
    results, scores = check(root, data_dir=data_dir)
    assert {results[f"q3.checkpoint.{name}"].status for name in ("attn.pt", "no-attn.pt")} <= {"pass", "warn"}
    assert results["q3.checkpoint.attn.pt"].question == "Q3.1b"
    by_file = {Path(s["file"]).name: s for s in scores}
    assert by_file["attn.pt"]["use_attn"] and not by_file["no-attn.pt"]["use_attn"]
    for name, flags in (("attn.pt", ("--use_attn", "--hidden_size", "32")), ("no-attn.pt", ("--hidden_size", "32"))):
        course = course_driver_scores(q3_dir / name, q3_dir, data_dir, tmp_path, *flags)  # printed to 4 decimals
        assert (by_file[name]["test_cer"], by_file[name]["test_wer"]) == pytest.approx(course, abs=5e-5)
    sampled = our_driver_scores(q3_dir / "attn.pt", data_dir, tmp_path, "--use_attn", "--hidden_size", "32",
                                 "--topp", "0.8")
    assert by_file["attn.pt"]["expected_test_wer@3"] == pytest.approx(sampled["wer@3"], abs=1e-6)
    assert by_file["attn.pt"]["expected_test_wer"] == pytest.approx(sampled["wer"], abs=1e-6)
    assert by_file["no-attn.pt"]["expected_test_wer@3"] is None
    assert "Test CER: " in results["q3.checkpoint.attn.pt"].message
    assert f"Test WER@3 {sampled['wer@3']:.4f}" in results["q3.checkpoint.attn.pt"].message


def reference_summary(path, attention_cer):
    rows = [{"label": label, "cer": {"mean": cer, "std": 0.001, "values": [cer] * 3},
             "wer": {"mean": 0.7, "std": 0.01, "values": [0.7] * 3}}
            for label, cer in (("No attention, greedy", 0.29), ("Attention, greedy", attention_cer))]
    utils.write_json(path, {"seeds": [42, 1, 2], "test": rows})
    return path


def test_a_checkpoint_far_from_the_reference_warns_and_points_at_the_failed_checks(trained_student, tmp_path,
                                                                                   monkeypatch, fewer_draws):
    _, q3_dir, data_dir = trained_student
    folder = make_student(tmp_path / "student", MUTANTS["attention without a mask"].q3)
    shutil.copy(q3_dir / "attn.pt", folder / "hw2-q3" / "attn.pt")
    _, scores = check(folder, data_dir=data_dir)
    summary = reference_summary(tmp_path / "summary.json", attention_cer=scores[0]["test_cer"] / 2)
    monkeypatch.setattr(checkpoints, "REFERENCE_SUMMARY", summary)
    results, _ = check(folder, data_dir=data_dir)
    verdict = results["q3.checkpoint.attn.pt"]
    assert verdict.status == "warn" and "far above a correct implementation's" in verdict.message
    assert "see q3.attention.padding" in verdict.message and "H=32, not the statement's 128" in verdict.message
    reference_summary(summary, attention_cer=scores[0]["test_cer"])
    assert "within range" in check(folder, data_dir=data_dir)[0]["q3.checkpoint.attn.pt"].message
    monkeypatch.setattr(checkpoints, "REFERENCE_SUMMARY", tmp_path / "missing.json")
    verdict = check(folder, data_dir=data_dir)[0]["q3.checkpoint.attn.pt"]
    assert verdict.status == "pass" and "no plausibility verdict" in verdict.message


def test_a_checkpoint_trained_before_the_code_changed_warns_that_it_does_not_match(tmp_path, fewer_draws):
    """attn-seed42.pt was trained by our models.py, which reads [c; s]; the student's copy reads [s; c].
    The formula PASSes (the same up to the order of W_out's columns), and the checkpoint scores far above
    a correct implementation's CER with no failing check to explain it.

    WARN, not FAIL: the code as submitted meets every requirement (retrained, it scores as ours), and the
    statement asks for no checkpoint; what departs is that this checkpoint is not this code's, so numbers
    made with it are not this code's either. A grader must see that, named; no requirement is broken."""
    checkpoint = ROOT / "results" / "q3" / "attn-seed42.pt"
    folder = make_student(tmp_path, MUTANTS["W_out reading [s; c]"].q3)
    (folder / "hw2-q3" / checkpoint.name).symlink_to(checkpoint)
    results, scores = check(folder)
    assert results["q3.attention.formula"].status == "pass"
    verdict = results[f"q3.checkpoint.{checkpoint.name}"]
    assert verdict.status == "warn" and not with_status(results, "fail"), verdict.message
    assert "far above a correct implementation's" in verdict.message
    assert ("the checkpoint does not match your models.py: the code changed after it was trained (there, "
            "decoder.attn.W_out.weight took its input's halves the other way round") in verdict.message
    assert scores[0]["test_cer"] > 0.5  # as scored: the line reports the numbers the submission gives


def test_a_students_own_data_is_used_only_when_it_holds_the_courses_files(trained_student, tmp_path, fewer_draws):
    _, q3_dir, _ = trained_student
    folder = make_student(tmp_path / "student")
    shutil.copy(q3_dir / "no-attn.pt", folder / "hw2-q3" / "no-attn.pt")
    shutil.copy(q3_dir / "no-attn.json", folder / "hw2-q3" / "no-attn.json")
    slice_data(folder / "hw2-q3" / "data", n_train=10 ** 6, n_eval=50)  # other valid.tsv and test.tsv
    results, scores = check(folder)
    message = results["q3.checkpoint.no-attn.pt"].message
    assert "the course's data in" in message and "differs from it in valid.tsv, test.tsv" in message
    assert "on 1000 words" in message
    for name in layout.P2G_FILES:
        shutil.copy(ROOT / "data" / name, folder / "hw2-q3" / "data" / name)
    again, _ = check(folder)
    assert "your ./hw2-q3/data/, which holds the course's files" in again["q3.checkpoint.no-attn.pt"].message
    assert check(folder)[1] == scores


def test_without_any_data_a_checkpoint_is_skipped_naming_where_it_looked(trained_student, tmp_path, monkeypatch,
                                                                        fewer_draws):
    _, q3_dir, _ = trained_student
    folder = make_student(tmp_path / "student")
    shutil.copy(q3_dir / "attn.pt", folder / "hw2-q3" / "attn.pt")
    monkeypatch.setattr(layout, "COURSE_DATA", tmp_path / "nowhere")
    verdict = check(folder)[0]["q3.checkpoint.attn.pt"]
    assert verdict.status == "skip"
    assert str(tmp_path / "nowhere") in verdict.message and str(folder / "hw2-q3" / "data") in verdict.message


def test_a_checkpoint_of_other_modules_fails_with_its_keys(trained_student, tmp_path, fewer_draws):
    root, q3_dir, data_dir = trained_student
    folder = make_student(tmp_path)
    state_dict = torch.load(q3_dir / "attn.pt", weights_only=True)
    renamed = {key.replace("decoder.attn.W_s", "decoder.attn.query_proj"): value for key, value in state_dict.items()}
    torch.save(renamed, folder / "hw2-q3" / "old.pt")
    results, scores = check(folder, data_dir=data_dir)
    assert with_status(results, "fail") == {"q3.checkpoint.old.pt"} and not scores
    assert "keys don't match" in results["q3.checkpoint.old.pt"].message
    assert "decoder.attn.query_proj.weight" in results["q3.checkpoint.old.pt"].message


def test_a_batch_goes_on_past_folders_that_hang_or_kill_their_process(trained_student, tmp_path):
    root, _, data_dir = trained_student
    broken = make_student(tmp_path / "broken", MUTANTS["reshape_state with the halves swapped"].q3)
    # it hangs asleep, not spinning: a spinning loop would take a core from the other tests for --timeout's 40 s
    hangs = make_student(tmp_path / "hangs", {"models.py": [("reshape_state", "def reshape_state(state):\n"
                                                                              "    import time\n"
                                                                              "    while True:\n"
                                                                              "        time.sleep(1)\n")]})
    exits = make_student(tmp_path / "exits", q2_mutant={"models.py": [("get_number_trainable_params",
                                                                       "def get_number_trainable_params(model):\n"
                                                                       "    import os\n    os._exit(3)\n")]})
    report, table = tmp_path / "out" / "report.json", tmp_path / "out" / "report.csv"
    start = time.monotonic()
    run = run_script(ROOT / "check_homework.py", root, broken, hangs, exits, "--json", report, "--csv", table,
                     "--data_dir", data_dir, "--timeout", "40", "--jobs", "2")
    assert time.monotonic() - start < 180
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "FAIL  q3.reshape_state" in run.stdout and "PASS  q3.attention.formula" in run.stdout
    summary = run.stdout.splitlines()[-5:]
    assert summary[0].startswith("folder") and "warned" in summary[0] and "attn.pt" in summary[1]
    folders = json.loads(report.read_text())["folders"]
    assert [f["folder"] for f in folders] == [str(root), str(broken), str(hangs), str(exits)]
    checks = [{c["id"]: c for c in f["checks"]} for f in folders]
    assert checks[1]["q3.reshape_state"]["status"] == "fail" and checks[1]["q3.reshape_state"]["question"] == "Q3.1a"
    assert set(checks[1]["q3.reshape_state"]) == {"id", "question", "status", "message"}
    assert {Path(c["file"]).name for c in folders[0]["checkpoints"]} == {"attn.pt", "no-attn.pt"}
    assert set(folders[0]["checkpoints"][0]) == {"file", "use_attn", "hidden_size", "test_cer", "test_wer",
                                                 "expected_test_wer", "expected_test_wer@3"}
    for verdicts, stopped, hint in ((checks[2], "q3.reshape_state", "still running when the 40 s of Q3's checks ran out"),
                                    (checks[3], "q2.count_function", "ended during this check (exit status 3)")):
        assert [id for id, c in verdicts.items() if c["status"] == "fail"] == [stopped]
        assert hint in verdicts[stopped]["message"]
    assert checks[2]["q3.encoder.shapes"]["status"] == "skip" and checks[2]["q2.params.bn"]["status"] == "pass"
    assert checks[3]["q3.attention.formula"]["status"] == "pass" and checks[3]["q2.output"]["status"] == "skip"
    rows = list(csv.DictReader(table.open()))
    assert [row["folder"] for row in rows] == [str(root), str(broken), str(hangs), str(exits)]
    assert [row["q3.reshape_state"] for row in rows] == ["pass", "fail", "fail", "pass"]
    assert rows[0]["checkpoint 1"] == "attn.pt" and float(rows[0]["checkpoint 1 test CER"]) == pytest.approx(
        next(c["test_cer"] for c in folders[0]["checkpoints"] if c["file"] == "attn.pt"))
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.csv", "report.json"]  # each in one rename


def test_nothing_failed_exits_0(tmp_path, capsys):
    folder = make_student(tmp_path / "student")
    report = tmp_path / "report.json"
    report.write_text("old")
    assert utils.run_main(check_homework.main, [str(folder), "--json", str(report)]) == 0
    assert json.loads(report.read_text())["folders"][0]["folder"] == str(folder)
    assert "0 failed" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["{tmp}/missing"], "{tmp}/missing: no such folder"),
    (["missing"], "{cwd}/missing: no such folder"),
    (["{tmp}"], "nothing to check"),
    (["{tmp}", "--npz", "none.npz"], "--npz {cwd}/none.npz: no such file"),
    (["{tmp}", "--data_dir", "none"], "--data_dir {cwd}/none: no such folder"),
    (["{root}", "--device", "tpu"], "--device tpu"),
    (["{root}", "--timeout", "0"], "--timeout 0"),
    ([], "required"),
])
def test_bad_command_lines_exit_2_with_one_line(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        utils.run_main(check_homework.main, [a.format(tmp=tmp_path, root=ROOT) for a in argv])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path, cwd=Path.cwd()) in err and len(err.strip().splitlines()) == 1


def test_the_untouched_skeleton_gets_one_fail_per_unimplemented_part_and_skips_naming_it(tmp_path, fewer_draws):
    results, _ = check(make_student(tmp_path, SKELETON_Q3, SKELETON_Q2), npz=INTEL_SLICE)
    assert with_status(results, "fail") == {"q3.encoder.shapes", "q3.decoder.shapes", "q3.attention.shapes",
                                            "q3.nucleus.support", "q2.signature", "q2.count_function"}
    for id, part in (("q3.encoder.shapes", "Encoder.forward"), ("q3.decoder.shapes", "Decoder.forward"),
                     ("q3.attention.shapes", "BahdanauAttention.__init__"), ("q3.nucleus.support", "nucleus_sampling"),
                     ("q2.count_function", "get_number_trainable_params")):
        assert f"{part} is not implemented" in results[id].message
    assert "has no layers with parameters, as the skeleton's" in results["q2.signature"].message
    for result in results.values():
        if result.status == "skip":
            assert "(see q" in result.message or "--npz" in result.message, result.message
    assert not with_status(results, "warn")
