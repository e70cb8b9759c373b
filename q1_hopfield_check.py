#!/usr/bin/env python
"""Q1: check numerically every claim of the Q1 derivations (report/q1.md).

Modern Hopfield energy, its convex + concave split, gradients, Hessians and their
positive semi-definiteness, the CCCP update in closed form, retrieval, and the match
with single-head attention. Each check runs on many random problems (float64) and
reports its worst error against a tolerance.

    python q1_hopfield_check.py                 # print the table, write runs/q1/checks.{json,md}
    python q1_hopfield_check.py --plot          # also the report's figures (make q1: into results/q1)

The exit status is 1 if any check fails. Notation: N memory patterns (the rows of
X, shape (N, D)), D the dimension, q a state pattern of shape (D,), beta > 0.
"""
import math
from collections import namedtuple
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import utils

DTYPE = torch.float64

# Random problems of the checks 1-5: sizes drawn per trial so that shape bugs (a
# missing transpose, N confused with D) cannot hide; N = 1 is a legal corner case.
MAX_PATTERNS = 12
MAX_DIM = 10
BETA_RANGE = (0.05, 20.0)  # beta is drawn log-uniformly in this range unless --beta fixes it
BETA_ALLOWED = (1e-3, 1e2)  # beyond 1e2 softmax saturates and autograd's Hessian, the reference, loses digits

# Tolerances. Exact identities differ only by float64 rounding (~1e-16 relative) on
# quantities of size up to ~1e3, so 1e-10 leaves a wide margin yet catches any
# wrong formula, whose error is O(1).
EXACT_TOL = 1e-10
LIMIT_BETA = 1e8  # lse(beta, z) - vecmax(z) <= log(N) / beta <= 2.5e-8 here
LIMIT_TOL = 1e-6
LSE_BETAS = 10.0 ** np.arange(-2, 9)  # the grid on which lse is seen to decrease to vecmax

# Gradient descent on the CCCP surrogate. The surrogate is 1-smooth and 1-strongly convex
# (its Hessian is Hess E1 = I), so a step of 1/2 halves the distance to the minimiser at
# every step; a step of 1 would land on it at once, which would make the check look rigged.
SURROGATE_STEP = 0.5
SURROGATE_GRAD_TOL = 1e-13  # 1-strong convexity: the distance to the minimiser is at most this
SURROGATE_MAX_STEPS = 200

# CCCP iterations stop when a step moves no coordinate by more than this.
CCCP_STEP_TOL = 1e-13
CCCP_MAX_STEPS = 2000

# Retrieval: random +-1 patterns on an 8 x 8 grid are nearly orthogonal (inner
# products ~ +-8 against a squared norm of 64), i.e. well separated.
RETRIEVAL_SIDE = 8
RETRIEVAL_PATTERNS = 8
RETRIEVAL_FLIPS = 6  # ~10% of the 64 signs of the stored pattern are flipped in the query
# x_k^T q0 = 64 - 2 * 6 = 52 against x_i^T q0 ~ +-8 for the other patterns: at beta = 2 the
# softmax is one-hot to float64 precision.
LARGE_BETA = 2.0
# Hess E = I - beta Cov_p(x) >= (1 - beta M^2) I with M^2 = 64: for beta < 1/64 the energy is
# strongly convex, so every start reaches one and the same fixed point, near the mean pattern.
SMALL_BETA = 0.01
RETRIEVAL_TOL = 1e-8
GLOBAL_AVERAGE_TOL = 0.1  # |q* - mean| as a fraction of the distance from the mean to the nearest pattern

# Attention: X of shape (N, D) and queries Q of shape (N_q, D), N_q drawn apart from N.
ATTENTION_MAX_PATTERNS = 12
ATTENTION_MAX_QUERIES = 12
ATTENTION_MAX_DIM = 16

Problem = namedtuple("Problem", "X q beta")


# ----------------------------------------------------------------------------- the maths of Q1


def lse(beta, z):
    """Log-sum-exp with temperature 1/beta over the last axis of z (..., N) -> (...)."""
    return torch.logsumexp(beta * z, dim=-1) / beta


def max_norm(X):
    """M = max_i ||x_i|| over the rows of X (N, D)."""
    return torch.linalg.vector_norm(X, dim=-1).max()


def convex_part(X, q, beta):
    """E1(q) = q^T q / 2 + log(N) / beta + M^2 / 2, for q of shape (..., D)."""
    return (q * q).sum(-1) / 2 + math.log(X.shape[0]) / beta + max_norm(X) ** 2 / 2


def concave_part(X, q, beta):
    """E2(q) = -lse(beta, X q), for q of shape (..., D)."""
    return -lse(beta, q @ X.T)


def energy(X, q, beta):
    """The Hopfield energy (1), E = E1 + E2, for q of shape (..., D)."""
    return convex_part(X, q, beta) + concave_part(X, q, beta)


def energy_from_definition(X, q, beta):
    """Energy (1) written out term by term in NumPy, independently of the functions above."""
    X, q = X.cpu().numpy(), q.cpu().numpy()
    z = X @ q
    shift = z.max()  # exp(beta * z) may overflow; the shift cancels in lse
    lse_value = shift + math.log(sum(math.exp(beta * (z_i - shift)) for z_i in z)) / beta
    M = max(math.sqrt(sum(x_ij**2 for x_ij in x_i)) for x_i in X)
    return -lse_value + math.log(len(X)) / beta + float(q @ q) / 2 + M**2 / 2


def softmax_weights(X, q, beta):
    """p = softmax(beta X q), shape (N,): how much each pattern contributes to the update."""
    return torch.softmax(beta * (X @ q), dim=-1)


def grad_convex(X, q, beta):
    """The claimed gradient of E1: q."""
    return q


def grad_neg_concave(X, q, beta):
    """The claimed gradient of -E2: X^T softmax(beta X q), shape (D,)."""
    return X.T @ softmax_weights(X, q, beta)


def softmax_jacobian(p):
    """diag(p) - p p^T (N, N): the Jacobian of softmax, and the covariance of a one-hot draw from p."""
    return torch.diag(p) - torch.outer(p, p)


def hess_convex(X, q, beta):
    """The claimed Hessian of E1: the identity (D, D)."""
    return torch.eye(q.shape[-1], dtype=q.dtype, device=q.device)


def hess_neg_concave(X, q, beta):
    """The claimed Hessian of -E2: beta X^T (diag(p) - p p^T) X, shape (D, D)."""
    return beta * X.T @ softmax_jacobian(softmax_weights(X, q, beta)) @ X


def hopfield_update(X, q, beta):
    """The CCCP step (3), X^T softmax(beta X q).

    Setting the gradient of the convex surrogate E1 + E2~ to zero gives
    q_{t+1} = grad(-E2)(q_t): the update is that gradient, evaluated at q_t.
    """
    return grad_neg_concave(X, q, beta)


def cccp_trajectory(X, q0, beta, update=hopfield_update):
    """Iterates q_0, q_1, ... of `update` until a step moves no coordinate by more than CCCP_STEP_TOL."""
    iterates = [q0]
    for _ in range(CCCP_MAX_STEPS):
        iterates.append(update(X, iterates[-1], beta))
        if (iterates[-1] - iterates[-2]).abs().max() <= CCCP_STEP_TOL:
            break
    return iterates


def autograd_gradient(fn, q):
    q = q.detach().requires_grad_()
    (gradient,) = torch.autograd.grad(fn(q), q)
    return gradient


def autograd_hessian(fn, q):
    return torch.autograd.functional.hessian(fn, q.detach())


def linearised_concave_part(X, q_t, beta):
    """E2~ around q_t as a function of q, with the gradient of E2 taken by autograd (not from the claim)."""
    q_t = q_t.detach().requires_grad_()
    value = concave_part(X, q_t, beta)
    (slope,) = torch.autograd.grad(value, q_t)
    value, q_t = value.detach(), q_t.detach()
    return lambda q: value + slope @ (q - q_t)


def minimise_surrogate(X, q_t, beta):
    """argmin_q E1(q) + E2~(q) by gradient descent from q_t on autograd gradients: it knows no formula."""
    surrogate = linearised_concave_part(X, q_t, beta)
    q = q_t.detach()
    for _ in range(SURROGATE_MAX_STEPS):
        gradient = autograd_gradient(lambda v: convex_part(X, v, beta) + surrogate(v), q)
        if gradient.abs().max() <= SURROGATE_GRAD_TOL:
            break
        q = q - SURROGATE_STEP * gradient
    return q


def attention_row_form(X, Q, beta):
    """softmax(beta Q X^T) X (N_q, D): one query per row, softmax along each row."""
    return torch.softmax(beta * Q @ X.T, dim=-1) @ X


def attention_column_form(X, Q, beta):
    """X^T softmax(beta X Q^T) (D, N_q): one query per column, softmax down each column."""
    return X.T @ torch.softmax(beta * X @ Q.T, dim=0)


def identity_attention(D, device):
    """nn.MultiheadAttention with one head and identity projections W_Q = W_K = W_V = W_O = I, no bias."""
    attention = nn.MultiheadAttention(D, num_heads=1, bias=False, dtype=DTYPE, device=device)
    identity = torch.eye(D, dtype=DTYPE, device=device)
    with torch.no_grad():
        attention.in_proj_weight.copy_(identity.repeat(3, 1))
        attention.out_proj.weight.copy_(identity)
    return attention


# ----------------------------------------------------------------------------- random problems


def random_problems(trials, generator, beta=None):
    """`trials` problems (X (N, D), q (D,), beta), sizes and beta drawn per trial unless beta is given."""
    problems = []
    log_low, log_high = (math.log(b) for b in BETA_RANGE)
    for _ in range(trials):
        n = int(torch.randint(1, MAX_PATTERNS + 1, (), generator=generator))
        d = int(torch.randint(1, MAX_DIM + 1, (), generator=generator))
        u = float(torch.rand((), generator=generator, dtype=DTYPE))
        X = torch.randn(n, d, generator=generator, dtype=DTYPE)
        q = torch.randn(d, generator=generator, dtype=DTYPE)
        problems.append(Problem(X, q, beta if beta is not None else math.exp(log_low + u * (log_high - log_low))))
    return problems


def sign_patterns(generator):
    """Random +-1 patterns (RETRIEVAL_PATTERNS, RETRIEVAL_SIDE**2): nearly orthogonal, hence well separated."""
    shape = (RETRIEVAL_PATTERNS, RETRIEVAL_SIDE**2)
    return torch.randint(0, 2, shape, generator=generator).to(DTYPE) * 2 - 1


def noisy_copy(x, generator):
    """x (D,) with RETRIEVAL_FLIPS of its signs flipped at random positions."""
    flipped = x.clone()
    flipped[torch.randperm(x.shape[0], generator=generator)[:RETRIEVAL_FLIPS]] *= -1
    return flipped


def retrieval_example(generator):
    """One retrieval problem: patterns X (N, D), the index k of the stored pattern, and its noisy copy q0."""
    X = sign_patterns(generator)
    k = int(torch.randint(0, X.shape[0], (), generator=generator))
    return X, k, noisy_copy(X[k], generator)


# ----------------------------------------------------------------------------- checks


def worst_of(values):
    """The largest value, or NaN if any is NaN (Python's max would keep or drop a NaN depending on order)."""
    values = [float(v) for v in values]
    return math.nan if any(math.isnan(v) for v in values) else max(values)


def violation(*amounts):
    """How far an inequality `amount <= 0` is broken: 0 when it holds, NaN if an amount is NaN."""
    return worst_of([0.0, *amounts])


def make_row(check, errors, tolerance):
    """One row of the table: the worst of `errors` against `tolerance` (a NaN fails)."""
    worst = worst_of(errors)
    return {"check": check, "error": worst, "tolerance": tolerance,
            "passed": math.isfinite(worst) and worst <= tolerance}


def max_abs(a, b):
    return (a - b).abs().max()


def check_energy(problems, convex=convex_part, concave=concave_part):
    """Check 1: E1 + E2 is the energy (1); and E >= 0, the point of the constants in E1."""
    split, lower = [], []
    for X, q, beta in problems:
        total = float(convex(X, q, beta) + concave(X, q, beta))
        split.append(abs(total - energy_from_definition(X, q, beta)))
        lower.append(violation(-total))
    return [
        make_row("E(q) = E1(q) + E2(q), against (1) written out in NumPy", split, EXACT_TOL),
        make_row("E(q) >= 0 (it is >= (||q|| - M)^2 / 2): violation", lower, EXACT_TOL),
    ]


def check_lse(problems, lse_fn=lse):
    """Check 2: vecmax(z) <= lse(beta, z) <= vecmax(z) + log(N)/beta, and lse -> vecmax as beta grows."""
    bounds, limit, monotone = [], [], []
    for X, q, beta in problems:
        z = X @ q
        vecmax, log_n = float(z.max()), math.log(X.shape[0])
        value = float(lse_fn(beta, z))
        bounds.append(violation(vecmax - value, value - vecmax - log_n / beta))
        gaps = [float(lse_fn(float(b), z)) - vecmax for b in LSE_BETAS]
        monotone.append(violation(*np.diff(gaps)))
        limit.append(abs(float(lse_fn(LIMIT_BETA, z)) - vecmax))
    return [
        make_row("vecmax(z) <= lse(beta, z) <= vecmax(z) + log(N)/beta: violation", bounds, EXACT_TOL),
        make_row("lse(beta, z) - vecmax(z) never grows with beta (1e-2..1e8): growth", monotone, EXACT_TOL),
        make_row(f"|lse(beta, z) - vecmax(z)| at beta = {LIMIT_BETA:.0e} (the limit)", limit, LIMIT_TOL),
    ]


def check_gradients(problems, grad_convex=grad_convex, grad_neg_concave=grad_neg_concave):
    """Check 3: the two claimed gradients against autograd."""
    convex, neg_concave = [], []
    for X, q, beta in problems:
        convex.append(max_abs(grad_convex(X, q, beta), autograd_gradient(lambda v: convex_part(X, v, beta), q)))
        neg_concave.append(max_abs(grad_neg_concave(X, q, beta),
                                   autograd_gradient(lambda v: -concave_part(X, v, beta), q)))
    return [
        make_row("grad E1(q) = q, against autograd", convex, EXACT_TOL),
        make_row("grad(-E2)(q) = X^T softmax(beta X q), against autograd", neg_concave, EXACT_TOL),
    ]


def smallest_eigenvalue(A):
    return torch.linalg.eigvalsh(A)[0]


def diagonal_dominance_violation(A):
    """max_i sum_{j != i} |A_ij| - |A_ii|: <= 0 exactly when A is diagonally dominant."""
    diagonal = A.diagonal().abs()
    return (A.abs().sum(-1) - 2 * diagonal).max()


def check_hessians(problems, hess_convex=hess_convex, hess_neg_concave=hess_neg_concave,
                   softmax_jacobian=softmax_jacobian):
    """Check 4: the claimed Hessians against autograd, their psd-ness, and the footnote's route to it."""
    errors = {key: [] for key in ("convex", "neg_concave", "convex_psd", "neg_concave_psd",
                                  "symmetric", "dominant", "diagonal")}
    for X, q, beta in problems:
        H1, H2 = hess_convex(X, q, beta), hess_neg_concave(X, q, beta)
        errors["convex"].append(max_abs(H1, autograd_hessian(lambda v: convex_part(X, v, beta), q)))
        errors["neg_concave"].append(max_abs(H2, autograd_hessian(lambda v: -concave_part(X, v, beta), q)))
        # eigvalsh reads one triangle only, so psd is judged on the symmetric part
        errors["convex_psd"].append(violation(-smallest_eigenvalue((H1 + H1.T) / 2)))
        errors["neg_concave_psd"].append(violation(-smallest_eigenvalue((H2 + H2.T) / 2)))
        J = softmax_jacobian(softmax_weights(X, q, beta))
        errors["symmetric"].append(max_abs(J, J.T))
        errors["dominant"].append(violation(diagonal_dominance_violation(J)))
        errors["diagonal"].append(violation(-J.diagonal().min()))
    return [
        make_row("Hess E1 = I, against autograd", errors["convex"], EXACT_TOL),
        make_row("Hess(-E2) = beta X^T (diag(p) - p p^T) X, against autograd", errors["neg_concave"], EXACT_TOL),
        make_row("Hess E1 psd: -(smallest eigenvalue)", errors["convex_psd"], EXACT_TOL),
        make_row("Hess(-E2) psd: -(smallest eigenvalue)", errors["neg_concave_psd"], EXACT_TOL),
        make_row("diag(p) - p p^T symmetric", errors["symmetric"], EXACT_TOL),
        make_row("diag(p) - p p^T diagonally dominant: violation", errors["dominant"], EXACT_TOL),
        make_row("diag(p) - p p^T has a non-negative diagonal: violation", errors["diagonal"], EXACT_TOL),
    ]


def check_cccp(problems, update=hopfield_update):
    """Check 5: the update solves the CCCP subproblem; the energy descends; the iterates settle."""
    closed_form, majorises, descent, step, stationary = [], [], [], [], []
    for X, q, beta in problems:
        q_next = update(X, q, beta)
        closed_form.append(max_abs(q_next, minimise_surrogate(X, q, beta)))
        # E2 <= E2~ (a concave function lies below its tangents): the step behind the descent
        majorises.append(violation(concave_part(X, q_next, beta) - linearised_concave_part(X, q, beta)(q_next)))
        iterates = cccp_trajectory(X, q, beta, update)
        energies = energy(X, torch.stack(iterates), beta)
        descent.append(violation(energies.diff().max()))
        step.append(max_abs(iterates[-1], iterates[-2]))
        stationary.append(autograd_gradient(lambda v: energy(X, v, beta), iterates[-1]).abs().max())
    return [
        make_row("X^T softmax(beta X q_t) = argmin E1 + E2~ found by gradient descent", closed_form, EXACT_TOL),
        make_row("E2(q_{t+1}) <= E2~(q_{t+1}) (concave below its tangent): violation", majorises, EXACT_TOL),
        make_row("E(q_{t+1}) <= E(q_t) along the CCCP iterates: largest increase", descent, EXACT_TOL),
        make_row(f"iterates reach a fixed point: last step |q_{{T+1}} - q_T| (<= {CCCP_MAX_STEPS} steps)", step,
                 EXACT_TOL),
        make_row("the fixed point is stationary: |grad E(q_T)| by autograd", stationary, EXACT_TOL),
    ]


def global_average_distance(X, fixed_point):
    """|q* - mean of the patterns| in units of the distance from that mean to the nearest pattern."""
    mean = X.mean(0)
    return torch.linalg.vector_norm(fixed_point - mean) / torch.linalg.vector_norm(X - mean, dim=-1).min()


def check_retrieval(trials, generator, update=hopfield_update):
    """Check 6: large beta retrieves a stored pattern in one step; small beta settles on an average."""
    one_step, spread, from_average = [], [], []
    for _ in range(trials):
        X, k, q0 = retrieval_example(generator)
        one_step.append(max_abs(update(X, q0, LARGE_BETA), X[k]))
        starts = [noisy_copy(x, generator) for x in X]
        fixed_points = torch.stack([cccp_trajectory(X, start, SMALL_BETA, update)[-1] for start in starts])
        spread.append(max_abs(fixed_points, fixed_points[0]))
        from_average.append(global_average_distance(X, fixed_points[0]))
    return [
        make_row(f"beta = {LARGE_BETA:g}: |q_1 - x_k| after one step from x_k with {RETRIEVAL_FLIPS} signs flipped",
                 one_step, RETRIEVAL_TOL),
        make_row(f"beta = {SMALL_BETA:g}: every noisy pattern reaches the same fixed point q*: spread",
                 spread, EXACT_TOL),
        make_row(f"beta = {SMALL_BETA:g}: |q* - mean(x_i)| / min_i |x_i - mean(x_i)| (global fixed point)",
                 from_average, GLOBAL_AVERAGE_TOL),
    ]


def check_attention(trials, generator, update=hopfield_update, column_form=attention_column_form):
    """Check 7: with beta = 1/sqrt(D) the Hopfield update of each query row is single-head attention."""
    errors = {key: [] for key in ("sdpa", "mha", "row", "column")}
    for _ in range(trials):
        n = int(torch.randint(1, ATTENTION_MAX_PATTERNS + 1, (), generator=generator))
        n_queries = int(torch.randint(1, ATTENTION_MAX_QUERIES + 1, (), generator=generator))
        d = int(torch.randint(1, ATTENTION_MAX_DIM + 1, (), generator=generator))
        X = torch.randn(n, d, generator=generator, dtype=DTYPE)
        Q = torch.randn(n_queries, d, generator=generator, dtype=DTYPE)
        beta = 1 / math.sqrt(d)
        hopfield_rows = torch.stack([update(X, q, beta) for q in Q])
        # the default scale of scaled_dot_product_attention is 1/sqrt(D): beta is not passed on purpose
        errors["sdpa"].append(max_abs(hopfield_rows, F.scaled_dot_product_attention(Q, X, X)))
        with torch.no_grad():
            attended, _ = identity_attention(d, X.device)(Q, X, X, need_weights=False)
        errors["mha"].append(max_abs(hopfield_rows, attended))
        errors["row"].append(max_abs(hopfield_rows, attention_row_form(X, Q, beta)))
        errors["column"].append(max_abs(column_form(X, Q, beta).T, attention_row_form(X, Q, beta)))
    return [
        make_row("Hopfield update of each row of Q = F.scaled_dot_product_attention(Q, X, X)", errors["sdpa"],
                 EXACT_TOL),
        make_row("Hopfield update of each row of Q = nn.MultiheadAttention (1 head, W = I, no bias)",
                 errors["mha"], EXACT_TOL),
        make_row("Hopfield update of each row of Q = softmax(beta Q X^T) X", errors["row"], EXACT_TOL),
        make_row("(X^T softmax(beta X Q^T), softmax per column)^T = softmax(beta Q X^T) X", errors["column"],
                 EXACT_TOL),
    ]


def run_checks(trials, seed, beta=None):
    """Every row of the table, in the order of the issue (checks 1-7); the same seed gives the same rows."""
    generator = torch.Generator().manual_seed(seed)
    problems = random_problems(trials, generator, beta)
    return [
        *check_energy(problems),
        *check_lse(problems),
        *check_gradients(problems),
        *check_hessians(problems),
        *check_cccp(problems),
        *check_retrieval(trials, generator),
        *check_attention(trials, generator),
    ]


# ----------------------------------------------------------------------------- output


def result(row):
    return "PASS" if row["passed"] else "FAIL"


def format_table(rows):
    """The table as aligned plain text, for the terminal."""
    width = max(len(row["check"]) for row in rows)
    lines = [f"{'check':<{width}}  {'worst error':>11}  {'tolerance':>9}  result"]
    lines += [f"{row['check']:<{width}}  {row['error']:>11.1e}  {row['tolerance']:>9.0e}  {result(row)}"
              for row in rows]
    return "\n".join(lines)


def markdown_table(rows, args):
    """The table as GitHub Markdown, headed by the arguments that produced it."""
    command = " ".join(f"--{key} {value}" for key, value in args.items()
                       if key not in ("out", "plot") and value is not None)
    lines = [
        "# Q1: numerical checks of the derivations",
        "",
        f"`python q1_hopfield_check.py {command}` ({sum(r['passed'] for r in rows)}/{len(rows)} passed)",
        "",
        "Each error is the worst over the trials (float64). A row ending in *violation* or *growth* "
        "reports how far an inequality is broken, 0 when it holds.",
        "",
        "| # | check | worst error | tolerance | result |",
        "|---|---|---|---|---|",
    ]
    for i, row in enumerate(rows, 1):
        check = row["check"].replace("|", r"\|")  # a bare | would end the table cell
        lines.append(f"| {i} | {check} | {row['error']:.1e} | {row['tolerance']:.0e} | {result(row)} |")
    return "\n".join(lines) + "\n"


def plot_cccp_energy(stem, seed):
    """Two-dimensional example: the energy landscape with CCCP paths, and E(q_t) against t."""
    plt = utils.pyplot()

    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(5, 2, generator=generator, dtype=DTYPE) * 1.5
    beta = 2.0
    starts = torch.randn(6, 2, generator=generator, dtype=DTYPE) * 2.5
    paths = [torch.stack(cccp_trajectory(X, q0, beta)) for q0 in starts]
    axis = torch.linspace(-5, 5, 201, dtype=DTYPE)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1)

    fig, (landscape, curves) = plt.subplots(1, 2, figsize=(6.4, 2.9), layout="constrained")
    contour = landscape.contourf(axis, axis, energy(X, grid, beta), levels=30, cmap="viridis")
    fig.get_layout_engine().set(wspace=0.1)  # room between the colour bar's label and the right panel's
    bar = fig.colorbar(contour, ax=landscape)
    bar.set_label("$E(q)$", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    landscape.scatter(X[:, 0], X[:, 1], marker="*", s=90, c="white", edgecolors="black", label="patterns $x_i$",
                      zorder=3)
    for i, path in enumerate(paths):
        color = f"C{i}"
        landscape.plot(path[:, 0], path[:, 1], ".-", color=color, markersize=4)
        landscape.plot(path[0, 0], path[0, 1], "o", color=color, markerfacecolor="none", markersize=5)
        curves.plot(energy(X, path, beta), ".-", color=color, markersize=4, label=f"start {i + 1}")
    landscape.set_aspect("equal")
    landscape.set_xlabel("$q_1$", fontsize=9)
    landscape.set_ylabel("$q_2$", fontsize=9)
    landscape.set_title(rf"CCCP paths on $E$ ($N$ = {len(X)}, $D$ = 2, $\beta$ = {beta:g})", fontsize=9.5)
    landscape.legend(loc="lower right", fontsize=8)
    curves.set_xlabel("CCCP iteration $t$", fontsize=9)
    curves.set_ylabel("$E(q_t)$", fontsize=9)
    curves.set_title("The energy never increases", fontsize=9.5)
    for ax in (landscape, curves):
        ax.tick_params(labelsize=8)
    curves.grid(alpha=0.3)
    curves.legend(fontsize=8, ncols=2)
    utils.save_figure(fig, stem)


def plot_retrieval(stem, seed):
    """8 x 8 +-1 patterns: one step at a large beta restores the stored pattern; a small beta averages them."""
    plt = utils.pyplot()

    X, k, q0 = retrieval_example(torch.Generator().manual_seed(seed))
    large = cccp_trajectory(X, q0, LARGE_BETA)
    small = cccp_trajectory(X, q0, SMALL_BETA)
    images = {
        f"stored $x_{k + 1}$": X[k],
        f"query $q_0$\n({RETRIEVAL_FLIPS} signs flipped)": q0,
        rf"$q_1$, $\beta$ = {LARGE_BETA:g}": large[1],
        f"fixed point,\n" + rf"$\beta$ = {SMALL_BETA:g}": small[-1],
        "mean of\nthe patterns": X.mean(0),
    }

    fig = plt.figure(figsize=(6.4, 3.9), layout="constrained")
    grid = fig.add_gridspec(2, len(images), height_ratios=[1, 1.25])
    for column, (title, image) in enumerate(images.items()):
        ax = fig.add_subplot(grid[0, column])
        ax.imshow(image.reshape(RETRIEVAL_SIDE, RETRIEVAL_SIDE), cmap="gray", vmin=-1, vmax=1)
        ax.set_title(title, fontsize=8.5)
        ax.set_xticks([])
        ax.set_yticks([])
    distances = fig.add_subplot(grid[1, :])
    for beta, path, style in ((LARGE_BETA, large, "-o"), (SMALL_BETA, small, "--s")):
        path = torch.stack(path)
        distances.plot(torch.linalg.vector_norm(path - X[k], dim=-1), style, color="C0", markersize=4,
                       label=rf"$\beta$ = {beta:g}: $\|q_t - x_{k + 1}\|$")
        distances.plot(torch.linalg.vector_norm(path - X.mean(0), dim=-1), style, color="C1", markersize=4,
                       label=rf"$\beta$ = {beta:g}: $\|q_t - \bar{{x}}\|$ (mean)")
    distances.set_xlabel("CCCP iteration $t$", fontsize=9)
    distances.set_ylabel("distance", fontsize=9)
    distances.set_title(rf"$N$ = {len(X)} random $\pm 1$ patterns, $D$ = {X.shape[1]}", fontsize=9.5)
    distances.tick_params(labelsize=8)
    distances.grid(alpha=0.3)
    distances.legend(fontsize=8, ncols=2)
    utils.save_figure(fig, stem)


# ----------------------------------------------------------------------------- command line


def parse_args(argv):
    parser = utils.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seeds every random problem")
    parser.add_argument("--trials", type=utils.count(), default=100, help="random problems per check")
    parser.add_argument("--beta", type=float, default=None,
                        help=f"fix beta in checks 1-5 (default: log-uniform in {BETA_RANGE[0]:g}..{BETA_RANGE[1]:g} "
                             "per trial; checks 6-7 set their own beta)")
    parser.add_argument("--out", default=utils.in_project("runs/q1"),
                        help="folder for checks.json, checks.md and the figures (default: the project's runs/q1)")
    parser.add_argument("--plot", action="store_true", help="also save the figures of the report (PNG and PDF)")
    opt = parser.parse_args(argv)
    parser.check(opt.beta is None or BETA_ALLOWED[0] <= opt.beta <= BETA_ALLOWED[1],
                 f"--beta {opt.beta}: expected a value in [{BETA_ALLOWED[0]:g}, {BETA_ALLOWED[1]:g}] "
                 "(beta is an inverse temperature, > 0; the tolerances assume this range)")
    return opt


def main(argv=None):
    opt = parse_args(argv)
    print("Arguments:", vars(opt))
    # every tensor here is tiny: a second thread only adds synchronisation on a shared machine
    torch.set_num_threads(1)
    rows = run_checks(opt.trials, opt.seed, opt.beta)
    print(format_table(rows))

    out = Path(opt.out)
    utils.write_json(out / "checks.json", {"args": vars(opt), "rows": rows})
    utils.write_text(out / "checks.md", markdown_table(rows, vars(opt)))
    written = [out / "checks.json", out / "checks.md"]
    if opt.plot:
        plot_cccp_energy(out / "cccp_energy", opt.seed)
        plot_retrieval(out / "retrieval", opt.seed)
        written += [out / f"{stem}.{suffix}" for stem in ("cccp_energy", "retrieval") for suffix in ("png", "pdf")]
    print("Wrote", ", ".join(map(str, written)))

    failed = [row["check"] for row in rows if not row["passed"]]
    if failed:
        raise SystemExit(f"{len(failed)} of {len(rows)} checks FAILED: " + "; ".join(failed))
    return rows


if __name__ == "__main__":
    utils.run_main(main)
