"""Q2: the CNNs, the Intel loader, and hw2-q2.py end to end on a real slice of the data."""
import copy
import json
import subprocess

import numpy as np
import pytest
import torch
from torch import nn

import utils
from helpers import INTEL_SLICE, ROOT, q2, run_script
from models import CNN, ConvBlock, get_number_trainable_params, init_kaiming_



# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("batch_norm, expected", [(False, 5_340_742), (True, 755_718)])
def test_trainable_parameter_counts(batch_norm, expected):
    assert get_number_trainable_params(CNN(0.1, batch_norm=batch_norm)) == expected


def linear_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def test_frozen_parameters_are_not_counted():
    model = CNN(0.1, batch_norm=False)
    linear_layers(model)[-1].requires_grad_(False)
    assert get_number_trainable_params(model) == 5_340_742 - (512 * 6 + 6)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_cnn_returns_log_probabilities_of_shape_B_by_6(batch_norm):
    model = CNN(0.1, batch_norm=batch_norm).eval()
    x = torch.rand(5, 3, 48, 48)
    out = model(x)
    assert out.shape == (5, 6)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(5))
    torch.testing.assert_close(model(x.reshape(5, -1)), out)  # flat rows are read channel-first


def test_batch_norm_flag_switches_layers_through_identity():
    plain, normed = CNN(0.1, batch_norm=False), CNN(0.1, batch_norm=True)
    assert all(isinstance(block.norm, nn.Identity) for block in plain.blocks)
    assert all(isinstance(block.norm, nn.BatchNorm2d) for block in normed.blocks)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.AdaptiveAvgPool2d)) for m in plain.modules())
    assert sum(isinstance(m, nn.AdaptiveAvgPool2d) for m in normed.modules()) == 1
    mlp_layers = [type(m) for m in normed.mlp if not isinstance(m, nn.Identity)]
    assert mlp_layers[:5] == [nn.Flatten, nn.Linear, nn.ReLU, nn.BatchNorm1d, nn.Dropout]  # the statement's order
    assert linear_layers(normed)[0].in_features == 128 and linear_layers(plain)[0].in_features == 128 * 6 * 6


def test_conv_block_order_and_shapes():
    block = ConvBlock(3, 32, kernel_size=3, batch_norm=True, dropout=0.1)
    assert block.conv.stride == (1, 1) and block.conv.padding == (1, 1)
    assert block.pool.kernel_size == 2 and block.pool.stride == 2 and block.dropout.p == 0.1
    assert block(torch.rand(2, 3, 48, 48)).shape == (2, 32, 24, 24)
    no_pool = ConvBlock(3, 32, kernel_size=3, maxpool=False, batch_norm=False)
    assert isinstance(no_pool.pool, nn.Identity) and no_pool(torch.rand(2, 3, 48, 48)).shape == (2, 32, 48, 48)


def test_no_maxpool_derives_the_flatten_size():
    model = CNN(0.1, maxpool=False, batch_norm=False, image_side=8)
    assert linear_layers(model)[0].in_features == 128 * 8 * 8
    assert model(torch.rand(2, 3, 8, 8)).shape == (2, 6)
    assert CNN(0.1, maxpool=False, batch_norm=True)(torch.rand(2, 3, 48, 48)).shape == (2, 6)


def test_kaiming_init_scales_hidden_layers_and_zeroes_biases():
    model = init_kaiming_(CNN(0.1, batch_norm=False))
    fc = linear_layers(model)[0]
    assert fc.weight.std().item() == pytest.approx((2 / fc.in_features) ** 0.5, rel=0.02)
    assert all(block.conv.bias.abs().sum() == 0 for block in model.blocks)
    assert linear_layers(model)[-1].bias.abs().sum() > 0  # the output layer keeps torch's default


# ----------------------------------------------------------------------------- data


def _write_npz(path, images, labels=None, **overrides):
    n = images.shape[0]
    labels = np.arange(n) % 6 if labels is None else labels
    arrays = {f"{split}_{kind}": value for split in utils.INTEL_SPLITS
              for kind, value in (("images", images), ("labels", labels))}
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


def test_hwc_images_are_transposed_not_reshaped(tmp_path):
    hwc = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 3), dtype=np.uint8)
    chw = hwc.transpose(0, 3, 1, 2)
    expected = torch.from_numpy(chw.astype(np.float32) / 256)
    for name, stored in (("hwc", hwc), ("chw", chw), ("flat", chw.reshape(4, -1))):
        images, _ = utils.load_intel(_write_npz(tmp_path / f"{name}.npz", stored))["train"]
        assert images.shape == (4, 3, 48, 48) and images.dtype == torch.float32
        torch.testing.assert_close(images, expected, rtol=0, atol=0)
    # the red channel of pixel (row 0, column 1) is where a transpose puts it
    assert images[0, 0, 0, 1] == hwc[0, 0, 1, 0] / 256


def test_course_reshape_scrambles_hwc_images_as_the_course_does(tmp_path):
    hwc = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 3), dtype=np.uint8)
    images, _ = utils.load_intel(_write_npz(tmp_path / "hwc.npz", hwc), course_reshape=True)["train"]
    torch.testing.assert_close(images, torch.from_numpy(hwc.reshape(4, 3, 48, 48).astype(np.float32) / 256))
    assert not torch.equal(images, torch.from_numpy(hwc.transpose(0, 3, 1, 2).astype(np.float32) / 256))


def test_column_labels_are_squeezed(tmp_path):
    images = np.zeros((6, 48, 48, 3), np.uint8)
    _, labels = utils.load_intel(_write_npz(tmp_path / "d.npz", images, np.arange(6).reshape(6, 1)))["val"]
    assert labels.shape == (6,) and labels.dtype == torch.int64 and labels.tolist() == list(range(6))


def test_real_slice_loads_with_every_class():
    data = utils.load_intel(INTEL_SLICE)
    for split in utils.INTEL_SPLITS:
        images, labels = data[split]
        assert images.shape[1:] == (3, 48, 48) and 0 <= images.min() and images.max() < 1
        assert sorted(labels.unique().tolist()) == list(range(6))


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("garbage", "not an .npz archive"),
    ("no_keys", "missing keys"),
    ("bad_shape", "expected (N, 48, 48, 3)"),
    ("bad_labels", "expected 0..5"),
    ("label_count", "expected (6,)"),
])
def test_bad_data_files_raise_one_line_errors(tmp_path, case, message):
    path = tmp_path / "d.npz"
    images = np.zeros((6, 48, 48, 3), np.uint8)
    if case == "garbage":
        path.write_bytes(b"not a zip file")
    elif case == "no_keys":
        np.savez(path, train_images=images)
    elif case == "bad_shape":
        _write_npz(path, np.zeros((6, 32, 32, 3), np.uint8))
    elif case == "bad_labels":
        _write_npz(path, images, np.array([0, 1, 2, 3, 4, 6]))
    elif case == "label_count":
        _write_npz(path, images, np.arange(5))
    with pytest.raises(utils.UserError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        utils.load_intel(path)
    assert "\n" not in str(error.value)


def test_shuffled_batches_fold_a_last_batch_of_one():
    generator = torch.Generator().manual_seed(0)
    batches = q2.shuffled_batches(17, 8, generator)
    assert [len(b) for b in batches] == [8, 9]
    assert sorted(torch.cat(batches).tolist()) == list(range(17))
    assert [len(b) for b in q2.shuffled_batches(18, 8, generator)] == [8, 8, 2]


def test_unavailable_devices_are_refused():
    if not torch.cuda.is_available():
        with pytest.raises(utils.UserError, match="cuda is not available"):
            utils.resolve_device("cuda")
    with pytest.raises(utils.UserError, match="expected one of"):
        utils.resolve_device("tpu")


# ----------------------------------------------------------------------------- training loop


def test_evaluate_returns_accuracy_and_loss_and_restores_the_mode():
    model = CNN(0.1, batch_norm=True).train()
    X, y = torch.rand(10, 3, 48, 48), torch.arange(10) % 6
    accuracy, loss = q2.evaluate(model, X, y, nn.NLLLoss())
    assert model.training
    predicted, scores = q2.predict(model.eval(), X)
    assert accuracy == (predicted == y).float().mean().item()
    assert loss == pytest.approx(nn.NLLLoss()(scores, y).item())


def batch_norm_inputs(model, X):
    """What each batch-norm layer reads when the model evaluates X with dropout off."""
    seen = {}
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    hooks = [m.register_forward_pre_hook(lambda m, args: seen.setdefault(m, args[0].detach())) for m in norms]
    with torch.no_grad():
        model.eval()(X)
    for hook in hooks:
        hook.remove()
    return [(norm, seen[norm]) for norm in norms]


def test_recomputed_batch_norm_stats_are_the_mean_and_variance_over_the_images():
    torch.manual_seed(0)
    model = CNN(0.3, batch_norm=True).train()
    X = torch.rand(40, 3, 48, 48)  # one evaluation batch: the statistics are exact
    rng_state = torch.get_rng_state()
    q2.recompute_batch_norm_stats(model, X)
    assert model.training and all(norm.momentum == 0.1 for norm in model.modules() if hasattr(norm, "momentum"))
    assert torch.equal(torch.get_rng_state(), rng_state)  # dropout was off: training's random draws are untouched
    # Each layer's statistics are those of its input. Past the first layer the match is close,
    # not exact: while recomputing, the layers before normalised with the batch's biased
    # variance, and at evaluation they use the unbiased one that they stored.
    for i, (norm, inputs) in enumerate(batch_norm_inputs(model, X)):
        dims = [0, 2, 3] if inputs.dim() == 4 else [0]
        tolerance = {} if i == 0 else {"rtol": 1e-2, "atol": 1e-4}
        torch.testing.assert_close(norm.running_mean, inputs.mean(dims), **tolerance)
        torch.testing.assert_close(norm.running_var, inputs.var(dims, unbiased=True), **tolerance)


def test_recomputing_batch_norm_stats_takes_a_last_batch_of_one_and_skips_plain_networks():
    model = CNN(0.1, batch_norm=True)
    q2.recompute_batch_norm_stats(model, torch.rand(q2.EVAL_BATCH_SIZE + 1, 3, 48, 48))
    assert all(torch.isfinite(m.running_var).all() for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    plain = CNN(0.1, batch_norm=False)
    before = copy.deepcopy(plain.state_dict())
    q2.recompute_batch_norm_stats(plain, torch.rand(3, 3, 48, 48))
    assert all(torch.equal(before[k], v) for k, v in plain.state_dict().items())


def test_train_batch_returns_the_loss_and_takes_a_step():
    torch.manual_seed(0)
    model = CNN(0.0, batch_norm=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    X, y = torch.rand(4, 3, 48, 48), torch.tensor([0, 1, 2, 3])
    before = nn.NLLLoss()(model(X), y).item()
    loss = q2.train_batch(X, y, model, optimizer, nn.NLLLoss())
    assert loss.item() == pytest.approx(before)
    assert nn.NLLLoss()(model(X), y).item() < before


def test_end_to_end_run_prints_and_writes_results(tmp_path):
    # batch 8 over 180 images leaves a last batch of 4; 179 would leave one (folded in)
    result = run_script("hw2-q2.py", "-epochs", "2", "-batch_size", "7", "-data_path", INTEL_SLICE,
                        "-results_dir", tmp_path, "-no_progress", "-threads", "1")
    assert result.returncode == 0, result.stderr
    assert "Training loss" in result.stdout and "Validation accuracy" in result.stdout
    assert "Final test accuracy" in result.stdout
    assert "Number of trainable parameters: 755718" in result.stdout
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name == "cnn-bn-lr0.01-sgd-bs7-do0.1-l20-ep2-seed42"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "completed" and results["n_params"] == 755_718
    assert len(results["train_loss"]) == len(results["val_acc"]) == len(results["epoch_seconds"]) == 2
    assert "val_acc_running_bn" not in results  # the course's evaluation: running averages only
    assert 0 <= results["test_acc"] <= 1 and results["best_val_epoch"] in (1, 2)
    assert results["args"]["batch_size"] == 7 and results["argv"][:4] == ["-epochs", "2", "-batch_size", "7"]
    for stem in ("train_loss", "val_acc"):
        assert (run_dir / f"{stem}.png").stat().st_size > 0 and (run_dir / f"{stem}.pdf").exists()


def test_recomputed_statistics_option_records_both_evaluations_of_the_same_weights(tmp_path):
    runs = {}
    for stats in ("running", "recomputed"):
        result = run_script("hw2-q2.py", "-epochs", "2", "-bn_stats", stats, "-data_path", INTEL_SLICE,
                            "-results_dir", tmp_path, "-run_name", stats, "-no_progress", "-threads", "1")
        assert result.returncode == 0, result.stderr
        runs[stats] = json.loads((tmp_path / stats / "results.json").read_text())
    recomputed, running = runs["recomputed"], runs["running"]
    assert recomputed["train_loss"] == running["train_loss"]  # the statistics do not change training
    assert recomputed["val_acc_running_bn"] == running["val_acc"]
    assert recomputed["test_acc_running_bn"] == running["test_acc"]


def test_defaults_are_the_course_recipe():
    opt = q2.parse_args([])
    assert (opt.epochs, opt.batch_size, opt.learning_rate, opt.l2_decay, opt.dropout, opt.optimizer) == (
        40, 8, 0.01, 0.0, 0.1, "sgd")
    assert (opt.init, opt.bn_stats, opt.course_reshape, opt.bf16) == ("torch", "running", False, False)
    assert opt.batch_norm and not opt.no_maxpool


def test_runs_started_by_hand_go_to_a_folder_git_ignores():
    assert q2.parse_args([]).results_dir == "runs/q2"
    ignored = subprocess.run(["git", "check-ignore", "-q", "runs/q2/any-run/results.json"], cwd=ROOT)
    assert ignored.returncode == 0


def test_same_seed_gives_the_same_run(tmp_path):
    runs = [run_script("hw2-q2.py", "-epochs", "1", "-no_batch_norm", "-data_path", INTEL_SLICE,
                       "-results_dir", tmp_path / str(i), "-no_progress", "-threads", "1") for i in range(2)]
    losses = [json.loads(next((tmp_path / str(i)).iterdir()).joinpath("results.json").read_text())["train_loss"]
              for i in range(2)]
    assert all(run.returncode == 0 for run in runs) and losses[0] == losses[1]
    assert "val_acc_running_bn" not in json.loads(next((tmp_path / "0").iterdir()).joinpath("results.json").read_text())


def test_a_run_says_what_it_replaces_in_its_folder(tmp_path, capsys):
    def started():
        q2.RunFiles(tmp_path, {}, epochs=1).start(None, None, None, None, {}, resume=False, device="cpu")
        return [line.split(": warning: ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert started() == []
    (tmp_path / "results.json").write_text("{}")  # as every run leaves it
    assert started() == [f"{tmp_path}: an earlier run's results.json is replaced by this run's as soon as its first "
                         "epoch ends, its model.pt and plots when this run ends"]
    (tmp_path / "model.pt.resume").write_bytes(b"")  # as an interrupted run leaves it
    assert started() == [f"{tmp_path}: an interrupted run of these settings is replaced by this one (-resume would "
                         "have gone on with it)"]


def test_diverging_learning_rate_stops_with_a_message_and_keeps_the_record(tmp_path):
    result = run_script("hw2-q2.py", "-epochs", "3", "-no_batch_norm", "-learning_rate", "1e6",
                        "-data_path", INTEL_SLICE, "-results_dir", tmp_path, "-no_progress", "-threads", "1")
    assert result.returncode != 0
    assert "not finite" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    (run_dir,) = tmp_path.iterdir()
    assert json.loads((run_dir / "results.json").read_text())["status"].startswith("diverged")


@pytest.mark.parametrize("args, message", [
    (["-data_path", "nowhere.npz"], f"{ROOT / 'nowhere.npz'}: no such file; expected the Intel images .npz "
                                    f"({ROOT / 'data' / 'README.md'} says where it comes from)"),
    (["-data_path", "data/train.tsv"], f"{ROOT / 'data' / 'train.tsv'}: not an .npz archive; expected the Intel "
                                       f"images ({ROOT / 'data' / 'README.md'})"),
    (["-device", "mps"], "-device mps"),
    (["-epochs", "0"], "argument -epochs: expected at least 1, got 0"),
    (["-learning_rate", "-1"], "argument -learning_rate: expected a number above 0, got -1"),
    (["-dropout", "1.5"], "argument -dropout: expected a number at least 0 and below 1, got 1.5"),
    (["-optimizer", "rmsprop"], "argument -optimizer: invalid choice"),
])
def test_bad_arguments_get_one_clear_line(tmp_path, args, message):
    result = run_script("hw2-q2.py", *args, "-results_dir", tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_make_q2_in_miniature_then_reuse_then_comparisons(tmp_path):
    """`make q2` then `make q2-comparisons` in miniature, one epoch per run on the slice: the sweep picks a rate
    and runs three seeds; --reuse keeps only runs made with the same command line; each comparison adds one
    option to the course's recipe. One scenario, as its steps build on each other's runs."""
    root = tmp_path
    common = ["--epochs", "1", "--data_path", INTEL_SLICE, "--results_dir", root, "--log_dir", root / "logs"]
    result = run_script("-m", "scripts.q2_experiments", *common)
    assert result.returncode == 0, result.stderr
    summary = json.loads((root / "summary.json").read_text())
    sweep = {row["learning_rate"]: row for row in summary["runs"] if row["run"].startswith("Q2.1 lr")}
    assert sorted(sweep) == [0.001, 0.01, 0.1] and {row["seed"] for row in sweep.values()} == {42}
    completed = {lr: row["final_val_acc"] for lr, row in sweep.items() if row["status"] == "completed"}
    best = summary["best_learning_rate"]
    assert best == max(completed, key=completed.get)
    seeded = [(row["run"], row["learning_rate"]) for row in summary["runs"] if "seed" in row["run"]]
    assert seeded == [("Q2.1 seed 1", best), ("Q2.1 seed 2", best), ("Q2.2 seed 42", best),
                      ("Q2.2 seed 1", best), ("Q2.2 seed 2", best)]
    assert len(summary["seeds"]["Q2.1"]["test_acc"]["values"]) == len(summary["seeds"]["Q2.2"]["test_acc"]["values"]) == 3
    for stem in ("lr_sweep", "q21_vs_q22"):
        assert (root / f"{stem}.png").exists()
    for row in summary["runs"]:  # each row leads to its run's full record, made with the course's recipe
        args = json.loads((root / row["folder"] / "results.json").read_text())["args"]
        assert (args["learning_rate"], args["seed"]) == (row["learning_rate"], row["seed"])
        assert (args["init"], args["bn_stats"], args["course_reshape"]) == ("torch", "running", False)
    assert "| Q2.2 seed 42 |" in (root / "summary.md").read_text()

    record = root / "q21-lr0.1-seed42" / "results.json"
    before = record.read_text()
    result = run_script("-m", "scripts.q2_experiments", *common, "--reuse")
    assert result.returncode == 0, result.stderr
    assert "running" not in result.stdout and record.read_text() == before
    results = json.loads(before)
    results["argv"] = [*results["argv"], "-init", "kaiming"]  # as if made with another option
    record.write_text(json.dumps(results))
    result = run_script("-m", "scripts.q2_experiments", *common, "--reuse")
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("running")] == [
        f"running q21-lr0.1-seed42 (log: {root / 'logs' / 'q2-q21-lr0.1-seed42.log'})"]

    result = run_script("-m", "scripts.q2_experiments", "--comparisons", *common)
    assert result.returncode == 0, result.stderr
    comparisons = json.loads((root / "comparisons.json").read_text())
    best = json.loads((root / "summary.json").read_text())["best_learning_rate"]
    assert comparisons["best_learning_rate"] == best
    baseline = {row["run"].split()[0]: row for row in comparisons["runs"] if row["changes"] == "-"}
    added = {}
    for row in comparisons["runs"]:
        args = json.loads((root / row["folder"] / "results.json").read_text())["args"]
        reference = json.loads((root / baseline[row["run"].split()[0]]["folder"] / "results.json").read_text())["args"]
        added[row["run"]] = {key: value for key, value in args.items()
                             if value != reference[key] and key not in ("run_name",)}
    assert added == {"Q2.1 (course's recipe)": {}, "Q2.2 (course's recipe)": {},
                     "Q2.1 -init kaiming": {"init": "kaiming"}, "Q2.2 -init kaiming": {"init": "kaiming"},
                     "Q2.2 -bn_stats recomputed": {"bn_stats": "recomputed"},
                     "Q2.1 -course_reshape": {"course_reshape": True}, "Q2.2 -course_reshape": {"course_reshape": True}}
    for stem in ("course_reshape", "bn_statistics", "pixel_orders"):
        assert (root / f"{stem}.png").exists()


def test_comparisons_need_make_q2_first(tmp_path):
    result = run_script("-m", "scripts.q2_experiments", "--comparisons", "--epochs", "1", "--data_path", INTEL_SLICE,
                        "--results_dir", tmp_path, "--log_dir", tmp_path / "logs")
    assert result.returncode == 2 and "run `make q2` first" in result.stderr and "Traceback" not in result.stderr


def test_run_names_tell_the_batch_norm_statistics_apart_only_where_there_is_batch_norm():
    course = q2.parse_args([])
    settings = {name: getattr(course, name) for name in q2.TRAINING_FLAGS}

    def name(**options):
        return q2.default_run_name({**settings, **options}, 40)

    assert name() == "cnn-bn-lr0.01-sgd-bs8-do0.1-l20-ep40-seed42"
    assert name(bn_stats="recomputed").endswith("-seed42-bn-recomputed")
    assert name(no_batch_norm=True, bn_stats="recomputed") == "cnn-lr0.01-sgd-bs8-do0.1-l20-ep40-seed42"
    assert name(no_batch_norm=True, init="kaiming").endswith("-seed42-init-kaiming")