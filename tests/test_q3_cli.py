"""Q3 end to end: train, test and predict on a slice of the real data, checkpoints, bad input."""
import json
import subprocess

import pytest
import torch

import models
import utils
from checker.course import course_greedy
from helpers import ROOT, q3, run_script, slice_data

HIDDEN = ["--hidden_size", "16", "--threads", "1"]


def run_q3(*args, stdin=None):
    return run_script(ROOT / "hw2-q3.py", *args, stdin=stdin)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("q3")
    data_dir = slice_data(root / "data")
    results = root / "results"
    checkpoint = root / "attn.pt"
    run = run_q3("train", "--use_attn", "--n_epochs", "2", "--data_dir", str(data_dir), *HIDDEN,
                     "--checkpoint_name", str(checkpoint), "--results_dir", str(results))
    assert run.returncode == 0, run.stderr
    return root, data_dir, results, checkpoint, run


def common(root, data_dir, checkpoint):
    return ["--data_dir", str(data_dir), "--checkpoint_name", str(checkpoint), "--results_dir", str(root / "results")]


def test_train_prints_course_lines_and_writes_results(trained):
    _, _, results, checkpoint, run = trained
    lines = run.stdout.splitlines()
    assert lines[0].startswith("Arguments: mode=train")
    assert "Epoch: [1/2], Loss: " in run.stdout and "Epoch: [2/2], Loss: " in run.stdout
    assert sum(line.startswith("Validation error rate: ") for line in lines) == 2
    assert "New best error rate found: " in run.stdout and "Saving model" in run.stdout
    assert any(line.startswith("Best validation error rate: ") for line in lines)
    record = json.loads((results / "attn-train.json").read_text())
    assert [e["epoch"] for e in record["epochs"]] == [1, 2] and record["args"]["use_attn"]
    assert record["best_val_cer"] == min(e["val_cer"] for e in record["epochs"])
    assert (results / "attn-val-cer.png").is_file() and (results / "attn-val-cer.pdf").is_file()
    saved = torch.load(checkpoint, weights_only=True)
    assert all(isinstance(value, torch.Tensor) for value in saved.values())  # exactly a state_dict
    config = utils.read_json(checkpoint.with_suffix(".json"))
    assert config["model"] == {"hidden_size": 16, "dropout": 0.3, "use_attn": True}
    assert config["epoch"] == record["best_epoch"] and config["val_cer"] == record["best_val_cer"]
    assert config["tgt_vocab"][:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert not [p for p in checkpoint.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_the_course_driver_loads_our_checkpoint_and_scores_it_as_our_test_does(trained):
    """The course's driver: its own model built from models.py, `load_state_dict(torch.load(path,
    weights_only=True))`, greedy decoding one word at a time; the same CER and WER as our test."""
    root, data_dir, _, checkpoint, _ = trained
    data, src_vocab, tgt_vocab = utils.load_p2g(data_dir, splits=("test",))
    hidden, dropout = 16, 0.3
    encoder = models.Encoder(len(src_vocab), hidden, utils.PAD_IDX, dropout)
    decoder = models.Decoder(hidden, len(tgt_vocab), models.BahdanauAttention(hidden), utils.PAD_IDX, dropout)
    model = models.Seq2Seq(encoder, decoder)
    model.load_state_dict(torch.load(checkpoint, weights_only=True))
    model.eval()
    test = data["test"]
    spellings = []
    for i in range(len(test)):
        src, src_lengths, _ = test.batch(torch.tensor([i]))
        tokens = course_greedy(model, models.reshape_state, src, src_lengths, 50)[0].tolist()
        spellings.append(tgt_vocab.decode(tokens))
    ours = run_q3("test", *common(root, data_dir, checkpoint))
    assert ours.returncode == 0, ours.stderr
    expected = (f"Test CER: {utils.character_error_rate(spellings, test.spellings):.4f}, "
                f"Test WER: {utils.word_error_rate(spellings, test.spellings):.4f}")
    assert expected in ours.stdout.splitlines()


def test_test_prints_the_configuration_the_model_was_built_with(trained):
    root, data_dir, _, checkpoint, _ = trained
    run = run_q3("test", *common(root, data_dir, checkpoint), "--hidden_size", "64")
    assert run.returncode == 0, run.stderr
    [model_line] = [line for line in run.stdout.splitlines() if line.startswith("Model: ")]
    assert model_line == (f"Model: hidden_size=16, dropout=0.3, use_attn=True (from {checkpoint.with_suffix('.json')}; "
                          "--hidden_size 64 not used)")


def test_test_mode_greedy_nucleus_beam_and_heatmaps(trained):
    root, data_dir, results, checkpoint, _ = trained
    run = run_q3("test", *common(root, data_dir, checkpoint), "--topp", "0.8", "--k", "3",
                     "--beam_size", "3", "--attention_plots", "2")  # no --use_attn: the checkpoint says it
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert any(line.startswith("Test CER: ") and ", Test WER: " in line for line in lines)
    assert "Printing first 10 examples with multiple predictions:" in lines
    assert any(line.startswith("Test WER@3: ") for line in lines)
    assert any(line.startswith("Test CER (beam 3): ") for line in lines)
    record = json.loads((results / "attn-test-topp0.8-beam3.json").read_text())
    assert {"cer", "wer", "wer@3"} <= record["nucleus"].keys() and record["beam"]["beam_size"] == 3
    expected = record["nucleus_expected"]
    assert (f"Expected over the sampling (ours; the statement asks for the draw above): "
            f"Test WER: {expected['wer']:.4f}, Test WER@3: {expected['wer@3']:.4f} "
            f"(one draw of WER@3 varies by ± {expected['wer@3_draw_std']:.4f})") in lines
    assert 0 <= expected["wer@3_draw_std"] <= 0.5 / record["n_words"] ** 0.5  # at most a fair coin's spread
    assert 0 <= expected["wer"] ** 3 <= expected["wer@3"] <= expected["wer"] <= 1  # Jensen, and k samples beat one
    assert (results / "attn-attention.png").is_file() and (results / "attn-attention.pdf").is_file()
    header, *rows = (results / "attn-test-topp0.8-beam3-predictions.tsv").read_text(encoding="utf-8").splitlines()
    assert header.split("\t") == ["pronunciation", "spelling", "sample", "sample@1", "sample@2", "sample@3", "beam3"]
    gold = [line.split("\t") for line in (data_dir / "test.tsv").read_text(encoding="utf-8").splitlines()]
    assert [row.split("\t")[:2] for row in rows] == gold
    beams = [row.split("\t")[-1] for row in rows]
    assert utils.word_error_rate(beams, [spelling for _, spelling in gold]) == record["beam"]["wer"]


def test_predict_from_arguments_and_stdin(trained):
    root, data_dir, _, checkpoint, _ = trained
    words = (ROOT / "data" / "test.tsv").read_text(encoding="utf-8").splitlines()[:2]
    pronunciations = [w.split("\t")[0] for w in words]
    run = run_q3("predict", *common(root, data_dir, checkpoint), *pronunciations)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == pronunciations and all(len(l.split("\t")) == 2 for l in lines)
    piped = run_q3("predict", *common(root, data_dir, checkpoint), "--topp", "0.9", "--k", "2",
                       stdin="\n".join(pronunciations + ["ʘ " + pronunciations[0]]) + "\n")
    assert piped.returncode == 0, piped.stderr
    assert [len(line.split("\t")) for line in piped.stdout.splitlines()] == [3, 3, 3]
    assert "ʘ" in piped.stderr and "<unk>" in piped.stderr


def test_bare_state_dict_without_its_json_takes_the_flags(trained, tmp_path, capsys):
    root, data_dir, _, checkpoint, _ = trained
    bare = tmp_path / "course.pt"
    bare.write_bytes(checkpoint.read_bytes())
    argv = ["test", "--data_dir", str(data_dir), "--checkpoint_name", str(bare), "--results_dir", str(tmp_path),
            "--hidden_size", "16"]
    with pytest.raises(utils.UserError, match="was it trained with --use_attn"):
        q3.main(argv)
    q3.main(argv + ["--use_attn"])
    ours = run_q3("test", *common(root, data_dir, checkpoint))
    greedy = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Test CER")]
    assert greedy == [line for line in ours.stdout.splitlines() if line.startswith("Test CER")]


def test_mismatched_checkpoint_is_one_clear_error(trained, tmp_path):
    root, data_dir, _, checkpoint, _ = trained
    bare = tmp_path / "course.pt"
    bare.write_bytes(checkpoint.read_bytes())
    with pytest.raises(utils.UserError, match="does not match the model.*wrong shape"):
        q3.main(["test", "--data_dir", str(data_dir), "--checkpoint_name", str(bare), "--use_attn",
                 "--results_dir", str(tmp_path)])
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(utils.UserError, match="not a readable PyTorch checkpoint"):
        q3.main(["test", "--data_dir", str(data_dir), "--checkpoint_name", str(junk)])
    cnn = tmp_path / "cnn.pt"
    torch.save(models.CNN(0.1).state_dict(), cnn)
    with pytest.raises(utils.UserError, match="this is a Q2 CNN's state_dict"):
        q3.main(["test", "--data_dir", str(data_dir), "--checkpoint_name", str(cnn)])
    dict_of_things = tmp_path / "dict.pt"
    torch.save({"state_dict": {}, "epoch": 3}, dict_of_things)
    with pytest.raises(utils.UserError, match=r"not a state_dict \(a dict of tensors"):
        q3.main(["test", "--data_dir", str(data_dir), "--checkpoint_name", str(dict_of_things)])
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("argv, message", [
    (["test", "--topp", "0"], r"argument --topp: expected a number above 0 and at most 1, got 0$"),
    (["test", "--topp", "1.5"], r"argument --topp: expected a number above 0 and at most 1, got 1.5$"),
    (["test", "--beam_size", "0"], r"argument --beam_size: expected at least 1, got 0$"),
    (["test", "--k", "0"], r"argument --k: expected at least 1, got 0$"),
    (["test", "--k", "two"], r"argument --k: expected a whole number, got 'two'$"),
    (["test", "--lr", "-1"], r"argument --lr: expected a number above 0, got -1$"),
    (["test", "--dropout", "1"], r"argument --dropout: expected a number at least 0 and below 1, got 1$"),
    (["train", "--hidden_size", "15"], r"even"),
    (["test", "--checkpoint_name", "/nonexistent/x.pt"], r"no such checkpoint"),
    (["test", "--checkpoint_name", str(ROOT / "data")], r"data: a folder; expected a checkpoint file"),
    (["predict", "--checkpoint_name", str(ROOT / "results/q2/q22-lr0.01-seed42/model.pt"), "k"],
     r"model.pt: this is a Q2 CNN's state_dict, not a Q3 Seq2Seq's$"),
    (["train", "--data_dir", "/nonexistent"], r"no such data directory"),
    (["predict", "--topp", "nan"], r"argument --topp: expected a number above 0 and at most 1, got nan$"),
    (["frobnicate"], r"invalid choice"),
    ([], r"expected a mode: train, test or predict"),
    (["--use_attn"], r"expected a mode: train, test or predict"),
    (["--device", "cuda", "test"], r"cuda is not available|--device"),
])
def test_bad_command_lines_raise_user_errors(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if argv[:2] == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has cuda")
    with pytest.raises(utils.UserError, match=message):
        q3.main(argv)
    assert list(tmp_path.iterdir()) == []


def test_error_is_one_line_with_exit_code_two_and_nothing_written(tmp_path):
    data_dir = slice_data(tmp_path / "data", n_train=20, n_eval=5)
    (data_dir / "valid.tsv").write_text("")
    run = run_q3("train", "--data_dir", str(data_dir), "--checkpoint_name", str(tmp_path / "m.pt"),
                     "--results_dir", str(tmp_path / "results"), *HIDDEN)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"hw2-q3.py: error: {data_dir / 'valid.tsv'}: no `phonemes<TAB>spelling` pair in the file"]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "results").exists()


def test_predict_without_input_is_an_error(trained):
    root, data_dir, _, checkpoint, _ = trained
    run = run_q3("predict", *common(root, data_dir, checkpoint), stdin="\n")
    assert run.returncode == 2 and "no pronunciation given" in run.stderr and "Traceback" not in run.stderr


def run_module(module, *args):
    return run_script("-m", module, *args)


def sampled_nucleus_row(summary):
    """The summary's row of the sampled nucleus decoding (not the one averaged over the sampling)."""
    [row] = [row for row in summary["test"] if row["label"] == "Attention, nucleus p=0.8"]
    return row


def test_make_q3_in_miniature_then_ablations(tmp_path):
    """`make q3` then `make ablations` in miniature (seeds 1 and 2, one epoch, 200 training words): every
    decoding summarised, then one option retrained beside the main runs and beam search's alpha swept.
    One scenario, as the ablations read the main runs."""
    root = tmp_path
    data_dir = slice_data(root / "data", n_train=200, n_eval=30)
    done = run_module("scripts.q3_experiments", "--seeds", "1", "2", "--n_epochs", "1", "--data_dir", data_dir,
                      "--results_dir", root / "results", "--log_dir", root / "logs")
    assert done.returncode == 0, done.stderr
    summary = utils.read_json(root / "results" / "summary.json")
    assert summary["seeds"] == [1, 2]
    nucleus = sampled_nucleus_row(summary)["wer@3"]
    assert len(nucleus["values"]) == 2 and 0 <= nucleus["mean"] <= 1
    assert "| Attention, greedy |" in (root / "results" / "summary.md").read_text(encoding="utf-8")

    ablations = root / "ablations"
    done = run_module("scripts.q3_ablations", "--seeds", "1", "2", "--n_epochs", "1", "--only", "clip_norm1",
                      "--data_dir", data_dir, "--main_dir", root / "results", "--results_dir", ablations,
                      "--log_dir", root / "logs")
    assert done.returncode == 0, done.stderr
    train = utils.read_json(ablations / "clip_norm1" / "attn-seed2-train.json")
    assert train["args"]["clip_norm"] == 1 and train["args"]["use_attn"] and train["args"]["seed"] == 2
    assert train["args"]["init"] == "torch" and train["args"]["length_pool"] == 1  # one option added, no more
    summary = utils.read_json(ablations / "summary.json")
    assert [row["run"] for row in summary["training"]] == ["course's recipe (`make q3`)", "clip_norm1"]
    main_runs = utils.read_json(root / "results" / "summary.json")
    main_wer_at_3 = summary["training"][0]["metrics"]["nucleus WER@3"]["values"]
    assert main_wer_at_3 == sampled_nucleus_row(main_runs)["wer@3"]["values"]
    assert [row["length_alpha"] for row in summary["beam_alpha"]] == [0.0, 0.5, 1.0]
    assert all(len(row["cer"]["values"]) == 2 for row in summary["beam_alpha"])
    assert "| `--clip_norm 1` | gradient norm clipped at 1 |" in (ablations / "summary.md").read_text(encoding="utf-8")


def test_ablations_script_needs_the_main_runs_first(tmp_path):
    done = run_module("scripts.q3_ablations", "--main_dir", tmp_path, "--results_dir", tmp_path / "ablations")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"q3_ablations.py: error: {tmp_path}: no attention checkpoint for seeds [42, 1, 2]; run `make q3` first"]
    assert not (tmp_path / "ablations").exists()


def test_runs_started_by_hand_leave_the_repository_clean():
    """The README's commands, run from the repository: outputs in runs/, checkpoints where named, all ignored."""
    assert q3.parse_args(["train"])[0].results_dir == "runs/q3"
    written = ["runs/q3/attn-train.json", "runs/q1/checks.json", "attn.pt", "attn.json", "no-attn.pt", "no-attn.json",
               "attn.pt.resume"]
    ignored = subprocess.run(["git", "check-ignore", *written], cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout.split() == written


@pytest.mark.parametrize("module", ["scripts.q3_experiments", "scripts.q3_ablations"])
def test_experiment_scripts_need_at_least_one_job(module, tmp_path):
    done = run_module(module, "--jobs", "0", "--results_dir", tmp_path / "results")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("error: --jobs 0: expected at least 1")
    assert not (tmp_path / "results").exists()
