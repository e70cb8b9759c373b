"""The benchmark scripts run end to end on the small real slices and print every line they promise."""
import re

import pytest

from helpers import INTEL_SLICE, run_script, slice_data
from skeleton_students import SKELETON


def test_bench_q2_prints_a_row_per_network_and_precision():
    result = run_script("-m", "benchmarks.bench_q2", "--data_path", INTEL_SLICE, "--steps", "3",
                        "--threads", "1", "--bf16")
    assert result.returncode == 0, result.stderr
    command, versions, _, *lines = result.stdout.splitlines()
    assert re.fullmatch(r"# python -m benchmarks\.bench_q2 --data_path .* --bf16 \(\d{4}-\d\d-\d\d\)", command)
    assert versions.startswith("torch ") and "CPU " in versions
    rows = [line.split() for line in lines]
    assert [(row[0], row[3]) for row in rows] == [("Q2.1", "fp32"), ("Q2.1", "bf16"), ("Q2.2", "fp32"), ("Q2.2", "bf16")]
    assert all(float(value) > 0 for row in rows for value in row[4:])


def test_bench_q3_prints_epochs_the_student_baseline_and_every_decoder(tmp_path):
    data_dir = slice_data(tmp_path / "p2g", n_train=128, n_eval=20)
    result = run_script("-m", "benchmarks.bench_q3", "--epochs", "1", "--data_dir", data_dir, "--course_words", "3",
                        "--baseline")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("# python -m benchmarks.bench_q3 --epochs 1 ")
    assert re.search(r"\[attention\] \(B, T, S, H\) scores tensor: \d+% padding over S; tanh [\d.]+ ms, sigmoid", out)
    for model in ("no attention", "attention"):
        assert re.search(rf"\[{model}\] train epoch .* 20 epochs \+ validation ~ \d+ s wall", out)
        assert re.search(rf"\[{model}\] baseline: stepwise teacher-forced epoch [\d.]+ s wall", out)
        for decoder in ("greedy", "nucleus p=0.8", "beam 5", "course's one-word-at-a-time greedy loop"):
            assert re.search(rf"\[{model}\] decoding, {re.escape(decoder)}: [\d,]+ words/s wall", out), decoder


@pytest.mark.skipif(not SKELETON.is_dir(), reason=f"the course's skeleton is not at {SKELETON}")
def test_bench_checker_checks_every_folder_it_builds_and_says_how_long():
    result = run_script("-m", "benchmarks.bench_checker", "--folders", "1")
    assert result.returncode == 0, result.stderr
    command, cpu, timing = result.stdout.splitlines()
    assert command.startswith("# python -m benchmarks.bench_checker --folders 1 (") and cpu.startswith("CPU ")
    assert re.match(r"1 of 1 folders checked in \d+ s wall \(check_homework\.py's exit status 0", timing)
