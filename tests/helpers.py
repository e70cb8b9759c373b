"""Helpers shared by the tests: the repo's scripts as modules, real-data slices, a briefly trained model."""
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

import utils

ROOT = Path(__file__).resolve().parents[1]
INTEL_SLICE = ROOT / "tests" / "data" / "intel_slice.npz"

q2 = importlib.import_module("hw2-q2")
q3 = importlib.import_module("hw2-q3")


def run_script(*args, cwd=ROOT, stdin=None):
    """Run a repo script in a fresh interpreter, as a user would; returns the CompletedProcess."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, input=stdin, env=env,
                          capture_output=True, text=True, timeout=600)


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
