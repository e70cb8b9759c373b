"""Q3 speed: seconds per training epoch and decoding words per second.

    python -m benchmarks.bench_q3 [--epochs 2] [--threads 1] [--length_pool 1] [--data_dir data/] [--baseline] [--device cpu]

Trains each model (without, with attention) for a few epochs with the statement's
hyperparameters, timing each epoch and the greedy validation pass, then times decoding
of the test set with that model: batched greedy, nucleus (p = 0.8), beam 5, and the
course's one-word-at-a-time greedy loop on a subset. With --baseline, also times the
way a typical student implementation trains and validates: teacher forcing one target
position at a time, and validation one word at a time. Timings on a shared machine are noisy.
"""
import time

import torch

import utils
from benchmarks.common import cpu_name, driver, invocation
from checker.course import course_greedy
from models import reshape_state


q3 = driver("hw2-q3")


def timed(function):
    """-> (result, wall seconds, CPU seconds of this process).

    On a shared machine the CPU seconds estimate what the wall time would be on an idle
    core (the runs are single-threaded), when the wall time mostly measures waiting.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


# the statement's hyperparameters (hw2-q3.py's defaults)
LR, BATCH_SIZE, HIDDEN_SIZE, DROPOUT, SEED = 0.003, 64, 128, 0.3, 42


def course_loop(model, split, tgt_vocab, n_words, max_len):
    """The course driver's decoding, one word at a time."""
    return [tgt_vocab.decode(course_greedy(model, reshape_state, *split.batch(torch.tensor([i]))[:2],
                                                 max_len)[0].tolist()) for i in range(n_words)]


def stepwise_logits(model, src, src_lengths, tgt):
    """Teacher forcing one target position at a time, as the course's decoder loop does."""
    encoder_outputs, dec_state = model.encoder(src, src_lengths)
    dec_state, memory = reshape_state(dec_state), model.decoder.memory(encoder_outputs, src_lengths)
    outputs = []
    for t in range(tgt.shape[1] - 1):
        output, dec_state, _ = model.decoder.step(tgt[:, t:t + 1], dec_state, memory)
        outputs.append(output)
    return model.generator(torch.cat(outputs, dim=1))  # (B, T-1, V)


def stepwise_epoch(model, split, optimizer, criterion, generator, device):
    model.train()
    for indices in q3.length_pooled_batches(split.src_lengths, BATCH_SIZE, generator, 1):
        src, src_lengths, tgt = (t.to(device) for t in split.batch(indices))
        q3.train_step(model, stepwise_logits(model, src, src_lengths, tgt), tgt, optimizer, criterion)


def attention_scores_cost(split, batch_size, hidden_size, device, n_batches=20):
    """How much of attention's (B, T, S, H) tensor is padding in shuffled training batches,
    and how long tanh (the statement's) and, for comparison, sigmoid take over it."""
    shuffle = torch.Generator().manual_seed(0)
    batches = q3.length_pooled_batches(split.src_lengths, batch_size, shuffle, 1)[:n_batches]
    padding, tanh_ms, sigmoid_ms = [], 0.0, 0.0
    with torch.inference_mode():
        for indices in batches:
            src, src_lengths, tgt = split.batch(indices)
            padding.append(1 - float(src_lengths.sum()) / src.numel())
            x = torch.randn(len(indices), tgt.shape[1] - 1, src.shape[1], hidden_size, device=device)
            tanh_ms += 1000 * timed(lambda: torch.tanh(x))[1]
            sigmoid_ms += 1000 * timed(lambda: torch.sigmoid(x))[1]
    print(f"[attention] (B, T, S, H) scores tensor: {100 * sum(padding) / len(padding):.0f}% padding over S; "
          f"tanh {tanh_ms / len(batches):.2f} ms, sigmoid {sigmoid_ms / len(batches):.2f} ms per batch")


def bench(use_attn, data, src_vocab, tgt_vocab, device, epochs, length_pool=1, baseline=False, course_words=200):
    """Time `epochs` training epochs and validations of the statement's model, then each decoding."""
    utils.configure_seed(SEED)
    config = {"hidden_size": HIDDEN_SIZE, "dropout": DROPOUT, "use_attn": use_attn}
    model = q3.build_model(config, len(src_vocab), len(tgt_vocab)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    criterion = torch.nn.CrossEntropyLoss(ignore_index=utils.PAD_IDX)
    shuffle = torch.Generator().manual_seed(SEED)
    name = "attention" if use_attn else "no attention"
    train_times, validations = [], []
    for _ in range(epochs):
        train_times.append(timed(lambda: q3.train_epoch(model, data["train"], optimizer, criterion, BATCH_SIZE, shuffle,
                                                        device, length_pool=length_pool))[1:])
        validations.append(timed(lambda: q3.evaluate_greedy(model, data["valid"], tgt_vocab, 50, device))[1:])
    (train_wall, train_cpu), (valid_wall, valid_cpu) = min(train_times), min(validations)
    print(f"[{name}] train epoch (length_pool {length_pool}): {train_wall:.2f} s wall, {train_cpu:.2f} s CPU "
          f"(best of {epochs}); greedy validation ({len(data['valid'])} words): {valid_wall:.2f} s wall, "
          f"{valid_cpu:.2f} s CPU; 20 epochs + validation ~ {20 * (train_wall + valid_wall):.0f} s wall, "
          f"{20 * (train_cpu + valid_cpu):.0f} s CPU")
    if baseline:
        _, stepwise, _ = timed(lambda: stepwise_epoch(model, data["train"], optimizer, criterion, shuffle, device))
        model.eval()
        _, one_by_one, _ = timed(lambda: course_loop(model, data["valid"], tgt_vocab, len(data["valid"]), 50))
        print(f"[{name}] baseline: stepwise teacher-forced epoch {stepwise:.2f} s wall, validation one word at a "
              f"time {one_by_one:.2f} s; 20 epochs ~ {20 * (stepwise + valid_wall):.0f} s with batched validation, "
              f"{20 * (stepwise + one_by_one):.0f} s with one word at a time")
    model.eval()
    test = data["test"]
    sampler = torch.Generator(device).manual_seed(0)
    decodings = {"greedy": {}, "nucleus p=0.8": {"topp": 0.8, "generator": sampler}, "beam 5": {"beam_size": 5}}
    for label, decoding in decodings.items():
        _, wall, cpu = timed(lambda: q3.spell(model, test.src, test.src_lengths, tgt_vocab, 50, device, **decoding))
        print(f"[{name}] decoding, {label}: {len(test) / wall:,.0f} words/s wall, {len(test) / cpu:,.0f} per CPU s")
    n = min(course_words, len(test))
    _, wall, cpu = timed(lambda: course_loop(model, test, tgt_vocab, n, 50))
    print(f"[{name}] decoding, course's one-word-at-a-time greedy loop: {n / wall:,.0f} words/s wall, "
          f"{n / cpu:,.0f} per CPU s")


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    print(invocation(__spec__.name, argv))
    print(f"torch {torch.__version__}, {args.threads} thread(s), device {device}, CPU {cpu_name()}")
    data, src_vocab, tgt_vocab = utils.load_p2g(args.data_dir)
    attention_scores_cost(data["train"], BATCH_SIZE, HIDDEN_SIZE, device)
    for use_attn in (False, True):
        bench(use_attn, data, src_vocab, tgt_vocab, device, args.epochs, length_pool=args.length_pool,
              baseline=args.baseline, course_words=args.course_words)


if __name__ == "__main__":
    utils.run_main(main)
