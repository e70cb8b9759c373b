"""Every network of the homework.

Q2: `ConvBlock` and `CNN`, the image classifiers of the Intel scenes.
Q3: `Encoder`, `BahdanauAttention`, `Decoder` and `Seq2Seq`, the phoneme-to-grapheme
model, with the contracts of the course's Q3 driver (shared/spec/interfaces.md).

Shapes in docstrings use one alphabet: B batch, S source length, T target length,
H hidden size, V vocabulary size; images are (B, 3, 48, 48).
"""
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

# ----------------------------------------------------------------------------- Q2


class ConvBlock(nn.Module):
    """conv (stride 1) -> [batch norm] -> ReLU -> [2x2 max-pool, stride 2] -> dropout.

    The optional layers are `nn.Identity` when switched off, so one class serves both the
    Q2.1 block (statement's Figure 1) and the Q2.2 block (Figure 2).
    """

    def __init__(self, in_channels, out_channels, kernel_size, padding=None, maxpool=True,
                 batch_norm=True, dropout=0.0, bias=True):
        super().__init__()
        if padding is None:
            padding = kernel_size // 2  # keeps the height and width of an odd kernel's input
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=padding, bias=bias)
        self.norm = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2) if maxpool else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """x (B, C_in, h, w) -> (B, C_out, h/2, w/2), or (B, C_out, h, w) without max-pool."""
        return self.dropout(self.pool(self.activation(self.norm(self.conv(x)))))


class CNN(nn.Module):
    """Three conv blocks (32, 64, 128 channels) and an MLP (1024, 512, n_classes).

    `batch_norm=False` is the Q2.1 network: the conv output is flattened into the MLP.
    `batch_norm=True` is the Q2.2 network: batch norm in every conv block, global average
    pooling instead of flattening, and `BatchNorm1d(1024)` just before the MLP's dropout.
    """

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

    def forward(self, x):
        """x (B, 3, 48, 48), or flat (B, 6912) read channel-first -> log-probabilities (B, n_classes)."""
        x = x.reshape(x.shape[0], *self.image_shape)
        return self.mlp(self.pool(self.blocks(x)))


def init_kaiming_(model):
    """He-normal weights (fan-in, ReLU gain) and zero biases for every conv and linear layer.

    Torch's default draws weights about 2.4x smaller (uniform with a = sqrt(5)), which
    slows plain SGD down in a ReLU network this deep; the last layer, read by a
    log-softmax rather than a ReLU, keeps torch's default.
    """
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers[:-1]:
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return model


def get_number_trainable_params(model):
    """Number of scalar parameters that the optimiser updates."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- Q3


def reshape_state(state):
    """Bidirectional final states -> a one-layer decoder's initial state.

    state: (h, c), each (2, B, H/2), forward direction first -> (h, c), each (1, B, H),
    holding [forward; backward] on the feature axis.
    """
    return tuple(torch.cat([part[0], part[1]], dim=-1).unsqueeze(0) for part in state)


class Encoder(nn.Module):
    """Embedding -> dropout -> bidirectional LSTM (H/2 units each way) -> dropout."""

    def __init__(self, src_vocab_size, hidden_size, padding_idx, dropout):
        super().__init__()
        if hidden_size % 2:
            raise ValueError(f"hidden_size must be even (H/2 units per direction), got {hidden_size}")
        self.hidden_size = hidden_size  # H: each direction has H/2 units, so that [forward; backward] has H
        self.embedding = nn.Embedding(src_vocab_size, hidden_size, padding_idx=padding_idx)
        self.lstm = nn.LSTM(hidden_size, hidden_size // 2, bidirectional=True, batch_first=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src, lengths):
        """src (B, S), lengths (B,) -> enc_output (B, S, H), (h (2, B, H/2), c (2, B, H/2)).

        Packing runs each word through the LSTM for its own length only, so a word's
        encoding does not depend on the padding beside it, and enc_output is zero at
        padded positions.
        """
        embedded = self.dropout(self.embedding(src))  # (B, S, H)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_output, (h, c) = self.lstm(packed)
        enc_output, _ = pad_packed_sequence(packed_output, batch_first=True, total_length=src.shape[1])
        return self.dropout(enc_output), (h, c)


def sequence_mask(lengths, max_len=None):
    """lengths (B,) -> bool (B, S), True at real positions; S = max_len or the longest length."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class AttentionMemory(NamedTuple):
    """What attention reads from the source, the same at every decoding step: the encoder
    outputs h_i (B, S, H), their projections W_h h_i (B, S, H), and mask (B, S), True at
    real (non-padded) source positions."""

    h: torch.Tensor
    projected_h: torch.Tensor
    mask: torch.Tensor


class BahdanauAttention(nn.Module):
    """The statement's additive attention (its formulas have no biases):

        e_ti = v^T tanh(W_s s + W_h h_i),  alpha_t = softmax_i(e_t),
        c_t = sum_i alpha_ti h_i,          s~_t = tanh(W_out [c_t; s]).

    The query s is each output of the decoder's LSTM, which attention then replaces by
    s~_t (the skeleton's "modify the output of the LSTM at each timestep"). The LSTM
    output after reading token t-1 is the state the statement calls s_{t-1} when
    predicting token t.
    """

    def __init__(self, hidden_size):
        super().__init__()
        self.W_s = nn.Linear(hidden_size, hidden_size, bias=False)
        self.W_h = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)
        self.W_out = nn.Linear(2 * hidden_size, hidden_size, bias=False)

    def memory(self, encoder_outputs, src_lengths):
        """encoder_outputs (B, S, H), src_lengths (B,) -> AttentionMemory: W_h h_i once per batch,
        not once per decoding step."""
        mask = sequence_mask(src_lengths.to(encoder_outputs.device), encoder_outputs.shape[1])
        return AttentionMemory(encoder_outputs, self.W_h(encoder_outputs), mask)

    def attend(self, s, memory):
        """s (B, T, H), memory -> (s~ (B, T, H), alpha (B, T, S)).

        Padded source positions get the score -inf, so exactly zero weight.
        """
        projected_s = self.W_s(s).unsqueeze(2)  # W_s s: (B, T, 1, H)
        projected_h = memory.projected_h.unsqueeze(1)  # W_h h_i: (B, 1, S, H)
        features = torch.tanh(projected_s + projected_h)  # (B, T, S, H)
        e = self.v(features).squeeze(-1)  # e_ti = v^T tanh(...): (B, T, S)
        e = e.masked_fill(~memory.mask.unsqueeze(1), float("-inf"))
        alpha = torch.softmax(e, dim=-1)  # over the source positions i: (B, T, S)
        c = torch.bmm(alpha, memory.h)  # c_t = sum_i alpha_ti h_i: (B, T, H)
        c_and_s = torch.cat([c, s], dim=-1)  # [c_t; s]: (B, T, 2H)
        s_tilde = torch.tanh(self.W_out(c_and_s))  # (B, T, H)
        return s_tilde, alpha

    def forward(self, query, encoder_outputs, src_lengths):
        """query (B, T, H), encoder_outputs (B, S, H), src_lengths (B,) -> s~ (B, T, H)."""
        s_tilde, _ = self.attend(query, self.memory(encoder_outputs, src_lengths))
        return s_tilde


class Decoder(nn.Module):
    """Embedding -> dropout -> LSTM(H, H) -> [attention on each output] -> dropout."""

    def __init__(self, hidden_size, tgt_vocab_size, attn, padding_idx, dropout):
        super().__init__()
        self.hidden_size = hidden_size
        self.tgt_vocab_size = tgt_vocab_size
        self.embedding = nn.Embedding(tgt_vocab_size, hidden_size, padding_idx=padding_idx)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.attn = attn

    def memory(self, encoder_outputs, src_lengths):
        """The attention memory that `step` reads, or None without attention."""
        return None if self.attn is None else self.attn.memory(encoder_outputs, src_lengths)

    def step(self, tokens, dec_state, memory):
        """tokens (B, T), dec_state (h (1, B, H), c (1, B, H)), memory (or None)
        -> (outputs (B, T, H), dec_state, alpha (B, T, S) or None).

        The skeleton's hint steps the LSTM one token at a time. Attention changes what the
        decoder outputs, not what its LSTM reads next, so when the T tokens are known (the
        teacher-forced target) one LSTM call over all of them gives the outputs of that loop
        (tested), and one attention call attends from each. When each token depends on the
        output before it, the loop is needed: that is `generate` in hw2-q3.py.
        """
        lstm_output, dec_state = self.lstm(self.dropout(self.embedding(tokens)), dec_state)
        alpha = None
        if self.attn is not None:
            lstm_output, alpha = self.attn.attend(lstm_output, memory)
        return self.dropout(lstm_output), dec_state, alpha

    def forward(self, tgt, dec_state, encoder_outputs, src_lengths):
        """tgt (B, T), dec_state (h, c) each (2, B, H/2) or (1, B, H), encoder_outputs (B, S, H),
        src_lengths (B,) -> (outputs (B, T-1, H), dec_state (h (1, B, H), c (1, B, H))).

        A target of several columns is `SOS ... EOS` and the decoder reads tgt[:, :-1];
        one column is a generation step and is read as is (then T-1 stands for 1). Padding
        after EOS is read too, harmlessly: it comes after every real step and the loss
        ignores it.
        """
        if tgt.shape[1] > 1:
            tgt = tgt[:, :-1]
        if dec_state[0].shape[0] == 2:
            dec_state = reshape_state(dec_state)
        outputs, dec_state, _ = self.step(tgt, dec_state, self.memory(encoder_outputs, src_lengths))
        return outputs, dec_state


class Seq2Seq(nn.Module):
    """Encoder-decoder whose generator shares its weight with the decoder embedding."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.generator = nn.Linear(decoder.hidden_size, decoder.tgt_vocab_size)
        self.generator.weight = decoder.embedding.weight

    def forward(self, src, src_lengths, tgt, dec_hidden=None):
        """src (B, S), src_lengths (B,), tgt (B, T) -> (logits (B, T-1, V), dec_hidden).

        dec_hidden: (h, c) each (1, B, H); by default the encoder's final states.
        """
        encoder_outputs, final_enc_state = self.encoder(src, src_lengths)
        if dec_hidden is None:
            dec_hidden = final_enc_state
        outputs, dec_hidden = self.decoder(tgt, dec_hidden, encoder_outputs, src_lengths)
        return self.generator(outputs), dec_hidden


@torch.no_grad()
def init_seq2seq_(model, scheme="torch"):
    """Initialise a Seq2Seq in place and return it.

    "torch" keeps PyTorch's defaults, the course's; the others are options. Torch's
    embeddings are N(0, 1): tied to the generator, they make the first logits about
    sqrt(H) times too large. "scaled" draws both embeddings from N(0, 1/H) (zero PAD row)
    and zeroes the generator bias, so the first predictions are near uniform; the LSTMs
    and linear layers keep the defaults. "scaled_lstm" adds orthogonal recurrent weights,
    one block per gate, and forget-gate bias 1.
    """
    if scheme == "torch":
        return model
    if scheme not in ("scaled", "scaled_lstm"):
        raise ValueError(f"unknown initialisation scheme {scheme!r}")
    for embedding in (model.encoder.embedding, model.decoder.embedding):
        nn.init.normal_(embedding.weight, std=embedding.embedding_dim ** -0.5)
        embedding.weight[embedding.padding_idx].zero_()
    nn.init.zeros_(model.generator.bias)
    if scheme == "scaled_lstm":
        for lstm in (model.encoder.lstm, model.decoder.lstm):
            for name, param in lstm.named_parameters():
                if name.startswith("weight_hh"):
                    for gate in param.chunk(4):
                        nn.init.orthogonal_(gate)
                elif name.startswith("bias"):
                    nn.init.zeros_(param)
                    if name.startswith("bias_ih"):
                        param.chunk(4)[1].fill_(1.0)  # gates are ordered input, forget, cell, output
    return model
