"""Q3 models: documented shapes, masking, state reshaping, tying, teacher forcing == stepping."""
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from q3_support import course_greedy, documented_shape, models, q3, train_briefly, utils

B, S, T, H, V, SRC_V = 3, 5, 6, 8, 11, 9
SIZES = {"B": B, "S": S, "T": T, "H": H, "V": V}


@pytest.fixture
def batch():
    torch.manual_seed(0)
    src_lengths = torch.tensor([5, 2, 3])
    src = torch.randint(4, SRC_V, (B, S)) * models.source_mask(src_lengths, S)
    tgt = torch.randint(4, V, (B, T))
    tgt[:, 0] = utils.SOS_IDX
    return src, src_lengths, tgt


def make_model(use_attn=True, dropout=0.0):
    config = {"hidden_size": H, "dropout": dropout, "use_attn": use_attn}
    return q3.build_model(config, SRC_V, V).eval()


def test_encoder_shapes_match_docstring_and_padding_is_zero(batch):
    src, src_lengths, _ = batch
    model = make_model()
    enc_output, (h, c) = model.encoder(src, src_lengths)
    doc = models.Encoder.forward.__doc__
    assert enc_output.shape == documented_shape(doc, "enc_output", SIZES)
    assert h.shape == c.shape == documented_shape(doc, "h", SIZES) == (2, B, H // 2)
    padded = ~models.source_mask(src_lengths, S)
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
    assert "(2, B, H/2)" in models.reshape_state.__doc__ and "(1, B, H)" in models.reshape_state.__doc__


def test_attention_shapes_and_exact_zero_weight_on_padding(batch):
    _, src_lengths, _ = batch
    attn = models.BahdanauAttention(H)
    query, values = torch.randn(B, T, H), torch.randn(B, S, H)
    output = attn(query, values, src_lengths)
    assert output.shape == documented_shape(models.BahdanauAttention.forward.__doc__, "output", SIZES)
    doc = models.BahdanauAttention.attend.__doc__
    out, weights = attn.attend(query, attn.memory(values, src_lengths))
    assert out.shape == documented_shape(doc, "output", SIZES)
    assert weights.shape == documented_shape(doc, "weights", SIZES)
    torch.testing.assert_close(out, output)
    padded = ~models.source_mask(src_lengths, S)
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
            e = torch.stack([attn.score.weight[0] @ torch.tanh(attn.query_proj.weight @ s + attn.key_proj.weight @ h)
                             for h in hs])
            context = torch.softmax(e, 0) @ hs
            expected = torch.tanh(attn.out_proj.weight @ torch.cat([context, s]))
            torch.testing.assert_close(output[b, t], expected)


def packed_reference_encoder(encoder, src, src_lengths):
    """The encoder as a packed LSTM computes it (dropout off): -> enc_output, (h, c)."""
    embedded = encoder.embedding(src)
    packed = pack_padded_sequence(embedded, src_lengths, batch_first=True, enforce_sorted=False)
    output, state = encoder.lstm(packed)
    return pad_packed_sequence(output, batch_first=True, total_length=src.shape[1])[0], state


def test_encoder_equals_a_packed_lstm_in_values_and_gradients(batch):
    src, src_lengths, _ = batch
    encoder = make_model().encoder.train()  # dropout 0: train mode only switches the LSTM's training path
    results = []
    for encode in (encoder, lambda *a: packed_reference_encoder(encoder, *a)):
        encoder.zero_grad()
        output, (h, c) = encode(src, src_lengths)
        weights = [torch.linspace(-1, 1, x.numel()).view_as(x) for x in (output, h, c)]
        sum((x * w).sum() for x, w in zip((output, h, c), weights)).backward()
        results.append([output, h, c] + [p.grad.clone() for p in encoder.parameters()])
    for ours, packed in zip(*results):
        torch.testing.assert_close(ours, packed, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("length", [1, 3, 7])
def test_encoder_padding_leaves_a_word_bitwise_unchanged(length):
    torch.manual_seed(length)
    encoder = make_model().encoder
    word = torch.randint(4, SRC_V, (1, length))
    padded = torch.cat([word, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    out_alone, (h_alone, c_alone) = encoder(word, torch.tensor([length]))
    out_padded, (h_padded, c_padded) = encoder(padded, torch.tensor([length]))
    assert torch.equal(out_alone, out_padded[:, :length])
    assert torch.equal(h_alone, h_padded) and torch.equal(c_alone, c_padded)
    assert torch.all(out_padded[:, length:] == 0)


@pytest.mark.parametrize("use_attn", [False, True])
def test_decoder_and_seq2seq_shapes_match_docstrings(batch, use_attn):
    src, src_lengths, tgt = batch
    model = make_model(use_attn)
    enc_output, enc_state = model.encoder(src, src_lengths)
    doc = models.Decoder.forward.__doc__
    for state in (enc_state, models.reshape_state(enc_state)):
        outputs, (h, c) = model.decoder(tgt, state, enc_output, src_lengths)
        assert outputs.shape == documented_shape(doc, "outputs", SIZES) == (B, T - 1, H)
        assert h.shape == c.shape == (1, B, H)
    step, _ = model.decoder(tgt[:, :1], enc_state, enc_output, src_lengths)
    assert step.shape == (B, 1, H)
    logits, (h, _) = model(src, src_lengths, tgt)
    assert logits.shape == documented_shape(models.Seq2Seq.forward.__doc__, "logits", SIZES)
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


@pytest.mark.parametrize("p", [0.1, 0.3, 0.7])
def test_uniform_mask_dropout_keeps_each_unit_with_probability_one_minus_p(p):
    dropout = models.UniformMaskDropout(p)
    x = torch.ones(200_000, requires_grad=True)
    torch.manual_seed(0)
    y = dropout(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
    # 200,000 draws: the kept share's standard deviation is under 0.0012
    assert abs(kept.float().mean().item() - (1 - p)) < 0.005
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # the gradient goes through the kept units only, scaled


def test_uniform_mask_dropout_edge_probabilities_and_eval_mode():
    x = torch.randn(4, 5)
    assert torch.equal(models.UniformMaskDropout(0.0)(x), x)
    assert torch.equal(models.UniformMaskDropout(1.0)(x), torch.zeros_like(x))
    assert torch.equal(models.UniformMaskDropout(0.9).eval()(x), x)


def test_course_driver_loads_plain_state_dict_and_generates(tmp_path):
    model, test, _, tgt_vocab = train_briefly(use_attn=True, steps=5)
    path = tmp_path / "attn.pt"
    torch.save(model.state_dict(), path)
    twin = q3.build_model({"hidden_size": 32, "dropout": 0.1, "use_attn": True},
                          model.encoder.embedding.num_embeddings, len(tgt_vocab))
    twin.load_state_dict(torch.load(path, weights_only=True))
    src, lengths, _ = test.batch(torch.tensor([0]))
    assert course_greedy(twin.eval(), src, lengths, tgt_vocab) == course_greedy(model, src, lengths, tgt_vocab)
