"""Q3: phoneme-to-grapheme conversion with a BiLSTM encoder and an LSTM decoder.

    python hw2-q3.py train [--use_attn] --checkpoint_name attn.pt
    python hw2-q3.py test --checkpoint_name attn.pt [--topp 0.8] [--beam_size 5] [--attention_plots 4]
    python hw2-q3.py predict --checkpoint_name attn.pt "t͡ʃ æ p l ə t"   (or one pronunciation a line on stdin)

The flags, printed lines and model contracts are the course's (shared/spec/interfaces.md).
Decoding is batched: each batch of words is decoded in lock-step until every word has
ended, which gives the same strings as the course's one-word-at-a-time loop.
"""
import math
import sys
import time
from functools import partial
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

import utils
from models import BahdanauAttention, Decoder, Encoder, Seq2Seq, get_number_trainable_params, init_seq2seq_, reshape_state
from utils import EOS_IDX, PAD_IDX, SOS_IDX, UNK_IDX, UserError

DECODE_BATCH_SIZE = 500
LENGTH_ALPHA = 0.5  # beam scores are sum(log p) / length ** LENGTH_ALPHA; 0, 0.5 and 1 tie on validation (report/q3.md)
N_EXAMPLES = 10


# ----------------------------------------------------------------------------- next-token rules


def greedy_next_token(logits):
    """logits (V,) -> index of the most probable token (1,); also (B, V) -> (B, 1)."""
    return logits.argmax(-1, keepdim=True)


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


def nucleus_sampling(logits, p=0.8, generator=None):
    """logits (V,) -> index sampled from the top-p renormalised distribution (1,); also (B, V) -> (B, 1)."""
    distribution, order = nucleus_distribution(logits, p)
    return order.gather(-1, torch.multinomial(distribution, 1, generator=generator))


# ----------------------------------------------------------------------------- decoding


@torch.inference_mode()
def sample_batch(model, src, src_lengths, max_len, next_token):
    """Decode src (B, S) token by token, `next_token(logits (B, V)) -> (B, 1)` choosing each.

    -> (tokens (B, L), L <= max_len, PAD after each word's EOS; attention weights
    alpha (B, L, S), or None without attention). Stops once every word has produced EOS.
    """
    batch_size = src.shape[0]
    encoder_outputs, state = model.encoder(src, src_lengths)
    state, memory = reshape_state(state), model.decoder.memory(encoder_outputs, src_lengths)
    tokens = torch.full((batch_size, 1), SOS_IDX, dtype=torch.long, device=src.device)
    ended = torch.zeros(batch_size, 1, dtype=torch.bool, device=src.device)
    steps, alphas = [], []
    for _ in range(max_len):
        output, state, alpha = model.decoder.step(tokens, state, memory)
        tokens = next_token(model.generator(output.squeeze(1))).masked_fill(ended, PAD_IDX)
        steps.append(tokens)
        alphas.append(alpha)
        ended = ended | (tokens == EOS_IDX)
        if bool(ended.all()):
            break
    return torch.cat(steps, dim=1), (torch.cat(alphas, dim=1) if memory is not None else None)


def greedy_batch(model, src, src_lengths, max_len):
    """Greedy decoding of src (B, S) -> tokens (B, L)."""
    return sample_batch(model, src, src_lengths, max_len, greedy_next_token)[0]


def nucleus_batch(model, src, src_lengths, max_len, p, generator):
    """Nucleus sampling of src (B, S) with top-p `p` -> tokens (B, L)."""
    return sample_batch(model, src, src_lengths, max_len, partial(nucleus_sampling, p=p, generator=generator))[0]


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


@torch.inference_mode()
def beam_search_batch(model, src, src_lengths, max_len, beam_size, alpha=LENGTH_ALPHA):
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


@torch.inference_mode()
def course_greedy(model, src, src_lengths, tgt_vocab, max_len):
    """The course driver's decoding of one word, src (1, S): one token at a time -> its spelling.

    Kept as the reference that the batched decoders are tested against and timed with.
    """
    encoder_outputs, state = model.encoder(src, src_lengths)
    if state[0].shape[0] == 2:
        state = reshape_state(state)
    sequence = [torch.full((1, 1), SOS_IDX, dtype=torch.long, device=src.device)]
    for _ in range(max_len):
        output, state = model.decoder(sequence[-1], state, encoder_outputs, src_lengths)
        sequence.append(greedy_next_token(model.generator(output.view(-1))).view(1, 1))
        if int(sequence[-1]) == EOS_IDX:
            break
    return tgt_vocab.decode(torch.cat(sequence).view(-1).tolist())


def decode_corpus(decode_batch, src, src_lengths, tgt_vocab, device, batch_size=DECODE_BATCH_SIZE):
    """Spell every word of src (N, S) with `decode_batch(src (b, S'), lengths (b,)) -> tokens`.

    Words are decoded in batches of similar source length (fewer wasted steps) and
    returned in their original order.
    """
    order = torch.argsort(src_lengths, stable=True)
    spellings = [None] * len(order)
    for indices in order.split(batch_size):
        lengths = src_lengths[indices]
        batch = src[indices, : int(lengths.max())]
        tokens = decode_batch(batch.to(device), lengths.to(device)).tolist()
        for index, row in zip(indices.tolist(), tokens):
            spellings[index] = tgt_vocab.decode(row)
    return spellings


def spell_split(decode_batch, model, split, tgt_vocab, max_len, device, **options):
    """Spell every word of a P2GSplit with `decode_batch(model, src, src_lengths, max_len, **options)`."""
    return decode_corpus(partial(decode_batch, model, max_len=max_len, **options), split.src, split.src_lengths,
                         tgt_vocab, device)


def error_rates(spellings, gold):
    """The corpus CER and WER of spellings against the true ones."""
    return {"cer": utils.character_error_rate(spellings, gold), "wer": utils.word_error_rate(spellings, gold)}


# ----------------------------------------------------------------------------- model and checkpoints


def build_model(config, src_vocab_size, tgt_vocab_size, init="scaled_lstm"):
    """The Seq2Seq of `config` ({hidden_size, dropout, use_attn}), initialised by `init`."""
    hidden, dropout = config["hidden_size"], config["dropout"]
    encoder = Encoder(src_vocab_size, hidden, PAD_IDX, dropout)
    attn = BahdanauAttention(hidden) if config["use_attn"] else None
    decoder = Decoder(hidden, tgt_vocab_size, attn, PAD_IDX, dropout)
    return init_seq2seq_(Seq2Seq(encoder, decoder), init)


def model_config(args):
    return {"hidden_size": args.hidden_size, "dropout": args.dropout, "use_attn": args.use_attn}


def checkpoint_payload(model, config, src_vocab, tgt_vocab, **extra):
    return {"state_dict": model.state_dict(), "config": config,
            "src_vocab": src_vocab.itos, "tgt_vocab": tgt_vocab.itos, **extra}


def load_model(args, device):
    """Rebuild the model of `args.checkpoint_name` -> (model, src_vocab, tgt_vocab, config).

    A checkpoint of ours carries its configuration and vocabularies; a bare state_dict
    (as the course's driver saves it) takes them from the flags and from train.tsv.
    """
    path = Path(args.checkpoint_name)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint; train one with `hw2-q3.py train --checkpoint_name {path}`")
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch.load raises many types for a damaged or foreign file
        raise UserError(f"{path}: not a readable PyTorch checkpoint ({error.__class__.__name__})") from None
    unpacked = unpack_checkpoint(saved)
    if unpacked is None:
        raise UserError(f"{path}: neither a state_dict nor a checkpoint written by hw2-q3.py train")
    state_dict, config, vocabs = unpacked
    if config is None:  # a bare state_dict
        config = model_config(args)
        _, src_vocab, tgt_vocab = utils.load_p2g(args.data_dir, splits=())
    else:
        src_vocab, tgt_vocab = vocabs
    model = build_model(config, len(src_vocab), len(tgt_vocab)).to(device)
    problems = state_dict_mismatch(model.state_dict(), state_dict)
    if problems:
        described = f"use_attn={config['use_attn']}, hidden_size={config['hidden_size']}"
        raise UserError(f"{path}: does not match the model ({described}, vocabularies of "
                        f"{len(src_vocab)}/{len(tgt_vocab)} symbols): {problems}")
    model.load_state_dict(state_dict)
    return model, src_vocab, tgt_vocab, config


def unpack_checkpoint(saved):
    """What torch.load returned -> (state_dict, config, (src_vocab, tgt_vocab)), or None if it is
    neither a checkpoint written by `train` nor a bare state_dict. A bare state_dict, as the
    course's driver saves it, carries no configuration and no vocabularies: (state_dict, None, None).
    """
    if isinstance(saved, dict) and {"state_dict", "config", "src_vocab", "tgt_vocab"} <= saved.keys():
        vocabs = (utils.Vocab(saved["src_vocab"][4:]), utils.Vocab(saved["tgt_vocab"][4:]))
        return saved["state_dict"], saved["config"], vocabs
    if isinstance(saved, dict) and saved and all(isinstance(v, torch.Tensor) for v in saved.values()):
        return saved, None, None
    return None


def state_dict_mismatch(expected, found):
    """A one-line description of how `found` differs from `expected` ('' if it fits)."""
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


# ----------------------------------------------------------------------------- train


def train_step(model, logits, tgt, optimizer, criterion, clip_norm):
    """One update from logits (B, T-1, V) predicting tgt (B, T)[:, 1:] -> the detached loss."""
    loss = criterion(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm:
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss.detach()


def train_epoch(model, split, optimizer, criterion, args, generator, device, progress):
    """One pass over a fresh shuffle of `split` -> mean of the batch losses."""
    model.train()
    losses = []
    batches = utils.length_pooled_batches(split.src_lengths, args.batch_size, generator, args.length_pool)
    for indices in tqdm(batches, desc="batches", leave=False, disable=not progress):
        src, src_lengths, tgt = (t.to(device) for t in split.batch(indices))
        logits, _ = model(src, src_lengths, tgt)
        losses.append(train_step(model, logits, tgt, optimizer, criterion, args.clip_norm))
    return torch.stack(losses).mean().item()


def evaluate_greedy(model, split, tgt_vocab, max_len, device):
    model.eval()
    rates = error_rates(spell_split(greedy_batch, model, split, tgt_vocab, max_len, device), split.spellings)
    return rates["cer"], rates["wer"]


def train(args, device):
    data, src_vocab, tgt_vocab = utils.load_p2g(args.data_dir, splits=("train", "valid"))
    config = model_config(args)
    model = build_model(config, len(src_vocab), len(tgt_vocab), args.init).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss(ignore_index=PAD_IDX)
    shuffle = torch.Generator().manual_seed(args.seed)
    progress = sys.stderr.isatty() and not args.no_progress
    print(f"Training on {len(data['train'])} words ({get_number_trainable_params(model)} parameters)...")
    history, best_cer, best_epoch = [], math.inf, None
    for epoch in range(1, args.n_epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(model, data["train"], optimizer, criterion, args, shuffle, device, progress)
        train_seconds = time.perf_counter() - start
        val_cer, val_wer = evaluate_greedy(model, data["valid"], tgt_vocab, args.max_len, device)
        seconds = time.perf_counter() - start
        print(f"Epoch: [{epoch}/{args.n_epochs}], Loss: {loss:.4f}")
        print(f"Validation error rate: {val_cer:.4f}")
        if val_cer < best_cer:
            best_cer, best_epoch = val_cer, epoch
            print(f"New best error rate found: {best_cer:.4f}")
            print("Saving model")
            utils.save_checkpoint(checkpoint_payload(model, config, src_vocab, tgt_vocab, epoch=epoch,
                                                     val_cer=val_cer), args.checkpoint_name)
        history.append({"epoch": epoch, "loss": loss, "val_cer": val_cer, "val_wer": val_wer,
                        "train_seconds": round(train_seconds, 3), "seconds": round(seconds, 3)})
    print(f"Best validation error rate: {best_cer:.4f}")
    stem = Path(args.results_dir) / Path(args.checkpoint_name).stem
    utils.plot_series({"validation": [h["val_cer"] for h in history]}, "Validation CER", f"{stem}-val-cer",
                      title=f"{'With' if args.use_attn else 'Without'} attention (seed {args.seed})")
    utils.write_json(f"{stem}-train.json", {
        "args": vars(args), "config": config, "best_epoch": best_epoch, "best_val_cer": best_cer,
        "total_seconds": round(sum(h["seconds"] for h in history), 3), "epochs": history,
    })
    print(f"Wrote {args.checkpoint_name}, {stem}-val-cer.png/.pdf and {stem}-train.json")


# ----------------------------------------------------------------------------- test and predict


def test_nucleus(model, split, tgt_vocab, args, device):
    """The first sampled pass, then `args.k` more for WER@k and their varied examples, then
    both WERs averaged exactly over the sampling -> (result, {column: spellings})."""
    sampler = torch.Generator(device).manual_seed(args.seed)
    passes = [spell_split(nucleus_batch, model, split, tgt_vocab, args.max_len, device, p=args.topp,
                          generator=sampler) for _ in range(1 + args.k)]
    result = error_rates(passes[0], split.spellings)
    print(f"Test CER: {result['cer']:.4f}, Test WER: {result['wer']:.4f}")
    samples = passes[1:]
    varied = [(word, sorted(set(options))) for word, *options in zip(split.spellings, *samples)
              if len(set(options)) > 1]
    print(f"Printing first {N_EXAMPLES} examples with multiple predictions:")
    for word, options in varied[:N_EXAMPLES]:
        print(f"  {word}: {' | '.join(options)}")
    result[f"wer@{args.k}"] = utils.word_error_rate_at_k(samples, split.spellings)
    result["examples"] = [{"spelling": word, "samples": options} for word, options in varied[:N_EXAMPLES]]
    print(f"Test WER@{args.k}: {result[f'wer@{args.k}']:.4f}")
    spelled = torch.cat([nucleus_spelling_probability(model, *(t.to(device) for t in split.batch(indices)), args.topp)
                         for indices in torch.arange(len(split)).split(DECODE_BATCH_SIZE)])
    expected = {"wer": utils.expected_word_error_rate_at_k(spelled, 1),
                f"wer@{args.k}": utils.expected_word_error_rate_at_k(spelled, args.k)}
    print(f"Expected over the sampling: Test WER: {expected['wer']:.4f}, Test WER@{args.k}: {expected[f'wer@{args.k}']:.4f}")
    columns = {"sample": passes[0], **{f"sample@{k}": spellings for k, spellings in enumerate(samples, start=1)}}
    return result, expected, columns


def test_beam(model, split, tgt_vocab, args, device):
    """Beam search with `args.beam_size` -> (result, spellings)."""
    spellings = spell_split(beam_search_batch, model, split, tgt_vocab, args.max_len, device,
                            beam_size=args.beam_size)
    result = {"beam_size": args.beam_size, "length_alpha": LENGTH_ALPHA, **error_rates(spellings, split.spellings)}
    print(f"Test CER (beam {args.beam_size}): {result['cer']:.4f}, Test WER (beam {args.beam_size}): {result['wer']:.4f}")
    return result, spellings


def test(args, device):
    model, src_vocab, tgt_vocab, config = load_model(args, device)
    model.eval()
    split = utils.load_p2g(args.data_dir, src_vocab, tgt_vocab, splits=("test",))[0]["test"]
    result = {"args": vars(args), "config": config, "n_words": len(split)}
    predictions = {}  # column name -> one spelling per test word, written beside the JSON
    start = time.perf_counter()
    if args.topp is None:
        predictions["greedy"] = spell_split(greedy_batch, model, split, tgt_vocab, args.max_len, device)
        result["greedy"] = error_rates(predictions["greedy"], split.spellings)
        print(f"Test CER: {result['greedy']['cer']:.4f}, Test WER: {result['greedy']['wer']:.4f}")
    else:
        result["nucleus"], result["nucleus_expected"], columns = test_nucleus(model, split, tgt_vocab, args, device)
        predictions.update(columns)
    if args.beam_size is not None:
        result["beam"], predictions[f"beam{args.beam_size}"] = test_beam(model, split, tgt_vocab, args, device)
    result["seconds"] = round(time.perf_counter() - start, 3)
    if args.attention_plots:
        plot_attention(model, split, tgt_vocab, args, device)
    suffix = "".join([f"-topp{args.topp}" if args.topp is not None else "",
                      f"-beam{args.beam_size}" if args.beam_size is not None else ""]) or "-greedy"
    stem = Path(args.results_dir) / f"{Path(args.checkpoint_name).stem}-test{suffix}"
    rows = zip(split.pronunciations, split.spellings, *predictions.values())
    utils.write_text(f"{stem}-predictions.tsv",
                     "".join("\t".join(row) + "\n" for row in [("pronunciation", "spelling", *predictions), *rows]))
    utils.write_json(f"{stem}.json", result)
    print(f"Wrote {stem}.json and {stem}-predictions.tsv")


def plot_attention(model, split, tgt_vocab, args, device):
    """Heatmaps of greedy decoding's attention: one row per produced letter, one column per phoneme."""
    if model.decoder.attn is None:
        utils.warn("--attention_plots: the model has no attention; no heatmap written")
        return
    plt = utils.pyplot()
    count = min(args.attention_plots, len(split))
    src, lengths, _ = split.batch(torch.arange(count))
    tokens, alphas = sample_batch(model, src.to(device), lengths.to(device), args.max_len, greedy_next_token)
    columns = min(count, 2)
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    for ax, index in zip(axes.flat, range(count)):
        phonemes = split.pronunciations[index].split()
        produced = tokens[index].tolist()
        produced = produced[: produced.index(EOS_IDX) + 1] if EOS_IDX in produced else produced
        letters = ["</s>" if t == EOS_IDX else tgt_vocab.itos[t] for t in produced]
        grid = alphas[index, : len(letters), : len(phonemes)].cpu()
        ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(phonemes)), phonemes)
        ax.set_yticks(range(len(letters)), letters)
        ax.set_xlabel("source phonemes")
        ax.set_ylabel("produced letters")
        ax.set_title(f"/{split.pronunciations[index]}/: true {split.spellings[index]!r}, "
                     f"predicted {tgt_vocab.decode(produced)!r}", fontsize=9)
    for ax in list(axes.flat)[count:]:
        ax.axis("off")
    fig.tight_layout()
    stem = Path(args.results_dir) / f"{Path(args.checkpoint_name).stem}-attention"
    utils.save_figure(fig, stem)
    print(f"Wrote {stem}.png/.pdf")


def predict(args, device):
    model, src_vocab, tgt_vocab, _ = load_model(args, device)
    model.eval()
    lines = args.pronunciations or [line for line in sys.stdin.read().splitlines() if line.strip()]
    pronunciations = [line.split() for line in lines if line.split()]
    if not pronunciations:
        raise UserError("no pronunciation given (pass them as arguments or one a line on stdin)")
    unknown = sorted(set(src_vocab.unknown(p for phonemes in pronunciations for p in phonemes)))
    if unknown:
        utils.warn(f"{len(unknown)} phoneme(s) unseen in training map to <unk>: {' '.join(unknown)}")
    src, src_lengths = utils.pad_to_tensor([src_vocab.encode(p)[1:-1] for p in pronunciations])
    spell = partial(decode_corpus, src=src, src_lengths=src_lengths, tgt_vocab=tgt_vocab, device=device)
    if args.beam_size is not None:
        outputs = [spell(partial(beam_search_batch, model, max_len=args.max_len, beam_size=args.beam_size))]
    elif args.topp is not None:
        sampler = torch.Generator(device).manual_seed(args.seed)
        outputs = [spell(partial(nucleus_batch, model, max_len=args.max_len, p=args.topp, generator=sampler))
                   for _ in range(args.k)]
    else:
        outputs = [spell(partial(greedy_batch, model, max_len=args.max_len))]
    for phonemes, *spellings in zip(pronunciations, *outputs):
        print("\t".join([" ".join(phonemes), *spellings]))


# ----------------------------------------------------------------------------- command line


def parse_args(argv=None):
    parser = utils.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["train", "test", "predict"])
    parser.add_argument("pronunciations", nargs="*", help="predict: IPA phonemes separated by spaces, quoted")
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--n_epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--hidden_size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--use_attn", action="store_true")
    parser.add_argument("--data_dir", default="data/")
    parser.add_argument("--checkpoint_name", default=None, help="default: model-attn.pt with --use_attn, else model.pt")
    parser.add_argument("--topp", type=float, default=None, help="nucleus sampling mass p in (0, 1]; default greedy")
    parser.add_argument("--k", type=int, default=3, help="extra sampling passes for WER@k (test) or samples (predict)")
    parser.add_argument("--max_len", type=int, default=50)
    parser.add_argument("--beam_size", type=int, default=None, help="also decode with beam search of this size")
    parser.add_argument("--attention_plots", type=int, default=0, help="test: heatmaps for this many test words")
    parser.add_argument("--length_pool", type=int, default=1,
                        help="train batches are drawn from pools of this many batches sorted by length (1: plain shuffle)")
    parser.add_argument("--init", choices=["torch", "scaled", "scaled_lstm"], default="scaled_lstm",
                        help="initialisation (see README)")
    parser.add_argument("--clip_norm", type=float, default=1.0, help="gradient-norm clipping (0: none)")
    parser.add_argument("--results_dir", default="results/q3")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; the experiment scripts pass 1 per run)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    args = parser.parse_intermixed_args(argv)
    if args.checkpoint_name is None:
        args.checkpoint_name = "model-attn.pt" if args.use_attn else "model.pt"
    parser.check(args.topp is None or 0 < args.topp <= 1, f"--topp {args.topp}: expected a mass in (0, 1]")
    parser.check(args.beam_size is None or args.beam_size >= 1, f"--beam_size {args.beam_size}: expected at least 1")
    parser.check(args.k >= 1, f"--k {args.k}: expected at least 1")
    parser.check(args.max_len >= 1, f"--max_len {args.max_len}: expected at least 1")
    parser.check(args.n_epochs >= 1, f"--n_epochs {args.n_epochs}: expected at least 1")
    parser.check(args.batch_size >= 1, f"--batch_size {args.batch_size}: expected at least 1")
    parser.check(args.hidden_size >= 2 and args.hidden_size % 2 == 0,
                 f"--hidden_size {args.hidden_size}: expected an even number (H/2 units per encoder direction)")
    parser.check(0 <= args.dropout < 1, f"--dropout {args.dropout}: expected a probability in [0, 1)")
    parser.check(args.lr > 0, f"--lr {args.lr}: expected a positive step size")
    parser.check(args.length_pool >= 1, f"--length_pool {args.length_pool}: expected at least 1")
    parser.check(args.clip_norm >= 0, f"--clip_norm {args.clip_norm}: expected 0 (off) or a positive norm")
    parser.check(args.attention_plots >= 0, f"--attention_plots {args.attention_plots}: expected 0 or more")
    parser.check(args.threads is None or args.threads >= 1, f"--threads {args.threads}: expected at least 1")
    parser.check(args.mode == "predict" or not args.pronunciations,
                 f"unexpected arguments {' '.join(args.pronunciations)!r} (pronunciations are for predict mode)")
    return args


def main(argv=None):
    args = parse_args(argv)
    device = utils.resolve_device(args.device, flag="--device")
    if args.threads:
        torch.set_num_threads(args.threads)
    utils.configure_seed(args.seed)
    if args.mode != "predict":
        shown = {"mode": args.mode, **vars(args)}
        print("Arguments: " + ", ".join(f"{k}={v}" for k, v in shown.items() if k != "pronunciations"))
    {"train": train, "test": test, "predict": predict}[args.mode](args, device)


if __name__ == "__main__":
    utils.run_main(main)
