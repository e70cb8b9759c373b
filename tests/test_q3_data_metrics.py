"""Q3 data reading, vocabularies and metrics on hand-made examples."""
import pytest
import torch

import utils
from helpers import ROOT, q3, slice_data


def test_metrics_on_hand_made_examples():
    references = ["cat", "house", "a"]
    predictions = ["cut", "house", "ab"]
    # distances 1 + 0 + 1 over 3 + 5 + 1 letters
    assert utils.character_error_rate(predictions, references) == pytest.approx(2 / 9)
    assert utils.word_error_rate(predictions, references) == pytest.approx(2 / 3)
    assert utils.character_error_rate(["", "housed", "a"], references) == pytest.approx((3 + 1 + 0) / 9)
    assert utils.character_error_rate(references, references) == 0.0


def test_wer_at_k_counts_words_missed_by_every_sample():
    references = ["cat", "dog", "emu"]
    samples = [["cat", "dig", "emo"], ["kat", "dog", "emi"], ["cat", "dug", "ema"]]
    assert q3.word_error_rate_at_k(samples, references) == pytest.approx(1 / 3)
    assert q3.word_error_rate_at_k(samples[:1], references) == utils.word_error_rate(samples[0], references)


def test_expected_wer_at_k_from_the_chance_each_word_is_spelled():
    spelled = torch.tensor([1.0, 0.0, 0.5, 0.2], dtype=torch.double)
    assert utils.expected_word_error_rate_at_k(spelled, 1) == pytest.approx((0 + 1 + 0.5 + 0.8) / 4)
    assert utils.expected_word_error_rate_at_k(spelled, 3) == pytest.approx((0 + 1 + 0.125 + 0.512) / 4)


def test_wer_at_k_spread_is_that_of_independent_misses():
    spelled = torch.tensor([1.0, 0.0, 0.5, 0.2])
    misses = torch.tensor([0.0, 1.0, 0.125, 0.512], dtype=torch.double)  # (1 - q) ** 3
    assert q3.word_error_rate_at_k_spread(spelled, 3) == pytest.approx(float((misses * (1 - misses)).sum().sqrt()) / 4)
    draws = torch.bernoulli(misses.expand(200_000, 4), generator=torch.Generator().manual_seed(0)).mean(dim=1)
    assert float(draws.std()) == pytest.approx(q3.word_error_rate_at_k_spread(spelled, 3), rel=0.02)


def test_metrics_reject_misaligned_lists():
    with pytest.raises(ValueError):
        utils.character_error_rate(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        q3.word_error_rate_at_k([["a"], ["a", "b"]], ["a", "b"])


def test_vocab_specials_first_then_first_appearance():
    vocab = utils.Vocab.build(["bab", "cad"])
    assert vocab.itos == ["<pad>", "<sos>", "<eos>", "<unk>", "b", "a", "c", "d"]
    assert (utils.PAD_IDX, utils.SOS_IDX, utils.EOS_IDX, utils.UNK_IDX) == (0, 1, 2, 3)
    assert vocab.encode("bz") == [1, 4, 3, 2]
    assert vocab.decode([1, 4, 3, 5, 2, 6, 0]) == "ba"  # SOS, UNK skipped; stops at EOS


def test_real_files_load_as_padded_tensors(tmp_path):
    data_dir = slice_data(tmp_path / "data", n_train=50, n_eval=20)
    data, src_vocab, tgt_vocab = utils.load_p2g(data_dir)
    train = data["train"]
    first_line = (ROOT / "data" / "train.tsv").read_text(encoding="utf-8").splitlines()[0]
    phonemes, spelling = first_line.split("\t")
    assert train.spellings[0] == spelling and train.pronunciations[0] == phonemes
    assert src_vocab.itos[4] == phonemes.split()[0]  # multi-character phonemes stay whole
    assert train.src.shape == (50, int(train.src_lengths.max()))
    assert train.tgt[0, 0] == utils.SOS_IDX and train.tgt[0, len(spelling) + 1] == utils.EOS_IDX
    assert torch.all(train.src[0, train.src_lengths[0]:] == utils.PAD_IDX)
    src, lengths, tgt = train.batch(torch.tensor([3, 7]))
    assert src.shape[1] == int(lengths.max())


def test_length_pooled_batches_cover_every_index_once():
    lengths = torch.randint(1, 20, (1000,))
    batches = q3.length_pooled_batches(lengths, 64, torch.Generator().manual_seed(0), pool_batches=5)
    assert sorted(torch.cat(batches).tolist()) == list(range(1000))
    spread = sum(int(lengths[b].max() - lengths[b].min()) for b in batches) / len(batches)
    plain = q3.length_pooled_batches(lengths, 64, torch.Generator().manual_seed(0), pool_batches=1)
    assert spread < sum(int(lengths[b].max() - lengths[b].min()) for b in plain) / len(plain)


def test_malformed_lines_are_skipped_with_one_warning(tmp_path, capsys):
    path = tmp_path / "train.tsv"
    good = (ROOT / "data" / "train.tsv").read_text(encoding="utf-8").splitlines()[:3]
    path.write_text("\n".join([good[0], "no tab here", "\tnospelling", good[1], "k æ t\t ", "", good[2]]) + "\n",
                    encoding="utf-8")
    train = utils.load_p2g(tmp_path, splits=("train",))[0]["train"]
    assert len(train) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "skipped 3 line(s)" in err and "line 2" in err


@pytest.mark.parametrize("content", ["", "\n\n", "no tab\n"])
def test_file_without_pairs_is_an_error(tmp_path, content):
    path = tmp_path / "train.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(utils.UserError, match="no `phonemes<TAB>spelling` pair"):
        utils.load_p2g(tmp_path, splits=("train",))


def test_missing_dir_and_file_are_errors(tmp_path):
    with pytest.raises(utils.UserError, match="no such data directory"):
        utils.load_p2g(tmp_path / "nowhere")
    (tmp_path / "data").mkdir()
    with pytest.raises(utils.UserError, match="train.tsv: no such file"):
        utils.load_p2g(tmp_path / "data")


def test_unseen_test_phonemes_map_to_unk_with_a_warning(tmp_path, capsys):
    # the real test file holds phonemes (ɬ, ʉ) that the real training file never uses
    data_dir = slice_data(tmp_path / "data", n_train=50, n_eval=20)
    test_lines = (ROOT / "data" / "test.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    rare = [line for line in test_lines if "ɬ" in line.split("\t")[0].split()]
    (data_dir / "test.tsv").write_text("".join(rare), encoding="utf-8")
    (data_dir / "train.tsv").write_text((ROOT / "data" / "train.tsv").read_text(encoding="utf-8"), encoding="utf-8")
    data, src_vocab, _ = utils.load_p2g(data_dir)
    position = rare[0].split("\t")[0].split().index("ɬ")
    assert data["test"].src[0, position] == utils.UNK_IDX
    warning = capsys.readouterr().err
    assert "ɬ" in warning and "<unk>" in warning and warning.count("\n") == 1
