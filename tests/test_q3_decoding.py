"""Q3 decoding: next-token rules, batched greedy == the course's loop, beam search."""
from collections import Counter

import pytest
import torch

import utils
from helpers import q3, train_briefly
from checker.course import course_greedy
from models import reshape_state

N_WORDS = 120


@pytest.fixture(scope="module", params=[False, True], ids=["no_attn", "attn"])
def trained(request):
    return train_briefly(use_attn=request.param)


def spell(model, split, tgt_vocab, n=N_WORDS, **decoding):
    """The first `n` words of `split` spelled by hw2-q3.py's `spell` with `decoding` (its options)."""
    return q3.spell(model, split.src[:n], split.src_lengths[:n], tgt_vocab, 50, torch.device("cpu"), **decoding)


def greedy(model, src, lengths, max_len=50):
    return q3.generate(model, src, lengths, max_len)[0]


def nucleus(model, src, lengths, p, generator):
    return q3.generate(model, src, lengths, 50, topp=p, generator=generator)[0]


def course_spelling(model, split, tgt_vocab, index):
    """The course driver's greedy loop on one word, alone."""
    src, lengths, _ = split.batch(torch.tensor([index]))
    return tgt_vocab.decode(course_greedy(model, reshape_state, src, lengths, 50)[0].tolist())


def test_batched_greedy_equals_course_one_word_at_a_time(trained):
    model, test, _, tgt_vocab = trained
    batched = spell(model, test, tgt_vocab, batch_size=7)
    one_by_one = [course_spelling(model, test, tgt_vocab, i) for i in range(N_WORDS)]
    assert batched == one_by_one
    assert sum(map(len, batched)) > 0 and any(len(s) < 50 for s in batched)  # the model does end words


def test_greedy_stops_at_max_len(trained):
    model, test, _, _ = trained
    src, lengths, _ = test.batch(torch.arange(10))
    assert greedy(model, src, lengths, max_len=3).shape[1] <= 3


def test_beam_size_one_equals_greedy(trained):
    model, test, _, tgt_vocab = trained
    beam = spell(model, test, tgt_vocab, beam_size=1)
    assert beam == spell(model, test, tgt_vocab)


def test_beam_search_scores_higher_than_greedy(trained):
    model, test, _, tgt_vocab = trained
    src, lengths, _ = test.batch(torch.arange(40))

    def normalised_log_prob(tokens):
        tokens = tokens.tolist()
        ended = [row[: row.index(utils.EOS_IDX) + 1] if utils.EOS_IDX in row else row for row in tokens]
        tgt, _ = utils.pad_to_tensor([[utils.SOS_IDX] + row + [utils.PAD_IDX] for row in ended])
        with torch.no_grad():
            logits, _ = model(src, lengths, tgt)
        log_probs = torch.log_softmax(logits, -1).gather(-1, tgt[:, 1:, None]).squeeze(-1)
        mask = torch.zeros_like(log_probs, dtype=torch.bool)
        for i, row in enumerate(ended):
            mask[i, : len(row)] = True
        return (log_probs * mask).sum(1) / mask.sum(1) ** q3.LENGTH_ALPHA

    greedy_scores = normalised_log_prob(greedy(model, src, lengths))
    beam = normalised_log_prob(q3.beam_search(model, src, lengths, 50, beam_size=4))
    # beam search is not guaranteed to beat greedy on every word, but on nearly all, and on average
    assert (beam >= greedy_scores - 1e-5).float().mean() >= 0.9
    assert beam.mean() > greedy_scores.mean() and torch.any(beam > greedy_scores + 1e-4)


def test_nucleus_batched_decoding_is_seeded(trained):
    model, test, _, tgt_vocab = trained

    def run(seed):
        return spell(model, test, tgt_vocab, topp=0.9, generator=torch.Generator().manual_seed(seed))

    assert run(3) == run(3)
    assert run(3) != run(4)


def with_sos(rows):
    """Token rows ending in EOS -> tgt (n, T) `SOS ... EOS PAD ...`."""
    return utils.pad_to_tensor([[utils.SOS_IDX, *row] for row in rows])[0]


def ended_rows(tokens):
    """Sampled tokens (n, L) -> each row up to and including its EOS (rows that never end are left out)."""
    return [tuple(row[: row.index(utils.EOS_IDX) + 1]) for row in tokens.tolist() if utils.EOS_IDX in row]


def test_spelling_probability_matches_how_often_sampling_spells_it(trained):
    model, test, _, _ = trained
    n = 4000
    for word in range(4):
        src, lengths, _ = test.batch(torch.full((n,), word))
        samples = nucleus(model, src, lengths, 0.8, torch.Generator().manual_seed(word))
        counts = Counter(ended_rows(samples))
        common = [row for row, _ in counts.most_common(3)]
        exact = q3.nucleus_spelling_probability(model, src[: len(common)], lengths[: len(common)], with_sos(common), 0.8)
        for row, q in zip(common, exact.tolist()):
            assert abs(counts[row] / n - q) < 4 * (q * (1 - q) / n) ** 0.5 + 1e-3, (word, row, counts[row] / n, q)


def test_spelling_probability_with_tiny_p_is_one_for_the_greedy_spelling_only(trained):
    model, test, _, _ = trained
    src, lengths, tgt = test.batch(torch.arange(30))
    spelled = ended_rows(greedy(model, src, lengths))
    assert len(spelled) == 30
    assert q3.nucleus_spelling_probability(model, src, lengths, with_sos(spelled), 1e-9).tolist() == [1.0] * 30
    other = [(utils.EOS_IDX,) if len(row) > 1 else (4, utils.EOS_IDX) for row in spelled]  # any other spelling
    assert q3.nucleus_spelling_probability(model, src, lengths, with_sos(other), 1e-9).tolist() == [0.0] * 30
    unknown = tgt.masked_fill(tgt == tgt[:, 1:2], utils.UNK_IDX)  # each word's first letter unknown
    assert q3.nucleus_spelling_probability(model, src, lengths, unknown, 1.0).tolist() == [0.0] * 30


# ----------------------------------------------------------------------------- next-token rules


def test_greedy_next_token_shapes():
    logits = torch.tensor([0.1, 2.0, -1.0])
    assert q3.greedy_next_token(logits).tolist() == [1]
    assert q3.greedy_next_token(torch.stack([logits, -logits])).tolist() == [[1], [2]]


def test_nucleus_sampling_course_shape():
    token = q3.nucleus_sampling(torch.randn(7), 0.8, torch.Generator().manual_seed(0))
    assert token.shape == (1,) and token.dtype == torch.long and 0 <= int(token) < 7


@pytest.mark.parametrize("p", [1e-9, 1e-3])
def test_nucleus_with_tiny_p_is_greedy(p):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 30, generator=generator)
    logits[0] = torch.tensor([1.0, 3.0, 3.0] + [0.0] * 27)  # a tie: the lower index wins, as argmax
    sampled = q3.nucleus_sampling(logits, p, generator)
    torch.testing.assert_close(sampled, q3.greedy_next_token(logits))


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5, float("nan")])
def test_nucleus_rejects_p_outside_unit_interval(p):
    with pytest.raises(ValueError):
        q3.nucleus_sampling(torch.zeros(3), p)


def chi_square(counts, probs):
    expected = probs * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


# 0.999 quantiles of the chi-square distribution, by degrees of freedom
CHI2_999 = {2: 13.816, 5: 20.515}


def draw(probs, p, n=40_000, seed=1234):
    logits = torch.tensor(probs, dtype=torch.double).log().expand(n, -1)
    samples = q3.nucleus_sampling(logits, p, torch.Generator().manual_seed(seed))
    assert samples.shape == (n, 1)
    return torch.bincount(samples.squeeze(-1), minlength=len(probs)).double()


PROBS = [0.10, 0.40, 0.04, 0.26, 0.06, 0.14]  # sorted: 0.40, 0.26, 0.14, 0.10, 0.06, 0.04


def test_nucleus_matches_truncated_renormalised_distribution():
    # mass before 0.14 is 0.66 < 0.75, so 0.14 (which crosses p) is kept; 0.10 starts at 0.80
    counts = draw(PROBS, p=0.75)
    kept = torch.tensor([1, 3, 5])
    assert counts[[0, 2, 4]].sum() == 0
    truncated = torch.tensor(PROBS, dtype=torch.double)[kept]
    assert chi_square(counts[kept], truncated / truncated.sum()) < CHI2_999[2]


def test_nucleus_with_p_one_samples_the_full_distribution():
    counts = draw(PROBS, p=1.0)
    assert chi_square(counts, torch.tensor(PROBS, dtype=torch.double)) < CHI2_999[5]


def test_nucleus_keeps_the_token_that_crosses_p():
    # 0.40 + 0.26 = 0.66 >= 0.65: 0.26 crosses p and is kept, 0.14 is not needed
    counts = draw(PROBS, p=0.65, n=5000)
    assert set(counts.nonzero().flatten().tolist()) == {1, 3}


@pytest.mark.parametrize("p, kept", [(0.25, 1), (0.5, 2), (0.5001, 3), (0.75, 3), (1.0, 4)])
def test_nucleus_stops_at_the_token_whose_mass_reaches_p_exactly(p, kept):
    # four equal logits: probabilities exactly 1/4 each, so the cumulative masses 0.25, 0.5, 0.75, 1
    # are exact and p can sit on a boundary: the set stops at the token that reaches p
    distribution, tokens = q3.nucleus_distribution(torch.zeros(4), p)
    assert tokens[distribution > 0].tolist() == list(range(kept))
    assert distribution[:kept].tolist() == pytest.approx([1 / kept] * kept)


def test_chi_square_detects_a_wrong_distribution():
    # the test has power: the right support sampled uniformly fails it
    counts = draw(PROBS, p=0.75)[[1, 3, 5]]
    assert chi_square(counts, torch.full((3,), 1 / 3, dtype=torch.double)) > CHI2_999[2]
