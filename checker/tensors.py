"""Tiny Q3 inputs and models, built as the course's driver builds them, and tensor comparisons."""
import inspect

import torch

from utils import EOS_IDX, PAD_IDX, SOS_IDX, UNK_IDX, configure_seed

from .student import own_call_values
from .verdicts import breaks, departs

# Large enough that a wrong formula cannot pass by accident, small enough to be instant.
SRC_VOCAB, TGT_VOCAB, HIDDEN, DROPOUT = 11, 9, 16, 0.3
SRC_LENGTHS, TGT_LENGTHS = (4, 6, 2), (5, 3, 7)  # unsorted, as the course's DataLoader batches them
TOLERANCE = 1e-5
COURSE_ARGUMENTS = {"Encoder": 4, "BahdanauAttention": 1, "Decoder": 5}  # what the course's driver passes


def padded_batch(lengths, vocab_size, device, seed):
    """Random tokens (B, max(lengths)) that are never special, PAD after each length; lengths (B,)."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(UNK_IDX + 1, vocab_size, (len(lengths), max(lengths)), generator=generator)
    for row, length in enumerate(lengths):
        tokens[row, length:] = PAD_IDX
    return tokens.to(device), torch.tensor(lengths, device=device)


def targets(lengths, device, seed):
    """Training targets (B, max(lengths)) `SOS ... EOS PAD ...` and their lengths (B,)."""
    tgt, tgt_lengths = padded_batch(lengths, TGT_VOCAB, device, seed)
    tgt[:, 0] = SOS_IDX
    for row, length in enumerate(lengths):
        tgt[row, length - 1] = EOS_IDX
    return tgt, tgt_lengths


def tiny_inputs(device):
    """src (B, S), src_lengths (B,), tgt (B, T) `SOS ... EOS PAD ...`, tgt_lengths (B,)."""
    src, src_lengths = padded_batch(SRC_LENGTHS, SRC_VOCAB, device, seed=1)
    tgt, tgt_lengths = targets(TGT_LENGTHS, device, seed=2)
    return src, src_lengths, tgt, tgt_lengths


def build_seq2seq(st, use_attn, hidden=HIDDEN, src_vocab=SRC_VOCAB, tgt_vocab=TGT_VOCAB):
    """The student's Seq2Seq built as the course's driver builds it, in eval mode; a parameter the course
    does not pass gets what the group's own hw2-q3.py passes (extra_arguments)."""
    configure_seed(0)
    models = st.models
    encoder = models.Encoder(src_vocab, hidden, PAD_IDX, DROPOUT, **extra_arguments(st, "Encoder"))
    attn = models.BahdanauAttention(hidden, **extra_arguments(st, "BahdanauAttention")) if use_attn else None
    decoder = models.Decoder(hidden, tgt_vocab, attn, PAD_IDX, DROPOUT, **extra_arguments(st, "Decoder"))
    decoder.register_forward_hook(one_row_per_step)
    return models.Seq2Seq(encoder, decoder).to(st.device).eval()


def one_row_per_step(decoder, inputs, returned):
    """Decoder outputs stacked as (B, T, 1, H), which the course's driver takes too (it reads them with
    view(-1) and reshape(-1, V)), given to the checks as the skeleton's (B, T, H); q3.decoder.shapes
    calls forward itself, past this hook, to see what the decoder returns."""
    outputs = returned[0] if isinstance(returned, tuple) and len(returned) == 2 else None
    if isinstance(outputs, torch.Tensor) and outputs.dim() == 4 and outputs.shape[2] == 1:
        return outputs.squeeze(2), returned[1]
    return returned


def extra_arguments(st, name):
    """{parameter: value} of what the student's class `name` requires beyond the course driver's arguments,
    as their own hw2-q3.py passes it (none it cannot read there: the course's call then raises)."""
    try:
        parameters = list(inspect.signature(getattr(st.models, name)).parameters.values())
    except (TypeError, ValueError, AttributeError):
        return {}
    required = [p.name for p in parameters[COURSE_ARGUMENTS[name]:] if p.default is p.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    script = st.folder / "hw2-q3.py"
    if not required or not script.is_file():
        return {}
    try:
        return own_call_values(script, getattr(st.models, name), required, st.script)
    except SyntaxError:
        return {}


def own_arguments_departure(st, name):
    """A WARN when the student's class `name` needs arguments the course's driver does not pass, which their
    own hw2-q3.py passes (the checks build it so)."""
    extra = extra_arguments(st, name)
    if extra:
        departs(f"{name}.__init__ needs {', '.join(extra)}, which the course's driver does not pass; your hw2-q3.py "
                f"passes {', '.join(f'{k}={v!r}' for k, v in extra.items())}, as the checks do, so it works as "
                f"submitted, but the course's unmodified driver would raise TypeError")


def describe_value(value):
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


def target_columns(outputs, T):
    """How many columns a decoder's outputs for a full target (B, T) have: T-1 or T; None for anything else."""
    fits = isinstance(outputs, torch.Tensor) and outputs.dim() == 3 and outputs.shape[1] in (T - 1, T)
    return outputs.shape[1] if fits else None


def has_shape(value, shape):
    return isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(shape)


def expect_tensor(value, shape, what):
    if not isinstance(value, torch.Tensor):
        breaks(f"{what}: expected a tensor of shape {tuple(shape)}, found {describe_value(value)}")
    if tuple(value.shape) != tuple(shape):
        breaks(f"{what}: expected shape {tuple(shape)}, found {tuple(value.shape)}")


def expect_pair(value, what):
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        breaks(f"{what}: expected a pair, found {describe_value(value)}")
    return value


def expect_finite(value, what):
    """Breaks, saying where, when `value` holds NaN or inf: they compare false against any tolerance."""
    if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        bad = (~torch.isfinite(value)).reshape(value.shape or (1,))
        kind = "NaN" if bool(value.isnan().any()) else "inf"
        rows = sorted(set(bad.nonzero()[:, 0].tolist()))
        breaks(f"{what} holds {kind}: {int(bad.sum())} of {value.numel()} values, in batch row(s) {rows}, the first "
               f"at index {tuple(bad.nonzero()[0].tolist())}")


def max_difference(a, b):
    """The largest difference of two outputs of the student's code (NaN and inf are faults, never small)."""
    for value in (a, b):
        expect_finite(value, f"an output of your code of shape {tuple(value.shape)}")
    return float((a.detach().double() - b.detach().double()).abs().max()) if a.numel() else 0.0
