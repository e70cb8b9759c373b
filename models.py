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


class UniformMaskDropout(nn.Dropout):
    """nn.Dropout whose mask is drawn as uniform >= p rather than with bernoulli_.

    The mask has the same distribution (each unit kept with probability 1 - p, kept units
    scaled by 1 / (1 - p)), but torch's CPU bernoulli_ draws it about 2.5 times more
    slowly than rand_like, and the four dropout masks were a sixth of a Q3 training step.
    """

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        scale = 0.0 if self.p == 1 else 1 / (1 - self.p)
        return x * ((torch.rand_like(x) >= self.p) * scale)


def source_mask(src_lengths, max_length):
    """src_lengths (B,) -> bool (B, S), True at real (non-padded) source positions."""
    positions = torch.arange(max_length, device=src_lengths.device)
    return positions.unsqueeze(0) < src_lengths.unsqueeze(1)


class Encoder(nn.Module):
    """Embedding -> dropout -> bidirectional LSTM (H/2 units each way) -> dropout."""

    # pre-activation that an extra input feature adds to the input (-) and forget (+)
    # gates at padded positions: far beyond what the weights add, so the gates are 0 and 1
    PAD_GATE_DRIVE = 1e4

    def __init__(self, src_vocab_size, hidden_size, padding_idx, dropout):
        super().__init__()
        if hidden_size % 2:
            raise ValueError(f"hidden_size must be even (H/2 units per direction), got {hidden_size}")
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(src_vocab_size, hidden_size, padding_idx=padding_idx)
        self.lstm = nn.LSTM(hidden_size, hidden_size // 2, batch_first=True, bidirectional=True)
        self.dropout = UniformMaskDropout(dropout)
        half = hidden_size // 2
        pad_gate_weights = torch.zeros(4 * half, 1)  # gate rows i, f, g, o
        pad_gate_weights[:half], pad_gate_weights[half:2 * half] = -self.PAD_GATE_DRIVE, self.PAD_GATE_DRIVE
        # not in the state_dict, which stays the plain nn.LSTM one that the course's driver loads
        self.register_buffer("pad_gate_weights", pad_gate_weights, persistent=False)

    def forward(self, src, lengths):
        """src (B, S), lengths (B,) -> enc_output (B, S, H), (h (2, B, H/2), c (2, B, H/2)).

        Each word is encoded as if alone, with no trace of its padding, as a packed LSTM
        would; enc_output is zero at padded positions. The padded batch goes through one
        fused LSTM call (torch runs packed sequences step by step, 40% slower on two
        threads here), with padding made inert: there an extra input feature drives the
        input gate to 0 and the forget gate to 1, so the cell state passes through
        unchanged. The backward direction, which meets the padding first, so starts each
        word from the zero state (c stays 0, h = o tanh(0) = 0), and the forward
        direction's final cell state is that of the word's last phoneme; its final h is
        read from the output there.
        """
        embedded = self.dropout(self.embedding(src))  # (B, S, H)
        batch_size, source_length, _ = embedded.shape
        lengths = lengths.to(src.device)
        real = source_mask(lengths, source_length)  # (B, S)
        inputs = torch.cat([embedded, (~real).unsqueeze(-1).to(embedded.dtype)], dim=-1)  # (B, S, H + 1)
        half = self.hidden_size // 2
        weights = []
        for suffix in ("_l0", "_l0_reverse"):
            weights += [torch.cat([getattr(self.lstm, "weight_ih" + suffix), self.pad_gate_weights], dim=1),
                        getattr(self.lstm, "weight_hh" + suffix),
                        getattr(self.lstm, "bias_ih" + suffix), getattr(self.lstm, "bias_hh" + suffix)]
        zeros = embedded.new_zeros(2, batch_size, half)
        output, h, c = torch.lstm(inputs, (zeros, zeros), weights, True, 1, 0.0, self.training, True, True)
        output = output * real.unsqueeze(-1)
        last = (lengths - 1).view(batch_size, 1, 1).expand(batch_size, 1, half)
        h = torch.stack([output[:, :, :half].gather(1, last).squeeze(1), h[1]])
        return self.dropout(output), (h, c)


class AttentionMemory(NamedTuple):
    """What attention needs from the source, computed once per batch.

    values (B, S, H) the encoder outputs; the N real (non-padded) source positions as
    rows (N,) and positions (N,) indices into B and S; keys (N, H) = W_h values there.
    """

    values: torch.Tensor
    keys: torch.Tensor
    rows: torch.Tensor
    positions: torch.Tensor


class BahdanauAttention(nn.Module):
    """Additive attention of the statement, without biases as its formulas have none.

    e_ti = v^T tanh(W_s s_t + W_h h_i), alpha_t = softmax_i(e_t) over real source
    positions, c_t = sum_i alpha_ti h_i, output tanh(W_out [c_t; s_t]).
    """

    def __init__(self, hidden_size):
        super().__init__()
        self.query_proj = nn.Linear(hidden_size, hidden_size, bias=False)  # W_s
        self.key_proj = nn.Linear(hidden_size, hidden_size, bias=False)  # W_h
        self.score = nn.Linear(hidden_size, 1, bias=False)  # v
        self.out_proj = nn.Linear(2 * hidden_size, hidden_size, bias=False)  # W_out

    def memory(self, encoder_outputs, src_lengths):
        """encoder_outputs (B, S, H), src_lengths (B,) -> AttentionMemory, reused at every step."""
        mask = source_mask(src_lengths.to(encoder_outputs.device), encoder_outputs.shape[1])
        rows, positions = mask.nonzero(as_tuple=True)
        return AttentionMemory(encoder_outputs, self.key_proj(encoder_outputs[rows, positions]), rows, positions)

    def attend(self, query, memory):
        """query (B, T, H), memory -> (output (B, T, H), weights (B, T, S)).

        Scores are computed at the N real source positions only, a (N, T, H) tensor, the
        largest of the model: the (B, T, S, H) one would be about half padding in a
        shuffled batch. Padded positions keep a score of -inf, hence exactly zero weight.

        tanh(x) = 2 sigmoid(2x) - 1, so v^T tanh(x) = 2 v^T sigmoid(2x) - sum(v): the
        scores below are e_ti minus a constant that softmax cancels. On CPU, sigmoid and
        its backward are several times faster than tanh's over this tensor.
        """
        batch_size, source_length, _ = memory.values.shape
        # (N, T, H): each real source position with every query of its word
        features = torch.sigmoid((2 * self.query_proj(query)).index_select(0, memory.rows)
                                 + (2 * memory.keys).unsqueeze(1))
        real_scores = 2 * self.score(features).squeeze(-1)  # (N, T)
        scores = query.new_full((batch_size, source_length, query.shape[1]), float("-inf"))
        scores = scores.index_put((memory.rows, memory.positions), real_scores)  # (B, S, T)
        weights = torch.softmax(scores.transpose(1, 2), dim=-1)  # (B, T, S)
        context = torch.bmm(weights, memory.values)  # (B, T, H)
        output = torch.tanh(self.out_proj(torch.cat([context, query], dim=-1)))
        return output, weights

    def forward(self, query, encoder_outputs, src_lengths):
        """query (B, T, H), encoder_outputs (B, S, H), src_lengths (B,) -> output (B, T, H)."""
        return self.attend(query, self.memory(encoder_outputs, src_lengths))[0]


class Decoder(nn.Module):
    """Embedding -> dropout -> LSTM(H, H) -> [attention on each step's output] -> dropout."""

    def __init__(self, hidden_size, tgt_vocab_size, attn, padding_idx, dropout):
        super().__init__()
        self.hidden_size = hidden_size
        self.tgt_vocab_size = tgt_vocab_size
        self.embedding = nn.Embedding(tgt_vocab_size, hidden_size, padding_idx=padding_idx)
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.attn = attn
        self.dropout = UniformMaskDropout(dropout)

    def memory(self, encoder_outputs, src_lengths):
        """The attention memory for `step`, or None without attention."""
        return None if self.attn is None else self.attn.memory(encoder_outputs, src_lengths)

    def step(self, tokens, dec_state, memory, return_attention=False):
        """Read tokens (B, T) from dec_state (h (1, B, H), c (1, B, H)).

        -> (outputs (B, T, H), dec_state), plus weights (B, T, S) (None without attention)
        when `return_attention`. The attention output does not feed back into the LSTM,
        so T steps take one LSTM call and one batched attention call.
        """
        lstm_output, dec_state = self.lstm(self.dropout(self.embedding(tokens)), dec_state)
        weights = None
        if self.attn is not None:
            lstm_output, weights = self.attn.attend(lstm_output, memory)
        outputs = self.dropout(lstm_output)
        return (outputs, dec_state, weights) if return_attention else (outputs, dec_state)

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
        return self.step(tgt, dec_state, self.memory(encoder_outputs, src_lengths))


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


def init_seq2seq_(model, scheme="scaled_lstm"):
    """Initialise a Seq2Seq in place and return it.

    "torch" keeps PyTorch's defaults, whose embeddings are N(0, 1): tied to the
    generator, they make the first logits about sqrt(H) times too large. "scaled" draws
    both embeddings from N(0, 1/H) (zero PAD row) and zeroes the generator bias, so the
    first predictions are near uniform; the LSTMs and linear layers keep the defaults.
    "scaled_lstm" (the default: the lower validation CER) adds orthogonal recurrent
    weights and forget-gate bias 1.
    """
    if scheme == "torch":
        return model
    if scheme not in ("scaled", "scaled_lstm"):
        raise ValueError(f"unknown initialisation scheme {scheme!r}")
    for embedding in (model.encoder.embedding, model.decoder.embedding):
        nn.init.normal_(embedding.weight, std=embedding.embedding_dim ** -0.5)
        with torch.no_grad():
            embedding.weight[embedding.padding_idx].zero_()
    nn.init.zeros_(model.generator.bias)
    if scheme == "scaled_lstm":
        for lstm in (model.encoder.lstm, model.decoder.lstm):
            for name, param in lstm.named_parameters():
                if name.startswith("weight_hh"):
                    for gate in param.data.chunk(4, dim=0):
                        nn.init.orthogonal_(gate)
                elif name.startswith("bias"):
                    nn.init.zeros_(param)
                    if name.startswith("bias_ih"):
                        param.data.chunk(4)[1].fill_(1.0)  # gates are ordered input, forget, cell, output
    return model
