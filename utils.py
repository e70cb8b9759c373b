"""Helpers shared by the homework scripts: errors, seeding, devices, data, results.

Nothing here holds state: every function takes what it needs (device, paths, options)
as arguments, so the scripts and the tests can call them in any order.
"""
import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

INTEL_CLASSES = ("buildings", "forest", "glacier", "mountain", "sea", "street")
INTEL_SPLITS = ("train", "val", "test")
INTEL_SIDE = 48


class UserError(Exception):
    """Bad input from the user: reported as one line on stderr, never as a traceback."""


def run_main(main, argv=None):
    """Run a script's `main(argv)`, turning a `UserError` into one stderr line and exit 2."""
    prog = Path(sys.argv[0]).name
    try:
        return main(argv)
    except UserError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        sys.exit(2)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """-h shows each option's default (but None and False, which say nothing), and the
    description as it is written."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one `UserError` line, without usage,
    and whose -h shows the defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UserError(message)

    def check(self, condition, message):
        """A bad value of a parsed option: `message` names the flag and what was expected."""
        if not condition:
            self.error(message)


def pyplot():
    """matplotlib.pyplot drawing to files only (Agg), on machines without a display too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cpu_name():
    """The CPU model, as /proc/cpuinfo names it (absolute times are only comparable on one CPU)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def invocation(module, argv=None):
    """'# python -m module args (date)': the line that heads a benchmark's saved output."""
    args = sys.argv[1:] if argv is None else argv
    return f"# python -m {module} {' '.join(map(str, args))} ({time.strftime('%Y-%m-%d')})"


def side_by_side(tasks, jobs):
    """Call each of `tasks` (functions of no argument), `jobs` at a time -> their results, in order.
    The first error is raised once every task has ended."""
    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(task) for task in tasks]
    return [future.result() for future in futures]


def configure_seed(seed):
    """Seed every generator a run draws from (Python, NumPy, torch)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name, flag="-device"):
    """The torch device called `name`, or a `UserError` (naming the option `flag`) if this machine has none."""
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if name not in available:
        raise UserError(f"{flag} {name}: expected one of cpu, cuda, mps")
    if not available[name]:
        raise UserError(f"{flag} {name}: {name} is not available on this machine; use {flag} cpu")
    return torch.device(name)


# ----------------------------------------------------------------------------- data: Q2


def intel_images_to_tensor(images, course_reshape=False):
    """uint8 images in any accepted layout -> float32 (N, 3, 48, 48) scaled by 1/256.

    Accepted layouts: (N, 48, 48, 3) height x width x channel, (N, 3, 48, 48), and flat
    (N, 6912) rows read as channel-first (as the course's network reads them). An HWC
    image must be transposed, not reshaped: a reshape mixes colour and position.
    `course_reshape` reproduces the course's network instead, which reshapes each row
    of the array as stored to (3, 48, 48) whatever its layout.
    """
    images = torch.from_numpy(np.ascontiguousarray(images))
    n = images.shape[0]
    if course_reshape or images.dim() == 2:
        images = images.reshape(n, 3, INTEL_SIDE, INTEL_SIDE)
    elif images.shape[-1] == 3:
        images = images.permute(0, 3, 1, 2)
    return images.float().div_(256).contiguous()


def _check_intel_images(key, images):
    side = INTEL_SIDE
    layouts = {(side, side, 3), (3, side, side), (3 * side * side,)}
    if images.ndim < 2 or tuple(images.shape[1:]) not in layouts:
        raise UserError(
            f"{key} has shape {tuple(images.shape)}; expected (N, 48, 48, 3), (N, 3, 48, 48) or (N, 6912)"
        )
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise UserError(f"{key} has dtype {images.dtype}; expected uint8 pixels")


def _check_intel_labels(key, labels, n_images, n_classes):
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.shape[0] != n_images:
        raise UserError(f"{key} has shape {tuple(labels.shape)}; expected ({n_images},) or ({n_images}, 1)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{key} has dtype {labels.dtype}; expected integer class labels")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise UserError(f"{key} holds labels {labels.min()}..{labels.max()}; expected 0..{n_classes - 1}")
    return labels


def load_intel(path, course_reshape=False, n_classes=len(INTEL_CLASSES)):
    """Read the Intel npz into tensors kept in memory for the whole run.

    Returns {split: (images float32 (N, 3, 48, 48), labels int64 (N,))} for
    split in train, val, test. Every problem with the file is a one-line `UserError`.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; `make data` links it from ../shared, and data/README.md says "
                        "where the file comes from")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not an .npz archive; expected the Intel images (data/README.md)")
    try:
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:  # np.load raises many types for a damaged file
        raise UserError(f"{path}: not a readable .npz file ({error.__class__.__name__}: {error})") from None
    needed = [f"{split}_{kind}" for split in INTEL_SPLITS for kind in ("images", "labels")]
    missing = [key for key in needed if key not in arrays]
    if missing:
        raise UserError(f"{path}: missing keys {', '.join(missing)}; expected {', '.join(needed)}")
    data = {}
    for split in INTEL_SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        _check_intel_images(f"{path.name}:{split}_images", images)
        labels = _check_intel_labels(f"{path.name}:{split}_labels", labels, images.shape[0], n_classes)
        data[split] = (
            intel_images_to_tensor(images, course_reshape),
            torch.from_numpy(labels.astype(np.int64)),
        )
    return data


def split_batches(items, batch_size):
    """items (N, ...) -> batches of `batch_size` along the first axis.

    A last batch of one example is folded into the one before it, because batch norm
    cannot compute training statistics from a single example.
    """
    batches = list(items.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def shuffled_batches(n, batch_size, generator):
    """Index batches of a fresh permutation of range(n), as `split_batches` cuts them."""
    return split_batches(torch.randperm(n, generator=generator), batch_size)


# ----------------------------------------------------------------------------- results


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path, write):
    """Call `write(tmp_path)`, then move the finished file to `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; results are for everyone
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text):
    """Write a UTF-8 text file atomically."""
    _atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path, obj):
    """Write `obj` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def checkpoint_config_path(path):
    """The JSON beside a checkpoint that holds its configuration: attn.pt -> attn.json."""
    return Path(path).with_suffix(".json")


def save_checkpoint(model, path, config):
    """Save exactly `model.state_dict()` at `path`, what the course's driver loads with
    `torch.load(path, weights_only=True)`, and `config` (JSON) beside it; both atomically."""
    write_json(checkpoint_config_path(path), config)
    _atomic_write(path, lambda tmp: torch.save(model.state_dict(), tmp))


def load_checkpoint(path, device="cpu"):
    """Read a state_dict and the configuration beside it -> (state_dict, config, or None without its JSON)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint; train one with `hw2-q3.py train --checkpoint_name {path}`")
    try:
        state_dict = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch.load raises many types for a damaged or foreign file
        raise UserError(f"{path}: not a readable PyTorch checkpoint ({error.__class__.__name__})") from None
    if not (isinstance(state_dict, dict) and state_dict
            and all(isinstance(value, torch.Tensor) for value in state_dict.values())):
        raise UserError(f"{path}: not a state_dict (a dict of tensors, as `model.state_dict()` gives)")
    config_path = checkpoint_config_path(path)
    if not config_path.is_file():
        return state_dict, None
    try:
        return state_dict, read_json(config_path)
    except (OSError, ValueError) as error:
        raise UserError(f"{config_path}: not a readable JSON file ({error.__class__.__name__})") from None


def state_dict_mismatch(expected, found):
    """A one-line description of how the state_dict `found` differs from `expected` ('' if it fits)."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    resized = [f"{k} {tuple(found[k].shape)} instead of {tuple(v.shape)}"
               for k, v in expected.items() if k in found and found[k].shape != v.shape]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", resized)):
        if keys:
            problems.append(f"{label}: {', '.join(keys[:3])}" + (f" and {len(keys) - 3} more" if len(keys) > 3 else ""))
    if any(k.startswith("decoder.attn.") for k in found) and not any(k.startswith("decoder.attn.") for k in expected):
        problems.append("was it trained with --use_attn?")
    return "; ".join(problems)


def save_figure(fig, stem):
    """Save a matplotlib figure as `stem`.png and `stem`.pdf, atomically, and close it.

    The PNG is at 200 dpi: the report prints each figure at the size it was drawn (at most the text
    width, 6.5 in), so its fonts print at their point sizes. The PDF carries no creation date, so that
    the same figure gives the same bytes.
    """
    for suffix, metadata in ((".png", None), (".pdf", {"CreationDate": None})):
        _atomic_write(Path(stem).with_suffix(suffix),
                      lambda tmp: fig.savefig(tmp, dpi=200, bbox_inches="tight", metadata=metadata))
    pyplot().close(fig)


def plot_series(series, ylabel, stem, title=None, xlabel="Epoch"):
    """Line plot of {label: values per epoch} (epochs counted from 1), saved as PNG and PDF.

    Drawn at the size the report prints it (4.5 x 2.8 in), with 8-9.5 pt text."""
    fig, ax = pyplot().subplots(figsize=(4.5, 2.8), layout="constrained")
    for label, values in series.items():
        ax.plot(range(1, len(values) + 1), values, marker=".", markersize=4, label=label)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
    if title:
        ax.set_title(title, fontsize=9.5, wrap=True)
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, stem)


# ----------------------------------------------------------------------------- data: Q3

PAD_IDX, SOS_IDX, EOS_IDX, UNK_IDX = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<sos>", "<eos>", "<unk>")
P2G_SPLITS = ("train", "valid", "test")


def warn(message):
    """One warning line on stderr, for input that a run can skip or work around."""
    print(f"{Path(sys.argv[0]).name}: warning: {message}", file=sys.stderr)


def read_p2g_pairs(path):
    """Read `phonemes separated by spaces<TAB>spelling` lines -> [(phoneme list, spelling)].

    Blank lines are ignored; a line without a tab or with an empty side is skipped with
    one warning that counts them. A missing file, or one without any pair, is a `UserError`.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read it as UTF-8 text ({error.__class__.__name__})") from None
    pairs, skipped = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        pronunciation, tab, spelling = line.partition("\t")
        phonemes, spelling = pronunciation.split(), spelling.strip()
        if not tab or not phonemes or not spelling:
            skipped.append(number)
        else:
            pairs.append((phonemes, spelling))
    if skipped:
        warn(f"{path}: skipped {len(skipped)} line(s) without a tab or with an empty side (first: line {skipped[0]})")
    if not pairs:
        raise UserError(f"{path}: no `phonemes<TAB>spelling` pair in the file")
    return pairs


class Vocab:
    """Symbols <-> indices; PAD 0, SOS 1, EOS 2, UNK 3, then symbols by first appearance."""

    def __init__(self, symbols):
        self.itos = list(SPECIAL_TOKENS) + [s for s in symbols if s not in SPECIAL_TOKENS]
        self.stoi = {symbol: index for index, symbol in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary symbols must be distinct")

    @classmethod
    def build(cls, sequences):
        """The vocabulary of `sequences` (iterables of symbols) in order of first appearance."""
        return cls(dict.fromkeys(symbol for sequence in sequences for symbol in sequence))

    def __len__(self):
        return len(self.itos)

    def unknown(self, symbols):
        return [s for s in symbols if s not in self.stoi]

    def encode(self, symbols):
        """Symbols -> indices wrapped in SOS ... EOS; an unseen symbol maps to UNK."""
        return [SOS_IDX] + [self.stoi.get(s, UNK_IDX) for s in symbols] + [EOS_IDX]

    def decode(self, indices):
        """Indices -> string, up to the first EOS; PAD, SOS and UNK are left out."""
        symbols = []
        for index in indices:
            if index == EOS_IDX:
                break
            if index > UNK_IDX:
                symbols.append(self.itos[index])
        return "".join(symbols)


def pad_to_tensor(sequences, padding_idx=PAD_IDX):
    """Index lists -> int64 (N, L), right-padded to the longest, and lengths int64 (N,)."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    padded = torch.full((len(sequences), int(lengths.max())), padding_idx, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return padded, lengths


class P2GSplit:
    """A split kept in memory as padded tensors, ready to be sliced into batches.

    src (N, S) phoneme indices without SOS/EOS, src_lengths (N,), tgt (N, T) letter
    indices `SOS ... EOS`, tgt_lengths (N,); `pronunciations` and `spellings` are the
    original strings the metrics compare against.
    """

    def __init__(self, pairs, src_vocab, tgt_vocab):
        self.pronunciations = [" ".join(phonemes) for phonemes, _ in pairs]
        self.spellings = [spelling for _, spelling in pairs]
        self.src, self.src_lengths = pad_to_tensor([src_vocab.encode(p)[1:-1] for p, _ in pairs])
        self.tgt, self.tgt_lengths = pad_to_tensor([tgt_vocab.encode(s) for _, s in pairs])

    def __len__(self):
        return len(self.spellings)

    def batch(self, indices):
        """(src (b, S'), src_lengths (b,), tgt (b, T')) trimmed to the batch's longest."""
        src_lengths, tgt_lengths = self.src_lengths[indices], self.tgt_lengths[indices]
        src = self.src[indices, : int(src_lengths.max())]
        tgt = self.tgt[indices, : int(tgt_lengths.max())]
        return src, src_lengths, tgt


def load_p2g(data_dir, src_vocab=None, tgt_vocab=None, splits=P2G_SPLITS):
    """Read `data_dir`/{split}.tsv -> ({split: P2GSplit}, src_vocab, tgt_vocab).

    The vocabularies are built from train.tsv unless given (from a checkpoint). Phonemes
    that the source vocabulary lacks map to UNK with one warning per split.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such data directory (expected train.tsv, valid.tsv, test.tsv in it)")
    if src_vocab is None or tgt_vocab is None:
        train_pairs = read_p2g_pairs(data_dir / "train.tsv")
        src_vocab = Vocab.build(phonemes for phonemes, _ in train_pairs)
        tgt_vocab = Vocab.build(spelling for _, spelling in train_pairs)
    data = {}
    for split in splits:
        pairs = read_p2g_pairs(data_dir / f"{split}.tsv")
        unknown = sorted(set(src_vocab.unknown(p for phonemes, _ in pairs for p in phonemes)))
        if unknown:
            warn(f"{data_dir / f'{split}.tsv'}: {len(unknown)} phoneme(s) unseen in training map to <unk>: "
                 + " ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else ""))
        data[split] = P2GSplit(pairs, src_vocab, tgt_vocab)
    return data, src_vocab, tgt_vocab


# ----------------------------------------------------------------------------- decoding: Q3

DECODE_BATCH_SIZE = 500


def decode_corpus(decode_batch, src, src_lengths, device, batch_size=DECODE_BATCH_SIZE):
    """Decode every word of src (N, S) with `decode_batch(src (b, L), lengths (b,)) -> tokens (b, L')`
    -> one token list per word, in the original order.

    Each batch holds words of one source length, so no batch carries padding: fewer
    wasted steps, and a model that mishandles padding still decodes as it does alone.
    """
    by_length = {}
    for index, length in enumerate(src_lengths.tolist()):
        by_length.setdefault(length, []).append(index)
    tokens = [None] * len(src_lengths)
    for length, indices in sorted(by_length.items()):
        for chunk in torch.tensor(indices).split(batch_size):
            rows = decode_batch(src[chunk, :length].to(device), src_lengths[chunk].to(device)).tolist()
            for index, row in zip(chunk.tolist(), rows):
                tokens[index] = row
    return tokens


@torch.inference_mode()
def course_greedy(model, reshape_state, src, src_lengths, max_len):
    """Greedy decoding with the calls the course's driver makes (encoder, `reshape_state` when the
    state has two layers, then decoder and generator one token at a time), for src (b, L) of
    words of one length -> tokens (b, L'), EOS included, PAD after each word's EOS.

    The course decodes one word at a time (b = 1); words of one length need no padding, so
    a batch of them gives each word what it gives alone.
    """
    encoder_outputs, state = model.encoder(src, src_lengths)
    if state[0].shape[0] == 2:
        state = reshape_state(state)
    batch_size = src.shape[0]
    token = torch.full((batch_size, 1), SOS_IDX, dtype=torch.long, device=src.device)
    produced, ended = [], torch.zeros(batch_size, 1, dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        output, state = model.decoder(token, state, encoder_outputs, src_lengths)
        token = model.generator(output).reshape(batch_size, -1).argmax(-1, keepdim=True)  # (b, 1)
        produced.append(token.masked_fill(ended, PAD_IDX))
        ended = ended | (token == EOS_IDX)
        if bool(ended.all()):
            break
    return torch.cat(produced, dim=1)


def nucleus_distribution(logits, p):
    """logits (..., V) -> (probabilities (..., V) in descending order, their token ids (..., V)).

    Per row, keep the smallest set of most probable tokens whose mass reaches p (the
    token that crosses p is kept, and so always the most probable one) and renormalise;
    the other tokens get probability 0. The sort is stable, so ties keep the lower index
    first: the kept set is deterministic, and p -> 0 keeps exactly the argmax.
    """
    if not 0 < p <= 1:
        raise ValueError(f"p must be in (0, 1], got {p}")
    probs = torch.softmax(logits.float(), dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True, stable=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    kept = sorted_probs * (mass_before < p)
    return kept / kept.sum(dim=-1, keepdim=True), order



@torch.inference_mode()
def nucleus_spelling_probability(model, src, src_lengths, tgt, p):
    """src (B, S), src_lengths (B,), tgt (B, T) `SOS ... EOS PAD ...` -> (B,): the
    probability that nucleus sampling with top-p `p` produces each target exactly.

    Sampling draws each token from the top-p distribution given the tokens before it,
    so that probability is the product over the target's steps (EOS included) of the
    top-p probability of its next token, and one teacher-forced pass gives every step.
    A target with UNK cannot be produced (0). Samples that spell the word with PAD, SOS
    or UNK in between, which decoding drops, are not counted: an under-estimate of the
    chance of spelling the word, never an over-estimate.
    """
    logits, _ = model(src, src_lengths, tgt)  # (B, T-1, V)
    distribution, order = nucleus_distribution(logits, p)
    by_token = torch.zeros_like(distribution).scatter_(-1, order, distribution)
    next_tokens = tgt[:, 1:]
    step_probs = by_token.gather(-1, next_tokens.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    step_probs = step_probs.masked_fill(next_tokens == PAD_IDX, 1.0)  # after EOS
    return step_probs.prod(dim=-1).masked_fill((tgt == UNK_IDX).any(dim=-1), 0.0)


# ----------------------------------------------------------------------------- metrics


def character_error_rate(predictions, references):
    """Corpus CER: total Levenshtein distance / total length of the true spellings."""
    import Levenshtein

    _check_aligned(predictions, references)
    distance = sum(Levenshtein.distance(p, r) for p, r in zip(predictions, references))
    return distance / sum(len(r) for r in references)


def word_error_rate(predictions, references):
    """Share of words whose prediction is not exactly the true spelling."""
    _check_aligned(predictions, references)
    return sum(p != r for p, r in zip(predictions, references)) / len(references)


def word_error_rate_at_k(sample_lists, references):
    """Share of words whose true spelling is among none of its samples.

    sample_lists: one list per pass over the corpus (k passes), each aligned with references.
    """
    for samples in sample_lists:
        _check_aligned(samples, references)
    return sum(r not in set(samples) for r, *samples in zip(references, *sample_lists)) / len(references)


def expected_word_error_rate_at_k(spelling_probabilities, k):
    """WER@k averaged over the sampling, exactly: k independent samples all miss a word
    that one sample spells with probability q with probability (1 - q) ** k.

    spelling_probabilities (N,): for each word, the chance that one sample spells it.
    """
    misses = 1 - spelling_probabilities.double().cpu()  # float64: a mean over thousands of words near 1
    return float((misses ** k).mean())


def word_error_rate_at_k_spread(spelling_probabilities, k):
    """The standard deviation of WER@k from one draw of k samples per word, for a fixed model:
    each word is missed with probability m = (1 - q) ** k, independently of the others, so
    the share of missed words varies with sqrt(sum m (1 - m)) / N."""
    misses = (1 - spelling_probabilities.double().cpu()) ** k
    return float((misses * (1 - misses)).sum().sqrt() / len(misses))


def _check_aligned(predictions, references):
    if len(predictions) != len(references) or not references:
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")


def length_pooled_batches(lengths, batch_size, generator, pool_batches):
    """Shuffled index batches whose members have similar `lengths`.

    Shuffle, cut into pools of `pool_batches` batches, sort each pool by length, cut it
    into batches and shuffle the batches: a batch is still a random draw, but with much
    less padding to compute over. pool_batches=1 gives plain shuffled batches.
    """
    order = torch.randperm(len(lengths), generator=generator)
    batches = []
    for pool in order.split(batch_size * pool_batches):
        batches.extend(pool[torch.argsort(lengths[pool], stable=True)].split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
