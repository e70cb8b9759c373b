"""The checker on students' code: the course's skeleton (../shared/skeleton), untouched, completed as
2024-25 students complete it, and those completions with one fault each (issue 30).

Every folder's verdicts were written down before the checker was first run on it: the exact set of
FAILs, every WARN, and for each a phrase its message must contain (the cause that really happens).
Where the checker said something else, the checker was fixed, never the prediction.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from checker import q3_checks
from checker.folder import check_folder
from helpers import INTEL_SLICE
from skeleton_students import (ATTENTION_BMM, ATTENTION_BROADCAST, ATTENTION_EINSUM, ATTENTION_EINSUM_INIT,
                               ATTENTION_EINSUM_WITH_WEIGHTS, ATTENTION_INIT, ATTENTION_ONE_STEP, CNN_NAMED_FORWARD,
                               CNN_NAMED_INIT, CNN_NAMED_INIT_WITH_CLASSES, CNN_POOLED_FORWARD, CNN_POOLED_INIT,
                               CNN_SEQUENTIAL_FORWARD, CNN_SEQUENTIAL_INIT, CONV_BLOCK_NAMED_FORWARD,
                               CONV_BLOCK_NAMED_INIT, CONV_BLOCK_SEQUENTIAL_FORWARD, CONV_BLOCK_SEQUENTIAL_INIT,
                               COUNT_PARAMS, DECODER_LOOP, DECODER_LOOP_ONE_STEP_ATTENTION, DECODER_LOOP_READING_ALL,
                               DECODER_ONE_CALL, DECODER_ONE_CALL_WITH_WEIGHTS, ENCODER, MAIN_PASSING_CLASSES,
                               NUCLEUS_CUMSUM, NUCLEUS_LOOP, NUCLEUS_SEARCHSORTED, SKELETON,
                               TRAIN_HANDING_TGT_WITHOUT_EOS, Fill, Substitute, changed, conv_block_init,
                               make_skeleton_student)

pytestmark = pytest.mark.skipif(not SKELETON.is_dir(), reason=f"the course's skeleton is not at {SKELETON}")

STUDENT_FILE_LINE = re.compile(r"\b(models|hw2-q3|hw2-q2|data|utils)\.py:\d+")
# what a FAIL of these checks must give so that the student can rerun it: p, the source lengths
INPUT_GIVEN = {"q3.nucleus.support": re.compile(r"\bp ?= ?\d"), "q3.nucleus.frequencies": re.compile(r"\bp ?= ?\d"),
               "q3.attention.padding": re.compile("length"), "q3.encoder.padding": re.compile("length")}


@dataclass(frozen=True)
class Folder:
    q3: dict = field(default_factory=dict)  # {file: [(dotted name, edit), ...]} applied to the skeleton's hw2-q3/
    q2: dict = field(default_factory=dict)  # ... to its hw2-q2/
    failing: frozenset = frozenset()  # exactly the checks that FAIL
    expected: dict = field(default_factory=dict)  # {check id: (status, part of its message)}; every WARN is here
    absent: dict = field(default_factory=dict)  # {check id: what its message must not say}
    parts: tuple = ("q3", "q2")  # the parts checked: a variant's own
    npz: Path = None  # --npz (q2.layout skips without it)
    samples: bool = False  # all the nucleus draws (else fewer: the folder's sampler is a completion's)


def completion(q3, q2, **prediction):
    return Folder(q3, q2, npz=INTEL_SLICE, **prediction)


def variant(base, q3=None, q2=None, **prediction):
    """`base` with the edits {file: {dotted name: edit or None (removed)}}, checked on the parts it touches."""
    def merged(edits, changes):
        result = {name: list(pairs) for name, pairs in edits.items()}
        for name, by_definition in (changes or {}).items():
            pairs = result.setdefault(name, [])
            for dotted_name, edit in by_definition.items():  # last: a syntax error in it stops later edits
                pairs[:] = [(d, e) for d, e in pairs if d != dotted_name] + ([(dotted_name, edit)] if edit else [])
        return result
    parts = tuple(part for part, changes in (("q3", q3), ("q2", q2)) if changes)
    samples = any("nucleus_sampling" in changes for changes in (q3 or {}).values())
    return Folder(merged(base.q3, q3), merged(base.q2, q2), parts=parts, samples=samples, **prediction)


# ----------------------------------------------------------------------------- the skeleton, untouched

SKELETON_FOLDER = Folder(
    npz=INTEL_SLICE,
    failing=frozenset({"q3.encoder.shapes", "q3.decoder.shapes", "q3.attention.shapes", "q3.nucleus.support",
                       "q2.signature", "q2.count_function"}),
    expected={"q3.encoder.shapes": ("fail", "Encoder.forward is not implemented"),
              "q3.decoder.shapes": ("fail", "Decoder.forward is not implemented"),
              "q3.attention.shapes": ("fail", "BahdanauAttention.__init__ is not implemented"),
              "q3.nucleus.support": ("fail", "nucleus_sampling is not implemented"),
              "q2.signature": ("fail", "not implemented"),
              "q2.count_function": ("fail", "get_number_trainable_params is not implemented")})

# ----------------------------------------------------------------------------- completions
# Each PASSes every check, or WARNs only its departures (listed). q2.layout: the skeleton's own loader
# and reshape read this project's Intel npz (stored HWC) scrambled; the student wrote neither.

SKELETON_LAYOUT = ("warn", "skeleton")
Q2_NAMED = {"hw2-q2.py": [("ConvBlock.__init__", CONV_BLOCK_NAMED_INIT),
                          ("ConvBlock.forward", CONV_BLOCK_NAMED_FORWARD),
                          ("CNN.__init__", CNN_NAMED_INIT), ("CNN.forward", CNN_NAMED_FORWARD),
                          ("get_number_trainable_params", COUNT_PARAMS)]}
Q2_SEQUENTIAL = {"hw2-q2.py": [("ConvBlock.__init__", CONV_BLOCK_SEQUENTIAL_INIT),
                               ("ConvBlock.forward", CONV_BLOCK_SEQUENTIAL_FORWARD),
                               ("CNN.__init__", CNN_SEQUENTIAL_INIT), ("CNN.forward", CNN_SEQUENTIAL_FORWARD),
                               ("get_number_trainable_params", COUNT_PARAMS)]}

# the hint's loop, bmm, a loop over the sorted probabilities, named layers
LOOP_BMM = completion(
    {"models.py": [("Encoder.forward", ENCODER), ("BahdanauAttention.__init__", ATTENTION_INIT),
                   ("BahdanauAttention.forward", ATTENTION_BMM), ("Decoder.forward", DECODER_LOOP)],
     "hw2-q3.py": [("nucleus_sampling", NUCLEUS_LOOP)]},
    Q2_NAMED, expected={"q2.layout": SKELETON_LAYOUT})
# one LSTM call, einsum with v a raw parameter, the cumulative-sum mask, nn.Sequential, GAP as a mean
ONE_CALL_EINSUM = completion(
    {"models.py": [("Encoder.forward", ENCODER), ("BahdanauAttention.__init__", ATTENTION_EINSUM_INIT),
                   ("BahdanauAttention.forward", ATTENTION_EINSUM), ("Decoder.forward", DECODER_ONE_CALL)],
     "hw2-q3.py": [("nucleus_sampling", NUCLEUS_CUMSUM)]},
    Q2_SEQUENTIAL, expected={"q2.layout": SKELETON_LAYOUT})
# the hint's loop, broadcasting with a -1e9 mask, searchsorted, Sequential blocks in named layers
LOOP_BROADCAST = completion(
    {"models.py": [("Encoder.forward", ENCODER), ("BahdanauAttention.__init__", ATTENTION_INIT),
                   ("BahdanauAttention.forward", ATTENTION_BROADCAST), ("Decoder.forward", DECODER_LOOP)],
     "hw2-q3.py": [("nucleus_sampling", NUCLEUS_SEARCHSORTED)]},
    {"hw2-q2.py": [("ConvBlock.__init__", CONV_BLOCK_SEQUENTIAL_INIT),
                   ("ConvBlock.forward", CONV_BLOCK_SEQUENTIAL_FORWARD),
                   ("CNN.__init__", CNN_NAMED_INIT), ("CNN.forward", CNN_NAMED_FORWARD),
                   ("get_number_trainable_params", COUNT_PARAMS)]},
    expected={"q2.layout": SKELETON_LAYOUT})
# a decoder reading all of tgt, which the group's own train hands tgt[:, :-1]
OWN_TRAIN_SLICES = completion(
    {"models.py": [("Encoder.forward", ENCODER), ("BahdanauAttention.__init__", ATTENTION_INIT),
                   ("BahdanauAttention.forward", ATTENTION_BMM), ("Decoder.forward", DECODER_LOOP_READING_ALL)],
     "hw2-q3.py": [("train", TRAIN_HANDING_TGT_WITHOUT_EOS), ("nucleus_sampling", NUCLEUS_CUMSUM)]},
    {"hw2-q2.py": [("ConvBlock.__init__", CONV_BLOCK_NAMED_INIT), ("ConvBlock.forward", CONV_BLOCK_NAMED_FORWARD),
                   ("CNN.__init__", CNN_SEQUENTIAL_INIT), ("CNN.forward", CNN_SEQUENTIAL_FORWARD),
                   ("get_number_trainable_params", COUNT_PARAMS)]},
    expected={"q3.decoder.shapes": ("warn", "your own hw2-q3.py train runs with it"), "q2.layout": SKELETON_LAYOUT})
# an attention for one step, query (B, H), which the group's loop squeezes for; a CNN taking n_classes,
# which the group's own driver passes
ONE_STEP_QUERY = completion(
    {"models.py": [("Encoder.forward", ENCODER), ("BahdanauAttention.__init__", ATTENTION_INIT),
                   ("BahdanauAttention.forward", ATTENTION_ONE_STEP),
                   ("Decoder.forward", DECODER_LOOP_ONE_STEP_ATTENTION)],
     "hw2-q3.py": [("nucleus_sampling", NUCLEUS_LOOP)]},
    {"hw2-q2.py": [("ConvBlock.__init__", CONV_BLOCK_NAMED_INIT), ("ConvBlock.forward", CONV_BLOCK_NAMED_FORWARD),
                   ("CNN.__init__", CNN_NAMED_INIT_WITH_CLASSES), ("CNN.forward", CNN_NAMED_FORWARD),
                   ("get_number_trainable_params", COUNT_PARAMS), ("main", MAIN_PASSING_CLASSES)]},
    expected={"q3.attention.shapes": ("warn", "(B, H)"), "q2.signature": ("warn", "builds it to fit"),
              "q2.layout": SKELETON_LAYOUT})
# an attention returning (s~, alpha), which the group's one-call decoder takes apart; ModuleList blocks,
# nn.AdaptiveAvgPool2d and nn.Flatten
WITH_WEIGHTS = completion(
    {"models.py": [("Encoder.forward", ENCODER), ("BahdanauAttention.__init__", ATTENTION_EINSUM_INIT),
                   ("BahdanauAttention.forward", ATTENTION_EINSUM_WITH_WEIGHTS),
                   ("Decoder.forward", DECODER_ONE_CALL_WITH_WEIGHTS)],
     "hw2-q3.py": [("nucleus_sampling", NUCLEUS_SEARCHSORTED)]},
    {"hw2-q2.py": [("ConvBlock.__init__", CONV_BLOCK_NAMED_INIT), ("ConvBlock.forward", CONV_BLOCK_NAMED_FORWARD),
                   ("CNN.__init__", CNN_POOLED_INIT), ("CNN.forward", CNN_POOLED_FORWARD),
                   ("get_number_trainable_params", COUNT_PARAMS)]},
    expected={"q3.attention.shapes": ("warn", "tuple"), "q2.layout": SKELETON_LAYOUT})

COMPLETIONS = {"the hint's loop, bmm, a loop, named layers": LOOP_BMM,
               "one LSTM call, einsum, a cumulative-sum mask, nn.Sequential": ONE_CALL_EINSUM,
               "the hint's loop, broadcasting, searchsorted, Sequential blocks": LOOP_BROADCAST,
               "a decoder reading all of tgt, handed tgt[:, :-1] by the group's train": OWN_TRAIN_SLICES,
               "a one-step (B, H) attention, a CNN taking n_classes from the group's driver": ONE_STEP_QUERY,
               "an attention returning (s~, alpha), ModuleList blocks": WITH_WEIGHTS}

# ----------------------------------------------------------------------------- single faults
# One change each to a completion, its verdicts predicted from what the statement requires and what
# the code really does (the rule of issue 30 it tests in brackets). Checked on the part it touches,
# without --npz.

MASK_LINE = '    scores = scores.masked_fill(~mask, float("-inf"))\n'
W_OUT_LINE = "    self.W_out = nn.Linear(2 * hidden_size, hidden_size, bias=False)\n"
ENHANCED = "attn_out = torch.tanh(self.W_out(torch.cat([context, query], dim=-1)))"
LOG_SOFTMAX = "return F.log_softmax(x, dim=1)"
NUCLEUS_LOOP_SAMPLING = ("    top_p_probs = top_p_probs / top_p_probs.sum()\n"
                         "    choice = torch.multinomial(top_p_probs, 1)\n")
CONV_BLOCK_FUNCTIONAL = [
    ("ConvBlock.__init__", conv_block_init('''
        if padding is None:
            padding = kernel_size // 2
        # Q2.1. Initialize convolution, maxpool, activation and dropout layers
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=padding)
        self.maxpool = maxpool
        self.dropout = dropout
        # Q2.2 Initialize batchnorm layer
        self.bn = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        ''')),
    ("ConvBlock.forward", '''
        def forward(self, x):
            # input for convolution is [b, c, w, h]
            x = self.bn(self.conv(x))
            x = x.relu()
            if self.maxpool:
                x = F.max_pool2d(x, kernel_size=2, stride=2)
            x = F.dropout(x, p=self.dropout, training=self.training)
            return x
        ''')]


def models(dotted_name, edit):
    return {"models.py": {dotted_name: edit}}


def attention(edit, init=None):
    return {"models.py": {"BahdanauAttention.forward": edit,
                          **({"BahdanauAttention.__init__": init} if init else {})}}


def q2_file(*edits):
    return {"hw2-q2.py": dict(edits)}


VARIANTS = {
    # --- attention
    "softmax over the target steps, a -1e9 mask [f]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, ('float("-inf")', "-1e9"),
                                       ("torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=1)"))),
        failing={"q3.attention.formula"},
        expected={"q3.attention.padding": ("skip", "axis"), "q3.attention.formula": ("fail", "axis")},
        absent={"q3.attention.padding": "-inf", "q3.attention.formula": "swapped"}),
    "softmax over the target steps, a -inf mask: NaN on padded rows [b]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, ("torch.softmax(scores, dim=-1)",
                                                       "torch.softmax(scores, dim=1)"))),
        failing={"q3.attention.padding", "q3.attention.formula"},
        expected={"q3.attention.padding": ("fail", "NaN"), "q3.attention.formula": ("fail", "axis"),
                  "q3.decoder.teacher_forcing": ("skip", "q3.attention"),
                  "q3.model.batch_invariance": ("skip", "q3.attention")}),
    "no mask [e]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, (MASK_LINE, ""))),
        failing={"q3.attention.padding"},
        expected={"q3.attention.padding": ("fail", "padding gets weight"),
                  "q3.model.batch_invariance": ("skip", "q3.attention.padding")}),
    "masked_fill's result not kept, -1e9 [e]": variant(
        LOOP_BROADCAST, q3=attention(changed(ATTENTION_BROADCAST, ("energy = energy.masked_fill(~mask, -1e9)",
                                                                   "energy.masked_fill(~mask, -1e9)"))),
        failing={"q3.attention.padding"},
        expected={"q3.attention.padding": ("fail", "padding gets weight"),
                  "q3.model.batch_invariance": ("skip", "q3.attention.padding")}),
    "no W_out, [c_t; s] returned (B, T, 2H): the shape fault hides it [e]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, (ENHANCED, "attn_out = torch.cat([context, query], dim=-1)")),
                               init=changed(ATTENTION_INIT, (W_OUT_LINE, ""))),
        failing={"q3.attention.shapes", "q3.attention.formula"},
        expected={"q3.attention.shapes": ("fail", "(B, 1, H)"),
                  "q3.attention.formula": ("fail", "no learnable W_out"),
                  "q3.attention.padding": ("pass", "zero weight")}),
    "no W_out anywhere: the attention returns c_t itself, the decoder outputs it [e]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, (ENHANCED, "attn_out = context")),
                               init=changed(ATTENTION_INIT, (W_OUT_LINE, ""))),
        failing={"q3.attention.formula"}, expected={"q3.attention.formula": ("fail", "no learnable W_out")}),
    "no v: the scores summed over the hidden units [e]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, ("self.v(torch.tanh(s + h)).squeeze(-1)",
                                                       "torch.tanh(s + h).sum(-1)")),
                               init=changed(ATTENTION_INIT, ("    self.v = nn.Linear(hidden_size, 1, bias=False)\n",
                                                             ""))),
        failing={"q3.attention.formula"}, expected={"q3.attention.formula": ("fail", "v (H)")}),
    "biases in W_s and W_h [e]": variant(
        LOOP_BMM, q3=attention(ATTENTION_BMM, init=changed(
            ATTENTION_INIT, ("self.W_s = nn.Linear(hidden_size, hidden_size, bias=False)",
                             "self.W_s = nn.Linear(hidden_size, hidden_size)"),
            ("self.W_h = nn.Linear(hidden_size, hidden_size, bias=False)",
             "self.W_h = nn.Linear(hidden_size, hidden_size)"))),
        expected={"q3.attention.formula": ("warn", "bias")}),
    "W_h on the query, W_s on the encoder outputs (correct: names only) [f]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, ("s = self.W_s(query)", "s = self.W_h(query)"),
                                       ("h = self.W_h(encoder_outputs)", "h = self.W_s(encoder_outputs)"))),
        expected={"q3.attention.formula": ("pass", "W_s = self.W_h, W_h = self.W_s")}),
    "W_s on both s and h_i, W_h unused [f]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, ("h = self.W_h(encoder_outputs)",
                                                       "h = self.W_s(encoder_outputs)"))),
        failing={"q3.attention.formula"}, expected={"q3.attention.formula": ("fail", "self.W_h")},
        absent={"q3.attention.formula": "swapped"}),
    "no tanh around W_out [f]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, (ENHANCED, ENHANCED.replace("torch.tanh(", "")[:-1]))),
        failing={"q3.attention.formula"}, expected={"q3.attention.formula": ("fail", "no tanh")}),
    "a one-step (B, H) attention, the decoder passing (B, 1, H) [a, g]": variant(
        ONE_STEP_QUERY, q3=models("Decoder.forward", DECODER_LOOP),
        failing={"q3.attention.shapes"}, expected={"q3.attention.shapes": ("fail", "raises RuntimeError")}),
    "a one-step (B, H) attention without a mask [a, e]": variant(
        ONE_STEP_QUERY, q3=attention(changed(
            ATTENTION_ONE_STEP, ('    e = e.masked_fill(~self.sequence_mask(src_lengths), float("-inf"))\n', ""))),
        failing={"q3.attention.padding"},
        expected={"q3.attention.shapes": ("warn", "(B, H)"), "q3.attention.padding": ("fail", "padding gets weight"),
                  "q3.model.batch_invariance": ("skip", "q3.attention.padding")}),
    "the mask inverted, masked_fill(mask, -inf) on the valid positions: NaN [b]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, ("scores.masked_fill(~mask,", "scores.masked_fill(mask,"))),
        failing={"q3.attention.padding", "q3.attention.formula"},
        expected={"q3.attention.padding": ("fail", "NaN"), "q3.attention.formula": ("fail", "NaN")}),
    "softmax as an nn.Softmax(dim=2) module (correct) [c]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, ("alpha = torch.softmax(scores, dim=-1)",
                                                       "alpha = self.softmax(scores)")),
                               init=Fill(ATTENTION_INIT.body + "    self.softmax = nn.Softmax(dim=2)\n")),
        expected={"q3.attention.formula": ("pass", ""), "q3.attention.padding": ("pass", "")}),
    "tanh and softmax as tensor methods (correct) [c]": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, ("self.v(torch.tanh(s + h))", "self.v((s + h).tanh())"),
                                       ("alpha = torch.softmax(scores, dim=-1)", "alpha = scores.softmax(dim=-1)"),
                                       (ENHANCED,
                                        "attn_out = self.W_out(torch.cat([context, query], dim=-1)).tanh()"))),
        expected={"q3.attention.formula": ("pass", ""), "q3.attention.padding": ("pass", "")}),
    # --- decoder
    "the loop feeding the first token at every step": variant(
        LOOP_BMM, q3=models("Decoder.forward", changed(DECODER_LOOP, ("embedded[:, t]", "embedded[:, 0]"))),
        failing={"q3.decoder.teacher_forcing"},
        expected={"q3.decoder.teacher_forcing": ("fail", "one token at a time")}),
    "the loop never carrying its state to the next step": variant(
        LOOP_BMM, q3=models("Decoder.forward", changed(DECODER_LOOP, (
            "output, dec_state = self.lstm(embedded[:, t].unsqueeze(1), dec_state)",
            "output, hidden = self.lstm(embedded[:, t].unsqueeze(1), dec_state)"))),
        failing={"q3.decoder.teacher_forcing"}, expected={"q3.decoder.teacher_forcing": ("fail", "state")}),
    "a decoder reading all of tgt, the skeleton's train [a]": variant(
        OWN_TRAIN_SLICES, q3={"hw2-q3.py": {"train": None}},
        failing={"q3.decoder.shapes"}, expected={"q3.decoder.shapes": ("fail", "raises ValueError")}),
    "the decoder slicing tgt, the group's train slicing it again [a]": variant(
        LOOP_BMM, q3={"hw2-q3.py": {"train": TRAIN_HANDING_TGT_WITHOUT_EOS}},
        failing={"q3.own_training"}, expected={"q3.own_training": ("fail", "raises ValueError")}),
    "F.dropout(training=True) on the decoder outputs, on in eval mode [c]": variant(
        ONE_CALL_EINSUM, q3=models("Decoder.forward", changed(DECODER_ONE_CALL, (
            "outputs = self.dropout(outputs)", "outputs = nn.functional.dropout(outputs, p=0.3, training=True)"))),
        failing={"q3.dropout.placement"},
        expected={"q3.dropout.placement": ("fail", "eval"), "q3.decoder.teacher_forcing": ("pass", ""),
                  "q3.model.batch_invariance": ("pass", "")}),
    "the decoder calling self.attn without checking for None: raises without attention [g]": variant(
        LOOP_BMM, q3=models("Decoder.forward", changed(DECODER_LOOP, (
            "        if self.attn is not None:\n            output = self.attn(", "        output = self.attn("))),
        failing={"q3.decoder.shapes"},
        expected={"q3.decoder.shapes": ("fail", "raises TypeError"), "q3.own_training": ("skip", "q3.decoder.shapes")}),
    "dropout on the decoder outputs, then sliced (correct) [c]": variant(
        ONE_CALL_EINSUM, q3=models("Decoder.forward", changed(
            DECODER_ONE_CALL, ("    if tgt.size(1) > 1:\n        tgt = tgt[:, :-1]\n", ""),
            ("    outputs = self.dropout(outputs)\n",
             "    outputs = self.dropout(outputs)\n    if tgt.size(1) > 1:\n"
             "        outputs = outputs[:, :-1]  # no next token after EOS\n"))),
        expected={"q3.dropout.placement": ("pass", "")}),
    "decoder outputs stacked, (B, T-1, 1, H), which the group's pipeline takes [a]": variant(
        LOOP_BMM, q3=models("Decoder.forward", changed(DECODER_LOOP, ("outputs = torch.cat(outputs, dim=1)",
                                                                  "outputs = torch.stack(outputs, dim=1)"))),
        expected={"q3.decoder.shapes": ("warn", "your own hw2-q3.py train runs with it")}),
    "dropout on the LSTM output before the attention, as the hint's loop reads [c]": variant(
        LOOP_BMM, q3=models("Decoder.forward", changed(
            DECODER_LOOP, ("        output = self.dropout(output)\n        outputs.append(output)\n",
                           "        outputs.append(output)\n"),
            ("        output, dec_state = self.lstm(embedded[:, t].unsqueeze(1), dec_state)\n",
             "        output, dec_state = self.lstm(embedded[:, t].unsqueeze(1), dec_state)\n"
             "        output = self.dropout(output)\n"))),
        expected={"q3.dropout.placement": ("pass", "")}),
    # --- encoder
    "F.dropout(x, 0.3) on the encoder outputs, training left at its default True [c]": variant(
        LOOP_BMM, q3=models("Encoder.forward", changed(ENCODER, ("enc_output = self.dropout(enc_output)",
                                                             "enc_output = nn.functional.dropout(enc_output, 0.3)"))),
        failing={"q3.dropout.placement"},
        expected={"q3.dropout.placement": ("fail", "eval"), "q3.encoder.padding": ("pass", ""),
                  "q3.model.batch_invariance": ("pass", "")}),
    "the encoder returning its final states joined by reshape_state [a]": variant(
        LOOP_BMM, q3=models("Encoder.forward", changed(ENCODER, ("return enc_output, final_hidden",
                                                                "return enc_output, reshape_state(final_hidden)"))),
        expected={"q3.encoder.shapes": ("warn", "your own hw2-q3.py train runs with it")}),
    "no packing": variant(
        LOOP_BMM, q3=models("Encoder.forward", changed(ENCODER, (
            "packed = pack(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)\n"
            "    packed_output, final_hidden = self.lstm(packed)\n"
            "    enc_output, _ = unpack(packed_output, batch_first=True)",
            "enc_output, final_hidden = self.lstm(embedded)"))),
        failing={"q3.encoder.padding"},
        expected={"q3.encoder.padding": ("fail", "pack"), "q3.model.batch_invariance": ("skip", "q3.encoder.padding")}),
    "no dropout on the encoder outputs": variant(
        LOOP_BMM, q3=models("Encoder.forward", changed(ENCODER, ("    enc_output = self.dropout(enc_output)\n", ""))),
        failing={"q3.dropout.placement"},
        expected={"q3.dropout.placement": ("fail", "never on the encoder outputs")}),
    "encoder outputs dropped flat, then reshaped (correct) [c]": variant(
        LOOP_BMM, q3=models("Encoder.forward", changed(ENCODER, (
            "enc_output = self.dropout(enc_output)",
            "enc_output = self.dropout(enc_output.reshape(-1, enc_output.size(-1))).view(enc_output.shape)"))),
        expected={"q3.dropout.placement": ("pass", "")}),
    "pack without enforce_sorted=False: raises on a batch of unsorted lengths [g]": variant(
        LOOP_BMM, q3=models("Encoder.forward", changed(ENCODER, (
            "lengths.cpu(), batch_first=True, enforce_sorted=False)", "lengths.cpu(), batch_first=True)"))),
        failing={"q3.encoder.shapes"},
        expected={"q3.encoder.shapes": ("fail", "raises RuntimeError"),
                  "q3.own_training": ("skip", "q3.encoder.shapes")}),
    # --- nucleus sampling (all the draws)
    "nucleus removing the token whose mass crosses p (cumulative > p, unshifted)": variant(
        ONE_CALL_EINSUM, q3={"hw2-q3.py": {"nucleus_sampling": changed(NUCLEUS_CUMSUM, (
            "    sorted_indices_to_remove[1:] = sorted_indices_to_remove[:-1].clone()\n"
            "    sorted_indices_to_remove[0] = False\n", ""))}},
        failing={"q3.nucleus.support", "q3.nucleus.frequencies"},
        expected={"q3.nucleus.support": ("fail", "crosses p"), "q3.nucleus.frequencies": ("fail", "chi-square")}),
    "nucleus by inverse CDF over the kept mass, not renormalised": variant(
        LOOP_BROADCAST, q3={"hw2-q3.py": {"nucleus_sampling": changed(NUCLEUS_SEARCHSORTED, (
            "    top_probs = top_probs / top_probs.sum()\n    sample = torch.multinomial(top_probs, 1)\n",
            "    sample = torch.searchsorted(top_probs.cumsum(dim=0), torch.rand(1, device=logits.device))\n"))}},
        failing={"q3.nucleus.support", "q3.nucleus.frequencies"},
        expected={"q3.nucleus.support": ("fail", "outside the top-p set"),
                  "q3.nucleus.frequencies": ("fail", "outside the top-p set")}),
    "nucleus by np.random.choice over probabilities not renormalised: raises [g]": variant(
        LOOP_BMM, q3={"hw2-q3.py": {"nucleus_sampling": changed(
            NUCLEUS_LOOP,
            (NUCLEUS_LOOP_SAMPLING, "    choice = np.random.choice(len(top_p_probs), p=top_p_probs.numpy())\n"),
            ("torch.stack(top_p_indices)[choice]", "torch.stack(top_p_indices)[[choice]]"))}},
        failing={"q3.nucleus.support"},
        expected={"q3.nucleus.support": ("fail", "raises ValueError"),
                  "q3.nucleus.frequencies": ("skip", "nucleus_sampling")}),
    "nucleus sampling the whole distribution": variant(
        ONE_CALL_EINSUM, q3={"hw2-q3.py": {"nucleus_sampling": changed(NUCLEUS_CUMSUM, (
            "next_token = sorted_indices[torch.multinomial(sorted_probs, num_samples=1)]",
            "next_token = torch.multinomial(probs, num_samples=1)"))}},
        failing={"q3.nucleus.support", "q3.nucleus.frequencies"},
        expected={"q3.nucleus.support": ("fail", "outside the top-p set"),
                  "q3.nucleus.frequencies": ("fail", "outside the top-p set")}),
    "nucleus returning shape () (the course's driver views it as (1, 1)) [a]": variant(
        LOOP_BROADCAST, q3={"hw2-q3.py": {"nucleus_sampling": changed(NUCLEUS_SEARCHSORTED, (
            "return sorted_indices[sample]", "return sorted_indices[sample].squeeze()"))}},
        expected={"q3.nucleus.support": ("warn", "shape ()")}),
    "nucleus returning a Python int (the course's driver calls .view on it) [g]": variant(
        LOOP_BMM, q3={"hw2-q3.py": {"nucleus_sampling": changed(NUCLEUS_LOOP, (
            "return torch.stack(top_p_indices)[choice]", "return int(torch.stack(top_p_indices)[choice])"))}},
        failing={"q3.nucleus.support"},
        expected={"q3.nucleus.support": ("fail", "int"), "q3.nucleus.frequencies": ("skip", "q3.nucleus.support")}),
    "nucleus sorting in ascending order": variant(
        ONE_CALL_EINSUM, q3={"hw2-q3.py": {"nucleus_sampling": changed(NUCLEUS_CUMSUM, (
            "torch.sort(probs, descending=True)", "torch.sort(probs)"))}},
        failing={"q3.nucleus.support", "q3.nucleus.frequencies"},
        expected={"q3.nucleus.support": ("fail", "outside the top-p set"),
                  "q3.nucleus.frequencies": ("fail", "outside the top-p set")}),
    "nucleus returning the position in the sorted order, not the token": variant(
        LOOP_BROADCAST, q3={"hw2-q3.py": {"nucleus_sampling": changed(NUCLEUS_SEARCHSORTED, (
            "return sorted_indices[sample]", "return sample"))}},
        failing={"q3.nucleus.support", "q3.nucleus.frequencies"},
        expected={"q3.nucleus.support": ("fail", "p = "), "q3.nucleus.frequencies": ("fail", "p = 0.8")}),
    # --- a syntax error in one file
    "a syntax error in hw2-q3.py's nucleus_sampling": variant(
        LOOP_BMM, q3={"hw2-q3.py": {"nucleus_sampling": changed(NUCLEUS_LOOP, ("if cumulative >= p:",
                                                                               "if cumulative >= p"))}},
        failing={"q3.import.script"},
        expected={"q3.import.script": ("fail", "SyntaxError"), "q3.nucleus.support": ("skip", "hw2-q3.py"),
                  "q3.greedy_next_token": ("skip", "hw2-q3.py"), "q3.attention.formula": ("pass", "")}),
    "a syntax error in models.py's attention leaves hw2-q3.py's functions judged": variant(
        LOOP_BMM, q3=attention(changed(ATTENTION_BMM, ("alpha = torch.softmax(scores, dim=-1)",
                                                       "alpha = torch.softmax(scores, dim=-1"))),
        failing={"q3.import.models"},
        expected={"q3.import.models": ("fail", "SyntaxError"), "q3.import.script": ("skip", "models.py"),
                  "q3.greedy_next_token": ("pass", ""), "q3.nucleus.support": ("pass", ""),
                  "q3.nucleus.frequencies": ("pass", "")}),
    # --- the CNN
    "batch norm after the ReLU in the block [d]": variant(
        LOOP_BMM, q2=q2_file(("ConvBlock.forward", changed(CONV_BLOCK_NAMED_FORWARD, (
            "    x = self.bn(x)\n    x = self.relu(x)\n", "    x = self.relu(x)\n    x = self.bn(x)\n")))),
        failing={"q2.block.order"}, expected={"q2.block.order": ("fail", "batch norm")}),
    "batch norm after the max-pool in the block [d]": variant(
        ONE_CALL_EINSUM, q2=q2_file(("ConvBlock.__init__", changed(CONV_BLOCK_SEQUENTIAL_INIT, (
            "    if batch_norm:\n        layers.append(nn.BatchNorm2d(out_channels))\n    layers.append(nn.ReLU())\n"
            "    if maxpool:\n        layers.append(nn.MaxPool2d(2, 2))\n",
            "    layers.append(nn.ReLU())\n    if maxpool:\n        layers.append(nn.MaxPool2d(2, 2))\n"
            "    if batch_norm:\n        layers.append(nn.BatchNorm2d(out_channels))\n")))),
        failing={"q2.block.order"}, expected={"q2.block.order": ("fail", "batch norm")}),
    "dropout before the max-pool in the block [d]": variant(
        LOOP_BMM, q2=q2_file(("ConvBlock.forward", changed(CONV_BLOCK_NAMED_FORWARD, (
            "    x = self.maxpool(x)\n    x = self.dropout(x)\n",
            "    x = self.dropout(x)\n    x = self.maxpool(x)\n")))),
        failing={"q2.block.order"}, expected={"q2.block.order": ("fail", "before the max-pool")}),
    "the MLP's batch norm after its dropout [d]": variant(
        LOOP_BMM, q2=q2_file(("CNN.forward", changed(CNN_NAMED_FORWARD, (
            "    x = self.bn1(x)\n    x = self.dropout(x)\n", "    x = self.dropout(x)\n    x = self.bn1(x)\n")))),
        failing={"q2.block.order"}, expected={"q2.block.order": ("fail", "after its dropout")}),
    "no ReLU in the block [c, d]": variant(
        LOOP_BMM, q2=q2_file(("ConvBlock.forward", changed(CONV_BLOCK_NAMED_FORWARD, ("    x = self.relu(x)\n", "")))),
        failing={"q2.block.order"}, expected={"q2.block.order": ("fail", "ReLU")}),
    "the MLP without its second ReLU [c, d]": variant(
        LOOP_BMM, q2=q2_file(("CNN.forward", changed(CNN_NAMED_FORWARD, ("    x = self.fc2(x)\n    x = self.relu(x)\n",
                                                                     "    x = self.fc2(x)\n")))),
        failing={"q2.block.order"}, expected={"q2.block.order": ("fail", "ReLU")}),
    "ConvBlock's padding left None, the CNN passing none: the conv raises [g]": variant(
        ONE_CALL_EINSUM, q2=q2_file(("CNN.__init__", changed(CNN_SEQUENTIAL_INIT, (
            "kernel_size=3, padding=1, maxpool=maxpool", "kernel_size=3, maxpool=maxpool")))),
        failing={"q2.output"},
        expected={"q2.output": ("fail", "raises TypeError"), "q2.batchnorm_switch": ("skip", "q2.output"),
                  "q2.maxpool_switch": ("skip", "q2.output"), "q2.dropout.placement": ("skip", "q2.output"),
                  "q2.block.order": ("skip", "q2.output")}),
    "batch_norm=False still runs the blocks' batch norm": variant(
        LOOP_BMM, q2=q2_file(("ConvBlock.__init__", changed(CONV_BLOCK_NAMED_INIT, (
            "self.bn = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()",
            "self.bn = nn.BatchNorm2d(out_channels)")))),
        failing={"q2.params.plain", "q2.batchnorm_switch"},
        expected={"q2.params.plain": ("fail", "BatchNorm2d"), "q2.batchnorm_switch": ("fail", "batch_norm=False")}),
    "a CNN without the conv_bias parameter, which the course's driver never passes (correct)": variant(
        LOOP_BMM, q2=q2_file(("CNN.__init__", changed(CNN_NAMED_INIT, (
            "def __init__(self, dropout_prob, maxpool=True, batch_norm=True, conv_bias=True):",
            "def __init__(self, dropout_prob, maxpool=True, batch_norm=True):")))),
        expected={"q2.signature": ("pass", ""), "q2.params.bn": ("pass", "755,718")}),
    "no conv bias where batch norm follows": variant(
        LOOP_BMM, q2=q2_file(("ConvBlock.__init__", changed(CONV_BLOCK_NAMED_INIT, (
            "stride=1, padding=padding)", "stride=1, padding=padding, bias=not batch_norm)")))),
        failing={"q2.params.bn"}, expected={"q2.params.bn": ("fail", "trainable parameters")}),
    "scores, not log-probabilities, under the group's own CrossEntropyLoss [a]": variant(
        LOOP_BMM, q2=q2_file(("CNN.forward", changed(CNN_NAMED_FORWARD, (LOG_SOFTMAX, "return x"))),
                             ("main", Substitute("criterion = nn.NLLLoss()", "criterion = nn.CrossEntropyLoss()"))),
        expected={"q2.output": ("warn", "CrossEntropyLoss")}),
    "scores, not log-probabilities, under the skeleton's NLLLoss": variant(
        LOOP_BMM, q2=q2_file(("CNN.forward", changed(CNN_NAMED_FORWARD, (LOG_SOFTMAX, "return x")))),
        failing={"q2.output"}, expected={"q2.output": ("fail", "log-softmax")}),
    "channels 16, 32, 64": variant(
        LOOP_BMM, q2=q2_file(("CNN.__init__", changed(CNN_NAMED_INIT, ("channels = [3, 32, 64, 128]",
                                                                   "channels = [3, 16, 32, 64]")))),
        failing={"q2.params.plain", "q2.params.bn"},
        expected={"q2.params.plain": ("fail", "trainable parameters"),
                  "q2.params.bn": ("fail", "trainable parameters")}),
    "the block's dropout fixed at 0.2": variant(
        LOOP_BMM, q2=q2_file(("ConvBlock.__init__", changed(CONV_BLOCK_NAMED_INIT, ("nn.Dropout(dropout)",
                                                                                "nn.Dropout(0.2)")))),
        failing={"q2.dropout.placement"}, expected={"q2.dropout.placement": ("fail", "p = 0.2")}),
    "no global average pooling in the batch-norm network": variant(
        ONE_CALL_EINSUM, q2=q2_file(
            ("CNN.__init__", changed(CNN_SEQUENTIAL_INIT, ("channels[-1] if batch_norm else channels[-1] * ",
                                                        "channels[-1] * "))),
            ("CNN.forward", changed(CNN_SEQUENTIAL_FORWARD, (
                "    if self.batch_norm:\n        x = x.mean(dim=(2, 3))\n    else:\n"
                "        # Flattent output of the last conv block\n        x = torch.flatten(x, 1)\n",
                "    x = torch.flatten(x, 1)\n")))),
        failing={"q2.params.bn", "q2.batchnorm_switch"},
        expected={"q2.params.bn": ("fail", "trainable parameters"),
                  "q2.batchnorm_switch": ("fail", "global average pooling")}),
    "get_number_trainable_params counting frozen parameters too": variant(
        LOOP_BMM, q2=q2_file(("get_number_trainable_params", changed(COUNT_PARAMS, (
            "for p in model.parameters() if p.requires_grad)", "for p in model.parameters())")))),
        expected={"q2.count_function": ("warn", "frozen")}),
    "F.dropout(x, 0.1) in the MLP, on in eval mode [c]": variant(
        LOOP_BMM, q2=q2_file(("CNN.forward", changed(CNN_NAMED_FORWARD, ("    x = self.dropout(x)\n",
                                                                     "    x = F.dropout(x, 0.1)\n")))),
        failing={"q2.dropout.placement"}, expected={"q2.dropout.placement": ("fail", "eval")}),
    "ReLU, max-pool and dropout as functions in the block (correct) [c]": variant(
        LOOP_BMM, q2={"hw2-q2.py": dict(CONV_BLOCK_FUNCTIONAL)},
        expected={"q2.block.order": ("pass", ""), "q2.dropout.placement": ("pass", "")}),
    "a view to 128 * 6 * 6 features whatever batch_norm: raises in the batch-norm network [g]": variant(
        LOOP_BMM, q2=q2_file(("CNN.forward", changed(CNN_NAMED_FORWARD, ("x = x.view(x.size(0), -1)",
                                                                     "x = x.view(-1, 128 * 6 * 6)")))),
        failing={"q2.output"},
        expected={"q2.output": ("fail", "raises RuntimeError"), "q2.maxpool_switch": ("skip", "q2.output")}),
    "a CNN taking n_classes first, which the group's driver passes first [a]": variant(
        ONE_STEP_QUERY, q2=q2_file(("CNN.__init__", changed(CNN_NAMED_INIT_WITH_CLASSES, (
            "def __init__(self, dropout_prob, n_classes,", "def __init__(self, n_classes, dropout_prob,"))),
                                   ("main", Substitute("        opt.dropout,\n", "        6,\n        opt.dropout,\n"))),
        expected={"q2.signature": ("warn", "builds it to fit")}),
    "a CNN taking n_classes=6 first, the skeleton's driver unchanged: opt.dropout goes to n_classes [a]": variant(
        ONE_STEP_QUERY, q2=q2_file(("CNN.__init__", changed(CNN_NAMED_INIT_WITH_CLASSES, (
            "def __init__(self, dropout_prob, n_classes,", "def __init__(self, n_classes=6, dropout_prob=0.1,"))),
                                   ("main", None)),
        failing={"q2.signature"}, expected={"q2.signature": ("fail", "passes opt.dropout to 'n_classes'")}),
    "a CNN taking n_classes, which the group's driver does not pass [a, g]": variant(
        ONE_STEP_QUERY, q2={"hw2-q2.py": {"main": None}},
        failing={"q2.signature"}, expected={"q2.signature": ("fail", "raises TypeError")}),
}
CORPUS = {"the untouched skeleton": SKELETON_FOLDER, **COMPLETIONS, **VARIANTS}


def verdicts(folder, root):
    """{check id: Result} of a corpus folder built in `root` and checked (in this process)."""
    make_skeleton_student(root, folder.q3, folder.q2)
    options = SimpleNamespace(data_dir=None, npz=folder.npz, device=torch.device("cpu"))
    with pytest.MonkeyPatch.context() as patch:
        if not folder.samples:
            patch.setattr(q3_checks, "NUCLEUS_SUPPORT_DRAWS", 500)
            patch.setattr(q3_checks, "NUCLEUS_FREQUENCY_DRAWS", 2000)
        return {result.id: result for result in check_folder(root, options, folder.parts).results}


def with_status(results, status):
    return {id for id, r in results.items() if r.status == status}


@pytest.mark.parametrize("name", CORPUS)
def test_a_student_folder_gets_its_predicted_verdicts_and_every_fail_can_be_rerun(name, tmp_path):
    folder = CORPUS[name]
    results = verdicts(folder, tmp_path)
    messages = {id: f"{r.status}: {r.message}" for id, r in results.items() if r.status != "pass"}
    assert with_status(results, "fail") == folder.failing, messages
    warned = {id for id, (status, _) in folder.expected.items() if status == "warn"}
    assert with_status(results, "warn") == warned, messages
    for id, (status, phrase) in folder.expected.items():
        assert (results[id].status, phrase in results[id].message) == (status, True), (id, results[id].message)
    for id, phrase in folder.absent.items():
        assert phrase not in results[id].message, (id, results[id].message)
    if name in COMPLETIONS:
        assert not with_status(results, "skip"), messages
    if name == "the untouched skeleton":  # every SKIP names the check that reports the part it needs
        for result in results.values():
            if result.status == "skip":
                assert re.search(r"\bq[23]\.[a-z]", result.message), result.message
    # rule h: a student reruns what failed from the file:line and the input (p, lengths) the FAIL names;
    # a part not implemented needs no input
    fails = {id: r.message for id, r in results.items() if r.status == "fail"}
    assert not {id: m for id, m in fails.items() if not STUDENT_FILE_LINE.search(m)}
    assert not {id: m for id, m in fails.items()
                if id in INPUT_GIVEN and "is not implemented" not in m and not INPUT_GIVEN[id].search(m)}
