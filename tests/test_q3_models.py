"""Q3 models: the course's shapes, masking, state reshaping, tying, teacher forcing == stepping."""
import pytest
import torch

import models
import utils
from checker.course import course_greedy
from helpers import q3, train_briefly

B, S, T, H, V, SRC_V = 3, 5, 6, 8, 11, 9


def real_positions(src_lengths, max_len):
    """src_lengths (B,) -> bool (B, max_len), True where a word has a phoneme."""
    return torch.arange(max_len).unsqueeze(0) < src_lengths.unsqueeze(1)


@pytest.fixture
def batch():
    torch.manual_seed(0)
    src_lengths = torch.tensor([5, 2, 3])
    src = torch.randint(4, SRC_V, (B, S)) * real_positions(src_lengths, S)
    tgt = torch.randint(4, V, (B, T))
    tgt[:, 0] = utils.SOS_IDX
    return src, src_lengths, tgt


def make_model(use_attn=True, dropout=0.0):
    config = {"hidden_size": H, "dropout": dropout, "use_attn": use_attn}
    return q3.build_model(config, SRC_V, V).eval()


def test_encoder_shapes_and_padding_is_zero(batch):
    src, src_lengths, _ = batch
    model = make_model()
    enc_output, (h, c) = model.encoder(src, src_lengths)
    assert enc_output.shape == (B, S, H)
    assert h.shape == c.shape == (2, B, H // 2)
    padded = ~real_positions(src_lengths, S)
    assert torch.all(enc_output[padded] == 0)
    assert torch.all(enc_output[~padded] != 0)


def test_encoder_ignores_padding_content(batch):
    src, src_lengths, _ = batch
    model = make_model()
    longer = torch.cat([src, torch.zeros(B, 4, dtype=torch.long)], dim=1)
    out_a, (h_a, _) = model.encoder(src, src_lengths)
    out_b, (h_b, _) = model.encoder(longer, src_lengths)
    torch.testing.assert_close(out_a, out_b[:, :S])
    torch.testing.assert_close(h_a, h_b)


def test_reshape_state_concatenates_directions():
    h = torch.arange(2 * B * 4, dtype=torch.float).view(2, B, 4)
    c = -h
    h1, c1 = models.reshape_state((h, c))
    assert h1.shape == c1.shape == (1, B, 8)
    torch.testing.assert_close(h1[0, :, :4], h[0])
    torch.testing.assert_close(h1[0, :, 4:], h[1])
    torch.testing.assert_close(c1, -h1)


def test_attention_shapes_and_exact_zero_weight_on_padding(batch):
    _, src_lengths, _ = batch
    attn = models.BahdanauAttention(H)
    query, values = torch.randn(B, T, H), torch.randn(B, S, H)
    output = attn(query, values, src_lengths)
    assert output.shape == (B, T, H)
    out, weights = attn.attend(query, attn.memory(values, src_lengths))
    assert weights.shape == (B, T, S)
    torch.testing.assert_close(out, output)
    padded = ~real_positions(src_lengths, S)
    assert torch.all(weights.masked_select(padded.unsqueeze(1)) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, T))
    # garbage in padded encoder positions changes nothing
    noisy = values + 100 * padded.unsqueeze(-1) * torch.randn(B, S, H)
    torch.testing.assert_close(attn(query, noisy, src_lengths), output)


def test_attention_is_the_statement_formula(batch):
    _, src_lengths, _ = batch
    attn = models.BahdanauAttention(H)
    query, values = torch.randn(B, T, H), torch.randn(B, S, H)
    output = attn(query, values, src_lengths)
    for b, length in enumerate(src_lengths.tolist()):
        hs = values[b, :length]
        for t in range(T):
            s = query[b, t]
            e = torch.stack([attn.v.weight[0] @ torch.tanh(attn.W_s.weight @ s + attn.W_h.weight @ h) for h in hs])
            context = torch.softmax(e, 0) @ hs
            expected = torch.tanh(attn.W_out.weight @ torch.cat([context, s]))
            torch.testing.assert_close(output[b, t], expected)


@pytest.mark.parametrize("length", [1, 3, 7])
def test_a_words_encoding_is_the_same_alone_or_padded(length):
    torch.manual_seed(length)
    encoder = make_model().encoder
    word = torch.randint(4, SRC_V, (1, length))
    padded = torch.cat([word, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    out_alone, (h_alone, c_alone) = encoder(word, torch.tensor([length]))
    out_padded, (h_padded, c_padded) = encoder(padded, torch.tensor([length]))
    torch.testing.assert_close(out_alone, out_padded[:, :length])
    torch.testing.assert_close(h_alone, h_padded)
    torch.testing.assert_close(c_alone, c_padded)
    assert torch.all(out_padded[:, length:] == 0)


@pytest.mark.parametrize("use_attn", [False, True])
def test_decoder_and_seq2seq_shapes(batch, use_attn):
    src, src_lengths, tgt = batch
    model = make_model(use_attn)
    enc_output, enc_state = model.encoder(src, src_lengths)
    for state in (enc_state, models.reshape_state(enc_state)):
        outputs, (h, c) = model.decoder(tgt, state, enc_output, src_lengths)
        assert outputs.shape == (B, T - 1, H)
        assert h.shape == c.shape == (1, B, H)
    step, _ = model.decoder(tgt[:, :1], enc_state, enc_output, src_lengths)
    assert step.shape == (B, 1, H)
    logits, (h, _) = model(src, src_lengths, tgt)
    assert logits.shape == (B, T - 1, V)
    assert h.shape == (1, B, H)


def test_generator_is_tied_to_decoder_embedding():
    model = make_model()
    assert model.generator.weight is model.decoder.embedding.weight
    assert isinstance(model.generator, torch.nn.Linear) and model.generator.out_features == V
    names = dict(model.named_parameters())
    assert "generator.weight" not in names  # one tensor, counted once


@pytest.mark.parametrize("use_attn", [False, True])
def test_teacher_forcing_equals_stepping_one_token_at_a_time(batch, use_attn):
    src, src_lengths, tgt = batch
    model = make_model(use_attn)
    with torch.no_grad():
        logits, (h_all, c_all) = model(src, src_lengths, tgt)
        enc_output, state = model.encoder(src, src_lengths)
        steps = []
        for t in range(T - 1):
            output, state = model.decoder(tgt[:, t : t + 1], state, enc_output, src_lengths)
            steps.append(model.generator(output))
    torch.testing.assert_close(torch.cat(steps, dim=1), logits)
    torch.testing.assert_close(state[0], h_all)


def test_dropout_only_in_training_mode(batch):
    src, src_lengths, tgt = batch
    model = make_model(dropout=0.5)
    with torch.no_grad():
        first, _ = model(src, src_lengths, tgt)
        second, _ = model(src, src_lengths, tgt)
        torch.testing.assert_close(first, second)
        model.train()
        assert not torch.equal(model(src, src_lengths, tgt)[0], first)


def test_course_driver_loads_plain_state_dict_and_generates(tmp_path):
    model, test, _, tgt_vocab = train_briefly(use_attn=True, steps=5)
    path = tmp_path / "attn.pt"
    torch.save(model.state_dict(), path)
    twin = q3.build_model({"hidden_size": 32, "dropout": 0.1, "use_attn": True},
                          model.encoder.embedding.num_embeddings, len(tgt_vocab))
    twin.load_state_dict(torch.load(path, weights_only=True))
    src, lengths, _ = test.batch(torch.tensor([0]))
    assert torch.equal(course_greedy(twin.eval(), models.reshape_state, src, lengths, 50),
                       course_greedy(model, models.reshape_state, src, lengths, 50))


# ----------------------------------------------------------------------------- the course's recipe and our options


def test_defaults_are_the_course_recipe():
    args, _ = q3.parse_args(["train"])
    assert (args.lr, args.dropout, args.n_epochs, args.batch_size, args.hidden_size, args.seed) == (
        0.003, 0.3, 20, 64, 128, 42)
    assert (args.init, args.clip_norm, args.length_pool, args.topp, args.k, args.max_len) == (
        "torch", 0.0, 1, None, 3, 50)


def seq2seq(init, seed=0):
    torch.manual_seed(seed)
    return q3.build_model({"hidden_size": 64, "dropout": 0.3, "use_attn": True}, 30, 20, init=init)


def test_the_drivers_default_model_is_what_the_course_builds():
    """hw2-q3.py builds, by default (no --init), the model that the course's driver builds from the
    same seed: the same layers, drawn in the same order by torch's own initialisation."""
    torch.manual_seed(0)
    encoder = models.Encoder(30, 64, utils.PAD_IDX, 0.3)
    decoder = models.Decoder(64, 20, models.BahdanauAttention(64), utils.PAD_IDX, 0.3)
    course = models.Seq2Seq(encoder, decoder)
    torch.manual_seed(0)
    default, _ = q3.parse_args(["train", "--use_attn", "--hidden_size", "64"])
    config = {"hidden_size": default.hidden_size, "dropout": default.dropout, "use_attn": default.use_attn}
    ours = q3.build_model(config, 30, 20, default.init)
    assert list(course.state_dict()) == list(ours.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(course.state_dict().values(), ours.state_dict().values()))


def test_scaled_init_scales_the_embeddings_and_zeroes_the_generator_bias_only():
    torch_model, scaled = seq2seq("torch"), seq2seq("scaled")
    for embedding in (scaled.encoder.embedding, scaled.decoder.embedding):
        assert embedding.weight[utils.PAD_IDX].abs().sum() == 0
        assert abs(embedding.weight[1:].std().item() - 64 ** -0.5) < 0.02  # N(0, 1/H), not N(0, 1)
    assert scaled.generator.bias.abs().sum() == 0
    changed = {name for name, value in scaled.state_dict().items()
               if not torch.equal(value, torch_model.state_dict()[name])}
    assert changed == {"encoder.embedding.weight", "decoder.embedding.weight", "generator.weight", "generator.bias"}


def test_scaled_lstm_init_adds_orthogonal_recurrent_gates_and_forget_bias_one():
    model = seq2seq("scaled_lstm")
    for lstm in (model.encoder.lstm, model.decoder.lstm):
        for name, param in lstm.named_parameters():
            if name.startswith("weight_hh"):
                for gate in param.detach().chunk(4):
                    torch.testing.assert_close(gate @ gate.T, torch.eye(gate.shape[0]), atol=1e-5, rtol=0)
            elif name.startswith("bias_ih"):
                input_gate, forget_gate, cell, output_gate = param.detach().chunk(4)
                assert forget_gate.eq(1).all() and input_gate.eq(0).all() and output_gate.eq(0).all()
            elif name.startswith("bias_hh"):
                assert param.eq(0).all()


@pytest.mark.parametrize("clip_norm", [0.0, 0.05])
def test_clip_norm_bounds_the_gradient_of_each_step(batch, clip_norm):
    src, src_lengths, tgt = batch
    model = seq2seq("torch")
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)  # the step is minus the (clipped) gradient
    logits, _ = model(src, src_lengths, tgt)
    q3.train_step(model, logits, tgt, optimizer, torch.nn.CrossEntropyLoss(ignore_index=utils.PAD_IDX), clip_norm)
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)]).norm().item()
    if clip_norm:
        assert step == pytest.approx(clip_norm, rel=1e-4)
    else:
        assert step > 0.5  # unclipped, the first gradient is far larger than the clipped one
