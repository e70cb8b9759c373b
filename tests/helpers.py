"""Helpers shared by the tests: the repo's scripts as modules, real-data slices, a briefly trained model."""
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import utils
from scripts.pool import python

ROOT = Path(__file__).resolve().parents[1]
INTEL_SLICE = ROOT / "tests" / "data" / "intel_slice.npz"

q2 = importlib.import_module("hw2-q2")
q3 = importlib.import_module("hw2-q3")


def run_script(*args, cwd=ROOT, stdin=None, timeout=600):
    """Run `python *args` as a user would, in a process as a fresh interpreter has it (forked from one that
    imported torch: scripts.pool) -> the CompletedProcess, with its output and errors as text."""
    with tempfile.TemporaryDirectory(prefix="run_script-") as scratch:
        stdout, stderr, given = (Path(scratch) / name for name in ("stdout", "stderr", "stdin"))
        given.write_text(stdin or "", encoding="utf-8")
        status = python(args, cwd, stdout, stderr, stdin=given, timeout=timeout,
                        env={**os.environ, "PYTHONIOENCODING": "utf-8"})
        if status is None:
            raise subprocess.TimeoutExpired([sys.executable, *map(str, args)], timeout)
        return subprocess.CompletedProcess([sys.executable, *map(str, args)], status,
                                           *(path.read_text(encoding="utf-8") for path in (stdout, stderr)))


def slice_data(target_dir, n_train=300, n_eval=60):
    """Copy the first lines of the real train/valid/test files into `target_dir`."""
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("valid", n_eval), ("test", n_eval)):
        lines = (ROOT / "data" / f"{split}.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (target_dir / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    return target_dir


def copy_project(target, n_train=300, n_eval=30):
    """A fresh project as a clone gives it, in `target`: the drivers and what they import, the first
    lines of the P2G files in its data/, the Makefile, no Intel npz; its scripts' default paths are
    `target`'s (nothing is written into this repository)."""
    target = Path(target)
    target.mkdir(parents=True)
    for name in ("hw2-q2.py", "hw2-q3.py", "utils.py", "models.py", "Makefile"):
        shutil.copy(ROOT / name, target / name)
    slice_data(target / "data", n_train=n_train, n_eval=n_eval)
    return target


def train_briefly(use_attn, steps=80, hidden_size=32, seed=0, n_words=640):
    """A small model trained a few steps on real words, so that it produces EOS."""
    torch.manual_seed(seed)
    data, src_vocab, tgt_vocab = utils.load_p2g(ROOT / "data", splits=("train", "test"))
    config = {"hidden_size": hidden_size, "dropout": 0.1, "use_attn": use_attn}
    model = q3.build_model(config, len(src_vocab), len(tgt_vocab))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    train = data["train"]
    for _ in range(steps):
        src, src_lengths, tgt = train.batch(torch.randint(n_words, (64,), generator=generator))
        logits, _ = model(src, src_lengths, tgt)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1),
                                                 ignore_index=utils.PAD_IDX)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), data["test"], src_vocab, tgt_vocab
