"""Helpers shared by the homework scripts: errors, seeding, devices, data, results.

Nothing here holds state: every function takes what it needs (device, paths, options)
as arguments, so the scripts and the tests can call them in any order.
"""
import argparse
import contextlib
import difflib
import json
import os
import random
import signal
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import torch

_PROJECT = Path(__file__).resolve().parent
DATA_README = _PROJECT / "data" / "README.md"  # where each data file comes from
INTEL_CLASSES = ("buildings", "forest", "glacier", "mountain", "sea", "street")
INTEL_SPLITS = ("train", "val", "test")
_INTEL_SIDE = 48


class UserError(Exception):
    """Bad input from the user: reported as one line on stderr, never as a traceback."""


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (or SIGTERM): its message says what was kept and how to go on. A
    KeyboardInterrupt still, so that whatever stops on Ctrl-C stops on it."""


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def uninterrupted():
    """Hold Ctrl-C (and SIGTERM) until the block ends, then deliver it: the files a run writes
    together (a checkpoint and its configuration, its history, its resume file) are all written
    or none is. Nested blocks hand the signal to the outer one. Only the main thread is ever
    interrupted, so elsewhere this holds nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = []
    handlers = {signum: signal.signal(signum, lambda signum, frame: held.append(signum))
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    for signum in dict.fromkeys(held):
        signal.raise_signal(signum)


@contextlib.contextmanager
def stop_on_ctrl_c(what_was_kept):
    """Ctrl-C (or SIGTERM) in the block ends the run with one line, `what_was_kept()`, asked for at
    that moment; an `Interrupted` raised inside the block keeps its own line."""
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(what_was_kept()) from None


def run_main(main, argv=None):
    """Run a script's `main(argv)`: a `UserError` becomes one stderr line and exit 2, an
    interruption (Ctrl-C, or SIGTERM as from `kill`) one line and exit 130."""
    prog = Path(sys.argv[0]).name
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return main(argv)
    except UserError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as stop:
        print(f"{prog}: {stop}", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)


def in_project(relative):
    """The path `relative` to this project's folder, as the current folder reaches it: the scripts'
    default paths are the project's wherever the scripts are run from (a path typed on the command
    line is the current folder's, as in any program)."""
    path = _PROJECT / relative
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def absolute(path):
    """`path` from the current folder as an absolute Path (symbolic links kept as they are): what
    the scripts read and write, and name in their messages."""
    return Path(os.path.abspath(path))


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """-h shows each option's default once (not None and False, which say nothing, nor where the
    help says it in its own words), and the description as it is written."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one `UserError` line, without usage, whose
    -h shows the defaults, and which points a mistyped flag at the one that was meant (else at -h)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        self.flags, self.destinations = [], []
        super().__init__(*args, **kwargs)

    def add_argument(self, *names, **kwargs):
        action = super().add_argument(*names, **kwargs)
        self.flags.extend(name for name in names if name.startswith("-"))
        self.destinations.append(action.dest)
        return action

    def error(self, message):
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            words = [(word, self.hint(word)) for word in message[len(prefix):].split()]
            message = prefix + " ".join(f"{word} ({hint})" if hint else word for word, hint in words)
            if not any(hint for _, hint in words):
                message += "; -h lists the flags"
        raise UserError(message)

    def hint(self, word):
        """What an unknown `word` of the command line probably meant ('' if nothing)."""
        if not word.startswith("-"):
            return ""
        name = word.split("=")[0].lstrip("-")
        dashes = {f"-{name}": "one dash", f"--{name}": "two dashes"}
        for flag, said in dashes.items():
            if flag in self.flags:
                return f"this script's flags take {said}: {flag}"
        by_name = {flag.lstrip("-"): flag for flag in self.flags}
        close = difflib.get_close_matches(name, by_name, n=1, cutoff=0.8)
        return f"did you mean {by_name[close[0]]}?" if close else ""

    def check(self, condition, message):
        """A bad value of a parsed option: `message` names the flag and what was expected."""
        if not condition:
            self.error(message)

    def typed(self, argv):
        """The destinations of the options that `argv` gives a value (not left to their defaults)."""
        untyped = object()
        namespace = argparse.Namespace(**dict.fromkeys(self.destinations, untyped))
        self.parse_known_args(argv, namespace)
        return {dest for dest, value in vars(namespace).items() if value is not untyped}


def count(minimum=1):
    """An argparse type: a whole number no smaller than `minimum`; anything else is the flag's error."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected at least {minimum}, got {text}")
        return value

    return parse


def number(at_least=None, above=None, below=None, at_most=None):
    """An argparse type: a number within the bounds given; anything else is the flag's error,
    e.g. `argument --topp: expected a number above 0 and at most 1, got 1.5`."""
    bounds = [(bound, holds, f"{name} {bound:g}") for bound, holds, name in (
        (at_least, lambda x, b: x >= b, "at least"), (above, lambda x, b: x > b, "above"),
        (below, lambda x, b: x < b, "below"), (at_most, lambda x, b: x <= b, "at most")) if bound is not None]

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not all(holds(value, bound) for bound, holds, _ in bounds):
            raise argparse.ArgumentTypeError(
                f"expected a number {' and '.join(said for *_, said in bounds)}, got {text}")
        return value

    return parse


def pyplot():
    """matplotlib.pyplot drawing to files only (Agg), on machines without a display too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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


def _images_to_tensor(images, course_reshape=False):
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
        images = images.reshape(n, 3, _INTEL_SIDE, _INTEL_SIDE)
    elif images.shape[-1] == 3:
        images = images.permute(0, 3, 1, 2)
    return images.float().div_(256).contiguous()


def _check_intel_images(key, images):
    side = _INTEL_SIDE
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
    path = absolute(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; expected the Intel images .npz ({DATA_README} says where it "
                        "comes from)")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not an .npz archive; expected the Intel images ({DATA_README})")
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
            _images_to_tensor(images, course_reshape),
            torch.from_numpy(labels.astype(np.int64)),
        )
    return data


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
    with uninterrupted():
        write_json(checkpoint_config_path(path), config)
        _atomic_write(path, lambda tmp: torch.save(model.state_dict(), tmp))


def load_checkpoint(path, device="cpu"):
    """Read a state_dict and the configuration beside it -> (state_dict, config, or None without its JSON)."""
    path = absolute(path)
    if path.is_dir():
        raise UserError(f"{path}: a folder; expected a checkpoint file (a .pt that `train` writes)")
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


def resume_path(checkpoint):
    """Where an unfinished run keeps what resuming it needs: attn.pt -> attn.pt.resume."""
    return Path(f"{checkpoint}.resume")


def save_training_state(path, model, optimizer, generator, progress):
    """Save, atomically, all that a run needs to go on exactly as if it had not stopped: the model,
    the optimiser, the shuffling generator, torch's global generator (dropout draws from it), and
    `progress` (the run's "settings" and its epochs so far: numbers, strings, lists, dicts, tensors)."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
             "torch_rng": torch.get_rng_state(), "progress": progress}
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    _atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_training_state(path, model, optimizer, generator, settings, flag_prefix, device):
    """Restore what `save_training_state` saved at `path` into the model, optimiser and generators
    -> the run's `progress`.

    `settings` ({flag name: value}) are what this command asks for: they must be what the run
    was started with (`progress["settings"]`), so that it goes on to what an uninterrupted run gives.
    """
    path = absolute(path)
    if not path.is_file():
        raise UserError(f"{path}: no unfinished run to resume here (an interrupted run leaves this file; "
                        "a finished one removes it)")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        started = state["progress"]["settings"]
        changed = [f"{flag_prefix}{name} {started[name]} (not {value})" for name, value in settings.items()
                   if started[name] != value]
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except Exception as error:  # a damaged file, or one of another model
        raise UserError(f"{path}: cannot resume from it ({error.__class__.__name__}: {str(error)[:200]})") from None
    if changed:
        raise UserError(f"{path}: resuming goes on with the run's own settings; it was started with "
                        + ", ".join(changed))
    generator.set_state(state["generator"].cpu())
    torch.set_rng_state(state["torch_rng"].cpu())
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state["progress"]


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
    return "; ".join(problems)


def save_figure(fig, stem):
    """Save a matplotlib figure as `stem`.png and `stem`.pdf, atomically, and close it.

    The PNG is at 200 dpi: the report prints each figure at the size it was drawn (at most the text
    width, 6.5 in), so its fonts print at their point sizes. The PDF carries no creation date, so that
    the same figure gives the same bytes.
    """
    with uninterrupted():
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
_SPECIAL_TOKENS = ("<pad>", "<sos>", "<eos>", "<unk>")
_P2G_SPLITS = ("train", "valid", "test")


def warn(message):
    """One warning line on stderr, for input that a run can skip or work around."""
    print(f"{Path(sys.argv[0]).name}: warning: {message}", file=sys.stderr)


def _read_p2g_pairs(path):
    """Read `phonemes separated by spaces<TAB>spelling` lines -> [(phoneme list, spelling)].

    Blank lines are ignored; a line without a tab or with an empty side is skipped with
    one warning that counts them. A missing file, or one without any pair, is a `UserError`.
    """
    path = absolute(path)
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
        self.itos = list(_SPECIAL_TOKENS) + [s for s in symbols if s not in _SPECIAL_TOKENS]
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


class _P2GSplit:
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


def load_p2g(data_dir, src_vocab=None, tgt_vocab=None, splits=_P2G_SPLITS):
    """Read `data_dir`/{split}.tsv -> ({split: _P2GSplit}, src_vocab, tgt_vocab).

    The vocabularies are built from train.tsv unless given (from a checkpoint). Phonemes
    that the source vocabulary lacks map to UNK with one warning per split.
    """
    data_dir = absolute(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such data directory (expected train.tsv, valid.tsv, test.tsv in it)")
    read = {}
    if src_vocab is None or tgt_vocab is None:
        read["train"] = _read_p2g_pairs(data_dir / "train.tsv")
        src_vocab = Vocab.build(phonemes for phonemes, _ in read["train"])
        tgt_vocab = Vocab.build(spelling for _, spelling in read["train"])
    data = {}
    for split in splits:
        pairs = read.get(split) or _read_p2g_pairs(data_dir / f"{split}.tsv")
        unknown = sorted(set(src_vocab.unknown(p for phonemes, _ in pairs for p in phonemes)))
        if unknown:
            warn(f"{data_dir / f'{split}.tsv'}: {len(unknown)} phoneme(s) unseen in training map to <unk>: "
                 + " ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else ""))
        data[split] = _P2GSplit(pairs, src_vocab, tgt_vocab)
    return data, src_vocab, tgt_vocab


def equal_length_batches(lengths, batch_size):
    """Index batches (int64 tensors) in which every word has the same length, shortest words first,
    at most `batch_size` each, in the original order within a length.

    A batch of one source length carries no padding: no step is wasted on it, and a model that
    mishandles padding decodes each word as it does alone.
    """
    batches = []
    for length in lengths.unique(sorted=True).tolist():
        batches.extend(torch.nonzero(lengths == length).flatten().split(batch_size))
    return batches


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


def expected_word_error_rate_at_k(spelling_probabilities, k):
    """WER@k averaged over the sampling, exactly: k independent samples all miss a word
    that one sample spells with probability q with probability (1 - q) ** k.

    spelling_probabilities (N,): for each word, the chance that one sample spells it.
    """
    misses = 1 - spelling_probabilities.double().cpu()  # float64: a mean over thousands of words near 1
    return float((misses ** k).mean())


def _check_aligned(predictions, references):
    if len(predictions) != len(references) or not references:
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
