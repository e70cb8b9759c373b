#!/usr/bin/env python
"""Training and evaluation speed of the two Q2 networks, as hw2-q2.py runs them.

    python -m benchmarks.bench_q2                       # both networks, 1 and 2 threads
    python -m benchmarks.bench_q2 --steps 300 --bf16    # also time bfloat16 autocast
    python -m benchmarks.bench_q2 --plain_loader        # Q2.1, the plain implementation to compare with

Prints training images/s, the seconds one epoch (train + validation) takes at that
speed, and evaluation images/s. The first steps are warm-up and are not timed.
"""
import time

import torch
from torch import nn

import utils
from benchmarks.common import cpu_name, driver, invocation
from models import CNN


def time_training(q2, model, X, y, batch_size, steps, bf16, warmup=20):
    optimizer = q2.make_optimizer("sgd", model.parameters(), 0.01, 0.0)
    generator = torch.Generator().manual_seed(0)
    batches = []
    while len(batches) < warmup + steps:
        batches += q2.shuffled_batches(len(y), batch_size, generator)
    model.train()
    with torch.autocast(X.device.type, dtype=torch.bfloat16, enabled=bf16):
        for i, index in enumerate(batches):
            if i == warmup:
                start = time.perf_counter()
            elif i == warmup + steps:
                break
            q2.train_batch(X[index], y[index], model, optimizer, nn.NLLLoss())
    return steps * batch_size / (time.perf_counter() - start)


def time_evaluation(q2, model, X, y):
    start = time.perf_counter()
    q2.evaluate(model, X, y, nn.NLLLoss())
    return len(y) / (time.perf_counter() - start)


def time_plain_loader(X, y, val_X, val_y, batch_size, steps, thread_counts):
    """Seconds per Q2.1 epoch of a plain implementation, the "before" of the speed-ups.

    Per-sample `TensorDataset` indexing and default collation through a shuffling
    `DataLoader`, the default memory format and SGD, and evaluation of the whole
    validation set in one batch, as the course's own loop does.
    """
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=batch_size,
                                         shuffle=True, generator=torch.Generator().manual_seed(0))
    for threads in thread_counts:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = CNN(0.1, batch_norm=False).to(X.device)
        optimizer, criterion = torch.optim.SGD(model.parameters(), lr=0.01), nn.NLLLoss()
        model.train()
        for step, (images, labels) in enumerate(loader):
            if step == 20:  # warm-up done
                start = time.perf_counter()
            elif step == 20 + steps:
                break
            optimizer.zero_grad()
            criterion(model(images), labels).backward()
            optimizer.step()
        train_speed = steps * batch_size / (time.perf_counter() - start)
        start = time.perf_counter()
        model.eval()
        with torch.inference_mode():
            model(val_X)
        evaluation = time.perf_counter() - start
        print(f"Q2.1, plain DataLoader, {threads} thread(s): {train_speed:.0f} training images/s, "
              f"{len(y) / train_speed + evaluation:.1f} s per epoch (validation {evaluation:.1f} s)", flush=True)


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__)
    parser.add_argument("--data_path", default="data/intel_landscapes_48x48.npz")
    parser.add_argument("--steps", type=int, default=300, help="timed training steps per configuration")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--bf16", action="store_true", help="also time bfloat16 autocast")
    parser.add_argument("--no_channels_last", action="store_true", help="also time the default memory format")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    parser.add_argument("--plain_loader", action="store_true",
                        help="only time Q2.1 as a plain per-sample DataLoader implementation would train it")
    opt = parser.parse_args(argv)
    q2 = driver("hw2-q2")
    device = utils.resolve_device(opt.device, flag="--device")
    data = utils.load_intel(opt.data_path)
    (train_X, train_y), (val_X, val_y) = ([t.to(device) for t in data[split]] for split in ("train", "val"))
    print(invocation(__spec__.name, argv))
    print(f"torch {torch.__version__}, device {device}, CPU {cpu_name()}")
    if opt.plain_loader:
        time_plain_loader(train_X, train_y, val_X, val_y, opt.batch_size, opt.steps, opt.threads)
        return
    formats = [True] + ([False] if opt.no_channels_last else [])
    precisions = [False] + ([True] if opt.bf16 else [])
    print(f"{'network':8} {'threads':>7} {'layout':>13} {'dtype':>5} {'train img/s':>11} "
          f"{'s/epoch':>8} {'eval img/s':>10}")
    for batch_norm, network in ((False, "Q2.1"), (True, "Q2.2")):
        for threads in opt.threads:
            torch.set_num_threads(threads)
            for channels_last in formats:
                layout = torch.channels_last if channels_last else torch.contiguous_format
                X, vX = (t.contiguous(memory_format=layout) for t in (train_X, val_X))
                for bf16 in precisions:
                    torch.manual_seed(0)
                    model = CNN(0.1, batch_norm=batch_norm).to(device, memory_format=layout)
                    train_speed = time_training(q2, model, X, train_y, opt.batch_size, opt.steps, bf16)
                    eval_speed = time_evaluation(q2, model, vX, val_y)
                    epoch = len(train_y) / train_speed + len(val_y) / eval_speed
                    print(f"{network:8} {threads:>7} {'channels-last' if channels_last else 'contiguous':>13} "
                          f"{'bf16' if bf16 else 'fp32':>5} {train_speed:>11.0f} {epoch:>8.1f} {eval_speed:>10.0f}",
                          flush=True)


if __name__ == "__main__":
    utils.run_main(main)
