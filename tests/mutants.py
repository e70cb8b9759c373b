"""Mutants of our own files: plausible students' code, each with the verdicts the checker must give.

Each replaces whole functions or classes (see student_copies), written here in full so that a
reformatting of our files changes none of them. Variants are made from the templates below,
which are this file's own text, never from our files' lines.
"""
from dataclasses import dataclass, field

from student_copies import APPEND

# ----------------------------------------------------------------------------- templates (our code, as written)

ATTENTION_INIT = '''
def __init__(self, hidden_size):
    super().__init__()
    self.W_s = nn.Linear(hidden_size, hidden_size, bias=False)
    self.W_h = nn.Linear(hidden_size, hidden_size, bias=False)
    self.v = nn.Linear(hidden_size, 1, bias=False)
    self.W_out = nn.Linear(2 * hidden_size, hidden_size, bias=False)
'''
ATTEND = '''
def attend(self, s, memory):
    projected_s = self.W_s(s).unsqueeze(2)
    projected_h = memory.projected_h.unsqueeze(1)
    features = torch.tanh(projected_s + projected_h)
    e = self.v(features).squeeze(-1)
    e = e.masked_fill(~memory.mask.unsqueeze(1), float("-inf"))
    alpha = torch.softmax(e, dim=-1)
    c = torch.bmm(alpha, memory.h)
    c_and_s = torch.cat([c, s], dim=-1)
    s_tilde = torch.tanh(self.W_out(c_and_s))
    return s_tilde, alpha
'''
MASK = 'e = e.masked_fill(~memory.mask.unsqueeze(1), float("-inf"))'
SCORES = '''    projected_s = self.W_s(s).unsqueeze(2)
    projected_h = memory.projected_h.unsqueeze(1)
    features = torch.tanh(projected_s + projected_h)
    e = self.v(features).squeeze(-1)
'''
ONE_STEP_SCORES = '''    features = torch.tanh(self.W_s(s) + memory.projected_h)  # (B, S, H): one step only
    e = self.v(features).transpose(1, 2)  # (B, 1, S)
'''
DECODER_STEP = '''
def step(self, tokens, dec_state, memory):
    lstm_output, dec_state = self.lstm(self.dropout(self.embedding(tokens)), dec_state)
    alpha = None
    if self.attn is not None:
        lstm_output, alpha = self.attn.attend(lstm_output, memory)
    return self.dropout(lstm_output), dec_state, alpha
'''
DECODER_ATTENDS = "        lstm_output, alpha = self.attn.attend(lstm_output, memory)\n"
DECODER_STEPS_ONE_AT_A_TIME = '''        steps = [self.attn.attend(lstm_output[:, t:t + 1], memory) for t in range(lstm_output.shape[1])]
        lstm_output = torch.cat([s for s, _ in steps], dim=1)
        alpha = torch.cat([a for _, a in steps], dim=1)
'''
ATTENTION_FORWARD_PAIR = '''
def forward(self, query, encoder_outputs, src_lengths):
    return self.attend(query, self.memory(encoder_outputs, src_lengths))
'''
DECODER_INIT = '''
def __init__(self, hidden_size, tgt_vocab_size, attn, padding_idx, dropout):
    super().__init__()
    self.hidden_size = hidden_size
    self.tgt_vocab_size = tgt_vocab_size
    self.embedding = nn.Embedding(tgt_vocab_size, hidden_size, padding_idx=padding_idx)
    self.dropout = nn.Dropout(dropout)
    self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True)
    self.attn = attn
'''
DECODER_FORWARD_READING_ALL_OF_TGT = '''
def forward(self, tgt, dec_state, encoder_outputs, src_lengths):
    if dec_state[0].shape[0] == 2:
        dec_state = reshape_state(dec_state)
    outputs, dec_state, _ = self.step(tgt, dec_state, self.memory(encoder_outputs, src_lengths))
    return outputs, dec_state
'''
SEQ2SEQ_FORWARD_SLICING = '''
def forward(self, src, src_lengths, tgt, dec_hidden=None):
    encoder_outputs, final_enc_state = self.encoder(src, src_lengths)
    if dec_hidden is None:
        dec_hidden = final_enc_state
    outputs, dec_hidden = self.decoder(tgt[:, :-1], dec_hidden, encoder_outputs, src_lengths)
    return self.generator(outputs), dec_hidden
'''
TRAIN_EPOCH_SLICING = '''
def train_epoch(model, split, optimizer, criterion, batch_size, generator, device,
                clip_norm=0.0, length_pool=1, progress=False):
    model.train()
    losses = []
    batches = length_pooled_batches(split.src_lengths, batch_size, generator, length_pool)
    for indices in tqdm(batches, desc="batches", leave=False, disable=not progress):
        src, src_lengths, tgt = (t.to(device) for t in split.batch(indices))
        logits, _ = model(src, src_lengths, tgt[:, :-1])
        losses.append(train_step(model, logits, tgt, optimizer, criterion, clip_norm))
    return torch.stack(losses).mean().item()
'''
ENCODER_FORWARD = '''
def forward(self, src, lengths):
    embedded = self.dropout(self.embedding(src))
    packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
    packed_output, (h, c) = self.lstm(packed)
    enc_output, _ = pad_packed_sequence(packed_output, batch_first=True, total_length=src.shape[1])
    return self.dropout(enc_output), (h, c)
'''
NUCLEUS_DISTRIBUTION = '''
def nucleus_distribution(logits, p):
    probs = torch.softmax(logits.float(), dim=-1)
    probs, tokens = probs.sort(dim=-1, descending=True, stable=True)
    in_nucleus = probs.cumsum(dim=-1) - probs < p
    kept = probs * in_nucleus
    return kept / kept.sum(dim=-1, keepdim=True), tokens
'''
IN_NUCLEUS = "in_nucleus = probs.cumsum(dim=-1) - probs < p"
CONV_BLOCK_INIT = '''
def __init__(self, in_channels, out_channels, kernel_size, padding=None, maxpool=True,
             batch_norm=True, dropout=0.0, bias=True):
    super().__init__()
    if padding is None:
        padding = kernel_size // 2
    self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=padding, bias=bias)
    self.norm = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
    self.activation = nn.ReLU()
    self.pool = nn.MaxPool2d(kernel_size=2, stride=2) if maxpool else nn.Identity()
    self.dropout = nn.Dropout(dropout)
'''
CNN_INIT = '''
def __init__(self, dropout_prob, maxpool=True, batch_norm=True, conv_bias=True,
             n_classes=6, image_side=48, channels=(3, 32, 64, 128)):
    super().__init__()
    self.blocks = nn.Sequential(*(
        ConvBlock(c_in, c_out, kernel_size=3, padding=1, maxpool=maxpool, batch_norm=batch_norm,
                  dropout=dropout_prob, bias=conv_bias)
        for c_in, c_out in zip(channels[:-1], channels[1:])
    ))
    if batch_norm:
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        n_features = channels[-1]
    else:
        self.pool = nn.Identity()
        side = image_side // 2 ** (len(channels) - 1) if maxpool else image_side
        n_features = channels[-1] * side * side
    self.mlp = nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_features, 1024),
        nn.ReLU(),
        nn.BatchNorm1d(1024) if batch_norm else nn.Identity(),
        nn.Dropout(dropout_prob),
        nn.Linear(1024, 512),
        nn.ReLU(),
        nn.Linear(512, n_classes),
        nn.LogSoftmax(dim=-1),
    )
    self.image_shape = (channels[0], image_side, image_side)
'''
MLP_SECOND_RELU = "        nn.Linear(1024, 512),\n        nn.ReLU(),\n"


def variant(template, *replacements):
    """`template` with each (old, new) replaced, each old found exactly once (in this file's text)."""
    for old, new in replacements:
        assert template.count(old) == 1, f"{old!r} appears {template.count(old)} times in the template"
        template = template.replace(old, new)
    return template


ENCODER_JOINING = variant(ENCODER_FORWARD, ("return self.dropout(enc_output), (h, c)",
                                            "return self.dropout(enc_output), reshape_state((h, c))"))
CNN_WITHOUT_MAXPOOL = variant(CNN_INIT,
                              ("dropout_prob, maxpool=True, batch_norm=True", "dropout_prob, batch_norm=True"),
                              ("maxpool=maxpool, batch_norm", "maxpool=True, batch_norm"),
                              (" if maxpool else image_side", ""))
CNN_CLASSES_FIRST = variant(CNN_INIT, (
    "def __init__(self, dropout_prob, maxpool=True, batch_norm=True, conv_bias=True,\n             n_classes=6,",
    "def __init__(self, n_classes=6, dropout_prob=0.1, maxpool=True, batch_norm=True,\n             conv_bias=True,"))
BUILD_MODEL_WITHOUT_MAXPOOL = """
def build_model(dropout, maxpool, batch_norm, init, device):
    model = CNN(dropout, batch_norm=batch_norm)
    if init == "kaiming":
        init_kaiming_(model)
    return model.to(device, memory_format=torch.channels_last)
"""
ONE_STEP_ATTENTION = [("BahdanauAttention.attend", variant(ATTEND, (SCORES, ONE_STEP_SCORES))),
                      ("Decoder.step", variant(DECODER_STEP, (DECODER_ATTENDS, DECODER_STEPS_ONE_AT_A_TIME)))]
RETURNS_CONTEXT = variant(ATTEND, ("    c_and_s = torch.cat([c, s], dim=-1)\n    s_tilde = torch.tanh(self.W_out(c_and_s))\n"
                                   "    return s_tilde, alpha", "    return c, alpha"))
W_OUT = "    self.W_out = nn.Linear(2 * hidden_size, hidden_size, bias=False)\n"


@dataclass
class Mutant:
    q3: dict = field(default_factory=dict)  # {file: [(dotted name, source), ...]} of the Q3 folder
    q2: dict = field(default_factory=dict)  # ... of the Q2 folder
    failing: set = field(default_factory=set)  # exactly the checks that FAIL
    expected: dict = field(default_factory=dict)  # {check id: (status, part of its message)}; every WARN is here

    def touches_sampling(self):
        return "hw2-q3.py" in self.q3 or "utils.py" in self.q3


MUTANTS = {
    "attention masked to 0": Mutant(
        q3={"models.py": [("BahdanauAttention.attend", variant(ATTEND, (MASK, MASK.replace('float("-inf")', "0.0"))))]},
        failing={"q3.attention.padding"},
        expected={"q3.attention.padding": ("fail", "-inf"),
                  "q3.model.batch_invariance": ("skip", "q3.attention.padding")}),
    "attention without a mask": Mutant(
        q3={"models.py": [("BahdanauAttention.attend", variant(ATTEND, ("    " + MASK + "\n", "")))]},
        failing={"q3.attention.padding"}, expected={"q3.attention.padding": ("fail", "padding gets weight")}),
    "reshape_state with the halves swapped": Mutant(
        q3={"models.py": [("reshape_state", '''
            def reshape_state(state):
                return tuple(torch.cat([part[1], part[0]], dim=-1).unsqueeze(0) for part in state)
            ''')]},
        failing={"q3.reshape_state"}, expected={"q3.reshape_state": ("fail", "swapped")}),
    "dropout on the LSTM's input only": Mutant(
        q3={"models.py": [
            ("Encoder.forward", variant(ENCODER_FORWARD, ("return self.dropout(enc_output), (h, c)",
                                                          "return enc_output, (h, c)"))),
            ("Decoder.step", variant(DECODER_STEP, ("return self.dropout(lstm_output), dec_state, alpha",
                                                    "return lstm_output, dec_state, alpha")))]},
        failing={"q3.dropout.placement"},
        expected={"q3.dropout.placement": ("fail", "never on the encoder outputs, decoder outputs")}),
    "nucleus dropping the token that crosses p": Mutant(
        q3={"hw2-q3.py": [("nucleus_distribution", variant(NUCLEUS_DISTRIBUTION,
                                                           (IN_NUCLEUS, "in_nucleus = probs.cumsum(dim=-1) < p")))]},
        failing={"q3.nucleus.support", "q3.nucleus.frequencies"},
        expected={"q3.nucleus.support": ("fail", "p = 0.75 over probabilities"),
                  "q3.nucleus.frequencies": ("fail", "p = 0.8")}),
    "nucleus sampling the whole distribution": Mutant(
        q3={"hw2-q3.py": [("nucleus_distribution", variant(NUCLEUS_DISTRIBUTION,
                                                           (IN_NUCLEUS, "in_nucleus = probs >= 0")))]},
        failing={"q3.nucleus.support", "q3.nucleus.frequencies"},
        expected={"q3.nucleus.support": ("fail", "outside the top-p set")}),
    "nucleus not implemented": Mutant(
        q3={"hw2-q3.py": [("nucleus_sampling", '''
            def nucleus_sampling(logits, p=0.8, generator=None):
                raise NotImplementedError("Add your implementation.")
            ''')]},
        failing={"q3.nucleus.support"},
        expected={"q3.nucleus.support": ("fail", "raises NotImplementedError: Add your implementation. (at hw2-q3.py:"),
                  "q3.nucleus.frequencies": ("skip", "needs nucleus_sampling, which is not implemented (see "
                                                     "q3.nucleus.support)")}),
    "attention not implemented (as the skeleton)": Mutant(
        q3={"models.py": [("BahdanauAttention.__init__", '''
            def __init__(self, hidden_size):
                super().__init__()
                raise NotImplementedError("Add your implementation.")
            ''')]},
        failing={"q3.attention.shapes"},
        expected={"q3.attention.shapes": ("fail", "NotImplementedError: Add your implementation. (at models.py:"),
                  "q3.attention.formula": ("skip", "see q3.attention.shapes")}),
    "greedy_next_token calling sys.exit": Mutant(
        q3={"hw2-q3.py": [("greedy_next_token", '''
            def greedy_next_token(logits):
                sys.exit(0)
            ''')]},
        failing={"q3.greedy_next_token"},
        expected={"q3.greedy_next_token": ("fail", "SystemExit: sys.exit(0) was called (at hw2-q3.py:")}),
    "hw2-q3.py with a syntax error": Mutant(
        q3={"hw2-q3.py": [("greedy_next_token", '''
            def greedy_next_token(logits):
                return (logits.argmax(-1, keepdim=True)
            ''')]},
        failing={"q3.import.script"}, expected={"q3.import.script": ("fail", "SyntaxError")}),
    "a decoder that reads all of tgt": Mutant(
        q3={"models.py": [("Decoder.forward", DECODER_FORWARD_READING_ALL_OF_TGT)]},
        failing={"q3.decoder.shapes"},
        expected={"q3.decoder.shapes": ("fail", "your own `hw2-q3.py train` raises ValueError: Expected input "
                                                "batch_size")}),
    "a train that passes tgt[:, :-1] itself": Mutant(
        q3={"models.py": [("Decoder.forward", DECODER_FORWARD_READING_ALL_OF_TGT)],
            "hw2-q3.py": [("train_epoch", TRAIN_EPOCH_SLICING)]},
        expected={"q3.decoder.shapes": ("warn", "your own hw2-q3.py train runs with it")}),
    "a Seq2Seq that slices tgt itself (correct)": Mutant(
        q3={"models.py": [("Decoder.forward", DECODER_FORWARD_READING_ALL_OF_TGT),
                          ("Seq2Seq.forward", SEQ2SEQ_FORWARD_SLICING)]},
        expected={"q3.decoder.shapes": ("pass", "your Seq2Seq drops the last column")}),
    "attention returning (output, weights)": Mutant(
        q3={"models.py": [("BahdanauAttention.forward", ATTENTION_FORWARD_PAIR)]},
        expected={"q3.attention.shapes": ("warn", "returns a tuple of 2"),
                  "q3.attention.padding": ("pass", "zero weight")}),
    "attention returning (output, weights) to a decoder that takes one tensor": Mutant(
        q3={"models.py": [("BahdanauAttention.forward", ATTENTION_FORWARD_PAIR),
                          ("Decoder.step", variant(DECODER_STEP, (DECODER_ATTENDS, (
                              "        lstm_output = self.attn(lstm_output, memory.h, memory.mask.sum(-1))\n"))))]},
        failing={"q3.attention.shapes"}, expected={"q3.attention.shapes": ("fail", "raises TypeError")}),
    "attention written for one step at a time (correct)": Mutant(
        q3={"models.py": ONE_STEP_ATTENTION},
        expected={"q3.attention.shapes": ("warn", "the skeleton's docstring"),
                  "q3.attention.formula": ("pass", "one step at a time")}),
    "attention for one step that discards masked_fill": Mutant(
        q3={"models.py": [("BahdanauAttention.attend", variant(ATTEND, (SCORES, ONE_STEP_SCORES),
                                                               (MASK, MASK.removeprefix("e = ")))),
                          ONE_STEP_ATTENTION[1]]},
        failing={"q3.attention.padding"},
        expected={"q3.attention.shapes": ("warn", "raises"), "q3.attention.padding": ("fail", "keep its result"),
                  "q3.model.batch_invariance": ("skip", "q3.attention.padding")}),
    "attention returning the context itself": Mutant(
        q3={"models.py": [("BahdanauAttention.attend", RETURNS_CONTEXT)]},
        failing={"q3.attention.formula"},
        expected={"q3.attention.formula": ("fail", "no W_out, no tanh, no [c_t; s]")}),
    "W_out in the decoder (correct)": Mutant(
        q3={"models.py": [
            ("BahdanauAttention.__init__", variant(ATTENTION_INIT, (W_OUT, ""))),
            ("BahdanauAttention.attend", RETURNS_CONTEXT),
            ("Decoder.__init__", DECODER_INIT + "    if attn is not None:\n"
                                                "        self.W_out = nn.Linear(2 * hidden_size, hidden_size, bias=False)\n"),
            ("Decoder.step", variant(DECODER_STEP, (DECODER_ATTENDS,
                                                    "        context, alpha = self.attn.attend(lstm_output, memory)\n"
                                                    "        lstm_output = torch.tanh(self.W_out(torch.cat([context, "
                                                    "lstm_output], dim=-1)))\n")))]},
        expected={"q3.attention.formula": ("pass", "W_out sits in your Decoder")}),
    "attention with N(0, 1) weights (correct)": Mutant(
        q3={"models.py": [("BahdanauAttention.__init__", ATTENTION_INIT
                           + "    for layer in (self.W_s, self.W_h, self.v, self.W_out):\n"
                             "        nn.init.normal_(layer.weight)\n")]},
        expected={"q3.attention.formula": ("pass", "W_s = self.W_s, W_h = self.W_h")}),
    "W_s as a raw parameter (correct)": Mutant(
        q3={"models.py": [
            ("BahdanauAttention.__init__", variant(ATTENTION_INIT, (
                "self.W_s = nn.Linear(hidden_size, hidden_size, bias=False)",
                "self.W_s_weight = nn.Parameter(torch.randn(hidden_size, hidden_size) / hidden_size ** 0.5)"))),
            ("BahdanauAttention.attend", variant(ATTEND, ("self.W_s(s)", "(s @ self.W_s_weight)")))]},
        expected={"q3.attention.formula": ("pass", "W_s = self.W_s_weight, W_h = self.W_h")}),
    "W_out with a bias": Mutant(
        q3={"models.py": [("BahdanauAttention.__init__", variant(ATTENTION_INIT, (W_OUT, W_OUT.replace("False", "True"))))]},
        expected={"q3.attention.formula": ("warn", "W_out has a bias")}),
    "W_out reading [s; c]": Mutant(
        q3={"models.py": [("BahdanauAttention.attend", variant(ATTEND, ("torch.cat([c, s]", "torch.cat([s, c]")))]},
        expected={"q3.attention.formula": ("pass", "concatenated as [s; c]")}),
    "attention's softmax over the target steps": Mutant(
        q3={"models.py": [("BahdanauAttention.attend", variant(ATTEND, ("torch.softmax(e, dim=-1)",
                                                                        "torch.softmax(e, dim=1)")))]},
        failing={"q3.attention.formula", "q3.attention.padding"},
        expected={"q3.attention.formula": ("fail", "the softmax normalises dim=1 of the scores (3, 1, 6), an axis of "
                                                   "1, not the S = 6 source positions"),
                  "q3.attention.padding": ("fail", "holds NaN")}),
    "a frozen W_out": Mutant(
        q3={"models.py": [("BahdanauAttention.__init__", ATTENTION_INIT + "    self.W_out.weight.requires_grad_(False)\n")]},
        failing={"q3.attention.formula"},
        expected={"q3.attention.formula": ("fail", "no learnable W_out (H x 2H) among your attention's parameters")}),
    "a LayerNorm after tanh(W_out [c; s])": Mutant(
        q3={"models.py": [
            ("BahdanauAttention.__init__", ATTENTION_INIT + "    self.norm = nn.LayerNorm(hidden_size)\n"),
            ("BahdanauAttention.attend", variant(ATTEND, ("return s_tilde, alpha", "return self.norm(s_tilde), alpha")))]},
        failing={"q3.attention.formula"}, expected={"q3.attention.formula": ("fail", "a layer after the tanh")}),
    "a CNN with an extra layer": Mutant(
        q2={"models.py": [("CNN.__init__", variant(CNN_INIT, (MLP_SECOND_RELU,
                                                              MLP_SECOND_RELU + "        nn.Linear(512, 512),\n")))]},
        failing={"q2.params.plain", "q2.params.bn"}, expected={"q2.params.bn": ("fail", "linear 512->512 (262,656)")}),
    "an extra BatchNorm1d(512)": Mutant(
        q2={"models.py": [("CNN.__init__", variant(CNN_INIT, (
            MLP_SECOND_RELU, MLP_SECOND_RELU + "        nn.BatchNorm1d(512) if batch_norm else nn.Identity(),\n")))]},
        failing={"q2.params.bn"}, expected={"q2.params.bn": ("fail", "BatchNorm1d(512) (1,024)")}),
    "hw2-q2.py importing a missing package": Mutant(
        q2={"hw2-q2.py": [(APPEND, "import plotly.express as px")]},
        failing={"q2.import"}, expected={"q2.import": ("fail", "needs the package 'plotly'")}),
    "a loader that reshapes HWC rows to (3, 48, 48)": Mutant(
        q2={"utils.py": [(APPEND, '''
            _load_intel = load_intel

            def load_intel(path, course_reshape=True, n_classes=len(INTEL_CLASSES)):
                return _load_intel(path, course_reshape, n_classes)
            ''')]},
        expected={"q2.layout": ("warn", "transpose, do not reshape")}),
    "a second dropout after the MLP's second ReLU": Mutant(
        q2={"models.py": [("CNN.__init__", variant(CNN_INIT, (
            MLP_SECOND_RELU, MLP_SECOND_RELU + "        nn.Dropout(dropout_prob),\n")))]},
        failing={"q2.dropout.placement"},
        expected={"q2.dropout.placement": ("fail", "after the MLP's affine layer 2 (on 512")}),
    "dropout before max-pool in the block": Mutant(
        q2={"models.py": [("ConvBlock.forward", '''
            def forward(self, x):
                return self.pool(self.dropout(self.activation(self.norm(self.conv(x)))))
            ''')]},
        failing={"q2.block.order"}, expected={"q2.block.order": ("fail", "before the max-pool")}),
    "nn.Dropout2d in the blocks": Mutant(
        q2={"models.py": [("ConvBlock.__init__", variant(CONV_BLOCK_INIT, ("nn.Dropout(dropout)",
                                                                           "nn.Dropout2d(dropout)")))]},
        expected={"q2.dropout.placement": ("warn", "nn.Dropout2d where the statement")}),
    "-no_maxpool ignored": Mutant(
        q2={"models.py": [("ConvBlock.__init__", variant(CONV_BLOCK_INIT, (" if maxpool else nn.Identity()", "")))]},
        expected={"q2.maxpool_switch": ("warn", "maxpool=False changes nothing")}),
    "a CNN that takes n_classes first": Mutant(
        q2={"models.py": [("CNN.__init__", CNN_CLASSES_FIRST)]},
        failing={"q2.signature"},
        expected={"q2.signature": ("fail", "its first parameter is 'n_classes', not the dropout probability"),
                  "q2.params.bn": ("pass", "755,718")}),
}


# Mistakes of kinds that no checker issue named, each with the verdict that the policy (checker/__init__.py)
# gives it, written down before the checker was run on it.
UNSEEN_KINDS = {
    # The score forgets W_h: e_ti = v^T tanh(W_s s + h_i). A formula of the statement, broken: FAIL.
    "scores without W_h": Mutant(
        q3={"models.py": [("BahdanauAttention.attend", variant(ATTEND, ("memory.projected_h.unsqueeze(1)",
                                                                        "memory.h.unsqueeze(1)")))]},
        failing={"q3.attention.formula"},
        expected={"q3.attention.formula": ("fail", "does not depend on self.W_h.weight")}),
    # Dot-product attention's habit: scores divided by sqrt(H). The statement's e_ti has no scale: FAIL.
    "scores scaled by 1/sqrt(H)": Mutant(
        q3={"models.py": [("BahdanauAttention.attend", variant(ATTEND, ("e = self.v(features).squeeze(-1)",
                                                                        "e = self.v(features).squeeze(-1) / "
                                                                        "s.shape[-1] ** 0.5")))]},
        failing={"q3.attention.formula"},
        expected={"q3.attention.formula": ("fail", "for any reading of your parameters")}),
    # The context averages the projections W_h h_i instead of the h_i: c_t of the statement, broken: FAIL.
    "context from the projections W_h h_i": Mutant(
        q3={"models.py": [("BahdanauAttention.attend", variant(ATTEND, ("torch.bmm(alpha, memory.h)",
                                                                        "torch.bmm(alpha, memory.projected_h)")))]},
        failing={"q3.attention.formula"},
        expected={"q3.attention.formula": ("fail", "for any reading of your parameters")}),
    # reshape_state with view: mixes the words of a batch. FAIL there; the batch check depends on it: SKIP naming it.
    "reshape_state by view": Mutant(
        q3={"models.py": [("reshape_state", "def reshape_state(state):\n"
                                            "    return tuple(part.view(1, part.shape[1], -1) for part in state)\n")]},
        failing={"q3.reshape_state"},
        expected={"q3.reshape_state": ("fail", "expected torch.cat([h[0], h[1]], dim=-1).unsqueeze(0)"),
                  "q3.model.batch_invariance": ("skip", "q3.reshape_state")}),
    # Top-p over the tokens in vocabulary order, never sorted: the nucleus set is broken: FAIL.
    "nucleus without sorting": Mutant(
        q3={"hw2-q3.py": [("nucleus_distribution", variant(NUCLEUS_DISTRIBUTION, (
            "probs, tokens = probs.sort(dim=-1, descending=True, stable=True)",
            "tokens = torch.arange(probs.shape[-1]).expand_as(probs)")))]},
        failing={"q3.nucleus.support", "q3.nucleus.frequencies"},
        expected={"q3.nucleus.support": ("fail", "p = 0.75")}),
    # P' divided by p instead of p': torch.multinomial renormalises, so the draws are the statement's: PASS.
    "nucleus dividing by p, not p' (correct)": Mutant(
        q3={"hw2-q3.py": [("nucleus_distribution", variant(NUCLEUS_DISTRIBUTION, (
            "kept / kept.sum(dim=-1, keepdim=True)", "kept / p")))]},
        expected={"q3.nucleus.frequencies": ("pass", "match the renormalised top-p distribution")}),
    # 5x5 kernels (padding 2): the statement's 3x3, broken; the parameter counts say so: FAIL.
    "5x5 kernels": Mutant(
        q2={"models.py": [("CNN.__init__", variant(CNN_INIT, ("kernel_size=3, padding=1",
                                                              "kernel_size=5, padding=2")))]},
        failing={"q2.params.plain", "q2.params.bn"},
        expected={"q2.params.plain": ("fail", "conv 3->32 (2,432)")}),
    # Counting every parameter, frozen or not: right on the homework's CNNs, which freeze nothing: WARN.
    "get_number_trainable_params counting frozen parameters too": Mutant(
        q2={"models.py": [("get_number_trainable_params", "def get_number_trainable_params(model):\n"
                                                          "    return sum(p.numel() for p in model.parameters())\n")]},
        expected={"q2.count_function": ("warn", "no result depends on it")}),
    # The skeleton's -no_maxpool left unsupported: maxpool=False raises. The statement never asks for that
    # network, and the course's driver passes maxpool=False only under that flag: WARN, no FAIL.
    "maxpool=False raising (not supported)": Mutant(
        q2={"models.py": [("ConvBlock.__init__", variant(CONV_BLOCK_INIT, (
            "    super().__init__()\n",
            "    super().__init__()\n    if not maxpool:\n"
            "        raise NotImplementedError('this network always max-pools')\n")))]},
        expected={"q2.maxpool_switch": ("warn", "raises NotImplementedError")}),
    # A CNN with no maxpool parameter, which the group's own hw2-q2.py calls without one: it works as
    # submitted; only the course's unmodified driver would raise: WARN, and the switch's check SKIPs.
    "no maxpool switch, and the group's driver passes none": Mutant(
        q2={"models.py": [("CNN.__init__", CNN_WITHOUT_MAXPOOL)],
            "hw2-q2.py": [("build_model", BUILD_MODEL_WITHOUT_MAXPOOL)]},
        expected={"q2.signature": ("warn", "it takes no maxpool switch; the course's driver calls"),
                  "q2.maxpool_switch": ("skip", "takes no maxpool switch")}),
    # The encoder joins its final states itself, rightly, while the group's hw2-q3.py still calls reshape_state
    # on them when it decodes: their own train raises at its first validation: FAIL, with what it raised.
    "encoder returning joined states to a driver that joins them again": Mutant(
        q3={"models.py": [("Encoder.forward", ENCODER_JOINING)]},
        failing={"q3.encoder.shapes"},
        expected={"q3.encoder.shapes": ("fail", "your own `hw2-q3.py train` raises IndexError")}),
    # The same encoder, with a reshape_state that lets a joined state through: it trains as submitted, and the
    # course's driver joins only two-layer states: WARN.
    "encoder returning joined states, reshape_state letting them through": Mutant(
        q3={"models.py": [("Encoder.forward", ENCODER_JOINING), ("reshape_state", """
            def reshape_state(state):
                if state[0].shape[0] == 1:
                    return state
                return tuple(torch.cat([part[0], part[1]], dim=-1).unsqueeze(0) for part in state)
            """)]},
        expected={"q3.encoder.shapes": ("warn", "runs with it")}),
    # The encoder joins its final states by view, which mixes the words of a batch: FAIL where it happens.
    "encoder joining its final states by view": Mutant(
        q3={"models.py": [("Encoder.forward", variant(ENCODER_FORWARD, (
            "return self.dropout(enc_output), (h, c)",
            "return self.dropout(enc_output), tuple(part.view(1, part.shape[1], -1) for part in (h, c))")))]},
        failing={"q3.encoder.shapes"},
        expected={"q3.encoder.shapes": ("fail", "h is not each word's [forward; backward] final states"),
                  "q3.model.batch_invariance": ("skip", "q3.encoder.shapes")}),
    # greedy_next_token giving a 0-d index for one row of logits, (B, 1) for a batch, as the group's own decoding
    # uses it: it decodes as submitted, in another shape than the skeleton's (1,): WARN.
    "greedy_next_token giving a 0-d index for one word": Mutant(
        q3={"hw2-q3.py": [("greedy_next_token", """
            def greedy_next_token(logits):
                if logits.dim() == 1:
                    return logits.argmax()
                return logits.argmax(-1, keepdim=True)
            """)]},
        expected={"q3.greedy_next_token": ("warn", "gives the argmax in shape (): your own hw2-q3.py train runs")}),
    # Seq2Seq's generator left untied from the decoder embedding: the skeleton ties them, the statement does
    # not ask for it, and the model still spells: WARN.
    "the generator untied": Mutant(
        q3={"models.py": [("Seq2Seq.__init__", """
            def __init__(self, encoder, decoder):
                super().__init__()
                self.encoder = encoder
                self.decoder = decoder
                self.generator = nn.Linear(decoder.hidden_size, decoder.tgt_vocab_size)
            """)]},
        expected={"q3.seq2seq.tied": ("warn", "the statement does not ask for it")}),
    # n_classes first, and the group's own hw2-q2.py passes dropout_prob= by name: it works as submitted: WARN.
    "n_classes first, and the group's driver names dropout_prob": Mutant(
        q2={"models.py": [("CNN.__init__", CNN_CLASSES_FIRST)],
            "hw2-q2.py": [("build_model", BUILD_MODEL_WITHOUT_MAXPOOL.replace(
                "CNN(dropout, batch_norm=batch_norm)",
                "CNN(dropout_prob=dropout, maxpool=maxpool, batch_norm=batch_norm)"))]},
        expected={"q2.signature": ("warn", "so it works as submitted, but the course's unmodified driver would not; "
                                           "the other checks build it by keyword"),
                  "q2.params.bn": ("pass", "755,718")}),
    # The same CNN, but the group's own hw2-q2.py still passes maxpool=: building it raises as submitted: FAIL.
    "no maxpool switch, but the group's driver passes one": Mutant(
        q2={"models.py": [("CNN.__init__", CNN_WITHOUT_MAXPOOL)]},
        failing={"q2.signature"},
        expected={"q2.signature": ("fail", "calls CNN so that it raises too (TypeError: got an unexpected keyword "
                                           "argument 'maxpool')"),
                  "q2.maxpool_switch": ("skip", "takes no maxpool switch")}),
}
