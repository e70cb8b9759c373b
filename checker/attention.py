"""Q3.1b: the student's BahdanauAttention, alone and inside their Decoder, judged by behaviour.

The skeleton's decoder loop calls attention one step at a time, with a query (B, 1, H);
its docstring allows (B, T, H). Attention that only works for one step is judged at one
step (and the (B, T, H) query is one WARN), so that its real faults are still found.

The formula is checked without reading the student's layers where it can be: with every
encoder output h_i of a word equal to one vector h, the context c_t is h whatever the
weights, so the output must be tanh(W [h; s] + b) for one matrix W, which a least-squares
fit finds (a LayerNorm after the tanh, or a missing tanh, cannot be fitted). With W known,
the context of any input is recovered from the output, must be a weighted average of the
h_i, and its weights are matched to softmax(v^T tanh(W_s s + W_h h_i)) for every way the
student's parameters can play W_s, W_h and v.
"""
import itertools
from dataclasses import dataclass

import torch
from torch import nn

from .student import describe_error, student_location
from .tensors import (HIDDEN, TOLERANCE, build_seq2seq, describe_value, expect_pair, expect_tensor, has_shape,
                      max_difference, padded_batch, seeded, targets, tiny_inputs)
from .verdicts import breaks, cannot_judge, departs, needs

QUERY_STEPS = 4  # a query of several steps, (B, T, H), as the skeleton's docstring allows
SKELETON_DOCSTRING = ("the skeleton's docstring of BahdanauAttention.forward: query (batch_size, max_tgt_len, "
                      "hidden_size)")
FIT_ROWS = 64  # words for the least-squares fit of W (2H + 1 unknowns per output feature)
FIT_TOLERANCE = 1e-4  # in atanh space; float32 rounding stays below 1e-6 while |output| < SATURATED
SATURATED = 0.95  # beyond it atanh magnifies float32 rounding past FIT_TOLERANCE
INPUT_SCALES = (0.5, 0.1, 0.02)  # the largest that leaves the output unsaturated: large weights need small inputs
WEIGHT_TOLERANCE = 1e-3  # on weights recovered through W's inverse
BIAS_TOLERANCE = 1e-3  # on the fitted W_out and its bias, against the student's layer and zero
NEGLIGIBLE = 1e-3  # a part of W this small means the output does not read that input


@dataclass
class AttentionProfile:
    """How the student's attention can be called, probed once per folder."""

    problem: str = ""  # why it cannot be used at all ('' when it can)
    problem_is_students: bool = False  # the problem is an exception raised in the student's files
    returns_pair: int = 0  # the length of the tuple it returns, 0 for a tensor
    several_steps: str = ""  # what a query of several steps does wrong ('' when it works)

    @property
    def one_step_only(self):
        return bool(self.several_steps)


def build_attention(st):
    seeded()
    return st.models.BahdanauAttention(HIDDEN).to(st.device).eval()


def first_tensor(value):
    """A (tensor, weights, ...) tuple -> its first element; anything else as it is."""
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return value


def call_description(steps):
    return f"attention(query (B, {steps}, H), encoder_outputs (B, S, H), src_lengths (B,))"


def probe(st):
    """The AttentionProfile of the student's attention: (B, 1, H) queries first, then (B, T, H)."""
    if "attention" in st.cache:
        return st.cache["attention"]
    profile = AttentionProfile()
    st.cache["attention"] = profile
    if not hasattr(st.models, "BahdanauAttention"):
        profile.problem, profile.problem_is_students = "models.py defines no BahdanauAttention", True
        return profile
    B, S = 3, 6
    query = torch.randn(B, QUERY_STEPS, HIDDEN, generator=torch.Generator().manual_seed(3)).to(st.device)
    encoder_outputs = torch.randn(B, S, HIDDEN, generator=torch.Generator().manual_seed(4)).to(st.device)
    src_lengths = torch.tensor([6, 3, 5], device=st.device)
    try:
        attn = build_attention(st)
        with torch.no_grad():
            raw = [attn(query[:, t:t + 1], encoder_outputs, src_lengths) for t in range(QUERY_STEPS)]
    except (Exception, SystemExit) as error:
        profile.problem = f"{call_description(1)} raises {describe_error(error, st.folder)}"
        profile.problem_is_students = bool(student_location(error, st.folder))
        return profile
    if isinstance(raw[0], (tuple, list)):
        profile.returns_pair = len(raw[0])
    steps = [first_tensor(value) for value in raw]
    if not all(has_shape(step, (B, 1, HIDDEN)) for step in steps):
        profile.problem = (f"{call_description(1)} gives {describe_value(steps[0])}, expected (B, 1, H) = "
                           f"{(B, 1, HIDDEN)}")
        profile.problem_is_students = True
        return profile
    try:
        with torch.no_grad():
            whole = first_tensor(attn(query, encoder_outputs, src_lengths))
    except (Exception, SystemExit) as error:
        profile.several_steps = f"raises {describe_error(error, st.folder)}"
        return profile
    if not has_shape(whole, (B, QUERY_STEPS, HIDDEN)):
        profile.several_steps = f"gives {describe_value(whole)}, expected {(B, QUERY_STEPS, HIDDEN)}"
    elif max_difference(whole, torch.cat(steps, dim=1)) > TOLERANCE:
        profile.several_steps = (f"gives other values than {QUERY_STEPS} queries of one step (by "
                                 f"{max_difference(whole, torch.cat(steps, dim=1)):.2g})")
    return profile


def usable_attention(st):
    """(profile, a fresh attention module), or a skip that points at q3.attention.shapes."""
    profile = probe(st)
    if profile.problem:
        needs(f"not checked: {profile.problem} (see q3.attention.shapes)")
    return profile, build_attention(st)


def attend(profile, attn, query, encoder_outputs, src_lengths):
    """The student's attention of query (B, T, H) -> (B, T, H), one step at a time if only that works."""
    if profile.one_step_only:
        return torch.cat([first_tensor(attn(query[:, t:t + 1], encoder_outputs, src_lengths))
                          for t in range(query.shape[1])], dim=1)
    return first_tensor(attn(query, encoder_outputs, src_lengths))


def steps_note(profile):
    return " (one step at a time, as your decoder calls it: see q3.attention.shapes)" if profile.one_step_only else ""


# ----------------------------------------------------------------------------- q3.attention.shapes


def decoder_columns(st, use_attn):
    """Output columns of the student's decoder for a full target, with or without attention."""
    model = build_seq2seq(st.models, st.device, use_attn)
    src, src_lengths, tgt, _ = tiny_inputs(st.device)
    with torch.no_grad():
        enc_output, state = model.encoder(src, src_lengths)
        outputs, _ = expect_pair(model.decoder(tgt, state, enc_output, src_lengths),
                                 f"decoder {'with' if use_attn else 'without'} attention (tgt, ...)")
        step, _ = model.decoder(tgt[:, :1], state, enc_output, src_lengths)
    return outputs, step, tgt.shape


def check_attention_shapes(st):
    profile = probe(st)
    if profile.problem:
        if profile.problem_is_students:
            breaks(profile.problem)
        cannot_judge(f"not checked: {profile.problem}")
    if profile.returns_pair:
        breaks(f"attention returns a tuple of {profile.returns_pair} (the first of shape (B, T, H)); the contract is "
             f"one tensor (B, T, H), the attention-enhanced states, as the skeleton's decoder loop uses it: "
             f"output = self.attn(output, encoder_outputs, src_lengths)")
    outputs, step, (B, T) = decoder_columns(st, use_attn=True)
    try:
        plain, _, _ = decoder_columns(st, use_attn=False)
        columns = plain.shape[1] if isinstance(plain, torch.Tensor) and plain.dim() == 3 else None
    except (Exception, SystemExit):  # the decoder's own fault, which q3.decoder.shapes reports
        columns = None
    if columns is None:
        if not (isinstance(outputs, torch.Tensor) and outputs.dim() == 3 and outputs.shape[1] in (T - 1, T)):
            breaks(f"decoder with attention, a full target (B, T) = {(B, T)}: expected outputs (B, T-1, H), found "
                 f"{describe_value(outputs)}")
        columns = outputs.shape[1]
    expect_tensor(outputs, (B, columns, HIDDEN), "decoder with attention, a full target (the same as without)")
    expect_tensor(step, (B, 1, HIDDEN), "decoder with attention, one column (B, 1, H)")
    if profile.one_step_only:
        departs(f"attention works for a query of one step (B, 1, H), as your decoder calls it, but a "
                          f"query of {QUERY_STEPS} steps (B, T, H) {profile.several_steps}; {SKELETON_DOCSTRING}; "
                          f"the other attention checks use one step at a time")
    return (f"attention (B, T, H) for queries of 1 and {QUERY_STEPS} steps; decoder with attention: outputs "
            f"(B, {'T-1' if columns == T - 1 else 'T'}, H) as without, one column (B, 1, H)")


# ----------------------------------------------------------------------------- q3.attention.padding


def check_attention_padding(st):
    profile, attn = usable_attention(st)
    B, S, lengths = 3, 6, (6, 2, 4)
    generator = torch.Generator().manual_seed(5)
    query = torch.randn(B, QUERY_STEPS, HIDDEN, generator=generator).to(st.device)
    encoder_outputs = torch.randn(B, S, HIDDEN, generator=generator).to(st.device)
    src_lengths = torch.tensor(lengths, device=st.device)
    padded = torch.arange(S, device=st.device).unsqueeze(0) >= src_lengths.unsqueeze(1)  # (B, S)
    changed = torch.where(padded.unsqueeze(-1), 10 * torch.randn_like(encoder_outputs), encoder_outputs)
    with torch.no_grad():
        out = attend(profile, attn, query, encoder_outputs, src_lengths)
        perturbed = max_difference(out, attend(profile, attn, query, changed, src_lengths))
        alone = max(max_difference(out[row], attend(profile, attn, query[row:row + 1],
                                                    encoder_outputs[row:row + 1, :length],
                                                    src_lengths[row:row + 1])[0])
                    for row, length in enumerate(lengths))
    if perturbed > TOLERANCE:
        breaks(f"changing the encoder outputs at padded positions changes the output (by {perturbed:.2g}): padding "
             f"gets weight; set padded scores to -inf before the softmax (e = e.masked_fill(~mask, float('-inf')): "
             f"keep its result; 0 is not enough, exp(0) is not 0){steps_note(profile)}")
    if alone > TOLERANCE:
        breaks(f"padding gets no weight, but a word's output alone differs from inside a padded batch (by "
             f"{alone:.2g}); is the softmax taken over the source positions?{steps_note(profile)}")
    return "padded source positions get zero weight" + steps_note(profile)


# ----------------------------------------------------------------------------- q3.attention.formula


@dataclass
class OutputMap:
    """y = tanh(c A + s B + b), fitted: the statement's tanh(W_out [c; s]) with W_out = [A^T B^T] (and a bias)."""

    context_part: torch.Tensor  # A (H, H), float64
    query_part: torch.Tensor  # B (H, H)
    bias: torch.Tensor  # b (H,)

    def __call__(self, context, query):
        return torch.tanh(context.double() @ self.context_part + query.double() @ self.query_part + self.bias)

    def context(self, output, query):
        """The context c that gives `output` for `query`, through A's inverse."""
        z = torch.atanh(output.double()) - query.double() @ self.query_part - self.bias
        return torch.linalg.solve(self.context_part.T, z.reshape(-1, z.shape[-1]).T).T.reshape(z.shape)


def fit_output_map(output, context, query):
    """(OutputMap, '') if output (..., H) = tanh([context; query] W + b) for one W, else (None, why not)."""
    y = output.double().reshape(-1, output.shape[-1])
    x = torch.cat([context, query], dim=-1).double().reshape(-1, 2 * output.shape[-1])
    x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype, device=x.device)], dim=1)
    if not torch.isfinite(y).all():
        return None, "holds NaN or infinite values"
    if y.abs().max() > 1:
        return None, (f"takes values outside [-1, 1] (up to {float(y.abs().max()):.2f}), so it is not a tanh: "
                      f"is there a layer after tanh(W_out [c_t; s])?")
    if y.abs().max() >= SATURATED:
        cannot_judge(f"not checked: the output saturates (|value| up to {float(y.abs().max()):.6f}) even for "
                           f"small inputs, so its formula cannot be told from float32 rounding")
    solution = torch.linalg.lstsq(x, torch.atanh(y)).solution
    if (x @ solution - torch.atanh(y)).abs().max() > FIT_TOLERANCE:
        linear = torch.linalg.lstsq(x, y).solution
        if (x @ linear - y).abs().max() < FIT_TOLERANCE:
            return None, "is W_out [c_t; s] without the tanh"
        return None, ("is not tanh(W [c_t; s]) for any matrix W: is there a layer after the tanh, or does it read "
                      "something other than c_t and s?")
    H = output.shape[-1]
    return OutputMap(solution[:H], solution[H:2 * H], solution[2 * H]), ""


def map_problem(output_map):
    """What the fitted output map leaves out of [c_t; s] ('' when it reads both)."""
    if output_map.query_part.abs().max() < NEGLIGIBLE:
        return "does not read the query s: W_out [c_t; s] concatenates the context and the query"
    if output_map.context_part.abs().max() < NEGLIGIBLE:
        return "does not read the context c_t"
    return ""


def weights_problem(context, encoder_outputs):
    """'' if every context (B, T, H) is sum_i alpha_i h_i with alpha a distribution over the h_i (B, S, H)."""
    A = encoder_outputs.double().transpose(1, 2)  # (B, H, S)
    rhs = context.double().transpose(1, 2)  # (B, H, T)
    alpha = torch.linalg.lstsq(A, rhs).solution  # (B, S, T)
    if (A @ alpha - rhs).abs().max() > WEIGHT_TOLERANCE:
        return "c_t is not a weighted sum of the encoder outputs h_i"
    sums = alpha.sum(dim=1)
    if (sums - 1).abs().max() > WEIGHT_TOLERANCE:
        return (f"c_t = sum_i alpha_i h_i with weights that sum to {float(sums.min()):.3g}..{float(sums.max()):.3g}, "
                f"not 1: alpha = softmax(e) over the source positions (the last axis of e (B, T, S))")
    if alpha.min() < -WEIGHT_TOLERANCE:
        return f"c_t = sum_i alpha_i h_i with negative weights (down to {float(alpha.min()):.3g}): alpha = softmax(e)"
    return ""


def linear_map(layer):
    return lambda x: layer(x.to(layer.weight.dtype)).double()


def matrix_map(matrix, transpose=False, bias=None):
    matrix = (matrix.T if transpose else matrix).detach().double()
    offset = 0 if bias is None else bias.detach().double()
    return lambda x: x.double() @ matrix + offset


def raw_parameters(module):
    """(name, parameter) of `module` that belong to no nn.Linear inside it."""
    owners = dict(module.named_modules())
    for name, parameter in module.named_parameters():
        owner = owners.get(name.rpartition(".")[0])
        if not isinstance(owner, nn.Linear):
            yield name, parameter


def score_readings(attn):
    """[(roles, W_s, W_h, v)]: every way the student's parameters can play the statement's W_s, W_h and v."""
    H = HIDDEN
    squares, vectors, joint = [], [], []
    for name, layer in attn.named_modules():
        if isinstance(layer, nn.Linear):
            shape = (layer.in_features, layer.out_features)
            if shape == (H, H):
                squares.append((f"self.{name}", linear_map(layer)))
            elif shape == (H, 1):
                vectors.append((f"self.{name}", linear_map(layer)))
            elif shape == (2 * H, H):  # W [s; h_i] reads like W_s s + W_h h_i
                weight = layer.weight
                joint.append(((f"self.{name}[:, :H]", matrix_map(weight[:, :H], True, layer.bias)),
                              (f"self.{name}[:, H:]", matrix_map(weight[:, H:], True))))
    for name, parameter in raw_parameters(attn):
        if tuple(parameter.shape) == (H, H):
            squares += [(f"self.{name}", matrix_map(parameter)), (f"self.{name}.T", matrix_map(parameter, True))]
        elif parameter.numel() == H and parameter.dim() <= 2:
            vectors.append((f"self.{name}", matrix_map(parameter.reshape(H, 1))))
    pairs = list(itertools.permutations(squares, 2)) + joint + [(b, a) for a, b in joint]
    return [((s_name, h_name, v_name), W_s, W_h, v)
            for ((s_name, W_s), (h_name, W_h)), (v_name, v) in itertools.product(pairs, vectors)]


def best_reading(attn, query, encoder_outputs, predict, observed):
    """The reading of the student's parameters whose softmax(v^T tanh(W_s s + W_h h_i)) weights, through
    `predict(context)`, come closest to `observed` -> (difference, roles), or None without any reading."""
    tries = []
    h = encoder_outputs.double()
    with torch.no_grad():
        for roles, W_s, W_h, v in score_readings(attn):
            e = v(torch.tanh(W_s(query).unsqueeze(2) + W_h(encoder_outputs).unsqueeze(1))).squeeze(-1)  # (B, T, S)
            context = torch.bmm(torch.softmax(e.double(), dim=-1), h)
            tries.append((max_difference(predict(context), observed), roles))
    return min(tries, key=lambda item: item[0]) if tries else None


def output_layer_name(modules, output_map):
    """How the student's own 2H -> H layer matches the fitted map: ('self.W_out', order) or (None, None)."""
    fitted = torch.cat([output_map.context_part.T, output_map.query_part.T], dim=1)  # (H, 2H), as [c; s]
    swapped = torch.cat([output_map.query_part.T, output_map.context_part.T], dim=1)
    for owner, module in modules:
        for name, layer in module.named_modules():
            if isinstance(layer, nn.Linear) and tuple(layer.weight.shape) == tuple(fitted.shape):
                for reading, order in ((fitted, "[c; s]"), (swapped, "[s; c]")):
                    if max_difference(layer.weight, reading) < BIAS_TOLERANCE:
                        return f"{owner}.{name}", order
    return None, None


def formula_verdict(roles, output_map, where, owners):
    """The formula's verdict once the output map and the weights are known to be right."""
    layer, order = output_layer_name(owners, output_map)
    W_out = f"W_out = {layer}" if layer else "W_out found by its behaviour (not one 2H -> H nn.Linear)"
    concatenation = {"[s; c]": "; concatenated as [s; c] rather than [c; s], the same up to the order of W_out's "
                               "columns",
                     "[c; s]": ", concatenated as [c; s]"}.get(order, "")
    message = (f"the statement's formula, with W_s = {roles[0]}, W_h = {roles[1]}, v = {roles[2]}, {W_out}"
               f"{concatenation}{where}")
    if output_map.bias.abs().max() > BIAS_TOLERANCE:
        departs(f"{message}; but W_out has a bias, which the statement's tanh(W_out [c_t; s_(t-1)]) has none "
                          f"(nn.Linear(2 * hidden_size, hidden_size, bias=False))")
    return message


def random_inputs(B, T, S, seed, device, scale=INPUT_SCALES[0]):
    generator = torch.Generator().manual_seed(seed)
    query = scale * torch.randn(B, T, HIDDEN, generator=generator)
    encoder_outputs = scale * torch.randn(B, S, HIDDEN, generator=generator)
    return query.to(device), encoder_outputs.to(device), torch.full((B,), S, device=device)


def check_attention_formula(st):
    profile, attn = usable_attention(st)
    steps = 1 if profile.one_step_only else QUERY_STEPS
    B, S = FIT_ROWS, 5  # 64 distinct contexts h, so that W's context part and bias are told apart
    note = steps_note(profile)
    for scale in INPUT_SCALES:
        query, encoder_outputs, src_lengths = random_inputs(B, steps, S, seed=6, device=st.device, scale=scale)
        same = encoder_outputs[:, :1].expand(B, S, HIDDEN).contiguous()  # c_t = h whatever the weights
        with torch.no_grad():
            out_same = attend(profile, attn, query, same, src_lengths)
        expect_tensor(out_same, (B, steps, HIDDEN), "attention output")
        if not SATURATED <= float(out_same.abs().max()) <= 1:  # float32 tanh saturates at exactly 1
            break
    if max_difference(out_same, same[:, :steps]) < TOLERANCE:
        return formula_in_decoder(st, profile, attn, note)
    output_map, problem = fit_output_map(out_same, same[:, :steps], query)
    if output_map is None:
        breaks(f"with every h_i of a word equal to one vector h (so that c_t = h for any weights that sum to 1), the "
             f"output {problem}{note}")
    problem = map_problem(output_map)
    if problem:
        breaks(f"the output is tanh of a linear map that {problem}{note}")
    query, encoder_outputs, src_lengths = random_inputs(B, steps, S, seed=7, device=st.device, scale=scale)
    with torch.no_grad():
        out = attend(profile, attn, query, encoder_outputs, src_lengths)
    problem = weights_problem(output_map.context(out, query), encoder_outputs)
    if problem:
        breaks(f"the output is tanh(W_out [x; s]), but for x: {problem}{note}")
    reading = best_reading(attn, query, encoder_outputs, lambda context: output_map(context, query), out)
    return judge_scores(reading, attn, output_map, note, [("self", attn)])


def judge_scores(reading, attn, output_map, note, owners):
    """PASS, FAIL or WARN from how the student's parameters read as the scores' W_s, W_h and v."""
    if reading is None:
        found = ", ".join(f"{name or 'self'} {tuple(p.shape)}" for name, p in attn.named_parameters()) or "none"
        departs(f"the output is tanh(W_out [c_t; s]) with c_t a weighted average of the h_i, but no "
                          f"parameters read as W_s, W_h (H x H) and v (H) (found: {found}), so the scores "
                          f"e = v^T tanh(W_s s + W_h h_i) are not checked{note}")
    difference, roles = reading
    if difference > FIT_TOLERANCE:
        breaks(f"the weights are not softmax(e) with e = v^T tanh(W_s s + W_h h_i) for any reading of your "
             f"parameters as W_s, W_h and v: closest W_s = {roles[0]}, W_h = {roles[1]}, v = {roles[2]}, off by "
             f"{difference:.2g}{note}")
    return formula_verdict(roles, output_map, note, owners)


def formula_in_decoder(st, profile, attn, note):
    """Attention that returns the context c_t itself: the decoder must then compute tanh(W_out [c_t; s])."""
    query, encoder_outputs, src_lengths = random_inputs(FIT_ROWS // 4, 4, 5, seed=7, device=st.device)
    with torch.no_grad():
        context = attend(profile, attn, query, encoder_outputs, src_lengths)
    problem = weights_problem(context, encoder_outputs)
    if problem:
        breaks(f"your attention returns the context itself, but {problem}{note}")
    reading = best_reading(attn, query, encoder_outputs, lambda c: c, context)
    if reading is not None and reading[0] > FIT_TOLERANCE:
        roles = reading[1]
        breaks(f"the weights are not softmax(e) with e = v^T tanh(W_s s + W_h h_i) for any reading of your "
             f"parameters as W_s, W_h and v: closest W_s = {roles[0]}, W_h = {roles[1]}, v = {roles[2]}, off by "
             f"{reading[0]:.2g}{note}")
    outputs, lstm_outputs, model, decoder_context = decoder_pass(st, profile)
    if max_difference(outputs, decoder_context) < TOLERANCE:
        breaks(f"your attention returns the context c_t = sum_i alpha_i h_i itself and your decoder outputs it as it "
             f"is: no W_out, no tanh, no [c_t; s]; the statement's attention-enhanced state is "
             f"tanh(W_out [c_t; s]){note}")
    output_map, problem = fit_output_map(outputs, decoder_context, lstm_outputs)
    if output_map is None:
        breaks(f"your attention returns the context c_t itself, and your decoder's output {problem}; expected "
             f"tanh(W_out [c_t; s]) in one of the two{note}")
    problem = map_problem(output_map)
    if problem:
        breaks(f"your attention returns the context c_t, and your decoder outputs tanh of a linear map that "
             f"{problem}{note}")
    where = f"; W_out sits in your Decoder: attention returns c_t, the decoder computes tanh(W_out [c_t; s]){note}"
    if reading is None:
        departs(f"tanh(W_out [c_t; s]) with c_t a weighted average of the h_i, but no parameters read as "
                          f"W_s, W_h and v, so the scores are not checked{where}")
    return formula_verdict(reading[1], output_map, where, [("self", model.decoder.attn),
                                                           ("the Decoder's self", model.decoder)])


def decoder_pass(st, profile):
    """The student's decoder with attention on a padding-free batch, in eval mode -> (its outputs, the
    outputs of its LSTM (the queries), the model, the context that its attention gives for them)."""
    model = build_seq2seq(st.models, st.device, use_attn=True)
    src, src_lengths = padded_batch((5,) * 16, 11, st.device, seed=8)
    tgt, _ = targets((6,) * 16, st.device, seed=9)
    lstms = [m for m in model.decoder.modules() if isinstance(m, nn.LSTM)]
    if len(lstms) != 1:
        cannot_judge(f"the Decoder has {len(lstms)} nn.LSTM layers, expected one: cannot tell its queries")
    seen = []
    handle = lstms[0].register_forward_hook(lambda module, inputs, output: seen.append(output[0]))
    try:
        with torch.no_grad():
            enc_output, state = model.encoder(src, src_lengths)
            outputs, _ = model.decoder(tgt, state, enc_output, src_lengths)
    finally:
        handle.remove()
    if not all(isinstance(s, torch.Tensor) and s.dim() == 3 for s in seen):
        cannot_judge("the Decoder's LSTM gives no batch-first (B, T, H) outputs: cannot tell its queries")
    lstm_outputs = torch.cat(seen, dim=1)
    if not has_shape(outputs, lstm_outputs.shape):
        cannot_judge(f"the decoder's outputs {describe_value(outputs)} do not line up with its LSTM's "
                           f"{tuple(lstm_outputs.shape)}: cannot tell which query each output answers")
    with torch.no_grad():
        context = attend(profile, model.decoder.attn, lstm_outputs, enc_output, src_lengths)
    return outputs, lstm_outputs, model, context
