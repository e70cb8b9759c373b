"""Helpers shared by the Q3 tests: imports, a small real-data slice, a briefly trained model."""
import re
from pathlib import Path

import torch

import models
import utils
from conftest import ROOT, load_script

q3 = load_script("hw2-q3.py")

# Two threads on two busy cores are several times slower than one (spin-waiting).
torch.set_num_threads(1)


def slice_data(target_dir, n_train=300, n_eval=60):
    """Copy the first lines of the real train/valid/test files into `target_dir`."""
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("valid", n_eval), ("test", n_eval)):
        lines = (ROOT / "data" / f"{split}.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (target_dir / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    return target_dir


def documented_shape(doc, name, sizes):
    """The shape that a docstring gives for `name`, e.g. 'enc_output (B, S, H)', as ints."""
    match = re.search(rf"\b{re.escape(name)} \(([^)]*)\)", doc)
    assert match, f"{name} has no documented shape in:\n{doc}"
    return tuple(eval(symbol, {}, dict(sizes)) for symbol in match.group(1).rstrip(",").split(", ") if symbol)


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


def course_greedy(model, src, src_lengths, tgt_vocab, max_len=50):
    return q3.course_greedy(model, src, src_lengths, tgt_vocab, max_len)
