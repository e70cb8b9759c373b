"""Q3 speed: seconds per training epoch and decoding words per second.

    python -m benchmarks.bench_q3 [--epochs 2] [--threads 1] [--length_pool 1] [--data_dir data/] [--baseline]

Trains each model (without, with attention) for a few epochs with the statement's
hyperparameters, timing each epoch and the greedy validation pass, then times decoding
of the test set with that model: batched greedy, nucleus (p = 0.8), beam 5, and the
course's one-word-at-a-time greedy loop on a subset. With --baseline, also times the
straightforward implementation to compare with: an epoch of teacher forcing one target
position at a time, and validation one word at a time. Timings on a shared machine are noisy.
"""
import argparse
import time
from functools import partial
from pathlib import Path

import torch

import utils
from models import reshape_state

ROOT = Path(__file__).resolve().parents[1]

q3 = utils.load_script(ROOT / "hw2-q3.py")


def timed(function):
    """-> (result, wall seconds, CPU seconds of this process).

    On a shared machine the CPU seconds estimate what the wall time would be on an idle
    core (the runs are single-threaded), when the wall time mostly measures waiting.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def course_loop(model, split, tgt_vocab, n_words, max_len):
    """The course driver's decoding, one word at a time."""
    return [q3.course_greedy(model, *split.batch(torch.tensor([i]))[:2], tgt_vocab, max_len) for i in range(n_words)]


def stepwise_logits(model, src, src_lengths, tgt):
    """Teacher forcing one target position at a time, as the course's decoder loop does."""
    encoder_outputs, dec_state = model.encoder(src, src_lengths)
    dec_state, memory = reshape_state(dec_state), model.decoder.memory(encoder_outputs, src_lengths)
    outputs = []
    for t in range(tgt.shape[1] - 1):
        output, dec_state = model.decoder.step(tgt[:, t:t + 1], dec_state, memory)
        outputs.append(output)
    return model.generator(torch.cat(outputs, dim=1))  # (B, T-1, V)


def stepwise_epoch(model, split, optimizer, criterion, train_args, generator, device):
    model.train()
    for indices in utils.length_pooled_batches(split.src_lengths, train_args.batch_size, generator, 1):
        src, src_lengths, tgt = (t.to(device) for t in split.batch(indices))
        q3.train_step(model, stepwise_logits(model, src, src_lengths, tgt), tgt, optimizer, criterion,
                      train_args.clip_norm)


def lstm_floor(train, args, device):
    """How long an epoch's LSTM arithmetic alone takes at the rate a fused LSTM reaches here.

    Counts the multiply-adds of the gate products that the encoder (two directions of H/2)
    and decoder (H) compute over one epoch of shuffled batches, padding included, forward
    and backward (backward about twice forward), and times a decoder-sized LSTM's forward.
    """
    statement = q3.parse_args(["train"])
    hidden, batch_size, steps = statement.hidden_size, statement.batch_size, 16
    lstm = torch.nn.LSTM(hidden, hidden, batch_first=True).to(device)
    inputs = torch.randn(batch_size, steps, hidden, device=device)
    def forward_passes(n):
        for _ in range(n):
            lstm(inputs)

    with torch.inference_mode():
        forward_passes(10)
        _, wall, _ = timed(lambda: forward_passes(100))
    rate = 100 * 2 * batch_size * steps * 2 * hidden * 4 * hidden / wall
    shuffle = torch.Generator().manual_seed(42)
    forward = 0
    for indices in utils.length_pooled_batches(train.src_lengths, batch_size, shuffle, args.length_pool):
        src, _, tgt = train.batch(indices)
        forward += 2 * len(indices) * (tgt.shape[1] - 1) * 2 * hidden * 4 * hidden
        forward += 2 * src.numel() * 2 * (hidden + 1 + hidden // 2) * 4 * (hidden // 2)
    seconds = 3 * forward / rate
    print(f"LSTM arithmetic: decoder-sized LSTM forward at {rate / 1e9:.0f} GFLOP/s; an epoch's LSTM forward and "
          f"backward passes {3 * forward / 1e9:.0f} GFLOP, {seconds:.2f} s an epoch at that rate "
          f"({20 * seconds:.0f} s for 20)")


def step_breakdown(data, vocab_sizes, args, device, n_batches=40):
    """Milliseconds per training step of each part of the attention model, forward and backward.

    Each part runs alone on inputs of a real batch's shapes (constants where it would read
    another part's output), averaged over `n_batches` shuffled batches.
    """
    train_args = q3.parse_args(["train", "--use_attn", "--length_pool", str(args.length_pool)])
    utils.configure_seed(train_args.seed)
    model = q3.build_model(q3.model_config(train_args), *vocab_sizes).to(device).train()
    optimizer = q3.make_optimizer(model, train_args.lr)
    criterion = torch.nn.CrossEntropyLoss(ignore_index=utils.PAD_IDX)
    shuffle = torch.Generator().manual_seed(train_args.seed)
    split = data["train"]
    batches = [[t.to(device) for t in split.batch(indices)] for indices, _ in
               zip(utils.length_pooled_batches(split.src_lengths, train_args.batch_size, shuffle, args.length_pool),
                   range(n_batches))]
    hidden = train_args.hidden_size

    def leaf(*shape):  # a constant input: drawing random ones would cost as much as the dropout masks
        return torch.full(shape, 0.1, device=device, requires_grad=True)

    def encoder(src, src_lengths, tgt):
        output, (h, c) = model.encoder(src, src_lengths)
        (output.sum() + h.sum() + c.sum()).backward()

    def decoder_lstm(src, src_lengths, tgt):
        state = (leaf(1, len(tgt), hidden), leaf(1, len(tgt), hidden))
        model.decoder.lstm(leaf(len(tgt), tgt.shape[1] - 1, hidden), state)[0].sum().backward()

    def attention(src, src_lengths, tgt):
        model.decoder.attn(leaf(len(tgt), tgt.shape[1] - 1, hidden), leaf(*src.shape, hidden), src_lengths).sum().backward()

    def dropout_masks(src, src_lengths, tgt):
        for shape in [(*src.shape, hidden)] * 2 + [(len(tgt), tgt.shape[1] - 1, hidden)] * 2:
            model.encoder.dropout(leaf(*shape)).sum().backward()

    def generator_and_loss(src, src_lengths, tgt):
        logits = model.generator(leaf(len(tgt), tgt.shape[1] - 1, hidden))
        criterion(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1)).backward()

    def clip_and_adam(src, src_lengths, tgt):
        for parameter in model.parameters():
            parameter.grad = torch.zeros_like(parameter)
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_args.clip_norm)
        optimizer.step()

    def whole_step(src, src_lengths, tgt):
        q3.train_step(model, model(src, src_lengths, tgt)[0], tgt, optimizer, criterion, train_args.clip_norm)

    parts = [encoder, decoder_lstm, attention, dropout_masks, generator_and_loss, clip_and_adam, whole_step]
    timings = []
    for part in parts:
        for batch in batches[:5]:
            part(*batch)
        _, wall, _ = timed(lambda: [part(*batch) for batch in batches])
        timings.append(f"{part.__name__.replace('_', ' ')} {1000 * wall / len(batches):.1f}")
    print("[attention] ms per training step (forward + backward): " + ", ".join(timings))


def bench(use_attn, data, src_vocab, tgt_vocab, args, device):
    flags = ["--threads", str(args.threads), "--length_pool", str(args.length_pool)] + (["--use_attn"] if use_attn else [])
    train_args = q3.parse_args(["train", *flags])
    utils.configure_seed(train_args.seed)
    model = q3.build_model(q3.model_config(train_args), len(src_vocab), len(tgt_vocab)).to(device)
    optimizer = q3.make_optimizer(model, train_args.lr)
    criterion = torch.nn.CrossEntropyLoss(ignore_index=utils.PAD_IDX)
    shuffle = torch.Generator().manual_seed(train_args.seed)
    name = "attention" if use_attn else "no attention"
    epochs, validations = [], []
    for _ in range(args.epochs):
        epochs.append(timed(lambda: q3.train_epoch(model, data["train"], optimizer, criterion, train_args, shuffle,
                                                   device, progress=False))[1:])
        validations.append(timed(lambda: q3.evaluate_greedy(model, data["valid"], tgt_vocab, 50, device))[1:])
    (train_wall, train_cpu), (valid_wall, valid_cpu) = min(epochs), min(validations)
    print(f"[{name}] train epoch (length_pool {train_args.length_pool}): {train_wall:.2f} s wall, {train_cpu:.2f} s CPU "
          f"(best of {args.epochs}); greedy validation ({len(data['valid'])} words): {valid_wall:.2f} s wall, "
          f"{valid_cpu:.2f} s CPU; 20 epochs + validation ~ {20 * (train_wall + valid_wall):.0f} s wall, "
          f"{20 * (train_cpu + valid_cpu):.0f} s CPU")
    if args.baseline:
        _, stepwise, _ = timed(lambda: stepwise_epoch(model, data["train"], optimizer, criterion, train_args, shuffle,
                                                      device))
        model.eval()
        _, one_by_one, _ = timed(lambda: course_loop(model, data["valid"], tgt_vocab, len(data["valid"]), 50))
        print(f"[{name}] baseline: stepwise teacher-forced epoch {stepwise:.2f} s wall, validation one word at a "
              f"time {one_by_one:.2f} s; 20 epochs ~ {20 * (stepwise + valid_wall):.0f} s with batched validation, "
              f"{20 * (stepwise + one_by_one):.0f} s with one word at a time")
    model.eval()
    test = data["test"]
    sampler = torch.Generator(device).manual_seed(0)
    decoders = {
        "greedy": q3.greedy_batch,
        "nucleus p=0.8": partial(q3.nucleus_batch, p=0.8, generator=sampler),
        "beam 5": partial(q3.beam_search_batch, beam_size=5),
    }
    for label, decode in decoders.items():
        _, wall, cpu = timed(lambda: q3.decode_corpus(partial(decode, model, max_len=50), test.src,
                                                      test.src_lengths, tgt_vocab, device))
        print(f"[{name}] decoding, {label}: {len(test) / wall:,.0f} words/s wall, {len(test) / cpu:,.0f} per CPU s")
    n = min(args.course_words, len(test))
    _, wall, cpu = timed(lambda: course_loop(model, test, tgt_vocab, n, 50))
    print(f"[{name}] decoding, course's one-word-at-a-time greedy loop: {n / wall:,.0f} words/s wall, "
          f"{n / cpu:,.0f} per CPU s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data_dir", default="data/")
    parser.add_argument("--course_words", type=int, default=200)
    parser.add_argument("--length_pool", type=int, default=1, help="as hw2-q3.py train; 20 trades accuracy for speed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baseline", action="store_true", help="also time the straightforward implementation")
    args = parser.parse_args(argv)
    device = utils.resolve_device(args.device, flag="--device")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), device {device}")
    data, src_vocab, tgt_vocab = utils.load_p2g(args.data_dir)
    lstm_floor(data["train"], args, device)
    step_breakdown(data, (len(src_vocab), len(tgt_vocab)), args, device)
    for use_attn in (False, True):
        bench(use_attn, data, src_vocab, tgt_vocab, args, device)


if __name__ == "__main__":
    utils.run_main(main)
