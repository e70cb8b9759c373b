"""Q3: phoneme-to-grapheme conversion with a BiLSTM encoder and an LSTM decoder.

    python hw2-q3.py train [--use_attn] --checkpoint_name attn.pt
    python hw2-q3.py test --checkpoint_name attn.pt [--topp 0.8] [--beam_size 5] [--attention_plots 4]
    python hw2-q3.py predict --checkpoint_name attn.pt "t͡ʃ æ p l ə t"   (or one pronunciation a line on stdin)

The flags, printed lines and model contracts are the course's (shared/spec/interfaces.md).
Decoding is batched: each batch of words is decoded in lock-step until every word has
ended, which gives the same strings as the course's one-word-at-a-time loop. The defaults
are the course's recipe; --init, --clip_norm and --length_pool are options, off by default.
"""
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

import utils
from models import BahdanauAttention, Decoder, Encoder, Seq2Seq, get_number_trainable_params, init_seq2seq_, reshape_state
from utils import EOS_IDX, PAD_IDX, SOS_IDX, UNK_IDX, UserError

LENGTH_ALPHA = 0.5  # beam scores are sum(log p) / length ** LENGTH_ALPHA; 0, 0.5 and 1 tie on validation (report/beyond.md)
N_EXAMPLES = 10
MODEL_FLAGS = ("hidden_size", "dropout", "use_attn")  # a checkpoint's JSON holds these
TRAINING_FLAGS = ("lr", "n_epochs", "batch_size", "init", "clip_norm", "length_pool", "resume")
DECODE_BATCH_SIZE = 500  # words decoded side by side: large batches, few steps of Python
COURSE_CHECKPOINTS = {False: "model.pt", True: "model-attn.pt"}  # train's default without and with --use_attn


# ----------------------------------------------------------------------------- next-token rules


def greedy_next_token(logits):
    """logits (V,) -> index of the most probable token (1,); also (B, V) -> (B, 1)."""
    return logits.argmax(-1, keepdim=True)


def nucleus_distribution(logits, p):
    """logits (..., V) -> (P' (..., V), the token of each entry (..., V)), most probable token first.

    The statement's top-p distribution, row by row. For example, with p = 0.6 and token
    probabilities 0.5, 0.2, 0.2, 0.1, the mass before each token is 0, 0.5, 0.7, 0.9: V^(p)
    keeps the first two (0.5 + 0.2 = 0.7 >= 0.6; the second token crosses p) and P' is
    5/7, 2/7, 0, 0. The sort is stable, so ties keep the lower index first: the kept set
    is deterministic, and p -> 0 keeps exactly the argmax.
    """
    if not 0 < p <= 1:
        raise ValueError(f"p must be in (0, 1], got {p}")
    # 1. P(x | x_<t), most probable token first
    probs = torch.softmax(logits.float(), dim=-1)
    probs, tokens = probs.sort(dim=-1, descending=True, stable=True)
    # 2. V^(p), eq. (6): a token is kept while the mass before it is below p,
    #    so the token that crosses p is kept
    in_nucleus = probs.cumsum(dim=-1) - probs < p
    # 3. P', eq. (7): the kept probabilities divided by their mass p'
    kept = probs * in_nucleus
    return kept / kept.sum(dim=-1, keepdim=True), tokens


def nucleus_sampling(logits, p=0.8, generator=None):
    """logits (V,) -> index of a token drawn from the top-p distribution P' (1,); also (B, V) -> (B, 1)."""
    distribution, tokens = nucleus_distribution(logits, p)
    # a position in the sorted order, drawn from P'
    drawn = torch.multinomial(distribution, 1, generator=generator)
    return tokens.gather(-1, drawn)


# ----------------------------------------------------------------------------- decoding


@torch.inference_mode()
def generate(model, src, src_lengths, max_len, topp=None, generator=None):
    """Spell src (B, S) one token at a time: greedily, or by nucleus sampling with `topp`.

    -> (tokens (B, L), L <= max_len, PAD after each word's EOS; attention weights
    alpha (B, L, S), or None without attention). Stops once every word has produced EOS.
    """
    batch_size = src.shape[0]
    encoder_outputs, state = model.encoder(src, src_lengths)
    state = reshape_state(state)  # (h, c), each (1, B, H)
    memory = model.decoder.memory(encoder_outputs, src_lengths)
    tokens = torch.full((batch_size, 1), SOS_IDX, dtype=torch.long, device=src.device)
    ended = torch.zeros(batch_size, 1, dtype=torch.bool, device=src.device)
    steps, alphas = [], []
    for _ in range(max_len):
        output, state, alpha = model.decoder.step(tokens, state, memory)  # output (B, 1, H)
        logits = model.generator(output.squeeze(1))  # (B, V)
        if topp is None:
            tokens = greedy_next_token(logits)  # (B, 1)
        else:
            tokens = nucleus_sampling(logits, topp, generator)  # (B, 1)
        tokens = tokens.masked_fill(ended, PAD_IDX)  # a word that has ended only pads
        steps.append(tokens)
        alphas.append(alpha)
        ended = ended | (tokens == EOS_IDX)
        if bool(ended.all()):
            break
    return torch.cat(steps, dim=1), (torch.cat(alphas, dim=1) if memory is not None else None)


@torch.inference_mode()
def beam_search(model, src, src_lengths, max_len, beam_size, alpha=LENGTH_ALPHA):
    """Beam search for src (B, S) -> tokens (B, L) of each word's best hypothesis.

    Hypotheses are ranked by sum(log p) / length ** alpha, the length counting EOS. A
    hypothesis that has produced EOS stays in the beam, extended by PAD at no cost, so
    it competes with the longer ones until every beam of every word has ended. With
    beam_size 1 this is greedy decoding.
    """
    batch_size = src.shape[0]
    device = src.device
    # row b * beam_size + j holds beam j of word b
    encoder_outputs, state = model.encoder(src, src_lengths)
    encoder_outputs = encoder_outputs.repeat_interleave(beam_size, dim=0)
    state = tuple(part.repeat_interleave(beam_size, dim=1) for part in reshape_state(state))
    memory = model.decoder.memory(encoder_outputs, src_lengths.repeat_interleave(beam_size, dim=0))
    vocab_size = model.generator.out_features
    # only beam 0 is live at the start, so the first step does not pick copies of one token
    scores = torch.full((batch_size, beam_size), float("-inf"), device=device)
    scores[:, 0] = 0.0
    lengths = torch.zeros(batch_size, beam_size, device=device)
    ended = torch.zeros(batch_size, beam_size, dtype=torch.bool, device=device)
    # an ended hypothesis can only be extended by PAD, at no cost
    after_eos = torch.full((vocab_size,), float("-inf"), device=device)
    after_eos[PAD_IDX] = 0.0
    history = torch.empty(batch_size, beam_size, 0, dtype=torch.long, device=device)
    tokens = torch.full((batch_size * beam_size,), SOS_IDX, dtype=torch.long, device=device)
    word_offsets = torch.arange(batch_size, device=device).unsqueeze(1) * beam_size
    for _ in range(max_len):
        output, state, _ = model.decoder.step(tokens.unsqueeze(1), state, memory)
        log_probs = torch.log_softmax(model.generator(output.squeeze(1)).float(), dim=-1)
        log_probs = log_probs.view(batch_size, beam_size, -1)
        log_probs = torch.where(ended.unsqueeze(-1), after_eos, log_probs)
        new_lengths = lengths + (~ended)
        candidates = scores.unsqueeze(-1) + log_probs  # (B, beam_size, V)
        ranked = candidates / new_lengths.clamp(min=1).pow(alpha).unsqueeze(-1)
        best = ranked.view(batch_size, -1).topk(beam_size, dim=-1).indices  # (B, beam_size)
        origin, token = best // vocab_size, best % vocab_size
        scores = candidates.view(batch_size, -1).gather(1, best)
        lengths = new_lengths.gather(1, origin)
        ended = ended.gather(1, origin) | (token == EOS_IDX)
        history = torch.cat([history.gather(1, origin.unsqueeze(-1).expand_as(history)), token.unsqueeze(-1)], dim=-1)
        rows = (origin + word_offsets).view(-1)
        state = tuple(part.index_select(1, rows) for part in state)
        tokens = token.view(-1)
        if bool(ended.all()):
            break
    final = scores / lengths.clamp(min=1).pow(alpha)
    return history[torch.arange(batch_size, device=device), final.argmax(dim=1)]


def spell(model, src, src_lengths, tgt_vocab, max_len, device, topp=None, generator=None, beam_size=None,
          length_alpha=LENGTH_ALPHA, batch_size=DECODE_BATCH_SIZE):
    """Spell every word of src (N, S): greedily, by nucleus sampling with `topp`, or by beam
    search with `beam_size` -> one string per word, in the original order.

    Words are decoded `batch_size` at a time, each batch of one source length, so that no
    batch carries padding.
    """
    spellings = [None] * len(src_lengths)
    for indices in utils.equal_length_batches(src_lengths, batch_size):
        length = int(src_lengths[indices[0]])
        batch, batch_lengths = src[indices, :length].to(device), src_lengths[indices].to(device)
        if beam_size is None:
            tokens, _ = generate(model, batch, batch_lengths, max_len, topp, generator)
        else:
            tokens = beam_search(model, batch, batch_lengths, max_len, beam_size, length_alpha)
        for index, row in zip(indices.tolist(), tokens.tolist()):
            spellings[index] = tgt_vocab.decode(row)
    return spellings


def error_rates(spellings, gold):
    """The corpus CER and WER of spellings against the true ones."""
    return {"cer": utils.character_error_rate(spellings, gold), "wer": utils.word_error_rate(spellings, gold)}


def word_error_rate_at_k(sample_lists, references):
    """WER@k: the share of words whose true spelling is among none of its samples.

    sample_lists: one list per pass over the corpus (k passes), each aligned with references.
    """
    for samples in sample_lists:
        if len(samples) != len(references):
            raise ValueError(f"{len(samples)} samples for {len(references)} references")
    return sum(r not in set(samples) for r, *samples in zip(references, *sample_lists)) / len(references)


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
    distribution, tokens = nucleus_distribution(logits, p)
    by_token = torch.zeros_like(distribution).scatter_(-1, tokens, distribution)
    next_tokens = tgt[:, 1:]
    step_probs = by_token.gather(-1, next_tokens.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    step_probs = step_probs.masked_fill(next_tokens == PAD_IDX, 1.0)  # after EOS
    return step_probs.prod(dim=-1).masked_fill((tgt == UNK_IDX).any(dim=-1), 0.0)


def word_error_rate_at_k_spread(spelling_probabilities, k):
    """The standard deviation of WER@k from one draw of k samples per word, for a fixed model:
    each word is missed with probability m = (1 - q) ** k, independently of the others, so
    the share of missed words varies with sqrt(sum m (1 - m)) / N."""
    misses = (1 - spelling_probabilities.double().cpu()) ** k
    return float((misses * (1 - misses)).sum().sqrt() / len(misses))


# ----------------------------------------------------------------------------- model and checkpoints


def build_model(config, src_vocab_size, tgt_vocab_size, init="torch"):
    """The Seq2Seq of `config` ({hidden_size, dropout, use_attn}), initialised by `init`."""
    hidden, dropout = config["hidden_size"], config["dropout"]
    encoder = Encoder(src_vocab_size, hidden, PAD_IDX, dropout)
    attn = BahdanauAttention(hidden) if config["use_attn"] else None
    decoder = Decoder(hidden, tgt_vocab_size, attn, PAD_IDX, dropout)
    return init_seq2seq_(Seq2Seq(encoder, decoder), init)


def load_model(checkpoint_name, device, flags_config, data_dir):
    """Rebuild the model of a checkpoint -> (model, src_vocab, tgt_vocab, config, where the config came from).

    The configuration and vocabularies come from the JSON that `train` writes beside the
    state_dict; a bare state_dict (as the course's driver saves it) is built with
    `flags_config` and the vocabularies of `data_dir`/train.tsv, as the course does.
    """
    state_dict, saved = utils.load_checkpoint(checkpoint_name, device)
    if any(key.startswith("blocks.") for key in state_dict):
        raise UserError(f"{checkpoint_name}: this is a Q2 CNN's state_dict, not a Q3 Seq2Seq's")
    if saved is not None and not {"model", "src_vocab", "tgt_vocab"} <= set(saved):
        raise UserError(f"{utils.checkpoint_config_path(checkpoint_name)}: not the configuration of a Q3 checkpoint "
                        "(expected its model, src_vocab and tgt_vocab, as `train` writes them)")
    if saved is None:
        config, source = flags_config, "the command line (no JSON beside the checkpoint)"
        _, src_vocab, tgt_vocab = utils.load_p2g(data_dir, splits=())
    else:
        config, source = saved["model"], str(utils.checkpoint_config_path(checkpoint_name))
        src_vocab, tgt_vocab = utils.Vocab(saved["src_vocab"][4:]), utils.Vocab(saved["tgt_vocab"][4:])
        if saved.get("finished") is False:
            source += (f"; an unfinished run of {saved['n_epochs']} epochs, its best so far from epoch "
                       f"{saved['epoch']}: the training command with --resume goes on")
    model = build_model(config, len(src_vocab), len(tgt_vocab)).to(device)
    problems = utils.state_dict_mismatch(model.state_dict(), state_dict)
    if problems:
        described = f"use_attn={config['use_attn']}, hidden_size={config['hidden_size']}"
        raise UserError(f"{checkpoint_name}: does not match the model ({described}, vocabularies of "
                        f"{len(src_vocab)}/{len(tgt_vocab)} symbols): {problems}"
                        + "".join(f"; {hint}" for hint in training_flags_hints(config, state_dict)))
    model.load_state_dict(state_dict)
    return model, src_vocab, tgt_vocab, config, source


def training_flags_hints(config, state_dict):
    """The flags that a state_dict that does not fit the model of `config` was probably trained with."""
    hints = []
    if ("decoder.attn.W_s.weight" in state_dict) != config["use_attn"]:
        hints.append(f"was it trained {'with' if not config['use_attn'] else 'without'} --use_attn?")
    embedding = state_dict.get("decoder.embedding.weight")
    if embedding is not None and embedding.dim() == 2 and embedding.shape[1] != config["hidden_size"]:
        hints.append(f"was it trained with --hidden_size {embedding.shape[1]}?")
    return hints


# ----------------------------------------------------------------------------- train


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


def train_step(model, logits, tgt, optimizer, criterion, clip_norm=0.0):
    """One update from logits (B, T-1, V) predicting tgt (B, T)[:, 1:] -> the detached loss.

    clip_norm > 0 rescales the gradient to at most that norm (an option; the course clips nothing).
    """
    loss = criterion(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm:
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss.detach()


def train_epoch(model, split, optimizer, criterion, batch_size, generator, device,
                clip_norm=0.0, length_pool=1, progress=False):
    """One pass over a fresh shuffle of `split` -> mean of the batch losses."""
    model.train()
    losses = []
    batches = length_pooled_batches(split.src_lengths, batch_size, generator, length_pool)
    for indices in tqdm(batches, desc="batches", leave=False, disable=not progress):
        src, src_lengths, tgt = (t.to(device) for t in split.batch(indices))
        logits, _ = model(src, src_lengths, tgt)
        losses.append(train_step(model, logits, tgt, optimizer, criterion, clip_norm))
    return torch.stack(losses).mean().item()


def evaluate_greedy(model, split, tgt_vocab, max_len, device):
    """The CER and WER of greedy decoding on `split`."""
    model.eval()
    return error_rates(spell(model, split.src, split.src_lengths, tgt_vocab, max_len, device), split.spellings)


class RunFiles:
    """What a training run keeps as it goes, and the line Ctrl-C (or SIGTERM) stops it with.

    After every epoch, `checkpoint`.resume holds all that --resume needs to go on exactly (with
    the run's settings, which --resume checks); an epoch whose validation CER improves also saves
    the model's state_dict at `checkpoint`, `config` beside it, in the same breath: the three
    always agree. `finish` writes the run's last files, then removes the resume file.
    """

    def __init__(self, checkpoint, config, n_epochs):
        self.checkpoint, self.config, self.n_epochs = checkpoint, config, n_epochs
        self.resume_path = utils.resume_path(checkpoint)
        self.settings = {**config["model"], **config["settings"]}
        self.history = None  # the epochs kept so far; None before training starts
        self.finished = False

    def start(self, model, optimizer, shuffle, resume, device):
        """-> the epochs so far: the interrupted run's with `resume` (restored into the model,
        optimiser and shuffle), else none. `save_epoch` saves these three."""
        self.model, self.optimizer, self.shuffle = model, optimizer, shuffle
        if resume:
            progress = utils.load_training_state(self.resume_path, model, optimizer, shuffle, self.settings, "--",
                                                 device)
            print(f"Resuming {self.checkpoint} after epoch {len(progress['history'])}")
            self.history = progress["history"]
        elif self.resume_path.exists():
            utils.warn(f"{self.checkpoint}: an interrupted run of this checkpoint is replaced by this one "
                       f"(--resume would have gone on with it)")
            self.history = []
        else:
            if self.checkpoint.exists():
                utils.warn(f"{self.checkpoint}: replaced by this run's as soon as its first epoch ends")
            self.history = []
        return list(self.history)

    def save_epoch(self, history, improved):
        """Keep the epochs of `history`; the model too if the last one `improved` the validation CER."""
        best = history[-1]
        with utils.uninterrupted():  # the checkpoint, its JSON and the resume file always agree
            if improved:
                utils.save_checkpoint(self.model, self.checkpoint, {**self.config, "epoch": best["epoch"],
                                                                    "val_cer": best["val_cer"], "finished": False})
            utils.save_training_state(self.resume_path, self.model, self.optimizer, self.shuffle,
                                      {"settings": self.settings, "history": history})
            self.history = list(history)

    def finish(self, stem, args):
        """The validation CER plot and the training JSON at `stem`-val-cer.png/.pdf and `stem`-train.json;
        then the checkpoint's JSON says it is finished and the resume file goes."""
        history, config = self.history, self.config["model"]
        best = min(history, key=lambda h: h["val_cer"])
        title = f"{'With' if config['use_attn'] else 'Without'} attention (seed {args['seed']})"
        checkpoint_config = utils.read_json(utils.checkpoint_config_path(self.checkpoint))
        with utils.uninterrupted():  # a run is finished once all its files are written, never before
            utils.plot_series({"validation": [h["val_cer"] for h in history]}, "Validation CER", f"{stem}-val-cer",
                              title=title)
            utils.write_json(f"{stem}-train.json", {
                "args": args, "config": config, "best_epoch": best["epoch"], "best_val_cer": best["val_cer"],
                "total_seconds": round(sum(h["seconds"] for h in history), 3), "epochs": history,
            })
            utils.write_json(utils.checkpoint_config_path(self.checkpoint), {**checkpoint_config, "finished": True})
            self.resume_path.unlink()
            self.finished = True
            print(f"Wrote {self.checkpoint} (its configuration: {utils.checkpoint_config_path(self.checkpoint)}), "
                  f"{stem}-val-cer.png/.pdf and {stem}-train.json")

    def what_was_kept(self):
        """The line that says where the run stopped, what it kept and how to go on."""
        if self.finished:
            return "interrupted as the run ended, once its files were all written (named above)"
        if self.history is None:
            return "interrupted before training started: no file was written or changed"
        epoch = len(self.history) + 1
        if not self.history:
            return f"interrupted in epoch {epoch} of {self.n_epochs}, before any epoch ended: nothing was saved"
        best = min(self.history, key=lambda h: h["val_cer"])
        where = (f"interrupted in epoch {epoch} of {self.n_epochs}; the {len(self.history)} epoch(s) before it are"
                 if epoch <= self.n_epochs else f"interrupted after the last epoch; all {len(self.history)} are")
        return (f"{where} kept in {self.resume_path}, the best model so far (epoch {best['epoch']}, validation CER "
                f"{best['val_cer']:.4f}) in {self.checkpoint}; the same command with --resume goes on")


def train(model, data, tgt_vocab, optimizer, shuffle, run, history, n_epochs, batch_size, max_len, device,
          clip_norm=0.0, length_pool=1, progress=False):
    """Train from the epoch after `history`'s last to `n_epochs`, with validation CER after each,
    saving each through `run` (the model whenever the CER strictly improves) -> one record per epoch."""
    criterion = nn.CrossEntropyLoss(ignore_index=PAD_IDX)
    print(f"Training on {len(data['train'])} words ({get_number_trainable_params(model)} parameters)...")
    best_cer = min((h["val_cer"] for h in history), default=math.inf)
    for epoch in range(len(history) + 1, n_epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(model, data["train"], optimizer, criterion, batch_size, shuffle, device,
                           clip_norm=clip_norm, length_pool=length_pool, progress=progress)
        train_seconds = time.perf_counter() - start
        val = evaluate_greedy(model, data["valid"], tgt_vocab, max_len, device)
        print(f"Epoch: [{epoch}/{n_epochs}], Loss: {loss:.4f}")
        print(f"Validation error rate: {val['cer']:.4f}")
        history.append({"epoch": epoch, "loss": loss, "val_cer": val["cer"], "val_wer": val["wer"],
                        "train_seconds": round(train_seconds, 3), "seconds": round(time.perf_counter() - start, 3)})
        improved = val["cer"] < best_cer
        if improved:
            best_cer = val["cer"]
            print(f"New best error rate found: {best_cer:.4f}")
            print("Saving model")
        run.save_epoch(history, improved)
    print(f"Best validation error rate: {best_cer:.4f}")
    return history


# ----------------------------------------------------------------------------- test and predict


def test_nucleus(model, split, tgt_vocab, p, k, seed, max_len, device, label="Test"):
    """The first sampled pass, then `k` more for WER@k and their varied examples, then both
    WERs averaged exactly over the sampling -> (result, expected, {column: spellings})."""
    sampler = torch.Generator(device).manual_seed(seed)
    passes = [spell(model, split.src, split.src_lengths, tgt_vocab, max_len, device, topp=p, generator=sampler)
              for _ in range(1 + k)]
    result = error_rates(passes[0], split.spellings)
    print(f"{label} CER: {result['cer']:.4f}, {label} WER: {result['wer']:.4f}")
    samples = passes[1:]
    varied = [(word, sorted(set(options))) for word, *options in zip(split.spellings, *samples)
              if len(set(options)) > 1]
    print(f"Printing first {N_EXAMPLES} examples with multiple predictions:")
    for word, options in varied[:N_EXAMPLES]:
        print(f"  {word}: {' | '.join(options)}")
    result[f"wer@{k}"] = word_error_rate_at_k(samples, split.spellings)
    result["examples"] = [{"spelling": word, "samples": options} for word, options in varied[:N_EXAMPLES]]
    print(f"{label} WER@{k}: {result[f'wer@{k}']:.4f}")
    spelled = torch.cat([nucleus_spelling_probability(model, *(t.to(device) for t in split.batch(indices)), p)
                         for indices in torch.arange(len(split)).split(DECODE_BATCH_SIZE)])
    expected = {"wer": utils.expected_word_error_rate_at_k(spelled, 1),
                f"wer@{k}": utils.expected_word_error_rate_at_k(spelled, k),
                f"wer@{k}_draw_std": word_error_rate_at_k_spread(spelled, k)}
    # not a line of the course's: the exact mean over all possible draws, to judge the one draw above
    print(f"Expected over the sampling (ours; the statement asks for the draw above): {label} WER: "
          f"{expected['wer']:.4f}, {label} WER@{k}: {expected[f'wer@{k}']:.4f} "
          f"(one draw of WER@{k} varies by ± {expected[f'wer@{k}_draw_std']:.4f})")
    columns = {"sample": passes[0], **{f"sample@{i}": spellings for i, spellings in enumerate(samples, start=1)}}
    return result, expected, columns


def test_beam(model, split, tgt_vocab, beam_size, length_alpha, max_len, device, label="Test"):
    """Beam search with `beam_size` and `length_alpha` -> (result, spellings)."""
    spellings = spell(model, split.src, split.src_lengths, tgt_vocab, max_len, device, beam_size=beam_size,
                      length_alpha=length_alpha)
    result = {"beam_size": beam_size, "length_alpha": length_alpha, **error_rates(spellings, split.spellings)}
    print(f"{label} CER (beam {beam_size}): {result['cer']:.4f}, {label} WER (beam {beam_size}): {result['wer']:.4f}")
    return result, spellings


def test(model, split, tgt_vocab, max_len, device, topp=None, k=3, seed=42, beam_size=None,
         length_alpha=LENGTH_ALPHA, label="Test"):
    """Decode `split` greedily (or by nucleus sampling with `topp`), and with beam search if
    `beam_size` -> (result, {column: one spelling per word}). `label` names the split in the printed lines."""
    model.eval()
    result, predictions = {"n_words": len(split)}, {}
    start = time.perf_counter()
    if topp is None:
        predictions["greedy"] = spell(model, split.src, split.src_lengths, tgt_vocab, max_len, device)
        result["greedy"] = error_rates(predictions["greedy"], split.spellings)
        print(f"{label} CER: {result['greedy']['cer']:.4f}, {label} WER: {result['greedy']['wer']:.4f}")
    else:
        result["nucleus"], result["nucleus_expected"], columns = test_nucleus(model, split, tgt_vocab, topp, k,
                                                                               seed, max_len, device, label)
        predictions.update(columns)
    if beam_size is not None:
        result["beam"], predictions[f"beam{beam_size}"] = test_beam(model, split, tgt_vocab, beam_size,
                                                                    length_alpha, max_len, device, label)
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result, predictions


def arguments_line(mode, values, typed):
    """'Arguments: ...': every flag of a training run; of a test, only the flags that change a test
    and those typed (the model's own configuration is on the next line)."""
    shown = {"mode": mode, **values}
    if mode != "train":
        shown = {k: v for k, v in shown.items() if k not in MODEL_FLAGS + TRAINING_FLAGS or k in typed}
    return "Arguments: " + ", ".join(f"{k}={v}" for k, v in shown.items() if k != "pronunciations")


def model_line(config, source, flags_config, typed):
    """'Model: ...': the configuration a checkpoint was built with, where it came from, and the
    typed flags that it overrides."""
    overridden = [f"--{key} {flags_config[key]}" for key in MODEL_FLAGS
                  if key in typed and config[key] != flags_config[key]]
    return ("Model: " + ", ".join(f"{k}={v}" for k, v in config.items()) + f" (from {source}"
            + (f"; {', '.join(overridden)} not used" if overridden else "") + ")")


def test_stem(stem, split, topp, beam_size, length_alpha):
    """Where a test run writes: `stem`-test-greedy, -test-topp0.8, -test-beam5, -valid-beam5-alpha1, ..."""
    decodings = [f"-topp{topp}" if topp is not None else "",
                 f"-beam{beam_size}" if beam_size is not None else "",
                 f"-alpha{length_alpha:g}" if beam_size is not None and length_alpha != LENGTH_ALPHA else ""]
    return f"{stem}-{split}{''.join(decodings) or '-greedy'}"


def write_test_results(result, predictions, split, stem, args, config):
    """The test JSON and the predictions TSV (one column per decoding) at `stem`.json and `stem`-predictions.tsv."""
    rows = zip(split.pronunciations, split.spellings, *predictions.values())
    replacing = Path(f"{stem}.json").exists()
    with utils.uninterrupted():  # never the predictions of one run beside the scores of another
        utils.write_text(f"{stem}-predictions.tsv", "".join(
            "\t".join(row) + "\n" for row in [("pronunciation", "spelling", *predictions), *rows]))
        utils.write_json(f"{stem}.json", {"args": args, "config": config, **result})
        print(f"Wrote {stem}.json and {stem}-predictions.tsv" + (" (replacing an earlier run's)" if replacing else ""))


def plot_attention(model, split, tgt_vocab, count, max_len, device, stem):
    """Heatmaps of greedy decoding's attention for the first `count` words of `split`, saved at `stem`:
    one row per produced letter, one column per phoneme, two words a row and one colour scale.

    Drawn at the size the report prints it (6.4 in wide, within the text width of 6.5 in), with 8-9 pt text."""
    if model.decoder.attn is None:
        utils.warn("--attention_plots: the model has no attention; no heatmap written")
        return
    plt = utils.pyplot()
    count = min(count, len(split))
    src, lengths, _ = split.batch(torch.arange(count))
    tokens, alphas = generate(model, src.to(device), lengths.to(device), max_len)
    columns = min(count, 2)
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.4, 0.35 + 2.5 * rows), squeeze=False, layout="constrained")
    for ax, index in zip(axes.flat, range(count)):
        phonemes = split.pronunciations[index].split()
        produced = tokens[index].tolist()
        produced = produced[: produced.index(EOS_IDX) + 1] if EOS_IDX in produced else produced
        letters = ["</s>" if t == EOS_IDX else tgt_vocab.itos[t] for t in produced]
        grid = alphas[index, : len(letters), : len(phonemes)].cpu()
        heatmap = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(phonemes)), phonemes)
        ax.set_yticks(range(len(letters)), letters)
        ax.tick_params(length=2, labelsize=8.5)
        ax.set_xlabel("source phonemes", fontsize=9)
        ax.set_ylabel("produced letters", fontsize=9)
        ax.set_title(f"/{split.pronunciations[index]}/\ntrue {split.spellings[index]!r}, "
                     f"predicted {tgt_vocab.decode(produced)!r}", fontsize=9)
    for ax in list(axes.flat)[count:]:
        ax.axis("off")
    if count:
        scale = fig.colorbar(heatmap, ax=axes, shrink=0.6, aspect=30, pad=0.02)
        scale.set_label("attention weight", fontsize=9)
        scale.ax.tick_params(labelsize=8)
    replacing = Path(f"{stem}.png").exists()
    with utils.uninterrupted():  # named once written
        utils.save_figure(fig, stem)
        print(f"Wrote {stem}.png/.pdf" + (" (replacing an earlier run's)" if replacing else ""))


def read_pronunciations(arguments, stdin):
    """The pronunciations to spell, as phoneme lists: the arguments, or else one a line of `stdin`."""
    lines = arguments or stdin.read().splitlines()
    pronunciations = [line.split() for line in lines if line.split()]
    if not pronunciations:
        raise UserError("no pronunciation given (pass them as arguments or one a line on stdin)")
    return pronunciations


def predict(model, src_vocab, tgt_vocab, pronunciations, max_len, device, topp=None, k=3, seed=42, beam_size=None):
    """Spell each pronunciation (a list of phonemes) -> one list of spellings per word:
    greedy, beam search with `beam_size`, or `k` nucleus samples with `topp`."""
    model.eval()
    unknown = sorted(set(src_vocab.unknown(p for phonemes in pronunciations for p in phonemes)))
    if unknown:
        utils.warn(f"{len(unknown)} phoneme(s) unseen in training map to <unk>: {' '.join(unknown)}")
    src, src_lengths = utils.pad_to_tensor([src_vocab.encode(p)[1:-1] for p in pronunciations])
    if topp is not None and beam_size is None:
        sampler = torch.Generator(device).manual_seed(seed)
        outputs = [spell(model, src, src_lengths, tgt_vocab, max_len, device, topp=topp, generator=sampler)
                   for _ in range(k)]
    else:
        outputs = [spell(model, src, src_lengths, tgt_vocab, max_len, device, beam_size=beam_size)]
    return [list(spellings) for spellings in zip(*outputs)]


# ----------------------------------------------------------------------------- command line


def default_checkpoint(use_attn):
    """The checkpoint `test` and `predict` read when none is named -> (its path, why, in a few words).

    `train` saves the project's model-attn.pt with --use_attn, else model.pt, as the course's code
    does. The course's own commands train with --use_attn and then test without it, so without
    --use_attn the newer of the two is taken: the model trained last.
    """
    if use_attn:
        return utils.in_project(COURSE_CHECKPOINTS[True]), "the default with --use_attn"
    paths = [utils.in_project(name) for name in COURSE_CHECKPOINTS.values()]
    found = [path for path in paths if Path(path).is_file()]
    if not found:
        raise UserError(f"no checkpoint to read: neither {utils.absolute(paths[0])} nor {Path(paths[1]).name} beside "
                        "it exists; train one first (`hw2-q3.py train --use_attn`) or name one with --checkpoint_name")
    newest = max(found, key=lambda path: Path(path).stat().st_mtime)
    names = " and ".join(COURSE_CHECKPOINTS.values())
    return newest, (f"the newer of {names}, so the model trained last" if len(found) > 1 else
                    f"the only one of {names} in the project's folder")


def parse_args(argv=None):
    count, number = utils.count, utils.number
    parser = utils.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=["train", "test", "predict"],
                        help="train a model, test a checkpoint, or spell pronunciations with one")
    parser.add_argument("pronunciations", nargs="*", help="predict: IPA phonemes separated by spaces, quoted")
    parser.add_argument("--lr", type=number(above=0), default=0.003, help="Adam step size")
    parser.add_argument("--dropout", type=number(at_least=0, below=1), default=0.3,
                        help="dropout on embeddings and outputs")
    parser.add_argument("--n_epochs", type=count(), default=20, help="training epochs")
    parser.add_argument("--batch_size", type=count(), default=64, help="training batch size")
    parser.add_argument("--hidden_size", type=count(2), default=128, help="H, even (H/2 per encoder direction)")
    parser.add_argument("--seed", type=int, default=42, help="seeds initialisation, shuffling, dropout, sampling")
    parser.add_argument("--use_attn", action="store_true", help="train: with Bahdanau attention")
    parser.add_argument("--data_dir", default=utils.in_project("data"),
                        help="holds train.tsv, valid.tsv, test.tsv (default: the project's data/)")
    parser.add_argument("--checkpoint_name", default=None,
                        help="the model's state_dict, with its configuration in a .json beside it (default: the "
                             "project's model-attn.pt with --use_attn, else model.pt; test and predict without "
                             "--use_attn take the newer of the two)")
    parser.add_argument("--topp", type=number(above=0, at_most=1), default=None,
                        help="nucleus sampling mass p in (0, 1]; default greedy")
    parser.add_argument("--k", type=count(), default=3, help="extra sampling passes for WER@k (test) or samples (predict)")
    parser.add_argument("--max_len", type=count(), default=50, help="longest spelling decoded")
    parser.add_argument("--beam_size", type=count(), default=None, help="also decode with beam search of this size")
    parser.add_argument("--length_alpha", type=number(at_least=0), default=LENGTH_ALPHA,
                        help="beam search ranks hypotheses by sum(log p) / length ** length_alpha")
    parser.add_argument("--split", choices=["test", "valid"], default="test",
                        help="test: the split decoded (valid, to choose decoding options without the test set)")
    parser.add_argument("--attention_plots", type=count(0), default=0, help="test: heatmaps for this many test words")
    parser.add_argument("--init", choices=["torch", "scaled", "scaled_lstm"], default="torch",
                        help="option: torch = torch's layer defaults (the course's); scaled = embeddings N(0, 1/H) "
                             "and a zero generator bias; scaled_lstm = scaled, plus orthogonal recurrent weights "
                             "and forget-gate bias 1")
    parser.add_argument("--clip_norm", type=number(at_least=0), default=0.0,
                        help="option: clip the gradient to this norm (0: no clipping, the course's)")
    parser.add_argument("--length_pool", type=count(), default=1,
                        help="option: draw training batches from pools of this many batches sorted by length "
                             "(1: plain shuffle, the course's)")
    parser.add_argument("--results_dir", default=utils.in_project("runs/q3"),
                        help="where plots, JSONs and predictions are written (default: the project's runs/q3)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda or mps (default: cuda when this machine has it, else cpu, as the "
                             "course's code)")
    parser.add_argument("--threads", type=count(), default=None,
                        help="torch CPU threads (default: torch's choice; the experiment scripts pass 1 per run)")
    parser.add_argument("--resume", action="store_true",
                        help="train: go on with the interrupted run of --checkpoint_name from its last finished epoch")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    args = parser.parse_intermixed_args(argv)
    typed = parser.typed(argv)
    parser.check(args.mode is not None, "expected a mode: train, test or predict (e.g. `hw2-q3.py train --use_attn`)")
    parser.check(args.hidden_size % 2 == 0,
                 f"--hidden_size {args.hidden_size}: expected an even number (H/2 units per encoder direction)")
    parser.check(args.mode == "predict" or not args.pronunciations,
                 f"unexpected arguments {' '.join(args.pronunciations)!r} (pronunciations are for predict mode)")
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.checkpoint_name is None and args.mode == "train":
        args.checkpoint_name = utils.in_project(COURSE_CHECKPOINTS[args.use_attn])
    return args, typed


def main(argv=None):
    args, typed = parse_args(argv)
    device = utils.resolve_device(args.device, flag="--device")
    if args.threads:
        torch.set_num_threads(args.threads)
    utils.configure_seed(args.seed)
    flags_config = {"hidden_size": args.hidden_size, "dropout": args.dropout, "use_attn": args.use_attn}
    chosen = None
    if args.checkpoint_name is None:  # test or predict
        args.checkpoint_name, chosen = default_checkpoint(args.use_attn)
    if args.mode != "predict":
        print(arguments_line(args.mode, vars(args), typed))
    checkpoint = utils.absolute(args.checkpoint_name)
    if chosen:  # predict's stdout is its spellings
        print(f"Checkpoint: {checkpoint} ({chosen}; --checkpoint_name names another)",
              file=sys.stderr if args.mode == "predict" else sys.stdout)

    if args.mode == "train":
        settings = {"lr": args.lr, "batch_size": args.batch_size, "seed": args.seed, "init": args.init,
                    "clip_norm": args.clip_norm, "length_pool": args.length_pool, "max_len": args.max_len}
        run = RunFiles(checkpoint, {"model": flags_config, "settings": settings, "n_epochs": args.n_epochs},
                       args.n_epochs)
        with utils.stop_on_ctrl_c(run.what_was_kept):
            data, src_vocab, tgt_vocab = utils.load_p2g(args.data_dir, splits=("train", "valid"))
            run.config.update(src_vocab=src_vocab.itos, tgt_vocab=tgt_vocab.itos)
            model = build_model(flags_config, len(src_vocab), len(tgt_vocab), args.init).to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
            shuffle = torch.Generator().manual_seed(args.seed)
            history = run.start(model, optimizer, shuffle, args.resume, device)

            train(model, data, tgt_vocab, optimizer, shuffle, run, history, args.n_epochs, args.batch_size,
                  args.max_len, device, clip_norm=args.clip_norm, length_pool=args.length_pool,
                  progress=sys.stderr.isatty() and not args.no_progress)
            run.finish(utils.absolute(args.results_dir) / checkpoint.stem, vars(args))
        return

    with utils.stop_on_ctrl_c(lambda: "interrupted; no file was written but those named above"):
        model, src_vocab, tgt_vocab, config, source = load_model(checkpoint, device, flags_config, args.data_dir)
        if args.mode == "predict":
            pronunciations = read_pronunciations(args.pronunciations, sys.stdin)
            for phonemes, words in zip(pronunciations, predict(model, src_vocab, tgt_vocab, pronunciations,
                                                               args.max_len, device, args.topp, args.k, args.seed,
                                                               args.beam_size)):
                print("\t".join([" ".join(phonemes), *words]))
            return

        print(model_line(config, source, flags_config, typed))
        split = utils.load_p2g(args.data_dir, src_vocab, tgt_vocab, splits=(args.split,))[0][args.split]
        result, predictions = test(model, split, tgt_vocab, args.max_len, device, args.topp, args.k, args.seed,
                                   args.beam_size, args.length_alpha,
                                   label="Test" if args.split == "test" else "Validation")
        stem = utils.absolute(args.results_dir) / checkpoint.stem
        if args.attention_plots:
            plot_attention(model, split, tgt_vocab, args.attention_plots, args.max_len, device, f"{stem}-attention")
        write_test_results(result, predictions, split, test_stem(stem, args.split, args.topp, args.beam_size,
                                                                 args.length_alpha), vars(args), config)


if __name__ == "__main__":
    utils.run_main(main)
