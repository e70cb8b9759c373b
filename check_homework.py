"""Check a student's own Homework 2 by running it: one line per check, PASS, FAIL or SKIP.

    python check_homework.py FOLDER [FOLDER ...] [--json FILE] [--data_dir data/] [--npz FILE] [--device cpu]

FOLDER holds the Q3 files (models.py, hw2-q3.py, data.py, checkpoints *.pt) and the Q2
files (hw2-q2.py, utils.py), together or in subfolders such as hw2-q3/ and hw2-q2/; they
are searched for. The student's modules are imported in isolation (their folder first on
the path, their own utils.py, data.py and models.py, never this project's) and checked by
behaviour on tiny inputs made here, with the course's constructor signatures
(shared/spec/interfaces.md). Nothing of the student's source is read.

Exit status: 0 nothing failed, 1 a check failed, 2 a bad command line or a folder with
nothing to check.
"""
import contextlib
import importlib
import io
import itertools
import math
import os
import random
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

import utils
from utils import EOS_IDX, PAD_IDX, SOS_IDX, UNK_IDX

# this project's Q3 script, loaded before any student's module can take its name; its
# description of a state_dict that does not fit a model is reused
REFERENCE_Q3 = importlib.import_module("hw2-q3")

ROOT = Path(__file__).resolve().parent
REFERENCE_SUMMARY = ROOT / "results" / "q3" / "summary.json"
REFERENCE_ROWS = {False: "No attention, greedy", True: "Attention, greedy"}

# The module names a student's files take; the checker's own `utils` (and, in a test run,
# this project's models and scripts) hold them too, so they are swapped out while the
# student's are imported.
CLASHING_MODULES = ("utils", "models", "data", "hw2-q2", "hw2-q3")
SKIPPED_DIRS = {".git", ".venv", "venv", "env", "__pycache__", "node_modules", "site-packages", ".ipynb_checkpoints"}
SEARCH_DEPTH = 4

# Tiny Q3 models: large enough that a wrong formula cannot pass by accident, small enough to be instant.
SRC_VOCAB, TGT_VOCAB, HIDDEN, DROPOUT = 11, 9, 16, 0.3
SRC_LENGTHS, TGT_LENGTHS = (4, 6, 2), (5, 3, 7)  # unsorted, as the course's DataLoader batches them
TOLERANCE = 1e-5
MAX_LEN = 50  # the course driver's --max_len
DECODE_BATCH = 256
VERIFY_WORDS = 12  # words decoded one at a time to confirm that batching changes nothing

NUCLEUS_SUPPORT_DRAWS = 2000
NUCLEUS_FREQUENCY_DRAWS = 20_000
CHI_SQUARE_ALPHA = 1e-4  # a correct sampler fails one run in 10,000

Q2_PARAMS = {False: 5_340_742, True: 755_718}
INTEL_SIDE = utils.INTEL_SIDE
LAYOUT_IMAGES = 16


# ----------------------------------------------------------------------------- verdicts


class CheckFailed(Exception):
    """A check's verdict: the student's code does something other than expected."""


class CheckSkipped(Exception):
    """A check that cannot run on this folder (a file, a flag or the data is missing)."""


def fail(message):
    raise CheckFailed(message)


@dataclass
class Result:
    id: str
    question: str
    status: str  # "pass", "fail" or "skip"
    message: str


@dataclass
class Student:
    """One folder's imported modules and the options that its checks read."""

    folder: Path
    device: torch.device
    data_dir: Path
    npz: Path = None
    models: object = None
    script: object = None  # hw2-q3.py
    data: object = None
    q2: object = None  # hw2-q2.py
    checkpoint_scores: list = field(default_factory=list)


# ----------------------------------------------------------------------------- finding the files


@dataclass
class Layout:
    q3_dir: Path = None
    q2_dir: Path = None
    checkpoints: list = field(default_factory=list)


def walk(folder, depth=SEARCH_DEPTH):
    """Directories under `folder` (itself first, shallowest first), skipping environments and caches."""
    found = []
    for current, dirs, files in os.walk(folder):
        level = len(Path(current).relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        if level >= depth:
            dirs[:] = []
        found.append((level, Path(current), set(files)))
    return [(path, files) for _, path, files in sorted(found, key=lambda item: (item[0], str(item[1])))]


def find_layout(folder):
    """Where the student's Q3 and Q2 files are: the shallowest directory holding each."""
    layout = Layout()
    for path, files in walk(folder):
        if layout.q3_dir is None and ("hw2-q3.py" in files or {"models.py", "data.py"} <= files):
            layout.q3_dir = path
        if layout.q2_dir is None and "hw2-q2.py" in files:
            layout.q2_dir = path
    if layout.q3_dir is not None:
        layout.checkpoints = sorted(path / name for path, files in walk(layout.q3_dir, depth=3)
                                    for name in files if name.endswith(".pt"))
    return layout


# ----------------------------------------------------------------------------- isolated imports


def is_student_file(filename, folder):
    path = Path(filename).resolve()
    if path == Path(__file__).resolve() or not path.is_relative_to(folder):
        return False
    return not SKIPPED_DIRS & set(path.relative_to(folder).parts)


def student_location(error, folder):
    """'file.py:line' of the innermost traceback frame in the student's folder, or ''."""
    if isinstance(error, SyntaxError) and error.filename and is_student_file(error.filename, folder):
        return f"{Path(error.filename).resolve().relative_to(folder)}:{error.lineno}"
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if is_student_file(frame.filename, folder):
            return f"{Path(frame.filename).resolve().relative_to(folder)}:{frame.lineno}"
    return ""


def describe_error(error, folder):
    """One line: what was raised, and where in the student's files."""
    if isinstance(error, SyntaxError):
        text = f"SyntaxError: {error.msg}"
    else:
        lines = str(error).strip().splitlines()
        text = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    if len(text) > 200:
        text = text[:197] + "..."
    where = student_location(error, folder)
    return f"{text} (at {where})" if where else text


@contextlib.contextmanager
def quiet():
    """Swallow what the student's code prints (students print a lot) and its warnings."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def isolated_imports(folder):
    """Import the student's modules from `folder`, never this project's; unload them afterwards.

    This project's own modules under the clashing names are set aside and put back, and
    this project's directory leaves the path, so that a student file missing from the
    folder is reported missing rather than silently replaced by ours.
    """
    saved_modules = {name: sys.modules.pop(name) for name in CLASHING_MODULES if name in sys.modules}
    saved_path = list(sys.path)
    sys.path[:] = [str(folder)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT]
    loaded_before = set(sys.modules)
    try:
        yield
    finally:
        for name in set(sys.modules) - loaded_before:
            filename = getattr(sys.modules[name], "__file__", None)
            if name in CLASHING_MODULES or (filename and is_student_file(filename, folder)):
                del sys.modules[name]
        sys.path[:] = saved_path
        sys.modules.update(saved_modules)


def import_student_module(name, folder, failed_files):
    """Import the student's module `name` -> (module, None), or (None, Result-ready message).

    `failed_files` holds the files that already failed to import: a module that fails
    only because it imports one of them is not reported twice.
    """
    try:
        with quiet():
            return importlib.import_module(name), None
    except (Exception, SystemExit) as error:
        where = student_location(error, folder)
        culprit = where.rsplit(":", 1)[0] if where else ""
        if culprit and culprit != f"{name}.py" and culprit in failed_files:
            return None, ("skip", f"imports {culprit}, which does not import")
        missing = getattr(error, "name", None) if isinstance(error, ModuleNotFoundError) else None
        if missing and missing.split(".")[0] in CLASHING_MODULES:
            message = f"{name}.py imports {missing}, but there is no {missing}.py beside it"
        elif missing:
            package = missing.split(".")[0]
            message = (f"needs the package '{package}', which is not installed (at {where}): "
                       f"pip install {package}, or remove the import")
        else:
            message = describe_error(error, folder)
        failed_files.add(culprit or f"{name}.py")
        return None, ("fail", f"{name}.py does not import: {message}")


# ----------------------------------------------------------------------------- tiny inputs and models


def seeded(seed=0):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def padded_batch(lengths, vocab_size, device, seed):
    """Random tokens (B, max(lengths)) that are never special, PAD after each length; lengths (B,)."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(UNK_IDX + 1, vocab_size, (len(lengths), max(lengths)), generator=generator)
    for row, length in enumerate(lengths):
        tokens[row, length:] = PAD_IDX
    return tokens.to(device), torch.tensor(lengths, device=device)


def tiny_inputs(device):
    """src (B, S), src_lengths (B,), tgt (B, T) `SOS ... EOS PAD ...`, tgt_lengths (B,)."""
    src, src_lengths = padded_batch(SRC_LENGTHS, SRC_VOCAB, device, seed=1)
    tgt, tgt_lengths = padded_batch(TGT_LENGTHS, TGT_VOCAB, device, seed=2)
    tgt[:, 0] = SOS_IDX
    for row, length in enumerate(TGT_LENGTHS):
        tgt[row, length - 1] = EOS_IDX
    return src, src_lengths, tgt, tgt_lengths


def build_seq2seq(models, device, use_attn, hidden=HIDDEN, src_vocab=SRC_VOCAB, tgt_vocab=TGT_VOCAB, seed=0):
    """The student's Seq2Seq built as the course's driver builds it, in eval mode."""
    seeded(seed)
    encoder = models.Encoder(src_vocab, hidden, PAD_IDX, DROPOUT)
    attn = models.BahdanauAttention(hidden) if use_attn else None
    decoder = models.Decoder(hidden, tgt_vocab, attn, PAD_IDX, DROPOUT)
    return models.Seq2Seq(encoder, decoder).to(device).eval()


def attention_problem(st):
    """Why the student's attention cannot be used on its own ('' when it can)."""
    try:
        seeded()
        attn = st.models.BahdanauAttention(HIDDEN).to(st.device).eval()
        with torch.no_grad():
            attn(torch.randn(2, 3, HIDDEN, device=st.device), torch.randn(2, 4, HIDDEN, device=st.device),
                 torch.tensor([4, 4], device=st.device))
        return ""
    except Exception as error:
        return describe_error(error, st.folder)


def model_variants(st):
    """[(use_attn, label)] to check, and a note when attention is left out because it is broken."""
    problem = attention_problem(st)
    if problem:
        return [(False, "without attention")], f" (attention not checked here, it raises {problem}; see q3.attention.*)"
    return [(False, "without attention"), (True, "with attention")], " (with and without attention)"


def expect_tensor(value, shape, what):
    if not isinstance(value, torch.Tensor):
        fail(f"{what}: expected a tensor of shape {shape}, found {type(value).__name__}")
    if tuple(value.shape) != tuple(shape):
        fail(f"{what}: expected shape {tuple(shape)}, found {tuple(value.shape)}")


def expect_pair(value, what):
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        fail(f"{what}: expected a pair, found {type(value).__name__}"
             + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""))
    return value


def max_difference(a, b):
    return float((a.float() - b.float()).abs().max()) if a.numel() else 0.0


# ----------------------------------------------------------------------------- Q3: models.py


def check_reshape_state(st):
    seeded()
    h, c = (torch.randn(2, 3, HIDDEN // 2, device=st.device) for _ in range(2))
    out = expect_pair(st.models.reshape_state((h, c)), "reshape_state((h, c))")
    for name, part, result in (("h", h, out[0]), ("c", c, out[1])):
        expect_tensor(result, (1, 3, HIDDEN), f"reshape_state: {name} of (2, B, H/2) = {tuple(part.shape)} ->")
        if max_difference(result, torch.cat([part[1], part[0]], -1).unsqueeze(0)) < TOLERANCE:
            fail(f"{name}: the halves are swapped, found [backward; forward]; expected [forward; backward] "
                 f"(index 0 of the LSTM's final states is the forward direction)")
        if max_difference(result, torch.cat([part[0], part[1]], -1).unsqueeze(0)) > TOLERANCE:
            fail(f"{name}: expected torch.cat([{name}[0], {name}[1]], dim=-1).unsqueeze(0), found other values")
    return "(2, B, H/2) -> (1, B, H), forward direction first"


def check_encoder_shapes(st):
    model = build_seq2seq(st.models, st.device, use_attn=False)
    src, src_lengths, _, _ = tiny_inputs(st.device)
    B, S = src.shape
    with torch.no_grad():
        enc_output, state = expect_pair(model.encoder(src, src_lengths), "encoder(src, lengths)")
    expect_tensor(enc_output, (B, S, HIDDEN), "enc_output (B, S, H)")
    h, c = expect_pair(state, "encoder final state (h, c)")
    if isinstance(h, torch.Tensor) and tuple(h.shape) == (1, B, HIDDEN):
        fail(f"final states have shape (1, B, H) = {tuple(h.shape)}, already joined; expected the LSTM's "
             f"(2, B, H/2): the course's decoder joins them itself with reshape_state")
    expect_tensor(h, (2, B, HIDDEN // 2), "final h (2, B, H/2)")
    expect_tensor(c, (2, B, HIDDEN // 2), "final c (2, B, H/2)")
    return "enc_output (B, S, H), final states (2, B, H/2)"


def check_decoder_shapes(st):
    model = build_seq2seq(st.models, st.device, use_attn=False)
    src, src_lengths, tgt, _ = tiny_inputs(st.device)
    (B, T), V = tgt.shape, TGT_VOCAB
    with torch.no_grad():
        enc_output, state = model.encoder(src, src_lengths)
        outputs, dec_state = expect_pair(model.decoder(tgt, state, enc_output, src_lengths), "decoder(tgt, ...)")
        if isinstance(outputs, torch.Tensor) and tuple(outputs.shape) == (B, T, HIDDEN):
            fail(f"a full target gives (B, T, H) = {tuple(outputs.shape)}; expected (B, T-1, H): a training "
                 f"target SOS ... EOS is read as tgt[:, :-1], whose outputs predict tgt[:, 1:]")
        expect_tensor(outputs, (B, T - 1, HIDDEN), "decoder outputs for a full target (B, T-1, H)")
        for name, part in zip("hc", expect_pair(dec_state, "decoder state (h, c)")):
            expect_tensor(part, (1, B, HIDDEN), f"decoder state {name} (1, B, H)")
        step, _ = model.decoder(tgt[:, :1], state, enc_output, src_lengths)
        expect_tensor(step, (B, 1, HIDDEN), "decoder outputs for one column (B, 1, H)")
        logits, _ = expect_pair(model(src, src_lengths, tgt), "Seq2Seq(src, lengths, tgt)")
        expect_tensor(logits, (B, T - 1, V), "Seq2Seq logits (B, T-1, V)")
    return "outputs (B, T-1, H) for a full target, (B, 1, H) for one column; states (1, B, H); logits (B, T-1, V)"


def check_attention_shapes(st):
    seeded()
    attn = st.models.BahdanauAttention(HIDDEN).to(st.device).eval()
    B, T, S = 3, 4, 6
    with torch.no_grad():
        out = attn(torch.randn(B, T, HIDDEN, device=st.device), torch.randn(B, S, HIDDEN, device=st.device),
                   torch.tensor([6, 3, 5], device=st.device))
    expect_tensor(out, (B, T, HIDDEN), "attention(query (B, T, H), encoder_outputs (B, S, H), lengths) (B, T, H)")
    model = build_seq2seq(st.models, st.device, use_attn=True)
    src, src_lengths, tgt, _ = tiny_inputs(st.device)
    with torch.no_grad():
        enc_output, state = model.encoder(src, src_lengths)
        outputs, _ = model.decoder(tgt, state, enc_output, src_lengths)
        expect_tensor(outputs, (tgt.shape[0], tgt.shape[1] - 1, HIDDEN), "decoder with attention (B, T-1, H)")
        step, _ = model.decoder(tgt[:, :1], state, enc_output, src_lengths)
        expect_tensor(step, (tgt.shape[0], 1, HIDDEN), "decoder with attention, one column (B, 1, H)")
    return "attention (B, T, H); decoder with attention (B, T-1, H), one column (B, 1, H)"


def check_encoder_padding(st):
    model = build_seq2seq(st.models, st.device, use_attn=False)
    src, src_lengths, _, _ = tiny_inputs(st.device)
    with torch.no_grad():
        enc_output, state = model.encoder(src, src_lengths)
        for row, length in enumerate(SRC_LENGTHS):
            alone_output, alone_state = model.encoder(src[row:row + 1, :length], src_lengths[row:row + 1])
            outputs = max_difference(enc_output[row, :length], alone_output[0, :length])
            states = max(max_difference(part[:, row], alone[:, 0]) for part, alone in zip(state, alone_state))
            if max(outputs, states) > TOLERANCE:
                fail(f"a word of length {length} alone and inside a batch padded to {src.shape[1]} differs "
                     f"(outputs by {outputs:.2g}, final states by {states:.2g}): the LSTM reads the padding; "
                     f"pack the batch (pack_padded_sequence with the lengths, enforce_sorted=False)")
    return "a word's outputs and final states are the same alone and inside a padded batch"


def check_attention_padding(st):
    seeded()
    attn = st.models.BahdanauAttention(HIDDEN).to(st.device).eval()
    B, T, S, lengths = 3, 4, 6, (6, 2, 4)
    query = torch.randn(B, T, HIDDEN, device=st.device)
    encoder_outputs = torch.randn(B, S, HIDDEN, device=st.device)
    src_lengths = torch.tensor(lengths, device=st.device)
    padded = torch.arange(S, device=st.device).unsqueeze(0) >= src_lengths.unsqueeze(1)  # (B, S)
    changed = torch.where(padded.unsqueeze(-1), 10 * torch.randn_like(encoder_outputs), encoder_outputs)
    with torch.no_grad():
        out = attn(query, encoder_outputs, src_lengths)
        perturbed = max_difference(out, attn(query, changed, src_lengths))
        alone = max(max_difference(out[row], attn(query[row:row + 1], encoder_outputs[row:row + 1, :length],
                                                  src_lengths[row:row + 1])[0])
                    for row, length in enumerate(lengths))
    if perturbed > TOLERANCE:
        fail(f"changing the encoder outputs at padded positions changes the output (by {perturbed:.2g}): padding "
             f"gets weight; set padded scores to -inf before the softmax (masked_fill(~mask, float('-inf'))): "
             f"0 is not enough, exp(0) is not 0")
    if alone > TOLERANCE:
        fail(f"padding gets no weight, but a word's output alone differs from inside a padded batch (by "
             f"{alone:.2g}); is the softmax taken over the source positions?")
    return "padded source positions get zero weight"


def linear_layers(module, in_features, out_features):
    return [(name, layer) for name, layer in module.named_modules()
            if isinstance(layer, nn.Linear) and (layer.in_features, layer.out_features) == (in_features, out_features)]


def statement_attention(W_s, W_h, v, W_out, query, encoder_outputs, context_first):
    """The statement's formula with the given layers; no padding. query (B, T, H), h (B, S, H) -> (B, T, H)."""
    e = v(torch.tanh(W_s(query).unsqueeze(2) + W_h(encoder_outputs).unsqueeze(1))).squeeze(-1)  # (B, T, S)
    context = torch.bmm(torch.softmax(e, dim=-1), encoder_outputs)  # (B, T, H)
    joined = [context, query] if context_first else [query, context]
    return torch.tanh(W_out(torch.cat(joined, dim=-1)))


def check_attention_formula(st):
    seeded()
    attn = st.models.BahdanauAttention(HIDDEN).to(st.device).eval()
    square, scorer = linear_layers(attn, HIDDEN, HIDDEN), linear_layers(attn, HIDDEN, 1)
    combiner = linear_layers(attn, 2 * HIDDEN, HIDDEN)
    if len(square) < 2 or not scorer or not combiner:
        found = ", ".join(f"{name or 'self'} {layer.in_features}->{layer.out_features}"
                          for name, layer in attn.named_modules() if isinstance(layer, nn.Linear)) or "none"
        raise CheckSkipped(f"cannot find two H x H, one H -> 1 and one 2H -> H nn.Linear layers (found: {found}); "
                           f"the formula is not checked (the padding and batch checks still apply)")
    query = torch.randn(3, 4, HIDDEN, device=st.device)
    encoder_outputs = torch.randn(3, 5, HIDDEN, device=st.device)
    with torch.no_grad():
        out = attn(query, encoder_outputs, torch.full((3,), 5, device=st.device))
        tries = []
        for (s_name, W_s), (h_name, W_h) in itertools.permutations(square, 2):
            for (v_name, v), (out_name, W_out) in itertools.product(scorer, combiner):
                for context_first in (True, False):
                    error = max_difference(out, statement_attention(W_s, W_h, v, W_out, query, encoder_outputs,
                                                                    context_first))
                    tries.append((error, not context_first, s_name, h_name, v_name, out_name))
    error, swapped, s_name, h_name, v_name, out_name = min(tries)
    roles = f"W_s = self.{s_name}, W_h = self.{h_name}, v = self.{v_name}, W_out = self.{out_name}"
    if error > TOLERANCE:
        fail(f"the output is not tanh(W_out [c; s]) with e = v^T tanh(W_s s + W_h h_i), alpha = softmax(e), "
             f"c = sum alpha h_i, for any assignment of your layers: smallest max |difference| {error:.2g} "
             f"(with {roles})")
    order = ("; concatenated as [s; c] rather than [c; s], the same up to the order of W_out's columns"
             if swapped else ", concatenated as [c; s]")
    return f"the statement's formula, with {roles}{order}"


def check_teacher_forcing(st):
    variants, note = model_variants(st)
    src, src_lengths, _, _ = tiny_inputs(st.device)
    tgt, _ = padded_batch((6, 6, 6), TGT_VOCAB, st.device, seed=3)
    tgt[:, 0] = SOS_IDX
    for use_attn, label in variants:
        model = build_seq2seq(st.models, st.device, use_attn)
        with torch.no_grad():
            enc_output, state = model.encoder(src, src_lengths)
            full, _ = model.decoder(tgt, state, enc_output, src_lengths)
            steps = []
            for t in range(tgt.shape[1] - 1):
                output, state = model.decoder(tgt[:, t:t + 1], state, enc_output, src_lengths)
                steps.append(output)
            stepped = torch.cat(steps, dim=1)
        expect_tensor(full, tuple(stepped.shape), f"decoder outputs {label}")
        difference = max_difference(full, stepped)
        if difference > TOLERANCE:
            fail(f"{label}: a full target's outputs differ from stepping one token at a time (by {difference:.2g}); "
                 f"each step must read the previous target token and the previous step's state")
    return "decoding a full target equals stepping one token at a time" + note


def check_batch_invariance(st):
    variants, note = model_variants(st)
    src, src_lengths, tgt, _ = tiny_inputs(st.device)
    for use_attn, label in variants:
        model = build_seq2seq(st.models, st.device, use_attn)
        with torch.no_grad():
            logits, _ = model(src, src_lengths, tgt)
            for row, (s, t) in enumerate(zip(SRC_LENGTHS, TGT_LENGTHS)):
                alone, _ = model(src[row:row + 1, :s], src_lengths[row:row + 1], tgt[row:row + 1, :t])
                difference = max_difference(logits[row, :t - 1], alone[0])
                if difference > TOLERANCE:
                    fail(f"{label}: a word's logits alone differ from inside a padded batch (by {difference:.2g}): "
                         f"the padding changes the model's output; see q3.encoder.padding and q3.attention.padding")
    return "a word's logits are the same alone and inside a padded batch" + note


def check_tied(st):
    model = build_seq2seq(st.models, st.device, use_attn=False)
    generator, embedding = model.generator, model.decoder.embedding
    if not isinstance(generator, nn.Linear) or (generator.in_features, generator.out_features) != (HIDDEN, TGT_VOCAB):
        fail(f"generator: expected nn.Linear(H, V) = ({HIDDEN}, {TGT_VOCAB}), found {generator}")
    if generator.weight is not embedding.weight:
        fail("generator.weight is not the decoder embedding's weight; tie them: "
             "self.generator.weight = self.decoder.embedding.weight")
    return "generator.weight is the decoder embedding's weight"


def rows(tensor):
    """Non-zero feature vectors of a tensor (..., F) -> (n, F): zeros (padding) tell nothing apart."""
    flat = tensor.detach().reshape(-1, tensor.shape[-1]).float()
    return flat[flat.abs().amax(-1) > 0]


def rows_within(candidate, reference):
    """Whether every row of `candidate` (n, F) is a row of `reference` (m, F)."""
    if reference.shape[0] == 0 or candidate.shape[-1] != reference.shape[-1]:
        return False
    return bool(((candidate.unsqueeze(1) - reference.unsqueeze(0)).abs().amax(-1).min(1).values < 1e-6).all())


def trace_dropout(model, src, src_lengths, tgt):
    """One training-mode forward -> (rows each place produced, [(shape, input rows, output rows)] of
    every dropout call).

    Places are told apart by values, not by names: the embeddings are what the nn.Embedding
    layers return, the final outputs what the encoder and decoder return (so dropout on
    them is the last thing each does), and the decoder's LSTM outputs are recorded so that
    dropout just before attention can be recognised.
    """
    places = {name: [] for name in ("encoder embeddings", "encoder outputs", "decoder embeddings",
                                    "decoder outputs", "decoder LSTM outputs")}

    def recorder(place):
        def hook(module, inputs, output):
            output = output[0] if isinstance(output, tuple) else output
            output = output.data if isinstance(output, nn.utils.rnn.PackedSequence) else output
            places[place].append(rows(output))
        return hook

    watched = [(m, "encoder embeddings") for m in model.encoder.modules() if isinstance(m, nn.Embedding)]
    watched += [(m, "decoder embeddings") for m in model.decoder.modules() if isinstance(m, nn.Embedding)]
    watched += [(m, "decoder LSTM outputs") for m in model.decoder.modules() if isinstance(m, nn.LSTM)]
    watched += [(model.encoder, "encoder outputs"), (model.decoder, "decoder outputs")]
    handles = [module.register_forward_hook(recorder(place)) for module, place in watched]
    calls = []
    original = nn.functional.dropout

    def recording_dropout(input, p=0.5, training=True, inplace=False):
        received = rows(input) if training and p > 0 else None
        output = original(input, p, training, inplace)
        if received is not None:
            calls.append((tuple(input.shape), received, rows(output)))
        return output

    nn.functional.dropout = recording_dropout
    try:
        model.train()
        model(src, src_lengths, tgt)
    finally:
        nn.functional.dropout = original
        for handle in handles:
            handle.remove()
    return {place: torch.cat(found) if found else torch.empty(0, 0) for place, found in places.items()}, calls


def dropout_place(places, received, produced, use_attn):
    """Where one dropout call acts, from what it received and what it produced (None: elsewhere)."""
    for place in ("encoder embeddings", "decoder embeddings"):
        if rows_within(received, places[place]):
            return place
    for place in ("encoder outputs", "decoder outputs"):
        if rows_within(produced, places[place]):
            return place
    if use_attn and rows_within(received, places["decoder LSTM outputs"]):
        return "decoder outputs (before attention)"
    return None


def check_dropout_placement(st):
    variants, note = model_variants(st)
    src, src_lengths, tgt, _ = tiny_inputs(st.device)
    before_attention = False
    for use_attn, label in variants:
        model = build_seq2seq(st.models, st.device, use_attn)
        seeded()
        places, calls = trace_dropout(model, src, src_lengths, tgt)
        touched, stray = set(), []
        for shape, received, produced in calls:
            if received.shape[0] == 0:
                continue
            place = dropout_place(places, received, produced, use_attn)
            if place is None:
                stray.append(shape)
            touched.add(place)
        before_attention |= "decoder outputs (before attention)" in touched
        touched |= {"decoder outputs"} if "decoder outputs (before attention)" in touched else set()
        problems = []
        untouched = [p for p in ("encoder embeddings", "encoder outputs", "decoder embeddings", "decoder outputs")
                     if p not in touched]
        if untouched:
            problems.append("never on the " + ", ".join(untouched))
        if stray:
            problems.append(f"also on {len(stray)} other tensor(s), the first of shape {stray[0]}")
        if problems:
            fail(f"{label}, training mode: dropout acts {'; '.join(problems)}; expected on the embeddings and the "
                 f"final outputs of encoder and decoder only (statement Q3.1a)")
    where = "; with attention, on the LSTM outputs just before it" if before_attention else ""
    return ("in training mode dropout acts on the embeddings and final outputs of encoder and decoder only"
            + where + note)


# ----------------------------------------------------------------------------- Q3: hw2-q3.py


def check_greedy_next_token(st):
    seeded()
    logits = torch.randn(TGT_VOCAB, device=st.device)
    token = st.script.greedy_next_token(logits)
    expect_tensor(token, (1,), "greedy_next_token(logits (V,))")
    if int(token) != int(logits.argmax()):
        fail(f"greedy_next_token returned {int(token)}, expected the argmax {int(logits.argmax())}")
    return "the argmax, shape (1,)"


def draw_nucleus(st, logits, p, n):
    """n draws of the student's nucleus_sampling(logits, p) -> counts per token (V,)."""
    counts = torch.zeros(logits.shape[-1], dtype=torch.long)
    for _ in range(n):
        token = st.script.nucleus_sampling(logits, p=p)
        if not isinstance(token, torch.Tensor) or token.numel() != 1:
            fail(f"nucleus_sampling(logits (V,), p) must return one index, shape (1,); found "
                 f"{tuple(token.shape) if isinstance(token, torch.Tensor) else type(token).__name__}")
        counts[int(token)] += 1
    return counts


def shuffled_distribution(probabilities, seed):
    """Logits of `probabilities` in a shuffled token order (so that sorting is needed) and their order."""
    order = torch.randperm(len(probabilities), generator=torch.Generator().manual_seed(seed))
    probs = torch.empty(len(probabilities))
    probs[order] = torch.tensor(probabilities)
    return probs.log(), order


def check_nucleus_support(st):
    seeded()
    logits, order = shuffled_distribution([0.5, 0.2, 0.15, 0.1, 0.05], seed=0)
    logits = logits.to(st.device)
    nucleus, crossing = set(order[:3].tolist()), int(order[2])  # mass 0.5, 0.7, then 0.85 crosses p = 0.75
    counts = draw_nucleus(st, logits, 0.75, NUCLEUS_SUPPORT_DRAWS)
    outside = sorted(set(counts.nonzero().view(-1).tolist()) - nucleus)
    if outside:
        fail(f"p = 0.75 over probabilities 0.5, 0.2, 0.15, 0.1, 0.05: sampled tokens outside the top-p set "
             f"({int(counts[outside].sum())} of {NUCLEUS_SUPPORT_DRAWS} draws); keep only the most probable "
             f"tokens until their mass reaches p")
    if counts[crossing] == 0:
        fail("p = 0.75 over probabilities 0.5, 0.2, 0.15, 0.1, 0.05: the token whose mass crosses p (0.15) is "
             f"never sampled in {NUCLEUS_SUPPORT_DRAWS} draws; V^(p) is the smallest set whose mass is >= p, "
             "so it includes the token that crosses p")
    tiny = draw_nucleus(st, logits, 1e-6, 50)
    if tiny[int(order[0])] != 50:
        fail("p = 1e-6: expected the most probable token every time (the top-p set is the argmax alone)")
    full = draw_nucleus(st, logits, 1.0, NUCLEUS_SUPPORT_DRAWS)
    if (full == 0).any():
        fail(f"p = 1: token(s) {full.eq(0).nonzero().view(-1).tolist()} never sampled in "
             f"{NUCLEUS_SUPPORT_DRAWS} draws; with p = 1 every token can be drawn")
    return "stays in the top-p set, includes the token crossing p; tiny p = argmax; p = 1 samples everything"


def chi_square_p_value(statistic, dof):
    """P(X >= statistic) for X chi-square with `dof` degrees of freedom (series of the lower gamma)."""
    a, x = dof / 2, statistic / 2
    if x <= 0:
        return 1.0
    term = total = 1 / a
    for n in range(1, 10_000):
        term *= x / (a + n)
        total += term
        if term < total * 1e-15:
            break
    lower = math.exp(a * math.log(x) - x - math.lgamma(a)) * total
    return max(0.0, 1.0 - lower)


def check_nucleus_frequencies(st):
    seeded()
    probabilities = [0.3, 0.25, 0.2, 0.12, 0.08, 0.05]
    logits, order = shuffled_distribution(probabilities, seed=1)
    kept = order[:4]  # mass 0.3, 0.55, 0.75, then 0.87 crosses p = 0.8
    expected = torch.tensor(probabilities[:4]) / sum(probabilities[:4]) * NUCLEUS_FREQUENCY_DRAWS
    counts = draw_nucleus(st, logits.to(st.device), 0.8, NUCLEUS_FREQUENCY_DRAWS)
    outside = int(counts.sum() - counts[kept].sum())
    if outside:
        fail(f"p = 0.8: {outside} of {NUCLEUS_FREQUENCY_DRAWS} draws fall outside the top-p set")
    statistic = float(((counts[kept] - expected) ** 2 / expected).sum())
    p_value = chi_square_p_value(statistic, len(kept) - 1)
    observed = ", ".join(f"{c / NUCLEUS_FREQUENCY_DRAWS:.3f}" for c in counts[kept].tolist())
    target = ", ".join(f"{e / NUCLEUS_FREQUENCY_DRAWS:.3f}" for e in expected.tolist())
    if p_value < CHI_SQUARE_ALPHA:
        fail(f"p = 0.8: frequencies {observed}, expected {target} (the kept probabilities renormalised); "
             f"chi-square {statistic:.1f}, p-value {p_value:.1g}")
    return (f"{NUCLEUS_FREQUENCY_DRAWS:,} draws match the renormalised top-p distribution "
            f"(chi-square {statistic:.1f}, p-value {p_value:.2f})")


# ----------------------------------------------------------------------------- Q3: checkpoints


@dataclass
class TestCorpus:
    """The test words as the course's driver sees them: source indices, true spellings, a speller."""

    sources: list
    references: list
    spell: object  # produced token list (up to and with EOS) -> string, as the course's tensor2string
    sizes: tuple  # (source vocabulary, target vocabulary)
    description: str


def course_spelling(itos, tokens):
    """The course's tensor2string: every produced token but SOS and EOS, PAD and UNK spelled by their names."""
    names = ["PAD", "SOS", "EOS", "UNK", *itos[4:]]
    return "".join(names[t] for t in tokens if t not in (SOS_IDX, EOS_IDX))


def students_corpus(data_module, data_dir):
    """The test set through the student's data.py, when it offers the course's Seq2SeqDataset."""
    train = data_module.Seq2SeqDataset(str(data_dir / "train.tsv"))
    test = data_module.Seq2SeqDataset(str(data_dir / "test.tsv"), src_vocab=train.src_vocab,
                                      tgt_vocab=train.tgt_vocab)
    sources = [test[i][0].tolist() for i in range(len(test))]
    references = ["".join(tgt) for _, tgt in test.pairs]
    tgt_vocab = train.tgt_vocab
    return TestCorpus(sources, references, lambda tokens: tgt_vocab.tensor2string(torch.tensor([SOS_IDX, *tokens])),
                      (train.src_vocab.vocab_size, tgt_vocab.vocab_size), "your data.py's vocabulary")


def our_corpus(data_dir, stored_vocabs):
    """The test set through this project's utils; vocabularies from the checkpoint or from train.tsv."""
    src_vocab, tgt_vocab = stored_vocabs or (None, None)
    data, src_vocab, tgt_vocab = utils.load_p2g(data_dir, src_vocab, tgt_vocab, splits=("test",))
    split = data["test"]
    sources = [row[:length] for row, length in zip(split.src.tolist(), split.src_lengths.tolist())]
    description = "the checkpoint's own vocabulary" if stored_vocabs else "train.tsv's vocabulary (this project's reader)"
    return TestCorpus(sources, split.spellings, partial(course_spelling, tgt_vocab.itos),
                      (len(src_vocab), len(tgt_vocab)), description)


def test_corpus(st, stored_vocabs):
    if stored_vocabs is None and st.data is not None and hasattr(st.data, "Seq2SeqDataset"):
        try:
            with quiet():
                return students_corpus(st.data, st.data_dir)
        except Exception as error:
            corpus = our_corpus(st.data_dir, None)
            corpus.description += f"; your data.py raised {describe_error(error, st.folder)}"
            return corpus
    return our_corpus(st.data_dir, stored_vocabs)


def unpack_checkpoint(saved):
    """A bare state_dict (the course's) or this project's checkpoint -> (state_dict, (src Vocab, tgt Vocab) or None)."""
    unpacked = REFERENCE_Q3.unpack_checkpoint(saved)
    if unpacked is None:
        fail("neither a state_dict nor a dict holding one")
    state_dict, _, vocabs = unpacked
    return state_dict, vocabs


def uses_attention(state_dict):
    return any(key.startswith("decoder.attn.") for key in state_dict)


@torch.inference_mode()
def greedy_tokens(model, reshape_state, src, max_len=MAX_LEN):
    """Greedy decoding of src (b, L), words of one length (no padding), with the calls the course's
    driver makes -> each word's produced tokens, up to and with EOS."""
    b, length = src.shape
    src_lengths = torch.full((b,), length, dtype=torch.long, device=src.device)
    encoder_outputs, state = model.encoder(src, src_lengths)
    if state[0].shape[0] == 2:
        state = reshape_state(state)
    token = torch.full((b, 1), SOS_IDX, dtype=torch.long, device=src.device)
    produced, ended = [], torch.zeros(b, dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        output, state = model.decoder(token, state, encoder_outputs, src_lengths)
        token = model.generator(output).reshape(b, -1).argmax(-1, keepdim=True)  # (b, 1)
        produced.append(token)
        ended |= token.squeeze(1) == EOS_IDX
        if bool(ended.all()):
            break
    tokens = torch.cat(produced, dim=1).tolist()
    return [row[: row.index(EOS_IDX) + 1] if EOS_IDX in row else row for row in tokens]


def decode_corpus(model, reshape_state, sources, device):
    """Every word's greedy tokens, in batches of equal source length (which need no padding).

    A few words are also decoded alone, as the course's driver does (batch size 1); if
    batching changes their tokens, the whole corpus is decoded one word at a time.
    -> (tokens per word, how they were decoded).
    """
    by_length = {}
    for index, source in enumerate(sources):
        by_length.setdefault(len(source), []).append(index)
    tokens = [None] * len(sources)
    for indices in by_length.values():
        for start in range(0, len(indices), DECODE_BATCH):
            chunk = indices[start:start + DECODE_BATCH]
            src = torch.tensor([sources[i] for i in chunk], dtype=torch.long, device=device)
            for index, produced in zip(chunk, greedy_tokens(model, reshape_state, src)):
                tokens[index] = produced
    sample = [indices[0] for indices in by_length.values()][:VERIFY_WORDS]
    alone = {i: greedy_tokens(model, reshape_state, torch.tensor([sources[i]], device=device))[0] for i in sample}
    differing = sum(alone[i] != tokens[i] for i in sample)
    if not differing:
        return tokens, "batches of equal source length, checked against one word at a time"
    tokens = [greedy_tokens(model, reshape_state, torch.tensor([s], device=device))[0] for s in sources]
    return tokens, (f"one word at a time: batching changed {differing} of {len(sample)} sampled words, so "
                    f"your model's outputs depend on the batch")


def reference_scores(use_attn):
    """'CER m ± s, WER m ± s' of this project's own runs, or '' when their summary is missing."""
    if not REFERENCE_SUMMARY.is_file():
        return ""
    summary = utils.read_json(REFERENCE_SUMMARY)
    row = next((r for r in summary.get("test", []) if r.get("label") == REFERENCE_ROWS[use_attn]), None)
    if row is None:
        return ""
    return (f"; this project: CER {row['cer']['mean']:.4f} ± {row['cer']['std']:.4f}, "
            f"WER {row['wer']['mean']:.4f} ± {row['wer']['std']:.4f} over {len(row['cer']['values'])} seeds")


def check_checkpoint(path, st):
    if not (st.data_dir / "test.tsv").is_file():
        raise CheckSkipped(f"no test.tsv in {st.data_dir}: pass --data_dir")
    try:
        saved = torch.load(path, map_location=st.device, weights_only=True)
    except Exception as error:
        fail(f"not a readable PyTorch checkpoint ({type(error).__name__})")
    state_dict, stored_vocabs = unpack_checkpoint(saved)
    use_attn = uses_attention(state_dict)
    embeddings = {side: state_dict.get(f"{side}.embedding.weight") for side in ("encoder", "decoder")}
    if any(weight is None or weight.dim() != 2 for weight in embeddings.values()):
        fail("no encoder.embedding.weight and decoder.embedding.weight: not a state_dict of the course's Seq2Seq")
    (src_size, hidden), (tgt_size, _) = embeddings["encoder"].shape, embeddings["decoder"].shape
    corpus = test_corpus(st, stored_vocabs)
    if corpus.sizes != (src_size, tgt_size):
        fail(f"{corpus.description} has {corpus.sizes[0]}/{corpus.sizes[1]} source/target symbols, the checkpoint "
             f"{src_size}/{tgt_size}: trained on other data? (--data_dir)")
    model = build_seq2seq(st.models, st.device, use_attn, hidden, src_size, tgt_size)
    problems = REFERENCE_Q3.state_dict_mismatch(model.state_dict(), state_dict)
    if problems:
        fail(f"keys don't match your models.py ({'with' if use_attn else 'without'} attention, H={hidden}): "
             f"{problems}")
    model.load_state_dict(state_dict)
    model.eval()
    tokens, how = decode_corpus(model, st.models.reshape_state, corpus.sources, st.device)
    spellings = [corpus.spell(t) for t in tokens]
    cer = utils.character_error_rate(spellings, corpus.references)
    wer = utils.word_error_rate(spellings, corpus.references)
    st.checkpoint_scores.append({"file": str(path.relative_to(st.folder)), "use_attn": use_attn,
                                 "test_cer": cer, "test_wer": wer})
    return (f"{'attention' if use_attn else 'no attention'}, H={hidden}: Test CER: {cer:.4f}, Test WER: {wer:.4f} "
            f"on {len(spellings)} words{reference_scores(use_attn)} ({corpus.description}; decoded in {how})")


def checkpoint_question(path):
    try:
        state_dict, _ = unpack_checkpoint(torch.load(path, map_location="cpu", weights_only=True))
        return "Q3.1b" if uses_attention(state_dict) else "Q3.1a"
    except Exception:
        return "Q3.1"


# ----------------------------------------------------------------------------- Q2: hw2-q2.py


def build_cnn(st, batch_norm):
    """The student's CNN with the course's signature -> (model in eval mode, note on the signature).

    Older skeletons lack `conv_bias`, and the Q2.1 one lacks `batch_norm` too.
    """
    attempts = [({"maxpool": True, "batch_norm": batch_norm, "conv_bias": True}, ""),
                ({"maxpool": True, "batch_norm": batch_norm}, " (CNN takes no conv_bias: built without it)")]
    if not batch_norm:
        attempts.append(({}, " (CNN takes no batch_norm switch: built as CNN(dropout_prob))"))
    for keywords, note in attempts:
        seeded()
        try:
            return st.q2.CNN(0.1, **keywords).to(st.device).eval(), note
        except TypeError as error:
            if "unexpected keyword argument" not in str(error):
                raise
    fail("CNN(dropout_prob, maxpool=True, batch_norm=True) is refused: it takes no batch_norm switch (Q2.2)")


def layer_summary(model):
    return ", ".join(f"conv {m.in_channels}->{m.out_channels}" if isinstance(m, nn.Conv2d)
                     else f"linear {m.in_features}->{m.out_features}"
                     for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def check_params(st, batch_norm):
    model, note = build_cnn(st, batch_norm)
    expected = Q2_PARAMS[batch_norm]
    counted = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if not hasattr(st.q2, "get_number_trainable_params"):
        theirs, verdict = None, "there is no get_number_trainable_params"
    else:
        try:
            theirs = st.q2.get_number_trainable_params(model)
            verdict = ("your get_number_trainable_params agrees" if theirs == counted
                       else f"but your get_number_trainable_params says {theirs:,}: the counting function is wrong")
        except Exception as error:
            theirs, verdict = None, f"your get_number_trainable_params raises {describe_error(error, st.folder)}"
    if counted != expected:
        fail(f"the network has {counted:,} trainable parameters, expected {expected:,} ({counted - expected:+,}): "
             f"the network differs from the statement's (layers: {layer_summary(model)}); {verdict}{note}")
    if theirs != counted:
        fail(f"the network is right ({counted:,} trainable parameters), {verdict}{note}")
    return f"{counted:,} trainable parameters, {verdict}{note}"


def check_output(st):
    notes = []
    for batch_norm in (False, True):
        try:
            model, note = build_cnn(st, batch_norm)
        except CheckFailed as refused:
            notes.append(f" (batch norm not checked: {refused})")
            continue
        notes.append(note)
        seeded()
        with torch.no_grad():
            out = model(torch.rand(4, 3, INTEL_SIDE, INTEL_SIDE, device=st.device))
        label = "with batch norm" if batch_norm else "without batch norm"
        expect_tensor(out, (4, 6), f"{label}: CNN(images (B, 3, 48, 48))")
        total = out.float().exp().sum(-1)
        if not torch.isfinite(out).all() or max_difference(total, torch.ones_like(total)) > 1e-4:
            fail(f"{label}: the outputs are not log-probabilities (exp sums to {total.min():.3g}..{total.max():.3g} "
                 f"per image, expected 1): end the network with a log-softmax over the 6 classes")
    return "log-probabilities (B, 6) for images (B, 3, 48, 48)" + "".join(sorted(set(notes)))


def modules_called(model, device):
    """The modules that one forward pass of two random images runs, in order, with their first input."""
    called = []
    handles = [m.register_forward_hook(lambda module, inputs, output: called.append(
                   (module, inputs[0].shape if inputs else None)))
               for m in model.modules() if not list(m.children())]
    try:
        seeded()
        with torch.no_grad():
            model(torch.rand(2, 3, INTEL_SIDE, INTEL_SIDE, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return called


def check_batchnorm_switch(st):
    problems = []
    for batch_norm in (True, False):
        model, _ = build_cnn(st, batch_norm)
        called = modules_called(model, st.device)
        kinds = [type(m) for m, _ in called]
        convs = [m for m, _ in called if isinstance(m, nn.Conv2d)]
        linears = [(m, shape) for m, shape in called if isinstance(m, nn.Linear)]
        if not convs or not linears:
            fail("the network runs no nn.Conv2d or no nn.Linear layer; cannot check the switch")
        features, channels = linears[0][1][-1], convs[-1].out_channels
        bn1d = [m for m, _ in called if isinstance(m, nn.BatchNorm1d)]
        if batch_norm:
            if kinds.count(nn.BatchNorm2d) != len(convs):
                problems.append(f"batch_norm=True runs {kinds.count(nn.BatchNorm2d)} BatchNorm2d for {len(convs)} "
                                f"conv blocks (expected one in every block)")
            if features != channels:
                problems.append(f"batch_norm=True feeds the MLP {features} features, expected {channels}: global "
                                f"average pooling (nn.AdaptiveAvgPool2d((1, 1))) after the last block")
            if not any(m.num_features == 1024 for m in bn1d):
                problems.append("batch_norm=True runs no BatchNorm1d(1024) in the MLP (before its dropout)")
        else:
            if nn.BatchNorm2d in kinds or bn1d:
                problems.append("batch_norm=False still runs batch norm (use nn.Identity when it is off)")
            if features == channels:
                problems.append("batch_norm=False still pools globally; the Q2.1 network flattens the conv output")
    if problems:
        fail("; ".join(problems))
    return "batch_norm=True: BatchNorm2d in every block, global average pooling, BatchNorm1d(1024); off: none of them"


def smoothness(images):
    """images (N, C, h, w) -> mean |difference| of neighbouring pixels / that of random pixel pairs.

    Well below 1 for real photographs read in their true layout; near 1 for scrambled ones.
    """
    images = images.float()
    neighbours = ((images[..., 1:, :] - images[..., :-1, :]).abs().mean()
                  + (images[..., :, 1:] - images[..., :, :-1]).abs().mean()) / 2
    flat = images.reshape(images.shape[0], -1)
    shuffled = flat[:, torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(0))]
    return float(neighbours / (flat - shuffled).abs().mean().clamp(min=1e-12))


def stored_layout(images):
    """Raw uint8 images (N, ...) -> ('HWC' or 'CHW', true images (N, 3, 48, 48), {layout: smoothness})."""
    raw = torch.from_numpy(np.ascontiguousarray(images)).reshape(images.shape[0], -1)
    readings = {"HWC": raw.reshape(-1, INTEL_SIDE, INTEL_SIDE, 3).permute(0, 3, 1, 2),
                "CHW": raw.reshape(-1, 3, INTEL_SIDE, INTEL_SIDE)}
    scores = {layout: smoothness(image) for layout, image in readings.items()}
    layout = min(scores, key=scores.get)
    return layout, readings[layout].float(), scores


def correlation(a, b):
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp(min=1e-12))


def read_npz_slice(path, n):
    """The first n validation images and labels of an Intel npz, without reading the other splits."""
    try:
        with np.load(path) as archive:
            return archive["val_images"][:n], np.asarray(archive["val_labels"][:n])
    except Exception as error:
        raise CheckSkipped(f"{path}: cannot read val_images/val_labels ({type(error).__name__}: {error})") from None


def students_images(st, npz_path):
    """The images as the student's Q2 loader hands them over -> (tensor, which loader)."""
    student_utils = getattr(st.q2, "utils", None)
    if hasattr(student_utils, "load_dataset"):
        data = student_utils.load_dataset(str(npz_path))
        X = data["dev"][0] if "dev" in data else data["val"][0]
        return torch.as_tensor(np.asarray(X), dtype=torch.float32), "your utils.load_dataset"
    if hasattr(student_utils, "load_intel"):
        return student_utils.load_intel(npz_path)["val"][0].float(), "your utils.load_intel"
    return None, "no loader found (utils.load_dataset)"


def check_layout(st):
    if st.npz is None:
        raise CheckSkipped("pass --npz FILE (the Intel .npz you trained on) to check how your code reads the images")
    images, labels = read_npz_slice(st.npz, LAYOUT_IMAGES)
    layout, true_images, scores = stored_layout(images)
    stored = (f"stored {'flat' if images.ndim == 2 else tuple(images.shape[1:])} in {layout} order "
              f"(neighbouring-pixel score {scores[layout]:.2f} vs {scores['CHW' if layout == 'HWC' else 'HWC']:.2f})")
    scrambled = torch.from_numpy(np.ascontiguousarray(images)).reshape(-1, 3, INTEL_SIDE, INTEL_SIDE).float()
    arrays = {f"{split}_{kind}": value for split in utils.INTEL_SPLITS
              for kind, value in (("images", images), ("labels", labels))}
    with tempfile.TemporaryDirectory() as tmp:  # the loader reads a file: give it the slice only
        np.savez(Path(tmp) / "slice.npz", **arrays)
        loaded, loader = students_images(st, Path(tmp) / "slice.npz")
    if loaded is None:
        loaded, loader = torch.from_numpy(np.ascontiguousarray(images)).float() / 256, "the stored arrays / 256"
    model, _ = build_cnn(st, batch_norm=True)
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        fail("the network has no nn.Conv2d")
    seen = []
    handle = conv.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach().cpu()))
    try:
        with torch.no_grad():
            model(loaded.to(st.device))
    finally:
        handle.remove()
    first = seen[0]
    if first.shape[1:] != (3, INTEL_SIDE, INTEL_SIDE):
        fail(f"{stored}; the first conv receives {tuple(first.shape)}, expected (B, 3, 48, 48)")
    if correlation(first, true_images) > 0.9 or (layout == "CHW" and smoothness(first) < 0.8):
        return f"{stored}; {loader} and your CNN hand the first conv the images in their true layout"
    fix = ("transpose, do not reshape: images.reshape(-1, 48, 48, 3).transpose(0, 3, 1, 2) "
           "(or .permute(0, 3, 1, 2) on a tensor) before the network")
    if layout == "HWC" and correlation(first, scrambled) > 0.9:
        fail(f"{stored}; {loader} and your CNN reshape each image to (3, 48, 48) as stored, so the first conv sees "
             f"colour and position mixed up (score {smoothness(first):.2f}); fix: {fix}")
    fail(f"{stored}; the first conv receives images that match neither layout (score {smoothness(first):.2f}, true "
         f"layout {scores[layout]:.2f}); check your loading and reshaping")


# ----------------------------------------------------------------------------- the checks


@dataclass
class Check:
    id: str
    question: str
    needs: str  # the module the check calls: "models", "script" (hw2-q3.py) or "q2" (hw2-q2.py)
    run: object  # Student -> one-line message of a pass; raises CheckFailed / CheckSkipped


CHECKS = [
    Check("q3.reshape_state", "Q3.1a", "models", check_reshape_state),
    Check("q3.encoder.shapes", "Q3.1a", "models", check_encoder_shapes),
    Check("q3.decoder.shapes", "Q3.1a", "models", check_decoder_shapes),
    Check("q3.attention.shapes", "Q3.1b", "models", check_attention_shapes),
    Check("q3.encoder.padding", "Q3.1a", "models", check_encoder_padding),
    Check("q3.attention.padding", "Q3.1b", "models", check_attention_padding),
    Check("q3.attention.formula", "Q3.1b", "models", check_attention_formula),
    Check("q3.decoder.teacher_forcing", "Q3.1a", "models", check_teacher_forcing),
    Check("q3.model.batch_invariance", "Q3.1b", "models", check_batch_invariance),
    Check("q3.seq2seq.tied", "Q3.1a", "models", check_tied),
    Check("q3.dropout.placement", "Q3.1a", "models", check_dropout_placement),
    Check("q3.greedy_next_token", "Q3.1a", "script", check_greedy_next_token),
    Check("q3.nucleus.support", "Q3.1c", "script", check_nucleus_support),
    Check("q3.nucleus.frequencies", "Q3.1c", "script", check_nucleus_frequencies),
    Check("q2.params.plain", "Q2.3", "q2", partial(check_params, batch_norm=False)),
    Check("q2.params.bn", "Q2.3", "q2", partial(check_params, batch_norm=True)),
    Check("q2.output", "Q2.1", "q2", check_output),
    Check("q2.batchnorm_switch", "Q2.2", "q2", check_batchnorm_switch),
    Check("q2.layout", "Q2.1", "q2", check_layout),
]
MODULE_FILES = {"models": "models.py", "script": "hw2-q3.py", "q2": "hw2-q2.py"}


def run_check(check, st, missing):
    """One check -> Result; the student's exceptions become its failure, never a traceback."""
    if check.needs in missing:
        return Result(check.id, check.question, "skip", missing[check.needs])
    try:
        with quiet():
            message = check.run(st)
        return Result(check.id, check.question, "pass", message)
    except CheckFailed as verdict:
        return Result(check.id, check.question, "fail", str(verdict))
    except CheckSkipped as reason:
        return Result(check.id, check.question, "skip", str(reason))
    except (Exception, SystemExit) as error:
        return Result(check.id, check.question, "fail", f"raises {describe_error(error, st.folder)}")


def import_into(st, attribute, module_name, check_id, question, folder, failed_files, results, missing):
    """Import one student module onto `st` and record its import check."""
    if not (folder / f"{module_name}.py").is_file():
        missing[attribute] = f"no {module_name}.py in {folder}"
        return
    module, problem = import_student_module(module_name, folder, failed_files)
    if module is None:
        status, message = problem
        results.append(Result(check_id, question, status, message))
        missing[attribute] = f"{module_name}.py does not import (see {check_id})"
        return
    setattr(st, attribute, module)
    results.append(Result(check_id, question, "pass", f"{module_name}.py imports"))


def check_folder(folder, options):
    """Every check of one folder -> (results, checkpoint scores, one header line)."""
    layout = find_layout(folder)
    data_dir = options.data_dir or next((d for d in (layout.q3_dir and layout.q3_dir / "data", Path("data"))
                                        if d and (d / "test.tsv").is_file()), Path("data"))
    results, missing = [], {name: f"no {file} found" for name, file in MODULE_FILES.items()}
    scores = []
    if layout.q3_dir is not None:
        st = Student(layout.q3_dir, options.device, Path(data_dir))
        failed_files = set()
        with isolated_imports(layout.q3_dir):
            del missing["models"], missing["script"]
            import_into(st, "models", "models", "q3.import.models", "Q3", layout.q3_dir, failed_files, results, missing)
            if (layout.q3_dir / "data.py").is_file():
                import_into(st, "data", "data", "q3.import.data", "Q3", layout.q3_dir, failed_files, results, missing)
            import_into(st, "script", "hw2-q3", "q3.import.script", "Q3", layout.q3_dir, failed_files, results,
                        missing)
            results += [run_check(c, st, missing) for c in CHECKS if c.needs in ("models", "script")]
            for path in layout.checkpoints:
                check = Check(f"q3.checkpoint.{path.name}", checkpoint_question(path), "models",
                              partial(check_checkpoint, path))
                results.append(run_check(check, st, missing))
            scores = st.checkpoint_scores
    else:
        results += [Result(c.id, c.question, "skip", "no hw2-q3.py / models.py found")
                    for c in CHECKS if c.needs in ("models", "script")]
    if layout.q2_dir is not None:
        st = Student(layout.q2_dir, options.device, Path(data_dir), npz=options.npz)
        with isolated_imports(layout.q2_dir):
            del missing["q2"]
            import_into(st, "q2", "hw2-q2", "q2.import", "Q2", layout.q2_dir, set(), results, missing)
            results += [run_check(c, st, missing) for c in CHECKS if c.needs == "q2"]
    else:
        results.append(Result("q2.import", "Q2", "skip", "no hw2-q2.py found"))
        results += [Result(c.id, c.question, "skip", "no hw2-q2.py found") for c in CHECKS if c.needs == "q2"]
    where = [f"Q3 files in {describe_path(layout.q3_dir, folder)} ({len(layout.checkpoints)} checkpoint(s))"
             if layout.q3_dir else "no Q3 files",
             f"Q2 files in {describe_path(layout.q2_dir, folder)}" if layout.q2_dir else "no Q2 files"]
    return results, scores, "; ".join(where)


def describe_path(path, folder):
    relative = path.relative_to(folder)
    return "./" if relative == Path(".") else f"./{relative}/"


# ----------------------------------------------------------------------------- command line


def totals(results):
    return {status: sum(r.status == status for r in results) for status in ("pass", "fail", "skip")}


def print_results(folder, header, results):
    print(f"== {folder}: {header}")
    width = max(len(r.id) for r in results)
    for r in results:
        print(f"{r.status.upper():<4}  {r.id:<{width}}  {r.question:<5}  {r.message}")
    counts = totals(results)
    print(f"Totals: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped\n")


def print_summary(rows):
    width = max(len(str(folder)) for folder, _ in rows)
    print(f"{'folder':<{width}}  passed  failed  skipped")
    for folder, counts in rows:
        print(f"{str(folder):<{width}}  {counts['pass']:>6}  {counts['fail']:>6}  {counts['skip']:>7}")


def parse_args(argv):
    parser = utils.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="a student's homework folder (several: one row each)")
    parser.add_argument("--json", type=Path, default=None, help="also write every verdict to this JSON file")
    parser.add_argument("--data_dir", type=Path, default=None,
                        help="the Q3 data (train.tsv, test.tsv); default: FOLDER's data/ if it has one, else data/")
    parser.add_argument("--npz", type=Path, default=None, help="the Intel .npz, to check how Q2 reads the images")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the checks' models are tiny, and more threads on busy "
                             "cores measured 10x slower)")
    args = parser.parse_args(argv)
    for folder in args.folders:
        parser.check(folder.is_dir(), f"{folder}: no such folder")
    parser.check(args.npz is None or args.npz.is_file(), f"--npz {args.npz}: no such file")
    parser.check(args.threads >= 1, f"--threads {args.threads}: expected at least 1")
    parser.check(args.data_dir is None or args.data_dir.is_dir(), f"--data_dir {args.data_dir}: no such folder")
    for folder in args.folders:
        layout = find_layout(folder.resolve())
        parser.check(layout.q3_dir or layout.q2_dir,
                     f"{folder}: nothing to check (no hw2-q3.py, models.py with data.py, or hw2-q2.py in it "
                     f"or below it)")
    args.device = utils.resolve_device(args.device, flag="--device")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")  # students' scripts import pyplot at the top
    torch.set_num_threads(args.threads)
    report, rows = [], []
    for folder in args.folders:
        results, scores, header = check_folder(folder.resolve(), args)
        print_results(folder, header, results)
        rows.append((folder, totals(results)))
        report.append({"folder": str(folder), "checks": [vars(r) for r in results], "checkpoints": scores})
    if len(rows) > 1:
        print_summary(rows)
    if args.json:
        utils.write_json(args.json, {"folders": report})
    return 1 if any(counts["fail"] for _, counts in rows) else 0


if __name__ == "__main__":
    sys.exit(utils.run_main(main))
