"""Runs a student can stop, resume and mistype: a real interrupt, resume == an uninterrupted run,
and the line each mistake gets (issue: interrupts, resumable training, hints that point at the fix)."""
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import utils
from helpers import INTEL_SLICE, ROOT, copy_project, q2, q3, run_script, slice_data


def ctrl_c_as_in_a_terminal():
    """SIGINT's default action, which Python turns into KeyboardInterrupt: a test run in the
    background (nohup, `&`) inherits SIGINT ignored, and a Python started so keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(autouse=True)
def ctrl_c_raises_keyboard_interrupt():
    """In this process too, whatever SIGINT disposition pytest was started with."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupted(command, resume_file, cwd, timeout=300):
    """Run `command` (a script and its flags), send it SIGINT once `resume_file` exists (an epoch has
    ended), and return the CompletedProcess-like (returncode, stdout, stderr)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    process = subprocess.Popen([sys.executable, *map(str, command)], cwd=cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=ctrl_c_as_in_a_terminal)
    deadline = time.monotonic() + timeout
    while not resume_file.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


@pytest.fixture(scope="module")
def p2g(tmp_path_factory):
    return slice_data(tmp_path_factory.mktemp("p2g") / "data", n_train=1200, n_eval=100)


Q3_SMALL = ["--hidden_size", "32", "--use_attn", "--no_progress", "--threads", "1"]
Q3_TRAIN = ["train", "--n_epochs", "3", *Q3_SMALL]


def test_q3_interrupted_then_resumed_equals_an_uninterrupted_run(p2g, tmp_path):
    script, data = ROOT / "hw2-q3.py", ["--data_dir", p2g, "--results_dir", tmp_path]
    whole = run_script(script, *Q3_TRAIN, *data, "--checkpoint_name", tmp_path / "whole.pt")
    assert whole.returncode == 0, whole.stderr

    cut = tmp_path / "cut.pt"
    code, _, stderr = interrupted([script, *Q3_TRAIN, *data, "--checkpoint_name", cut], utils.resume_path(cut),
                                  cwd=ROOT)
    last = stderr.strip().splitlines()[-1]
    assert code == 130 and "Traceback" not in stderr, stderr
    assert last.startswith("hw2-q3.py: interrupted in epoch ") and "the same command with --resume goes on" in last
    assert f"kept in {utils.resume_path(cut)}" in last and f"in {cut};" in last

    unfinished = run_script(script, "test", "--checkpoint_name", cut, *data)
    assert "an unfinished run of 3 epochs" in unfinished.stdout, unfinished.stdout

    resumed = run_script(script, *Q3_TRAIN, *data, "--checkpoint_name", cut, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming " in resumed.stdout and not utils.resume_path(cut).exists()
    expected, found = torch.load(tmp_path / "whole.pt"), torch.load(cut)
    assert all(torch.equal(expected[key], found[key]) for key in expected)  # bitwise, on CPU
    history = {name: json.loads((tmp_path / f"{name}-train.json").read_text())["epochs"] for name in ("whole", "cut")}
    assert [(e["loss"], e["val_cer"]) for e in history["whole"]] == [(e["loss"], e["val_cer"]) for e in history["cut"]]
    assert json.loads((tmp_path / "cut.json").read_text())["finished"] is True
    finished = run_script(script, "test", "--checkpoint_name", cut, *data)
    assert "unfinished" not in finished.stdout


def test_q3_resume_refuses_other_settings_and_a_run_that_is_not_there(p2g, tmp_path):
    script, data = ROOT / "hw2-q3.py", ["--data_dir", p2g, "--results_dir", tmp_path]
    nothing = run_script(script, *Q3_TRAIN, *data, "--checkpoint_name", tmp_path / "none.pt", "--resume")
    assert nothing.returncode == 2 and "Traceback" not in nothing.stderr
    assert nothing.stderr.strip().splitlines()[-1].endswith("none.pt.resume: no unfinished run to resume here "
                                                            "(an interrupted run leaves this file; a finished one "
                                                            "removes it)")
    cut = tmp_path / "cut.pt"
    code, _, _ = interrupted([script, *Q3_TRAIN, *data, "--checkpoint_name", cut], utils.resume_path(cut), cwd=ROOT)
    assert code == 130
    other = run_script(script, *Q3_TRAIN, *data, "--checkpoint_name", cut, "--resume", "--lr", "0.01")
    assert other.returncode == 2
    assert "resuming goes on with the run's own settings; it was started with --lr 0.003 (not 0.01)" in other.stderr


def test_q2_interrupted_then_resumed_equals_an_uninterrupted_run(tmp_path):
    flags = ["-epochs", "3", "-data_path", INTEL_SLICE, "-threads", "1", "-no_progress", "-no_batch_norm"]
    whole = run_script("hw2-q2.py", *flags, "-results_dir", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    run_dir = next((tmp_path / "whole").iterdir()).name
    cut_dir = tmp_path / "cut" / run_dir
    code, stdout, stderr = interrupted(["hw2-q2.py", *flags, "-results_dir", tmp_path / "cut"],
                                       cut_dir / "model.pt.resume", cwd=ROOT)
    assert code == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith("hw2-q2.py: interrupted in epoch ")
    assert "the same command with -resume goes on" in stderr
    so_far = json.loads((cut_dir / "results.json").read_text())  # the history is written after every epoch
    assert so_far["status"].startswith("unfinished") and len(so_far["val_acc"]) >= 1

    resumed = run_script("hw2-q2.py", *flags, "-results_dir", tmp_path / "cut", "-resume")
    assert resumed.returncode == 0, resumed.stderr
    results = {name: json.loads((tmp_path / name / run_dir / "results.json").read_text()) for name in ("whole", "cut")}
    for key in ("train_loss", "val_loss", "val_acc", "test_acc", "best_val_epoch", "test_acc_at_best_val"):
        assert results["whole"][key] == results["cut"][key], key
    expected, found = (torch.load(tmp_path / name / run_dir / "model.pt") for name in ("whole", "cut"))
    assert all(torch.equal(expected[key], found[key]) for key in expected)
    assert not (cut_dir / "model.pt.resume").exists()


def interrupt_after(monkeypatch, module, name):
    """Make `module.name` (a function that writes a run's file) raise SIGINT in this process just
    after its first call returns: Ctrl-C pressed between two of the files a run writes together."""
    original = getattr(module, name)
    calls = []

    def then_interrupted(*args, **kwargs):
        result = original(*args, **kwargs)
        if not calls:
            calls.append(name)
            signal.raise_signal(signal.SIGINT)
        return result
    monkeypatch.setattr(module, name, then_interrupted)


def q2_epochs_kept(run_dir):
    """The epochs that results.json and the resume file hold: the two must always agree."""
    resume = torch.load(utils.resume_path(run_dir / "model.pt"), weights_only=True)["progress"]
    return len(json.loads((run_dir / "results.json").read_text())["val_acc"]), len(resume["history"]["val_acc"])


Q2_FLAGS = ["-epochs", "2", "-data_path", str(INTEL_SLICE), "-threads", "1", "-no_progress", "-no_batch_norm",
            "-run_name", "run"]


@pytest.mark.parametrize("write", ["save_training_state", "write_json"])
def test_q2_ctrl_c_between_an_epochs_files_keeps_them_in_step(write, tmp_path, monkeypatch):
    interrupt_after(monkeypatch, utils, write)
    with pytest.raises(utils.Interrupted, match="the 1 epoch.s. before it are kept in"):
        q2.main([*Q2_FLAGS, "-results_dir", str(tmp_path)])
    assert q2_epochs_kept(tmp_path / "run") == (1, 1)


def test_q2_ctrl_c_while_testing_keeps_the_trained_run_and_resume_tests_it(tmp_path, monkeypatch):
    interrupt_after(monkeypatch, q2.Evaluator, "test")
    with pytest.raises(utils.Interrupted, match="while testing.*the same command with -resume tests it"):
        q2.main([*Q2_FLAGS, "-results_dir", str(tmp_path)])
    assert q2_epochs_kept(tmp_path / "run") == (2, 2)
    monkeypatch.undo()
    results = q2.main([*Q2_FLAGS, "-results_dir", str(tmp_path), "-resume"])
    assert results["status"] == "completed" and len(results["val_acc"]) == 2 and "test_acc" in results
    assert (tmp_path / "run" / "model.pt").exists() and not utils.resume_path(tmp_path / "run" / "model.pt").exists()


@pytest.mark.parametrize("write", ["save_checkpoint", "save_training_state"])
def test_q3_ctrl_c_between_an_epochs_files_keeps_them_in_step(write, p2g, tmp_path, monkeypatch):
    checkpoint = tmp_path / "cut.pt"
    interrupt_after(monkeypatch, utils, write)
    with pytest.raises(utils.Interrupted, match="the 1 epoch.s. before it are kept in"):
        q3.main(["train", "--n_epochs", "2", *Q3_SMALL, "--data_dir", str(p2g), "--results_dir", str(tmp_path),
                 "--checkpoint_name", str(checkpoint)])
    resume = torch.load(utils.resume_path(checkpoint), weights_only=True)["progress"]
    assert len(resume["history"]) == 1 and utils.read_json(tmp_path / "cut.json")["epoch"] == 1


def test_q3_ctrl_c_while_the_last_files_are_written_finishes_them_first(p2g, tmp_path, monkeypatch):
    checkpoint = tmp_path / "cut.pt"
    interrupt_after(monkeypatch, utils, "plot_series")
    with pytest.raises(KeyboardInterrupt):
        q3.main(["train", "--n_epochs", "1", *Q3_SMALL, "--data_dir", str(p2g), "--results_dir", str(tmp_path),
                 "--checkpoint_name", str(checkpoint)])
    assert (tmp_path / "cut-train.json").exists() and utils.read_json(tmp_path / "cut.json")["finished"] is True
    assert not utils.resume_path(checkpoint).exists()


def test_uninterrupted_holds_ctrl_c_and_sigterm_until_the_outermost_block_ends():
    steps = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: steps.append("SIGTERM delivered"))
    try:
        with pytest.raises(KeyboardInterrupt):
            with utils.uninterrupted():
                with utils.uninterrupted():
                    signal.raise_signal(signal.SIGTERM)
                    signal.raise_signal(signal.SIGINT)
                    steps.append("inner block ended")
                steps.append("outer block ended")
        assert steps == ["inner block ended", "outer block ended", "SIGTERM delivered"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with pytest.raises(ValueError):  # an error in the block is the block's, not an interrupt
            with utils.uninterrupted():
                raise ValueError
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)


SERVED = """import sys
from pathlib import Path
from scripts.pool import python
import checker.runner  # the last preload set is the server's: the checker's, which imports this project's utils
folder = Path(sys.argv[1])
sys.exit(python(sys.argv[2:], folder, folder / "out.txt", folder / "err.txt", stdin=folder / "in.txt"))
"""


def test_a_run_forked_from_the_warm_server_is_what_a_fresh_interpreter_runs(tmp_path):
    """scripts.pool.python, which starts every run of the tests and of the experiment scripts: the same argv,
    path, modules, stdin, environment, output and exit status as `python` started afresh, for a script and
    for -m, from a server that has imported this project's own utils."""
    (tmp_path / "utils.py").write_text("WHERE = 'the folder of the script'\n")
    (tmp_path / "probe.py").write_text(
        "import importlib.util, os, sys\n"
        "import utils\n"
        "print(sys.argv[1:], sys.path[0], utils.WHERE, os.environ['PROBE'], repr(sys.stdin.read()))\n"
        "print([name for name in ('helpers', 'scripts', 'checker') if importlib.util.find_spec(name)])\n"
        "print('é on stderr', file=sys.stderr)\n"
        "sys.exit(3)\n")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PROBE": "set"}
    (tmp_path / "in.txt").write_text("typed\n", encoding="utf-8")
    for args in (["probe.py", "a", "b c"], ["-m", "probe", "--flag"]):
        fresh = subprocess.run([sys.executable, *args], cwd=tmp_path, input="typed\n", env=env, capture_output=True,
                               text=True, encoding="utf-8")
        assert (fresh.returncode, fresh.stderr) == (3, "é on stderr\n")
        assert f"{tmp_path} the folder of the script set 'typed\\n'\n[]\n" in fresh.stdout
        for name in ("out.txt", "err.txt"):
            (tmp_path / name).write_text("")
        forked = subprocess.run([sys.executable, "-c", SERVED, tmp_path, *args], cwd=ROOT, env=env)
        assert forked.returncode == 3
        assert [(tmp_path / name).read_text(encoding="utf-8") for name in ("out.txt", "err.txt")] == [
            fresh.stdout, fresh.stderr]


@pytest.mark.parametrize("script, argv, hint", [
    ("hw2-q2.py", ["--learning_rate", "0.01"], "--learning_rate (this script's flags take one dash: -learning_rate)"),
    ("hw2-q3.py", ["test", "-checkpoint_name", "attn.pt"],
     "-checkpoint_name (this script's flags take two dashes: --checkpoint_name)"),
    ("hw2-q3.py", ["train", "--use_atn"], "--use_atn (did you mean --use_attn?)"),
    ("hw2-q2.py", ["-dropuot", "0.2"], "-dropuot (did you mean -dropout?)"),
    ("hw2-q3.py", ["train", "--frobnicate"], "unrecognized arguments: --frobnicate; -h lists the flags"),
    ("hw2-q2.py", ["-lr", "0.01"], "unrecognized arguments: -lr 0.01; -h lists the flags"),
])
def test_a_mistyped_flag_gets_the_flag_that_was_meant(script, argv, hint):
    result = run_script(script, *argv)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"{script}: error: unrecognized arguments: ") and hint in line, line


def test_default_paths_are_the_projects_from_another_folder(tmp_path, monkeypatch):
    checkpoint = ROOT / "results" / "q3" / "attn-seed42.pt"
    result = run_script(ROOT / "hw2-q3.py", "test", "--checkpoint_name", checkpoint, "--results_dir", tmp_path / "out",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"data_dir={ROOT / 'data'}" in result.stdout
    monkeypatch.chdir(tmp_path)
    assert importlib.import_module("q1_hopfield_check").parse_args([]).out == str(ROOT / "runs" / "q1")


def test_a_bare_state_dict_of_another_size_gets_the_flag_it_was_trained_with(tmp_path):
    data, src_vocab, tgt_vocab = utils.load_p2g(ROOT / "data", splits=())
    model = q3.build_model({"hidden_size": 64, "dropout": 0.3, "use_attn": True}, len(src_vocab), len(tgt_vocab))
    torch.save(model.state_dict(), tmp_path / "small.pt")
    result = run_script("hw2-q3.py", "test", "--checkpoint_name", tmp_path / "small.pt", "--results_dir", tmp_path)
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.endswith("; was it trained with --use_attn?; was it trained with --hidden_size 64?"), line


def test_test_prints_the_models_configuration_and_only_the_flags_typed(tmp_path):
    checkpoint = ROOT / "results" / "q3" / "attn-seed42.pt"
    plain = run_script("hw2-q3.py", "test", "--checkpoint_name", checkpoint, "--results_dir", tmp_path)
    arguments, model = (line for line in plain.stdout.splitlines() if line.startswith(("Arguments:", "Model:")))
    assert "use_attn" not in arguments and "hidden_size" not in arguments and "lr=" not in arguments
    assert model.startswith("Model: hidden_size=128, dropout=0.3, use_attn=True (from ") and "not used" not in model
    typed = run_script("hw2-q3.py", "test", "--checkpoint_name", checkpoint, "--results_dir", tmp_path,
                       "--hidden_size", "64")
    model = next(line for line in typed.stdout.splitlines() if line.startswith("Model:"))
    assert model.endswith("; --hidden_size 64 not used)") and "use_attn=False" not in typed.stdout
    assert "(replacing an earlier run's)" in typed.stdout  # the same test twice: the second says so
    assert "replacing" not in plain.stdout


def test_a_json_beside_the_checkpoint_that_is_not_a_q3_configuration_gets_one_line(tmp_path):
    (tmp_path / "x.pt").write_bytes((ROOT / "results" / "q3" / "attn-seed42.pt").read_bytes())
    (tmp_path / "x.json").write_text(json.dumps({"learning_rate": 0.01, "epochs": 40}))  # as hw2-q2.py writes
    result = run_script("hw2-q3.py", "test", "--checkpoint_name", tmp_path / "x.pt", "--results_dir", tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        "x.json: not the configuration of a Q3 checkpoint (expected its model, src_vocab and tgt_vocab, as `train` "
        "writes them)")


def test_a_new_training_run_says_which_checkpoint_it_replaces(p2g, tmp_path):
    command = ["hw2-q3.py", "train", "--n_epochs", "1", "--hidden_size", "8", "--data_dir", p2g, "--results_dir",
               tmp_path, "--checkpoint_name", tmp_path / "again.pt", "--no_progress"]
    first, second = run_script(*command), run_script(*command)
    assert first.returncode == second.returncode == 0
    assert "replaced" not in first.stderr
    assert f"{tmp_path / 'again.pt'}: replaced by this run's as soon as its first epoch ends" in second.stderr


def test_make_setup_takes_torch_from_the_index_it_is_given():
    """`make setup TORCH_INDEX=...` installs requirements.txt's torch from that index first (the CPU-only
    build); without it, pip's own index serves requirements.txt alone."""
    def commands(*variables):
        dry_run = subprocess.run(["make", "-n", "-B", "setup", *variables], cwd=ROOT, capture_output=True, text=True)
        return dry_run.stdout

    cpu = commands("TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert ("pip install --quiet --no-compile --index-url https://download.pytorch.org/whl/cpu "
            "$(grep '^torch==' requirements.txt)") in cpu
    assert "--index-url" not in commands()


# ----------------------------------------------------------------------------- the course's commands on a fresh clone


Q3_TINY = ["--n_epochs", "1", "--hidden_size", "8", "--no_progress", "--threads", "1"]


def written_files(project, before):
    """The files under `project` that were not there `before` (a set of paths), as paths relative to it."""
    return sorted(str(path.relative_to(project)) for path in project.rglob("*")
                  if path.is_file() and path not in before and "__pycache__" not in path.parts)


def test_the_course_commands_in_order_test_the_model_just_trained_from_any_folder(tmp_path):
    """train --use_attn then test --topp 0.8, as the statement's commands go: test reads the model trained
    last, says which and why on one line, from the project's folder or another; a path typed is the current
    folder's; every file the runs write, an interrupted run's resume file too, is one git ignores."""
    project, elsewhere = copy_project(tmp_path / "project"), tmp_path / "elsewhere"
    elsewhere.mkdir()
    sources = set(project.rglob("*"))
    script = project / "hw2-q3.py"

    nothing = run_script(script, "test", "--topp", "0.8", cwd=elsewhere)
    assert nothing.returncode == 2 and "Traceback" not in nothing.stderr
    assert f"neither {project / 'model.pt'} nor model-attn.pt beside it exists" in nothing.stderr
    assert "`hw2-q3.py train --use_attn`" in nothing.stderr

    plain = run_script(script, "train", *Q3_TINY, cwd=project)
    assert plain.returncode == 0, plain.stderr
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the course's rule
    assert f"device={device}" in plain.stdout.splitlines()[0]
    os.utime(project / "model.pt", (1e9, 1e9))  # trained long ago
    attn = run_script(script, "train", "--use_attn", *Q3_TINY, cwd=elsewhere)
    assert attn.returncode == 0, attn.stderr
    assert (project / "model-attn.pt").is_file() and (project / "runs" / "q3" / "model-attn-train.json").is_file()

    for cwd in (project, elsewhere):
        tested = run_script(script, "test", "--topp", "0.8", "--k", "1", cwd=cwd)
        assert tested.returncode == 0, tested.stderr
        lines = tested.stdout.splitlines()
        assert (f"Checkpoint: {project / 'model-attn.pt'} (the newer of model.pt and model-attn.pt, so the model "
                "trained last; --checkpoint_name names another)") in lines
        assert next(line for line in lines if line.startswith("Model: ")).startswith(
            "Model: hidden_size=8, dropout=0.3, use_attn=True (from ")
    assert (project / "runs" / "q3" / "model-attn-test-topp0.8.json").is_file()
    os.utime(project / "model-attn.pt", (1e9 - 1, 1e9 - 1))
    older = run_script(script, "test", cwd=elsewhere)
    assert f"Checkpoint: {project / 'model.pt'} (the newer of" in older.stdout
    asked = run_script(script, "test", "--use_attn", cwd=elsewhere)
    assert f"Checkpoint: {project / 'model-attn.pt'} (the default with --use_attn;" in asked.stdout

    missing = run_script(script, "test", "--checkpoint_name", "mine.pt", cwd=elsewhere)
    assert missing.stderr.strip().splitlines()[-1].startswith(f"hw2-q3.py: error: {elsewhere / 'mine.pt'}: no such")
    no_data = run_script(script, "train", "--data_dir", "p2g", cwd=elsewhere)
    assert f"{elsewhere / 'p2g'}: no such data directory" in no_data.stderr
    assert list(elsewhere.iterdir()) == []

    code, _, _ = interrupted([script, "train", "--use_attn", "--n_epochs", "3", "--hidden_size", "8", "--no_progress"],
                             utils.resume_path(project / "model-attn.pt"), cwd=elsewhere)
    assert code == 130 and utils.resume_path(project / "model-attn.pt").exists()
    written = written_files(project, sources)
    assert {"model.pt", "model.json", "model-attn.pt", "model-attn.json", "model-attn.pt.resume"} <= set(written)
    temporaries = [str(Path(name).parent / f".{Path(name).name}.k2j4h1{Path(name).suffix}")
                   for name in written]  # as utils._atomic_write names them while it writes
    checked = subprocess.run(["git", "check-ignore", "--stdin"], cwd=ROOT, input="\n".join(written + temporaries),
                             capture_output=True, text=True)
    assert sorted(checked.stdout.split()) == sorted(written + temporaries)


def test_q2_names_the_file_it_tried_and_the_hint_that_holds_for_it(tmp_path):
    project, elsewhere = copy_project(tmp_path / "project"), tmp_path / "elsewhere"
    elsewhere.mkdir()
    default = run_script(project / "hw2-q2.py", cwd=elsewhere)
    assert default.returncode == 2 and default.stderr.strip().splitlines() == [
        f"hw2-q2.py: error: {project / 'data' / 'intel_landscapes_48x48.npz'}: no such file; `make data` links it "
        f"from {tmp_path / 'shared' / 'data' / 'intel'} where that is there; else give -data_path the course's "
        f"intel_landscapes.v2.npz ({project / 'data' / 'README.md'})"]
    course = run_script(project / "hw2-q2.py", "-data_path", "intel_landscapes.v2.npz", cwd=elsewhere)
    assert course.returncode == 2 and course.stderr.strip().splitlines() == [
        f"hw2-q2.py: error: {elsewhere / 'intel_landscapes.v2.npz'}: no such file; expected the Intel images .npz "
        f"({project / 'data' / 'README.md'} says where it comes from)"]
    assert list(elsewhere.iterdir()) == [] and not (project / "runs").exists()


@pytest.mark.parametrize("module, argv, tried", [
    ("scripts.make_intel_fixture", ["--source", "nowhere.npz"], "nowhere.npz"),
    ("scripts.q2_experiments", ["--data_path", "nowhere.npz"], "nowhere.npz"),
    ("scripts.q2_experiments", ["--comparisons", "--data_path", str(INTEL_SLICE), "--results_dir", "none"],
     "none/summary.json"),
    ("scripts.q2_features", ["--checkpoint", "nowhere.pt"], "nowhere.pt"),
    ("scripts.q3_error_analysis", ["--data_dir", "none"], "none"),
    ("scripts.q3_ablations", ["--main_dir", "none"], "none"),
    ("scripts.peer_scores", ["--peers", "nowhere.md"], "nowhere.md"),
    ("report.make_report", ["--results_dir", "none"], "none/q2/q21-lr0.1-seed42/results.json"),
])
def test_a_file_that_is_not_there_is_named_by_the_absolute_path_tried(module, argv, tried, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(utils.UserError) as error:
        importlib.import_module(module).main(argv)
    assert str(error.value).startswith(f"{tmp_path / tried}: ")


def test_make_data_without_shared_says_what_to_do_in_one_line(tmp_path):
    project = copy_project(tmp_path / "project")  # no ../shared beside it
    user = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}  # not make test's
    made = subprocess.run(["make", "data"], cwd=project, capture_output=True, text=True, env=user)
    assert made.returncode != 0
    first, *rest = made.stderr.strip().splitlines()
    assert first.startswith(f"make data: no {tmp_path / 'shared' / 'data' / 'intel' / 'intel_landscapes_48x48.npz'} "
                            f"to link {project / 'data' / 'intel_landscapes_48x48.npz'} from; ")
    assert f"({project / 'data' / 'README.md'} says where it comes from)" in first and "-data_path" in first
    assert all(line.startswith("make: ***") for line in rest), rest


@pytest.mark.parametrize("module", [q2, q3])
def test_help_shows_each_default_once(module, capsys):
    with pytest.raises(SystemExit):
        module.parse_args(["-h"] if module is q2 else ["--help"])
    text = capsys.readouterr().out.split("options:")[1]
    options = [" ".join(option.split()) for option in re.split(r"\n(?=  -)", text)]  # one block per option
    assert all(option.count("(default") <= 1 for option in options), [o for o in options if o.count("(default") > 1]
    assert sum("(default" in option for option in options) >= 10


def test_q2_labels_the_test_accuracy_the_statement_asks_for(tmp_path, capsys):
    q2.main([*Q2_FLAGS, "-results_dir", str(tmp_path), "-epochs", "1"])
    lines = capsys.readouterr().out.splitlines()
    [final] = [line for line in lines if line.startswith("Final test accuracy: ")]
    assert final.endswith(" (the model after the last epoch: the accuracy the statement asks for)")
    [best] = [line for line in lines if "test accuracy of that model" in line]
    assert best.endswith(" (ours, beside it; not asked for)")


@pytest.mark.parametrize("driver", ["q2", "q3"])
def test_ctrl_c_as_the_last_files_are_written_says_they_all_were(driver, p2g, tmp_path, monkeypatch):
    interrupt_after(monkeypatch, utils, "plot_series")
    with pytest.raises(utils.Interrupted, match=r"^interrupted as the run ended, once its files were all written"):
        if driver == "q2":
            q2.main([*Q2_FLAGS, "-results_dir", str(tmp_path), "-epochs", "1"])
        else:
            q3.main(["train", "--n_epochs", "1", *Q3_SMALL, "--data_dir", str(p2g), "--results_dir", str(tmp_path),
                     "--checkpoint_name", str(tmp_path / "cut.pt")])
    assert not list(tmp_path.rglob("*.resume"))
    assert (tmp_path / "run" / "results.json").is_file() if driver == "q2" else (tmp_path / "cut-train.json").is_file()


def test_check_homework_given_a_file_names_the_folder_to_give(tmp_path):
    (tmp_path / "models.py").write_text("")
    result = run_script(ROOT / "check_homework.py", tmp_path / "models.py")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"check_homework.py: error: {tmp_path / 'models.py'}: a file; expected the homework folder that holds it, "
        f"{tmp_path}"]
