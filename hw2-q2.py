#!/usr/bin/env python
"""Q2: train a CNN on the Intel scenes and report validation and test accuracy.

    python hw2-q2.py -no_batch_norm -learning_rate 0.01   # Q2.1 network
    python hw2-q2.py -learning_rate 0.01                  # Q2.2 network (batch norm + GAP)
"""
import copy
import math
import sys
import time

import torch
from torch import nn
from tqdm import tqdm

import utils
from models import CNN, get_number_trainable_params, init_kaiming_

# the flags that shape a run, but for its length: they name its folder, and -resume checks them
TRAINING_FLAGS = ("no_batch_norm", "learning_rate", "optimizer", "batch_size", "dropout", "l2_decay", "seed",
                  "no_maxpool", "course_reshape", "bf16", "init", "bn_stats")
# 64 keeps each layer's activations in cache: measured 1.6-2.5x faster than batches of 1000 here
EVAL_BATCH_SIZE = 64
BN_STATS_IMAGES = 2048  # training images whose batch-norm statistics replace the running averages
DEFAULT_DATA = "data/intel_landscapes_48x48.npz"  # in the project; `make data` links it


def make_optimizer(name, parameters, learning_rate, l2_decay):
    """The optimiser of the -optimizer flag: SGD or Adam."""
    optimizer_class = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[name]
    return optimizer_class(parameters, lr=learning_rate, weight_decay=l2_decay)


def train_batch(X, y, model, optimizer, criterion):
    """One optimiser step on a batch; returns the batch loss (a 0-dim tensor)."""
    optimizer.zero_grad()
    loss = criterion(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


@torch.inference_mode()
def predict(model, X, return_scores=True):
    """Predicted labels (N,) for images X, and the log-probabilities (N, 6) if asked."""
    scores = torch.cat([model(batch) for batch in X.split(EVAL_BATCH_SIZE)])
    predicted_labels = scores.argmax(dim=-1)
    return (predicted_labels, scores) if return_scores else predicted_labels


def evaluate(model, X, y, criterion):
    """(accuracy, mean loss) of the model in eval mode; the caller's train/eval mode is restored."""
    was_training = model.training
    model.eval()
    y_hat, scores = predict(model, X, return_scores=True)
    model.train(was_training)
    return (y_hat == y).float().mean().item(), criterion(scores, y).item()


@torch.no_grad()
def recompute_batch_norm_stats(model, X):
    """Set every batch-norm layer's running mean and variance to their averages over images X.

    The running averages that torch keeps (momentum 0.1) follow the last few dozen
    training batches of 8 images, so they swing from step to step, and so does any
    accuracy measured with them. Averaging over a fixed set of training images, with
    dropout off as at evaluation, gives the statistics of the network as it is now.
    X must be in random order: each batch's variance is taken within the batch, so
    batches of one class would miss the differences between classes.
    """
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    if not norms:
        return
    batches = split_batches(X, EVAL_BATCH_SIZE)
    was_training = model.training
    model.eval()
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: every batch counts the same
        norm.train()
    for batch in batches:
        model(batch)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    model.train(was_training)


def with_recomputed_batch_norm_stats(model, X):
    """A copy of the model whose batch-norm statistics are recomputed over images X; the model's
    own running averages, and so its training, are left as they are."""
    evaluated = copy.deepcopy(model)
    recompute_batch_norm_stats(evaluated, X)
    return evaluated


def split_batches(items, batch_size):
    """items (N, ...) -> batches of `batch_size` along the first axis.

    A last batch of one example is folded into the one before it, because batch norm
    cannot compute training statistics from a single example.
    """
    batches = list(items.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def shuffled_batches(n, batch_size, generator):
    """Index batches of a fresh permutation of range(n), as `split_batches` cuts them."""
    return split_batches(torch.randperm(n, generator=generator), batch_size)


def train_epoch(model, optimizer, criterion, X, y, batch_size, generator, device, progress=False, bf16=False):
    """One pass over the shuffled training set; returns the mean batch loss of the epoch."""
    model.train()
    batches = shuffled_batches(len(y), batch_size, generator)
    total = torch.zeros((), device=device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for index in tqdm(batches, desc="train", unit="batch", leave=False, disable=not progress):
            total += train_batch(X[index], y[index], model, optimizer, criterion)
    return (total / len(batches)).item()


class Evaluator:
    """Validation and test accuracy of the model as training left it: with torch's running
    batch-norm averages (the course's), or with `bn_stats_images` given, of a copy whose
    statistics are recomputed over those images; then the running averages' accuracy is
    recorded beside it, to compare."""

    def __init__(self, criterion, bn_stats_images=None):
        self.criterion, self.bn_stats_images = criterion, bn_stats_images
        self.running_bn = {"val_acc_running_bn": []} if bn_stats_images is not None else {}

    def evaluated(self, model):
        """The model that validation and test measure."""
        if self.bn_stats_images is None:
            return model
        return with_recomputed_batch_norm_stats(model, self.bn_stats_images)

    def validate(self, model, X, y):
        """-> (the model measured, its accuracy, its mean loss) on the validation images X, y."""
        if self.bn_stats_images is not None:
            self.running_bn["val_acc_running_bn"].append(evaluate(model, X, y, self.criterion)[0])
        evaluated = self.evaluated(model)
        return (evaluated, *evaluate(evaluated, X, y, self.criterion))

    def test(self, model, X, y):
        """-> (accuracy, mean loss) on the test images X, y."""
        if self.bn_stats_images is not None:
            self.running_bn["test_acc_running_bn"] = evaluate(model, X, y, self.criterion)[0]
        return evaluate(self.evaluated(model), X, y, self.criterion)


class RunFiles:
    """What a run keeps in `out_dir` as it goes, and the line Ctrl-C (or SIGTERM) stops it with.

    After every epoch, results.json (the history so far, beside `record`, the run's arguments)
    and model.pt.resume (all that -resume needs to go on exactly, with the run's `settings`)
    are written together, never one without the other. `finish` writes the run's last files,
    then removes the resume file.
    """

    def __init__(self, out_dir, settings, epochs):
        self.out_dir, self.settings, self.epochs = out_dir, settings, epochs
        self.resume_path = utils.resume_path(out_dir / "model.pt")
        self.saved = None  # the epochs kept so far; None before training starts
        self.best = None
        self.finished = False

    def start(self, model, optimizer, generator, evaluator, record, resume, device):
        """-> (history, best) so far: the interrupted run's with `resume` (restored into the model,
        optimiser, generator and evaluator), else empty, with a warning if it replaces another run's
        files. `save_epoch` saves these four, and `record`."""
        self.model, self.optimizer, self.generator, self.evaluator = model, optimizer, generator, evaluator
        self.record = record
        history = {"train_loss": [], "val_loss": [], "val_acc": [], "epoch_seconds": []}
        best = {"epoch": None, "val_acc": -1.0, "state": None}
        if resume:
            kept = utils.load_training_state(self.resume_path, model, optimizer, generator, self.settings, "-", device)
            history, best, evaluator.running_bn = kept["history"], kept["best"], kept["running_bn"]
            print(f"Resuming {self.out_dir} after epoch {len(history['val_acc'])}")
        elif self.resume_path.exists():
            utils.warn(f"{self.out_dir}: an interrupted run of these settings is replaced by this one "
                       f"(-resume would have gone on with it)")
        elif (self.out_dir / "results.json").exists():
            utils.warn(f"{self.out_dir}: an earlier run's results.json is replaced by this run's as soon as its "
                       f"first epoch ends, its model.pt and plots when this run ends")
        self.saved, self.best = len(history["val_acc"]), best
        return history, best

    def save_epoch(self, history, best):
        epoch = len(history["val_acc"])
        running_bn = self.evaluator.running_bn
        with utils.uninterrupted():  # the resume file and results.json always hold the same epochs
            utils.save_training_state(self.resume_path, self.model, self.optimizer, self.generator, {
                "settings": self.settings, "history": history, "best": best, "running_bn": running_bn})
            utils.write_json(self.out_dir / "results.json", {
                **self.record, **history, **running_bn,
                "status": f"unfinished: {epoch} of {self.epochs} epochs"})
            self.saved, self.best = epoch, best

    def finish(self, model, results, history):
        """The final model (if trained to the end), results.json and the plots; then the resume file goes."""
        with utils.uninterrupted():  # the run's files all written, then its resume file goes
            if results["status"] == "completed":
                save_model(model, self.out_dir / "model.pt", {**self.settings, "epochs": self.epochs})
            utils.write_json(self.out_dir / "results.json", results)
            if history["train_loss"]:
                plot_run(history, self.out_dir, self.out_dir.name)
            self.resume_path.unlink(missing_ok=True)
            self.finished = True
            print(f"Results written to {self.out_dir}/")

    def what_was_kept(self):
        """The line that says where the run stopped, what it kept and how to go on."""
        if self.finished:
            return f"interrupted as the run ended, once its files were all written in {self.out_dir}/"
        if self.saved is None:
            return "interrupted before training started: no file was written or changed"
        if self.saved == 0:
            return f"interrupted in epoch 1 of {self.epochs}; no epoch had ended: nothing was saved"
        if self.saved == self.epochs:
            return (f"interrupted after the last epoch, before or while testing; the trained run is kept in "
                    f"{self.resume_path}; the same command with -resume tests it")
        return (f"interrupted in epoch {self.saved + 1} of {self.epochs}; the {self.saved} epoch(s) before it are "
                f"kept in {self.resume_path} and {self.out_dir / 'results.json'} (best validation accuracy "
                f"{self.best['val_acc']:.4f} at epoch {self.best['epoch']}); the same command with -resume goes on")


def train(model, optimizer, evaluator, data, epochs, batch_size, generator, device, run, history, best,
          progress=False, bf16=False):
    """Train from the epoch after `history`'s last to `epochs`, validating after each, saving each
    through `run` -> (history, the best validation epoch's {epoch, val_acc, state}, status:
    "completed" or where training diverged)."""
    (train_X, train_y), (val_X, val_y) = data["train"], data["val"]
    for epoch in range(len(history["val_acc"]) + 1, epochs + 1):
        start = time.perf_counter()
        train_loss = train_epoch(model, optimizer, evaluator.criterion, train_X, train_y, batch_size, generator,
                                 device, progress=progress, bf16=bf16)
        evaluated, val_acc, val_loss = evaluator.validate(model, val_X, val_y)
        history["epoch_seconds"].append(round(time.perf_counter() - start, 2))
        if not math.isfinite(train_loss):
            return history, best, f"diverged at epoch {epoch}"
        for key, value in zip(("train_loss", "val_loss", "val_acc"), (train_loss, val_loss, val_acc)):
            history[key].append(value)
        if val_acc > best["val_acc"]:
            best = {"epoch": epoch, "val_acc": val_acc, "state": copy.deepcopy(evaluated.state_dict())}
        print(f"Epoch {epoch}/{epochs}  Training loss: {train_loss:.4f}  "
              f"Validation loss: {val_loss:.4f}  Validation accuracy: {val_acc:.4f}  "
              f"({history['epoch_seconds'][-1]:.1f}s)", flush=True)
        run.save_epoch(history, best)
    return history, best, "completed"


def test(model, evaluator, best, test_X, test_y):
    """Test accuracy of the final model (the statement's) and of the best validation epoch's."""
    test_acc, test_loss = evaluator.test(model, test_X, test_y)
    best_model = copy.deepcopy(model)
    best_model.load_state_dict(best["state"])
    best_test_acc, _ = evaluate(best_model, test_X, test_y, evaluator.criterion)
    print(f"Final test accuracy: {test_acc:.4f} (the model after the last epoch: the accuracy the statement asks for)")
    print(f"Best validation accuracy {best['val_acc']:.4f} at epoch {best['epoch']}; "
          f"test accuracy of that model: {best_test_acc:.4f} (ours, beside it; not asked for)")
    return {"test_acc": test_acc, "test_loss": test_loss, "test_acc_at_best_val": best_test_acc}


def load_data(path, course_reshape, device):
    """The Intel splits as tensors on `device`: {split: (images (N, 3, 48, 48) channels-last, labels (N,))}.

    Channels-last makes oneDNN's max-pooling many times faster on CPU; the maths is unchanged.
    """
    path = utils.absolute(path)
    if path == utils.absolute(utils.in_project(DEFAULT_DATA)) and not path.is_file():
        shared = utils.absolute(utils.in_project("../shared/data/intel"))
        raise utils.UserError(f"{path}: no such file; `make data` links it from {shared} where that is there; "
                              f"else give -data_path the course's intel_landscapes.v2.npz ({utils.DATA_README})")
    data = utils.load_intel(path, course_reshape=course_reshape)
    return {split: (X.to(device).contiguous(memory_format=torch.channels_last), y.to(device))
            for split, (X, y) in data.items()}


def build_model(dropout, maxpool, batch_norm, init, device):
    """The Q2.1 (batch_norm=False) or Q2.2 CNN, initialised by `init`, channels-last on `device`."""
    model = CNN(dropout, maxpool=maxpool, batch_norm=batch_norm)
    if init == "kaiming":
        init_kaiming_(model)
    return model.to(device, memory_format=torch.channels_last)


def bn_stats_subset(train_X, seed):
    """BN_STATS_IMAGES training images in random order, drawn apart from the training shuffle."""
    subset = torch.randperm(len(train_X), generator=torch.Generator().manual_seed(seed))[:BN_STATS_IMAGES]
    return train_X[subset.to(train_X.device)]


def default_run_name(settings, epochs):
    """The folder name of a run started by hand: its configuration, options that differ from the course's last."""
    parts = ["cnn" if settings["no_batch_norm"] else "cnn-bn", f"lr{settings['learning_rate']:g}",
             settings["optimizer"], f"bs{settings['batch_size']}", f"do{settings['dropout']:g}",
             f"l2{settings['l2_decay']:g}", f"ep{epochs}", f"seed{settings['seed']}"]
    options = {"nomaxpool": settings["no_maxpool"], "course-reshape": settings["course_reshape"],
               "bf16": settings["bf16"], f"init-{settings['init']}": settings["init"] != "torch",
               f"bn-{settings['bn_stats']}": not settings["no_batch_norm"] and settings["bn_stats"] != "running"}
    return "-".join(parts + [name for name, used in options.items() if used])


def save_model(model, path, settings):
    """The final model's state_dict at `path`, with the settings it was trained with beside it (.json)."""
    replacing = path.exists()
    utils.save_checkpoint(model, path, settings)
    print(f"Wrote {path}, the final model (its settings: {utils.checkpoint_config_path(path)})"
          + (", replacing an earlier run's" if replacing else ""))


def plot_run(history, out_dir, title):
    utils.plot_series({"train": history["train_loss"]}, "Training loss", out_dir / "train_loss", title)
    utils.plot_series({"validation": history["val_acc"]}, "Validation accuracy", out_dir / "val_acc", title)


def parse_args(argv):
    parser = utils.ArgumentParser(description=__doc__)
    parser.add_argument("-epochs", type=utils.count(), default=40, help="number of training epochs")
    parser.add_argument("-batch_size", type=utils.count(), default=8, help="mini-batch size")
    parser.add_argument("-learning_rate", type=utils.number(above=0), default=0.01, help="step size")
    parser.add_argument("-l2_decay", type=utils.number(at_least=0), default=0.0, help="weight decay")
    parser.add_argument("-dropout", type=utils.number(at_least=0, below=1), default=0.1, help="dropout probability")
    parser.add_argument("-optimizer", choices=["sgd", "adam"], default="sgd", help="the optimiser")
    parser.add_argument("-no_maxpool", action="store_true", help="drop the max-pooling layers")
    parser.add_argument("-no_batch_norm", action="store_true",
                        help="the Q2.1 network; without it, batch norm + global average pooling (Q2.2)")
    parser.add_argument("-data_path", default=utils.in_project(DEFAULT_DATA),
                        help=f"the Intel .npz file (default: the project's {DEFAULT_DATA})")
    parser.add_argument("-device", default="cpu", help="cpu, cuda or mps")
    parser.add_argument("-seed", type=int, default=42, help="seeds initialisation, shuffling and dropout")
    parser.add_argument("-course_reshape", action="store_true",
                        help="reshape each stored image row to (3, 48, 48) as the course's network does, "
                             "instead of transposing height x width x channel images")
    parser.add_argument("-init", choices=["torch", "kaiming"], default="torch",
                        help="weight initialisation: torch's layer defaults (the course's), or He-normal with zero biases")
    parser.add_argument("-bn_stats", choices=["running", "recomputed"], default="running",
                        help="batch-norm statistics at evaluation: torch's running averages (the course's), or "
                             f"recomputed over {BN_STATS_IMAGES} training images before each evaluation")
    parser.add_argument("-bf16", action="store_true",
                        help="train under bfloat16 autocast: faster on CPUs with bf16 units, results differ")
    parser.add_argument("-threads", type=utils.count(), default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("-results_dir", default=utils.in_project("runs/q2"),
                        help="where the run's folder is written (default: the project's runs/q2)")
    parser.add_argument("-run_name", default=None,
                        help="the run's folder in -results_dir (default: named after its configuration)")
    parser.add_argument("-resume", action="store_true",
                        help="go on with the interrupted run of these flags (its folder) from its last finished epoch")
    parser.add_argument("-no_progress", action="store_true", help="no progress bar (there is none when stderr is a file)")
    opt = parser.parse_args(argv)
    opt.batch_norm = not opt.no_batch_norm
    return opt


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    opt = parse_args(argv)
    print("Arguments:", vars(opt))
    device = utils.resolve_device(opt.device)
    if opt.threads:
        torch.set_num_threads(opt.threads)
    utils.configure_seed(opt.seed)
    settings = {name: getattr(opt, name) for name in TRAINING_FLAGS}
    run = RunFiles(utils.absolute(opt.results_dir) / (opt.run_name or default_run_name(settings, opt.epochs)),
                   settings, opt.epochs)
    with utils.stop_on_ctrl_c(run.what_was_kept):
        data = load_data(opt.data_path, opt.course_reshape, device)
        model = build_model(opt.dropout, not opt.no_maxpool, opt.batch_norm, opt.init, device)
        n_params = get_number_trainable_params(model)
        optimizer = make_optimizer(opt.optimizer, model.parameters(), opt.learning_rate, opt.l2_decay)
        recompute = opt.batch_norm and opt.bn_stats == "recomputed"
        evaluator = Evaluator(nn.NLLLoss(), bn_stats_subset(data["train"][0], opt.seed) if recompute else None)
        generator = torch.Generator().manual_seed(opt.seed)
        record = {"args": vars(opt), "argv": argv, "n_params": n_params}
        history, best = run.start(model, optimizer, generator, evaluator, record, opt.resume, device)

        history, best, status = train(model, optimizer, evaluator, data, opt.epochs, opt.batch_size, generator, device,
                                      run, history, best, progress=sys.stderr.isatty() and not opt.no_progress,
                                      bf16=opt.bf16)
        results = {**record, "status": status, **history, **evaluator.running_bn, "best_val_epoch": best["epoch"],
                   "best_val_acc": best["val_acc"] if best["epoch"] else None}
        if status == "completed":
            results.update(test(model, evaluator, best, *data["test"]))
            results.update(evaluator.running_bn)
        print(f"Number of trainable parameters: {n_params}")
        run.finish(model, results, history)
    if status != "completed":
        raise utils.UserError(f"-learning_rate {opt.learning_rate:g}: training loss is not finite, {status}; "
                              f"the epochs before it are in {run.out_dir / 'results.json'}")
    return results


if __name__ == "__main__":
    utils.run_main(main)
