"""Q3 checkpoints: each *.pt scored as the course's `hw2-q3.py test` scores it, with the student's own
model code and the course driver's calls, beside this project's runs of the course's recipe. For an
attention checkpoint, also the exact expected WER@3 of nucleus sampling at p = 0.8 (the mean over every
draw), so that a student can judge the one draw in their report. A checkpoint far above the recipe's CER
that no failed check explains may have been trained with other code than the folder's models.py: the
changes that keep every key and shape are undone on its weights, and it is scored again.
"""
import itertools
from dataclasses import dataclass

import torch

import utils
from utils import EOS_IDX, PAD_IDX, SOS_IDX, UNK_IDX

from .course import course_encode, course_greedy, reference_q3
from .layout import ROOT
from .student import describe_error
from .tensors import build_seq2seq
from .verdicts import MEETS, Finding, breaks, cannot_judge, departs

REFERENCE_SUMMARY = ROOT / "results" / "q3" / "summary.json"
REFERENCE_ROWS = {False: "No attention, greedy", True: "Attention, greedy"}
# On real submissions every correct attention model scored within 7% of this project's mean
# CER and every faulty one more than 12% above it; 10% (or 3 std, if wider) splits them.
PLAUSIBLE_MARGIN = 0.10
RECIPE = "the statement's recipe: 20 epochs, lr 0.003, dropout 0.3, hidden size 128, batch size 64"
STATEMENT_HIDDEN = 128
TOPP, K = 0.8, 3
MAX_LEN = 50  # the course driver's --max_len
DECODE_BATCH = 256
VERIFY_WORDS = 12  # words decoded one at a time to confirm that batching changes nothing


@dataclass
class TestCorpus:
    """The test words as the course's driver sees them: source indices, targets, true spellings, a speller."""

    sources: list
    targets: list  # target indices `SOS ... EOS`, or None when the reader gives none
    references: list
    spell: object  # produced token list (up to and with EOS) -> string, as the course's tensor2string
    sizes: tuple  # (source vocabulary, target vocabulary)
    description: str


def students_corpus(data_module, data_dir):
    """The test set through the student's data.py, when it offers the course's Seq2SeqDataset."""
    train = data_module.Seq2SeqDataset(str(data_dir / "train.tsv"))
    test = data_module.Seq2SeqDataset(str(data_dir / "test.tsv"), src_vocab=train.src_vocab,
                                      tgt_vocab=train.tgt_vocab)
    sources = [test[i][0].tolist() for i in range(len(test))]
    targets = [test[i][1].tolist() for i in range(len(test))]
    if not all(t and t[0] == SOS_IDX and t[-1] == EOS_IDX for t in targets):
        targets = None  # not `SOS ... EOS`: the expected WER@3 is not computed
    references = ["".join(tgt) for _, tgt in test.pairs]
    return TestCorpus(sources, targets, references,
                      lambda tokens: train.tgt_vocab.tensor2string(torch.tensor([SOS_IDX, *tokens])),
                      (train.src_vocab.vocab_size, train.tgt_vocab.vocab_size), "your data.py's vocabulary")


def our_corpus(data_dir, stored_vocabs):
    """The test set through this project's utils; vocabularies from the checkpoint or from train.tsv."""
    src_vocab, tgt_vocab = stored_vocabs or (None, None)
    data, src_vocab, tgt_vocab = utils.load_p2g(data_dir, src_vocab, tgt_vocab, splits=("test",))
    split = data["test"]
    sources = [row[:length] for row, length in zip(split.src.tolist(), split.src_lengths.tolist())]
    targets = [row[:length] for row, length in zip(split.tgt.tolist(), split.tgt_lengths.tolist())]
    description = "the checkpoint's own vocabulary" if stored_vocabs else "train.tsv's vocabulary"
    names = ["PAD", "SOS", "EOS", "UNK", *tgt_vocab.itos[4:]]  # as the course's tensor2string spells them

    def spell(tokens):
        return "".join(names[t] for t in tokens if t not in (SOS_IDX, EOS_IDX))
    return TestCorpus(sources, targets, split.spellings, spell, (len(src_vocab), len(tgt_vocab)), description)


def test_corpus(st, stored_vocabs):
    data_dir = st.data.path
    if stored_vocabs is None and st.data_module is not None and hasattr(st.data_module, "Seq2SeqDataset"):
        try:
            return students_corpus(st.data_module, data_dir)
        except Exception as error:
            corpus = our_corpus(data_dir, None)
            corpus.description += f" (your data.py raised {describe_error(error, st.folder)})"
            return corpus
    return our_corpus(data_dir, stored_vocabs)


def read_checkpoint(path, device):
    """-> (state_dict, (src Vocab, tgt Vocab) from the JSON this project's `train` writes beside it, or None)."""
    try:
        state_dict, config = utils.load_checkpoint(path, device)
    except utils.UserError as error:
        breaks(f"{str(error).removeprefix(f'{path}: ')}: the course's driver loads it with "
               f"torch.load(path, weights_only=True)")
    if config is None or not {"src_vocab", "tgt_vocab"} <= set(config):
        return state_dict, None
    return state_dict, (utils.Vocab(config["src_vocab"][4:]), utils.Vocab(config["tgt_vocab"][4:]))


def uses_attention(state_dict):
    return any(key.startswith("decoder.attn.") for key in state_dict)


def checkpoint_question(path):
    try:
        state_dict, _ = read_checkpoint(path, "cpu")
        return "Q3.1b" if uses_attention(state_dict) else "Q3.1a"
    except Exception:
        return "Q3.1"


def one_length(src, src_lengths, indices, device):
    """The words `indices` of one source length, without padding: (src (b, S), src_lengths (b,))."""
    return src[indices, :int(src_lengths[indices[0]])].to(device), src_lengths[indices].to(device)


def decode_greedily(model, reshape_state, sources, device):
    """Every word's greedy tokens (up to and with EOS) with the course driver's calls, in batches of one
    source length -> (tokens per word, how they were decoded, the batch size that is safe). A few words
    are also decoded alone, as the course's driver does; if batching changes their tokens, the whole
    corpus is decoded one word at a time."""
    src, src_lengths = utils.pad_to_tensor(sources)

    def decode(indices):
        rows = course_greedy(model, reshape_state, *one_length(src, src_lengths, indices, device), MAX_LEN)
        return [row[:row.index(EOS_IDX) + 1] if EOS_IDX in row else row for row in rows.tolist()]

    def alone(index):
        return decode(torch.tensor([index]))[0]

    tokens = [None] * len(sources)
    for indices in utils.equal_length_batches(src_lengths, DECODE_BATCH):
        for index, row in zip(indices.tolist(), decode(indices)):
            tokens[index] = row
    first_of_length = {}
    for index, source in enumerate(sources):
        first_of_length.setdefault(len(source), index)
    sample = list(first_of_length.values())[:VERIFY_WORDS]
    differing = sum(alone(i) != tokens[i] for i in sample)
    if not differing:
        return tokens, "batches of equal source length, checked against one word at a time", DECODE_BATCH
    tokens = [alone(i) for i in range(len(sources))]
    return tokens, (f"one word at a time: batching changed {differing} of {len(sample)} sampled words, so "
                    f"your model's outputs depend on the batch"), 1


@torch.inference_mode()
def spelling_probabilities(model, reshape_state, corpus, device, batch_size):
    """(N,): the chance that nucleus sampling at p = TOPP spells each test word exactly, stepping the
    decoder through the word's target with the course driver's calls (exactly as
    hw2-q3.py's nucleus_spelling_probability does in one teacher-forced pass)."""
    src, src_lengths = utils.pad_to_tensor(corpus.sources)
    chances = torch.zeros(len(corpus.sources), dtype=torch.float64)
    for chunk in utils.equal_length_batches(src_lengths, batch_size):
        tgt = utils.pad_to_tensor([corpus.targets[i] for i in chunk.tolist()])[0].to(device)
        batch, lengths = one_length(src, src_lengths, chunk, device)
        encoder_outputs, state = course_encode(model, reshape_state, batch, lengths)
        chance = torch.ones(len(chunk), dtype=torch.float64, device=device)
        for t in range(tgt.shape[1] - 1):
            output, state = model.decoder(tgt[:, t:t + 1], state, encoder_outputs, lengths)
            distribution, order = reference_q3.nucleus_distribution(model.generator(output).reshape(len(chunk), -1),
                                                                    TOPP)
            by_token = torch.zeros_like(distribution).scatter_(-1, order, distribution)
            following = tgt[:, t + 1]
            step = by_token.gather(-1, following.unsqueeze(-1)).squeeze(-1).double()
            chance *= torch.where(following == PAD_IDX, torch.ones_like(step), step)  # after EOS
        chances[chunk] = chance.masked_fill((tgt == UNK_IDX).any(dim=-1), 0.0).cpu()  # UNK is never spelled right
    return chances


def reference_row(use_attn):
    """(this project's row of test scores for the model kind, '') or (None, why there is none)."""
    label = REFERENCE_ROWS[use_attn]
    where = REFERENCE_SUMMARY.relative_to(ROOT) if REFERENCE_SUMMARY.is_relative_to(ROOT) else REFERENCE_SUMMARY
    if not REFERENCE_SUMMARY.is_file():
        return None, f"no plausibility verdict: this project's {where} is missing"
    try:
        summary = utils.read_json(REFERENCE_SUMMARY)
        row = next((r for r in summary.get("test", []) if r.get("label") == label), None)
        if row is None:
            return None, f"no plausibility verdict: {where} has no row {label!r} yet"
        float(row["cer"]["mean"]), len(row["cer"]["values"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, f"no plausibility verdict: {where} is not readable"
    return row, ""


def undone_code_change(model, state_dict, cer_of, limit):
    """(what the training code did differently, the CER with it undone on the weights) for the first code
    change that keeps every key and shape and scores within `limit` once undone, or None; `cer_of(model)`
    scores the model as loaded. The changes: W_out reading its input's halves the other way round, two
    attention weights of one shape swapped by name. The model is left as it was."""
    changes = []
    for key, weight in state_dict.items():
        if key.startswith("decoder.") and weight.dim() == 2 and weight.shape[1] == 2 * weight.shape[0]:
            H = weight.shape[0]
            changes.append((f"{key} took its input's halves the other way round ([c_t; s] where your code has "
                            f"[s; c_t], or the reverse)", {key: torch.cat([weight[:, H:], weight[:, :H]], dim=1)}))
    attention = [key for key, weight in state_dict.items() if key.startswith("decoder.attn.") and weight.dim() == 2]
    for a, b in itertools.combinations(attention, 2):
        if state_dict[a].shape == state_dict[b].shape:
            changes.append((f"{a} and {b} were each other's", {a: state_dict[b], b: state_dict[a]}))
    try:
        for change, undone in changes:
            model.load_state_dict({**state_dict, **undone})
            cer = cer_of(model)
            if cer <= limit:
                return change, cer
        return None
    finally:
        model.load_state_dict(state_dict)


def plausibility(failed, use_attn, hidden, cer, drift):
    """(whether the CER is far from this project's runs of the course's recipe, one sentence). When no
    failed check that can make a model score worse explains a CER far above, `drift(limit)` says whether
    the checkpoint was trained with other code: (how, the CER with that undone), or None."""
    row, why_not = reference_row(use_attn)
    if row is None:
        return False, why_not
    mean, std = row["cer"]["mean"], row["cer"].get("std") or 0.0
    runs = len(row["cer"]["values"])
    margin = max(PLAUSIBLE_MARGIN * mean, 3 * std)
    reference = f"this project's {runs} run(s) of the course's recipe: CER {mean:.4f} ± {std:.4f}"
    size = f"; H={hidden}, not the statement's {STATEMENT_HIDDEN}" if hidden != STATEMENT_HIDDEN else ""
    if cer > mean + margin:
        culprits = [i for i in failed if i.startswith("q3.")
                    and not i.startswith(("q3.checkpoint.", "q3.nucleus.", "q3.greedy_next_token", "q3.import.script"))
                    and (use_attn or not i.startswith("q3.attention."))]
        changed = None if culprits else drift(mean + margin)
        if culprits:
            pointer = f"see {', '.join(culprits)}"
        elif changed:
            pointer = (f"no check here explains it, but the checkpoint does not match your models.py: the code "
                       f"changed after it was trained (there, {changed[0]}); undone on its weights, your code "
                       f"scores Test CER {changed[1]:.4f}, within range")
        else:
            pointer = f"no check here explains it: was it trained with {RECIPE}?"
        return True, (f"CER {cer:.4f} is far above a correct implementation's ({reference}; more than "
                      f"{margin:.4f} above): {pointer}{size}")
    if cer < mean - margin:
        return True, (f"CER {cer:.4f} is far below {reference} (more than {margin:.4f} below): trained with another "
                      f"recipe than {RECIPE}, or on other data?{size}")
    return False, f"{reference}: within range{size}"


def check_checkpoint(path, st, failed):
    if st.data.path is None:
        cannot_judge(f"no Q3 data found: looked for train.tsv and test.tsv in {' and '.join(st.data.looked)}; "
                     f"pass --data_dir")
    state_dict, stored_vocabs = read_checkpoint(path, st.device)
    if not any(key.startswith(("encoder.", "decoder.")) for key in state_dict):
        cannot_judge(f"not a Seq2Seq state_dict (keys {', '.join(list(state_dict)[:3])}, ...): not scored")
    use_attn = uses_attention(state_dict)
    embeddings = {side: state_dict.get(f"{side}.embedding.weight") for side in ("encoder", "decoder")}
    if any(weight is None or weight.dim() != 2 for weight in embeddings.values()):
        breaks("no encoder.embedding.weight and decoder.embedding.weight: not a state_dict of the course's Seq2Seq")
    (src_size, hidden), (tgt_size, _) = embeddings["encoder"].shape, embeddings["decoder"].shape
    corpus = test_corpus(st, stored_vocabs)
    if corpus.sizes != (src_size, tgt_size):
        breaks(f"{corpus.description} ({st.data.note}) has {corpus.sizes[0]}/{corpus.sizes[1]} source/target "
               f"symbols, the checkpoint {src_size}/{tgt_size}: trained on other data?")
    model = build_seq2seq(st, use_attn, hidden, src_size, tgt_size)
    problems = utils.state_dict_mismatch(model.state_dict(), state_dict)
    if problems:
        breaks(f"keys don't match your models.py ({'with' if use_attn else 'without'} attention, H={hidden}): "
               f"{problems}")
    model.load_state_dict(state_dict)  # build_seq2seq's model is in eval mode already
    tokens, how, batch_size = decode_greedily(model, st.models.reshape_state, corpus.sources, st.device)
    spellings = [corpus.spell(t) for t in tokens]
    cer = utils.character_error_rate(spellings, corpus.references)

    def cer_of(rewritten):
        tokens, _, _ = decode_greedily(rewritten, st.models.reshape_state, corpus.sources, st.device)
        return utils.character_error_rate([corpus.spell(t) for t in tokens], corpus.references)

    wer = utils.word_error_rate(spellings, corpus.references)
    score = {"file": str(path.relative_to(st.folder)), "use_attn": use_attn, "hidden_size": hidden,
             "test_cer": cer, "test_wer": wer, "expected_test_wer": None, f"expected_test_wer@{K}": None}
    sampling = ""
    if use_attn and corpus.targets is not None:
        chances = spelling_probabilities(model, st.models.reshape_state, corpus, st.device, batch_size)
        score["expected_test_wer"] = utils.expected_word_error_rate_at_k(chances, 1)
        score[f"expected_test_wer@{K}"] = utils.expected_word_error_rate_at_k(chances, K)
        theirs = ("; your nucleus_sampling fails its checks, so it gives other numbers"
                  if {"q3.nucleus.support", "q3.nucleus.frequencies"} & set(failed) else "")
        sampling = (f"; with the statement's nucleus rule at p = {TOPP}, expected over the sampling: Test WER "
                    f"{score['expected_test_wer']:.4f}, Test WER@{K} {score[f'expected_test_wer@{K}']:.4f}{theirs}")
    far, verdict = plausibility(failed, use_attn, hidden, cer,
                                lambda limit: undone_code_change(model, state_dict, cer_of, limit))
    message = (f"{'attention' if use_attn else 'no attention'}, H={hidden}: Test CER: {cer:.4f}, Test WER: "
               f"{wer:.4f} on {len(spellings)} words{sampling}; {verdict} ({corpus.description}, {st.data.note}; "
               f"decoded in {how})")
    if far:
        departs(message, score)
    return Finding(MEETS, message, score)
