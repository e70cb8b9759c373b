"""The benchmark scripts run end to end on the small real slices and print every line they promise."""
import re

from conftest import run_script
from q3_support import slice_data


def test_bench_q2_prints_a_row_per_network_and_precision(intel_slice):
    result = run_script("-m", "benchmarks.bench_q2", "--data_path", intel_slice, "--steps", "3",
                        "--threads", "1", "--bf16")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [(row[0], row[3]) for row in rows] == [("Q2.1", "fp32"), ("Q2.1", "bf16"), ("Q2.2", "fp32"), ("Q2.2", "bf16")]
    assert all(float(value) > 0 for row in rows for value in row[4:])


def test_bench_q3_prints_the_lstm_floor_step_parts_epochs_and_every_decoder(tmp_path):
    data_dir = slice_data(tmp_path / "p2g", n_train=128, n_eval=20)
    result = run_script("-m", "benchmarks.bench_q3", "--epochs", "1", "--data_dir", data_dir, "--course_words", "3")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    floor = re.search(r"LSTM arithmetic: .* at (\d+) GFLOP/s; .* passes (\d+) GFLOP, ([\d.]+) s an epoch", out)
    assert floor and int(floor.group(1)) > 0 and float(floor.group(3)) > 0
    breakdown = re.search(r"\[attention\] ms per training step .*: (.*)", out).group(1)
    parts = dict(part.rsplit(" ", 1) for part in breakdown.split(", "))
    assert list(parts) == ["encoder", "decoder lstm", "attention", "dropout masks", "generator and loss",
                           "clip and adam", "whole step"]
    assert all(float(ms) > 0 for ms in parts.values())
    for model in ("no attention", "attention"):
        assert re.search(rf"\[{model}\] train epoch .* 20 epochs \+ validation ~ \d+ s wall", out)
        for decoder in ("greedy", "nucleus p=0.8", "beam 5", "course's one-word-at-a-time greedy loop"):
            assert re.search(rf"\[{model}\] decoding, {re.escape(decoder)}: [\d,]+ words/s wall", out), decoder
