"""Q3.1b: the student's BahdanauAttention, alone and inside their Decoder, judged by behaviour.

The skeleton's decoder calls attention one step at a time, (B, 1, H); its docstring allows (B, T, H).
Attention that only works for one step is judged at one step (and warned of once), so that its real
faults are still found. The formula is found by shape, then confirmed by behaviour: the student's
learnable weights of the statement's shapes are tried in every role, the statement's output computed
from them in float64, and the closest reading must equal the student's output; when none does, the
variants that students write instead (softmax over the wrong axis, no tanh) say what the code computes.
"""
import dataclasses
import itertools
from dataclasses import dataclass

import torch
from torch import nn

from utils import configure_seed

from .student import describe_error, student_frame
from .tensors import (HIDDEN, TOLERANCE, build_seq2seq, describe_value, expect_finite, expect_pair, expect_tensor,
                      has_shape, max_difference, own_arguments_departure, padded_batch, target_columns, targets,
                      tiny_inputs)
from .tracing import OpsRecorded, forward_hooks
from .verdicts import breaks, cannot_judge, departs, needs

FORMULA_TOLERANCE = 1e-4  # float32 against float64 with the same weights, even N(0, 1) ones
QUERY_STEPS = 4  # a query of several steps, (B, T, H), as the skeleton's docstring allows
ONE_STEP_CALL = "attention(query (B, 1, H), encoder_outputs (B, S, H), src_lengths (B,))"
FLAT_CALL = "attention(query (B, H), encoder_outputs (B, S, H), src_lengths (B,)), as your decoder calls it,"
SKELETON_DOCSTRING = ("the skeleton's docstring of BahdanauAttention.forward: query (batch_size, max_tgt_len, "
                      "hidden_size)")


@dataclass
class AttentionProfile:
    """How the student's attention can be called (a probe of tiny calls, cheap enough to repeat per check)."""

    problem: str = ""  # why it cannot be used at all ('' when it can)
    problem_is_students: bool = False  # the problem is an exception raised in the student's files
    returns_pair: int = 0  # the length of the tuple it returns, 0 for a tensor
    several_steps: str = ""  # what a query of several steps does wrong ('' when it works)
    wrong_softmax: str = ""  # the softmax it calls over another axis than the source positions ('' when none)
    flat_query: bool = False  # it takes one step's query as (B, H), as the student's own decoder hands it
    runs: bool = False  # with a problem: one step still gives a tensor (B, 1, ...), of the wrong size

    @property
    def one_step_only(self):
        return bool(self.several_steps)


def build_attention(st):
    configure_seed(0)
    return st.models.BahdanauAttention(HIDDEN).to(st.device).eval()


def first_tensor(value):
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return value


def softmax_over_wrong_axis(ops, S):
    """What the first softmax of `ops` that normalises another axis than the S source positions does, or ''."""
    for op in ops:
        scores, dim = op.input, op.arguments.get("dim")
        if not isinstance(scores, torch.Tensor) or scores.dim() == 0:
            continue
        dim = (0 if scores.dim() in (1, 3) else 1) if dim is None else dim  # torch's implicit softmax dim
        if scores.shape[dim] != S:
            consequence = ": every weight is 1" if scores.shape[dim] == 1 else ""
            return (f"the softmax normalises dim={dim} of the scores {tuple(scores.shape)}, an axis of "
                    f"{scores.shape[dim]}, not the S = {S} source positions{consequence} (at "
                    f"{op.where or 'your attention'}); alpha_ti normalises e_ti over the source positions i")
    return ""


def probe(st):
    """The AttentionProfile of the student's attention: (B, 1, H) queries first, then (B, T, H); B, T, S and
    H all differ, so the axis each softmax normalises is known by its size."""
    if not hasattr(st.models, "BahdanauAttention"):
        return AttentionProfile("models.py defines no BahdanauAttention", problem_is_students=True)
    B, S = 3, 6
    query = torch.randn(B, QUERY_STEPS, HIDDEN, generator=torch.Generator().manual_seed(3)).to(st.device)
    encoder_outputs = torch.randn(B, S, HIDDEN, generator=torch.Generator().manual_seed(4)).to(st.device)
    src_lengths = torch.tensor([6, 3, 5], device=st.device)
    profile = AttentionProfile(flat_query=decoders_query_rank(st) == 2)
    call = FLAT_CALL if profile.flat_query else ONE_STEP_CALL
    try:
        attn = build_attention(st)
        with OpsRecorded({"softmax"}, st.wrote) as softmaxes:
            raw = [one_step(profile, attn, query[:, t:t + 1], encoder_outputs, src_lengths) for t in range(QUERY_STEPS)]
    except (Exception, SystemExit) as error:
        return AttentionProfile(f"{call} raises {describe_error(error, st.folder)}",
                                problem_is_students=student_frame(error, st.folder) is not None)
    steps = [output for _, output in raw]
    if not all(has_shape(step, (B, 1, HIDDEN)) for step in steps):
        runs = all(isinstance(step, torch.Tensor) and tuple(step.shape[:2]) == (B, 1) for step in steps)
        return AttentionProfile(f"{call} gives {describe_value(steps[0])}, expected (B, 1, H) = {(B, 1, HIDDEN)}"
                                f"{' once unsqueezed' if profile.flat_query else ''}", problem_is_students=True,
                                flat_query=profile.flat_query, runs=runs, several_steps="is not tried")
    profile.returns_pair = len(raw[0][0]) if isinstance(raw[0][0], (tuple, list)) else 0
    profile.wrong_softmax = softmax_over_wrong_axis(softmaxes.ops, S)
    if profile.flat_query:
        profile.several_steps = "is not what it takes: your decoder hands it one step's query as (B, H)"
        return profile
    try:
        whole = first_tensor(attn(query, encoder_outputs, src_lengths))
    except (Exception, SystemExit) as error:
        profile.several_steps = f"raises {describe_error(error, st.folder)}"
        return profile
    if not has_shape(whole, (B, QUERY_STEPS, HIDDEN)):
        profile.several_steps = f"gives {describe_value(whole)}, expected {(B, QUERY_STEPS, HIDDEN)}"
    elif not profile.wrong_softmax and not torch.allclose(whole, torch.cat(steps, dim=1), atol=TOLERANCE,
                                                          equal_nan=True):
        profile.several_steps = "gives other values than queries of one step at a time"
    return profile


def usable_attention(st, any_size=False):
    """(profile, attention) of an attention the check can call; with any_size, one whose outputs have the
    wrong size too (a fact such as the padding's does not depend on it)."""
    profile = probe(st)
    if profile.problem and not (any_size and profile.runs):
        needs(f"not checked: {profile.problem} (see q3.attention.shapes)")
    return profile, build_attention(st)


def decoders_query_rank(st):
    """The rank of the query the student's own Decoder hands its attention: 2 for (B, H), 3 for (B, T, H)
    as the skeleton's docstring has it; None when their decoder with attention does not run."""
    ranks = []

    def hook(module, args, kwargs):
        query = args[0] if args else next(iter(kwargs.values()), None)
        ranks.append(query.dim() if isinstance(query, torch.Tensor) else None)

    try:
        model = build_seq2seq(st, use_attn=True)
        src, src_lengths, tgt, _ = tiny_inputs(st.device)
        handle = model.decoder.attn.register_forward_pre_hook(hook, with_kwargs=True)
        try:
            enc_output, state = model.encoder(src, src_lengths)
            model.decoder(tgt[:, :1], state, enc_output, src_lengths)
        finally:
            handle.remove()
    except (Exception, SystemExit):  # what it raises is for the shape checks to report
        return None
    return ranks[0] if ranks else None


def one_step(profile, attn, query, encoder_outputs, src_lengths):
    """query (B, 1, H) -> (what the attention returns, a tuple too; its output (B, 1, H)), the query handed
    over as (B, H) where the student's decoder does so."""
    returned = attn(query[:, 0] if profile.flat_query else query, encoder_outputs, src_lengths)
    output = first_tensor(returned)
    if profile.flat_query and isinstance(output, torch.Tensor) and output.dim() == 2:
        output = output.unsqueeze(1)
    return returned, output


def attend(profile, attn, query, encoder_outputs, src_lengths):
    """query (B, T, H) -> (B, T, H), one step at a time if only that works."""
    if profile.one_step_only:
        return torch.cat([one_step(profile, attn, query[:, t:t + 1], encoder_outputs, src_lengths)[1]
                          for t in range(query.shape[1])], dim=1)
    return first_tensor(attn(query, encoder_outputs, src_lengths))


def steps_note(profile):
    shape = "(B, H)" if profile.flat_query else "(B, 1, H)"
    return f" (one step at a time, {shape}, as your decoder calls it: see q3.attention.shapes)" \
        if profile.one_step_only else ""


def decoder_outputs(st, use_attn):
    """The student's decoder's outputs for a full target and for its first column, and the target's shape."""
    model = build_seq2seq(st, use_attn)
    src, src_lengths, tgt, _ = tiny_inputs(st.device)
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
    outputs, step, (B, T) = decoder_outputs(st, use_attn=True)
    try:
        plain, _, _ = decoder_outputs(st, use_attn=False)
        columns = plain.shape[1] if isinstance(plain, torch.Tensor) and plain.dim() == 3 else None
    except (Exception, SystemExit):  # the decoder's own fault, which q3.decoder.shapes reports
        columns = None
    columns = target_columns(outputs, T) if columns is None else columns
    if columns is None:
        breaks(f"decoder with attention, a full target (B, T) = {(B, T)}: expected outputs (B, T-1, H), found "
               f"{describe_value(outputs)}")
    expect_tensor(outputs, (B, columns, HIDDEN), "decoder with attention, a full target (the same as without)")
    expect_tensor(step, (B, 1, HIDDEN), "decoder with attention, one column (B, 1, H)")
    if profile.returns_pair:
        departs(f"attention returns a tuple of {profile.returns_pair} (the first of shape (B, T, H)), where the "
                f"skeleton's is one tensor (B, T, H), the attention-enhanced states, as its decoder loop uses it "
                f"(output = self.attn(output, encoder_outputs, src_lengths)); your decoder with attention gives "
                f"the right shapes, so it works as submitted")
    own_arguments_departure(st, "BahdanauAttention")
    if profile.flat_query:
        departs(f"attention takes one step's query as (B, H), as your decoder hands it, where "
                f"{SKELETON_DOCSTRING}; it works as submitted, and the other attention checks call it so")
    if profile.one_step_only:
        departs(f"attention works for a query of one step (B, 1, H), as your decoder calls it, but a "
                f"query of {QUERY_STEPS} steps (B, T, H) {profile.several_steps}; {SKELETON_DOCSTRING}; "
                f"the other attention checks use one step at a time")
    return (f"attention (B, T, H) for queries of 1 and {QUERY_STEPS} steps; decoder with attention: outputs "
            f"(B, {'T-1' if columns == T - 1 else 'T'}, H) as without, one column (B, 1, H)")


def check_attention_padding(st):
    profile, attn = usable_attention(st, any_size=True)
    B, S, lengths = 3, 6, (6, 2, 4)
    generator = torch.Generator().manual_seed(5)
    query = torch.randn(B, QUERY_STEPS, HIDDEN, generator=generator).to(st.device)
    encoder_outputs = torch.randn(B, S, HIDDEN, generator=generator).to(st.device)
    src_lengths = torch.tensor(lengths, device=st.device)
    padded = torch.arange(S, device=st.device).unsqueeze(0) >= src_lengths.unsqueeze(1)  # (B, S)
    changed = torch.where(padded.unsqueeze(-1), 10 * torch.randn_like(encoder_outputs), encoder_outputs)
    axis = " (see q3.attention.formula: the softmax normalises another axis than the source positions)"
    out = attend(profile, attn, query, encoder_outputs, src_lengths)
    expect_finite(out, f"the attention output for src_lengths {list(lengths)} padded to S = {S}"
                       + (axis if profile.wrong_softmax else ""))
    if profile.wrong_softmax:
        needs("not checked: which positions get weight depends on the softmax's axis" + axis)
    perturbed = max_difference(out, attend(profile, attn, query, changed, src_lengths))
    alones = [attend(profile, attn, query[row:row + 1], encoder_outputs[row:row + 1, :length],
                     src_lengths[row:row + 1])[0] for row, length in enumerate(lengths)]
    if any(alone.shape != out[row].shape for row, alone in enumerate(alones)):
        needs(f"not checked alone: {profile.problem} (see q3.attention.shapes)")
    alone = max(max_difference(out[row], alones[row]) for row in range(B))
    if perturbed > TOLERANCE:
        breaks(f"src_lengths {lengths} padded to S = {S}: changing the encoder outputs at padded positions changes "
               f"the output (by {perturbed:.2g}): padding gets weight; set padded scores to -inf before the softmax "
               f"(e = e.masked_fill(~mask, float('-inf')): keep its result; 0 is not enough, exp(0) is not 0)"
               f"{steps_note(profile)}")
    if alone > TOLERANCE:
        breaks(f"src_lengths {lengths} padded to S = {S}: padding gets no weight, but a word's output alone differs "
               f"from inside the padded batch (by {alone:.2g}); is the softmax taken over the source positions?"
               f"{steps_note(profile)}")
    return "padded source positions get zero weight" + steps_note(profile)


@dataclass
class Affine:
    """One learnable weight of the student's (and its bias), read as x -> x W^T + b."""

    name: str
    weight: torch.Tensor  # (out features, in features)
    bias: torch.Tensor = None
    sources: frozenset = frozenset()  # the names of the student's parameters it reads
    whole: str = ""  # the name of the H x 2H weight it is the first or second half of ('': a weight of its own)

    def __call__(self, x):
        y = x.double() @ self.weight.detach().double().T
        return y if self.bias is None else y + self.bias.detach().double()


def learnable_maps(module, owner):
    """Every learnable weight of `module` as the Affines it can be read as. A layer of torch's
    own (LSTM, embedding) is not a candidate: only nn.Linear and the module's raw parameters."""
    maps = [Affine(f"{owner}.{name}", layer.weight, layer.bias, frozenset({name}))
            for name, layer in module.named_modules() if isinstance(layer, nn.Linear) and layer.weight.requires_grad]
    owners = dict(module.named_modules())
    for name, parameter in module.named_parameters():
        holder = owners.get(name.rpartition(".")[0])
        if not parameter.requires_grad or type(holder).__module__.startswith("torch.nn"):
            continue
        source = frozenset({name})
        if parameter.dim() == 2:
            maps += [Affine(f"{owner}.{name}", parameter.T, None, source),
                     Affine(f"{owner}.{name}.T", parameter, None, source)]
        elif parameter.dim() == 1:
            maps.append(Affine(f"{owner}.{name}", parameter.unsqueeze(0), None, source))
    return maps


def shaped(maps, out_features, in_features):
    return [m for m in maps if tuple(m.weight.shape) == (out_features, in_features)]


def side_by_side(maps, H=HIDDEN):
    """Every pair of H x H maps that the statement's H x 2H weights can be read as, in either order: (W_s, W_h)
    on [s; h_i] and W_out on [c_t; s]. Two weights of different parameters, or the two halves of one H x 2H
    weight (its bias goes with the first half)."""
    halves = [(Affine(f"{m.name}[:, :H]", m.weight[:, :H], m.bias, m.sources, m.name),
               Affine(f"{m.name}[:, H:]", m.weight[:, H:], None, m.sources, m.name)) for m in shaped(maps, H, 2 * H)]
    return ([(a, b) for a, b in itertools.permutations(shaped(maps, H, H), 2) if a.sources != b.sources]
            + [pair for first, second in halves for pair in ((first, second), (second, first))])


@dataclass
class Reading:
    """Which of the student's weights play W_s, W_h, v and W_out = [W_out's half on c_t, its half on s]."""

    W_s: Affine
    W_h: Affine
    v: Affine
    W_out: tuple = None  # None: the attention returns c_t itself

    def output(self, query, h, softmax_axis=-1, tanh=True):
        """The statement's tanh(W_out [c_t; s]) from these weights (a variant: the softmax's axis, no tanh)."""
        e = self.v(torch.tanh(self.W_s(query).unsqueeze(2) + self.W_h(h).unsqueeze(1))).squeeze(-1)  # (B, T, S)
        context = torch.softmax(e, dim=softmax_axis) @ h.double()
        return context if self.W_out is None else self.enhanced(context, query, tanh)

    def enhanced(self, context, query, tanh=True):
        enhanced = self.W_out[0](context) + self.W_out[1](query)
        return torch.tanh(enhanced) if tanh else enhanced

    def roles(self):
        """{role: (the student's weight that plays it, whether it has a bias)}."""
        found = {role: (m.name, m.bias is not None) for role, m in (("W_s", self.W_s), ("W_h", self.W_h),
                                                                     ("v", self.v))}
        if self.W_out:
            on_context, on_query = self.W_out
            name = f"[{on_context.name} {on_query.name}]"
            if on_context.whole:  # the two halves of one weight, in its order or the other way round
                name = on_context.whole if on_context.name.endswith("[:, :H]") else (
                    f"{on_context.whole}, concatenated as [s; c], the same up to the order of W_out's columns")
            found["W_out"] = (name, any(m.bias is not None for m in self.W_out))
        return found


def readings(maps):
    """Every assignment of the student's weights to the statement's roles, each weight in one role."""
    pairs = side_by_side(maps)
    return [Reading(W_s, W_h, v, W_out)
            for (W_s, W_h), v, W_out in itertools.product(pairs, shaped(maps, 1, HIDDEN), [*pairs, None])
            if W_out is None or not (W_out[0].sources | W_out[1].sources) & (W_s.sources | W_h.sources | v.sources)]


# (what the student's attention does instead, keyword arguments of Reading.output)
VARIANTS = (("", {}),
            ("softmax over the target steps, the wrong axis: alpha = softmax(e) over the source positions i, "
             "the last axis of e (B, T, S)", {"softmax_axis": 1}),
            ("no tanh around W_out [c_t; s]", {"tanh": False}))


def closest_reading(candidates, query, h, observed):
    """(difference, Reading, variant description) of the reading and variant closest to `observed`."""
    return min([(max_difference(reading.output(query, h, **options), observed), reading, variant)
                for reading in candidates for variant, options in VARIANTS], key=lambda tried: tried[0])


def found_parameters(module):
    return ", ".join(f"{name} {tuple(p.shape)}" for name, p in module.named_parameters() if p.requires_grad) or "none"


def described(reading):
    return ", ".join(f"{role} = {name}" for role, (name, _) in reading.roles().items())


def verdict(reading, where):
    """The formula's PASS message, or its WARN when a weight carries a bias the statement has none of."""
    message = f"the statement's formula, with {described(reading)}{where}"
    biased = [name for name, bias in reading.roles().values() if bias]
    if biased:
        departs(f"{message}; but {', '.join(biased)} {'has a bias' if len(biased) == 1 else 'have biases'}, which "
                f"the statement's formulas have none of (nn.Linear(..., bias=False))")
    return message


def missing_weights(st, note=""):
    """Breaks when the learnable weights the statement's formulas need are not among the parameters of the
    student's attention (W_out may sit in their Decoder instead): read off the parameters alone, so that it
    is reported even where the attention cannot be run."""
    try:
        attn = build_attention(st)
    except (Exception, SystemExit):  # it cannot be built: q3.attention.shapes says why
        return
    maps, found = learnable_maps(attn, "self"), found_parameters(attn)
    if not readings(maps):
        breaks(f"no learnable W_s, W_h (H x H) and v (H) among your attention's parameters (found: {found}); the "
               f"statement's e_ti = v^T tanh(W_s s + W_h h_i){note}")
    try:
        decoder = build_seq2seq(st, use_attn=True).decoder
    except (Exception, SystemExit):
        return
    outside = [m for m in learnable_maps(decoder, "the Decoder's self")
               if not m.name.startswith("the Decoder's self.attn.")]
    if not any(r.W_out for r in readings(maps)) and not side_by_side(outside):
        breaks(f"no learnable W_out (H x 2H) among your attention's parameters (found: {found}) or your Decoder's "
               f"outside it; the statement's s~_t = tanh(W_out [c_t; s]) with W_out learnable{note}")


def check_attention_formula(st):
    profile = probe(st)
    if profile.problem:
        missing_weights(st)
    profile, attn = usable_attention(st)
    if profile.wrong_softmax:
        breaks(profile.wrong_softmax)
    note = steps_note(profile)
    B, S, generator = 8, 5, torch.Generator().manual_seed(7)
    query = 0.5 * torch.randn(B, 1 if profile.one_step_only else QUERY_STEPS, HIDDEN, generator=generator).to(st.device)
    h = (0.5 * torch.randn(B, S, HIDDEN, generator=generator)).to(st.device)
    src_lengths = torch.full((B,), S, device=st.device)
    observed = attend(profile, attn, query, h, src_lengths)
    expect_tensor(observed, query.shape, "attention output")
    missing_weights(st, note)
    candidates = readings(learnable_maps(attn, "self"))
    difference, reading, variant = closest_reading(candidates, query, h, observed)
    if difference < FORMULA_TOLERANCE and not variant:
        return verdict(reading, note) if reading.W_out else formula_in_decoder(st, profile, reading, note)
    if not any(r.W_out for r in candidates):
        breaks(f"no learnable W_out (H x 2H) among your attention's parameters (found: {found_parameters(attn)}); "
               f"the statement's s~_t = tanh(W_out [c_t; s]) with W_out learnable{note}")
    if difference < FORMULA_TOLERANCE:
        breaks(f"{variant}: your attention computes exactly that, with {described(reading)}{note}")
    if observed.abs().max() > 1:
        breaks(f"the output takes values outside [-1, 1] (up to {float(observed.abs().max()):.2f}), so it is not "
               f"tanh(W_out [c_t; s]): is there a layer after the tanh?{note}")
    unused = unused_parameters(attn, lambda: attend(profile, attn, query, h, src_lengths))
    if unused:
        breaks(f"your attention's output does not depend on {', '.join(unused)} (no gradient reaches "
               f"{'it' if len(unused) == 1 else 'them'}): the statement's formulas use each of W_s, W_h, v and "
               f"W_out once{note}")
    breaks(f"the output is not the statement's tanh(W_out [c_t; s]) with c_t = sum_i softmax(e_t)_i h_i and "
           f"e_ti = v^T tanh(W_s s + W_h h_i), for any reading of your parameters (the closest is off by "
           f"{difference:.2g}; query (B, T, H) = {tuple(query.shape)}, h (B, S, H) = {tuple(h.shape)}, no padding)"
           f"{note}")


def unused_parameters(module, output):
    """The names of `module`'s learnable parameters that no gradient of output().sum() reaches."""
    module.zero_grad(set_to_none=True)
    with torch.enable_grad():
        output().sum().backward()
    return [f"self.{name}" for name, p in module.named_parameters()
            if p.requires_grad and (p.grad is None or not bool(p.grad.any()))]


def formula_in_decoder(st, profile, reading, note):
    """Attention that returns the context c_t itself: the decoder must then compute tanh(W_out [c_t; s])
    (missing_weights has found a W_out for it). The decoder's LSTM outputs are its queries, on a
    padding-free batch in eval mode."""
    model = build_seq2seq(st, use_attn=True)
    src, src_lengths = padded_batch((5,) * 16, 11, st.device, seed=8)
    tgt, _ = targets((6,) * 16, st.device, seed=9)
    lstms = [m for m in model.decoder.modules() if isinstance(m, nn.LSTM)]
    if len(lstms) != 1:
        cannot_judge(f"the Decoder has {len(lstms)} nn.LSTM layers, expected one: cannot tell its queries")
    seen = []
    with forward_hooks((lstms[0], lambda module, inputs, output: seen.append(output[0]))):
        enc_output, state = model.encoder(src, src_lengths)
        outputs, _ = model.decoder(tgt, state, enc_output, src_lengths)
    if not all(isinstance(s, torch.Tensor) and s.dim() == 3 for s in seen):
        cannot_judge("the Decoder's LSTM gives no batch-first (B, T, H) outputs: cannot tell its queries")
    lstm_outputs = torch.cat(seen, dim=1)
    if not has_shape(outputs, lstm_outputs.shape):
        cannot_judge(f"the decoder's outputs {describe_value(outputs)} do not line up with its LSTM's "
                     f"{tuple(lstm_outputs.shape)}: cannot tell which query each output answers")
    context = attend(profile, model.decoder.attn, lstm_outputs, enc_output, src_lengths)
    if max_difference(outputs, context) < FORMULA_TOLERANCE:
        breaks(f"your attention returns the context c_t = sum_i alpha_i h_i itself and your decoder outputs it as it "
               f"is: no W_out, no tanh, no [c_t; s]; the statement's attention-enhanced state is "
               f"tanh(W_out [c_t; s]){note}")
    where = f"; W_out sits in your Decoder: attention returns c_t, the decoder computes tanh(W_out [c_t; s]){note}"
    candidates = [dataclasses.replace(reading, W_out=W_out)
                  for W_out in side_by_side(learnable_maps(model.decoder, "the Decoder's self"))]
    difference, best = min([(max_difference(c.enhanced(context, lstm_outputs), outputs), c) for c in candidates],
                           key=lambda tried: tried[0])
    if difference > FORMULA_TOLERANCE:
        breaks(f"your attention returns the context c_t itself, and your decoder's output is not tanh(W_out [c_t; s]) "
               f"for W_out = {best.roles()['W_out'][0]} (off by {difference:.2g}){note}")
    return verdict(best, where)
