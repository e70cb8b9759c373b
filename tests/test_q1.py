"""Q1: every numerical check passes on fixed seeds, and each one fails when fed a wrong formula."""
import json

import pytest
import torch

import q1_hopfield_check as q1
import utils
from helpers import run_script

TRIALS = 5


@pytest.fixture(scope="module")
def problems():
    return q1.random_problems(TRIALS, torch.Generator().manual_seed(0))


def generator():
    return torch.Generator().manual_seed(0)


def failing(rows):
    return [row["check"] for row in rows if not row["passed"]]


def assert_fails(rows, fragment):
    """The row whose name contains `fragment` reports FAIL."""
    matches = [row for row in rows if fragment in row["check"]]
    assert len(matches) == 1, f"{fragment!r} names {len(matches)} rows"
    assert not matches[0]["passed"], f"{matches[0]['check']} passed with error {matches[0]['error']:.1e}"


def update_without_beta(X, q, beta):
    return X.T @ torch.softmax(X @ q, dim=-1)


# ----------------------------------------------------------------------------- the checks pass


@pytest.mark.parametrize("seed", [0, 1])
def test_every_check_passes(seed):
    rows = q1.run_checks(TRIALS, seed)
    assert len(rows) == 26
    assert failing(rows) == []


@pytest.mark.parametrize("beta", [q1.BETA_ALLOWED[0], 1.0, q1.BETA_ALLOWED[1]])
def test_every_check_passes_at_the_ends_of_the_allowed_betas(beta):
    assert failing(q1.run_checks(TRIALS, seed=2, beta=beta)) == []


def test_run_checks_is_reproducible():
    first, second = q1.run_checks(2, seed=3), q1.run_checks(2, seed=3)
    assert [row["error"] for row in first] == [row["error"] for row in second]


# ----------------------------------------------------------------------------- each check can fail


def test_energy_split_fails_without_the_constant_of_e1(problems):
    rows = q1.check_energy(problems, convex=lambda X, q, beta: (q * q).sum(-1) / 2 + q1.max_norm(X) ** 2 / 2)
    assert_fails(rows, "E(q) = E1(q) + E2(q)")


def test_energy_lower_bound_fails_for_an_energy_that_goes_negative(problems):
    assert_fails(q1.check_energy(problems, convex=lambda X, q, beta: (q * q).sum(-1) / 2), "E(q) >= 0")


def test_lse_checks_fail_when_beta_is_ignored(problems):
    rows = q1.check_lse(problems, lse_fn=lambda beta, z: torch.logsumexp(z, dim=-1))
    assert_fails(rows, "vecmax(z) <= lse(beta, z)")
    assert_fails(rows, "(the limit)")


def test_lse_monotonicity_fails_for_a_gap_that_grows_with_beta(problems):
    rows = q1.check_lse(problems, lse_fn=lambda beta, z: z.max() + 1e-12 * beta)
    assert_fails(rows, "never grows with beta")


def test_gradient_checks_fail_on_wrong_gradients(problems):
    rows = q1.check_gradients(problems, grad_convex=lambda X, q, beta: 2 * q, grad_neg_concave=update_without_beta)
    assert_fails(rows, "grad E1(q) = q")
    assert_fails(rows, "grad(-E2)(q)")


def test_hessian_checks_fail_on_a_wrong_hessian_and_a_non_psd_one(problems):
    rows = q1.check_hessians(problems, hess_convex=lambda X, q, beta: 2 * q1.hess_convex(X, q, beta),
                             hess_neg_concave=lambda X, q, beta: -q1.hess_neg_concave(X, q, beta))
    assert_fails(rows, "Hess E1 = I")
    assert_fails(rows, "Hess(-E2) = beta")
    assert_fails(rows, "Hess(-E2) psd")


def test_psd_check_fails_on_a_non_psd_hessian_of_e1(problems):
    rows = q1.check_hessians(problems, hess_convex=lambda X, q, beta: -q1.hess_convex(X, q, beta))
    assert_fails(rows, "Hess E1 psd")


def test_footnote_checks_fail_on_matrices_that_break_them(problems):
    negated = q1.check_hessians(problems, softmax_jacobian=lambda p: torch.outer(p, p) - torch.diag(p))
    assert_fails(negated, "non-negative diagonal")
    too_heavy = q1.check_hessians(problems, softmax_jacobian=lambda p: torch.diag(p) - 2 * torch.outer(p, p))
    assert_fails(too_heavy, "diagonally dominant")
    lopsided = q1.check_hessians(problems, softmax_jacobian=lambda p: torch.diag(p) - torch.outer(p, p.flip(0)))
    assert_fails(lopsided, "symmetric")


def test_cccp_checks_fail_when_softmax_misses_beta(problems):
    rows = q1.check_cccp(problems, update=update_without_beta)
    assert_fails(rows, "argmin E1 + E2~")
    assert_fails(rows, "the fixed point is stationary")


def test_cccp_checks_fail_on_a_gradient_ascent_step(problems):
    def ascent(X, q, beta):
        return q + 0.1 * (q - q1.grad_neg_concave(X, q, beta))

    rows = q1.check_cccp(problems[:1], update=ascent)  # it runs the full CCCP_MAX_STEPS: one problem is enough
    assert_fails(rows, "E(q_{t+1}) <= E(q_t)")
    assert_fails(rows, "reach a fixed point")


def test_retrieval_checks_fail_for_an_update_that_does_not_move():
    rows = q1.check_retrieval(TRIALS, generator(), update=lambda X, q, beta: q)
    assert_fails(rows, "after one step")
    assert_fails(rows, "same fixed point")
    assert_fails(rows, "global fixed point")


def test_attention_checks_fail_on_a_wrong_update_and_a_wrong_softmax_axis():
    rows = q1.check_attention(TRIALS, generator(), update=update_without_beta,
                              column_form=lambda X, Q, beta: X.T @ torch.softmax(beta * X @ Q.T, dim=-1))
    for fragment in ("scaled_dot_product_attention", "MultiheadAttention", "of Q = softmax(beta Q X^T) X", "column"):
        assert_fails(rows, fragment)


@pytest.mark.parametrize("errors", [[float("nan"), 0.0], [0.0, float("nan")]])
def test_a_nan_error_fails_wherever_it_appears(errors):
    assert not q1.make_row("x", errors, 1e-10)["passed"]
    assert not q1.make_row("x", [q1.violation(*errors)], 1e-10)["passed"]


# ----------------------------------------------------------------------------- the maths, directly


def test_update_is_the_attention_of_a_single_query():
    X = torch.randn(7, 4, generator=generator(), dtype=q1.DTYPE)
    q = torch.randn(4, generator=generator(), dtype=q1.DTYPE)
    beta = 0.5
    expected = q1.attention_row_form(X, q[None], beta)[0]
    assert float(q1.max_abs(q1.hopfield_update(X, q, beta), expected)) < 1e-14


def test_energy_is_non_negative_and_zero_only_at_a_lone_pattern_of_maximal_norm():
    X = torch.tensor([[3.0, 4.0]], dtype=q1.DTYPE)  # N = 1: lse(beta, Xq) = x^T q, log N = 0
    assert float(q1.energy(X, X[0], beta=1.0)) == pytest.approx(0.0, abs=1e-12)
    assert float(q1.energy(X, torch.zeros(2, dtype=q1.DTYPE), beta=1.0)) == pytest.approx(12.5)


# ----------------------------------------------------------------------------- command line


@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "argument --trials: expected at least 1, got 0"),
    (["--trials", "-2"], "argument --trials: expected at least 1, got -2"),
    (["--beta", "0"], "--beta 0.0: expected a value in"),
    (["--beta", "-1"], "--beta -1.0: expected a value in"),
    (["--beta", "nan"], "--beta nan: expected a value in"),
    (["--beta", "1e6"], "--beta 1000000.0: expected a value in"),
    (["--seed", "x"], "invalid int value"),
])
def test_bad_arguments_are_one_line_errors(args, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        utils.run_main(q1.main, [*args, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "error:" in stderr.splitlines()[-1] and message in stderr.splitlines()[-1]
    assert "Traceback" not in stderr
    assert not any(tmp_path.iterdir())


def test_a_failing_check_makes_the_exit_status_non_zero(monkeypatch, tmp_path, capsys):
    broken = {"check": "a broken identity", "error": 1.0, "tolerance": 1e-10, "passed": False}
    monkeypatch.setattr(q1, "run_checks", lambda trials, seed, beta: [broken])
    with pytest.raises(SystemExit) as exit_info:
        q1.main(["--trials", "1", "--out", str(tmp_path)])
    assert "1 of 1 checks FAILED: a broken identity" in str(exit_info.value.code)
    assert "FAIL" in capsys.readouterr().out
    assert json.loads((tmp_path / "checks.json").read_text())["rows"] == [broken]


def test_script_end_to_end_writes_the_table_and_the_figures(tmp_path):
    result = run_script("q1_hopfield_check.py", "--trials", "2", "--plot", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Arguments:") and "'trials': 2" in lines[0]
    assert lines[1].split() == ["check", "worst", "error", "tolerance", "result"]
    table = lines[2:2 + 26]
    assert all(line.endswith("PASS") for line in table)

    saved = json.loads((tmp_path / "checks.json").read_text())
    assert saved["args"]["trials"] == 2 and len(saved["rows"]) == 26
    markdown = (tmp_path / "checks.md").read_text()
    assert "| # | check | worst error | tolerance | result |" in markdown and markdown.count("| PASS |") == 26
    for stem in ("cccp_energy", "retrieval"):
        for suffix in ("png", "pdf"):
            assert (tmp_path / f"{stem}.{suffix}").stat().st_size > 1000
