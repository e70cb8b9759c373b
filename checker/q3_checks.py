"""Q3 checks by behaviour on tiny inputs: reshape_state, encoder, decoder, the whole model (models.py),
and the next-token rules of hw2-q3.py (attention alone: `attention`). The decoder is judged as the
course's unmodified driver uses it, Seq2Seq logits (B, T-1, V) against tgt[:, 1:]: whether the decoder
or Seq2Seq.forward drops the last target column is the student's choice.
"""
import torch
from torch import nn

from utils import PAD_IDX, SOS_IDX, UNK_IDX, configure_seed

from . import attention
from .driver import judged_by_own_training
from .student import describe_error, error_text, student_frame
from .tensors import (HIDDEN, SRC_LENGTHS, TGT_LENGTHS, TGT_VOCAB, TOLERANCE, build_seq2seq, describe_value,
                      expect_pair, expect_tensor, has_shape, max_difference, own_arguments_departure, padded_batch,
                      target_columns, tiny_inputs)
from .tracing import DROPOUTS, OpsRecorded, drops_in_eval_mode, dropouts_in_eval_mode, forward_hooks
from .verdicts import breaks, departs, needs

NUCLEUS_SUPPORT_DRAWS = 2000
NUCLEUS_FREQUENCY_DRAWS = 6_000  # two kept shares 3 points off give chi-square ~34, past the 21 of alpha 1e-4
CHI_SQUARE_ALPHA = 1e-4  # a correct sampler fails one run in 10,000


def check_reshape_state(st):
    configure_seed(0)
    h, c = (torch.randn(2, 3, HIDDEN // 2, device=st.device) for _ in range(2))
    out = expect_pair(st.models.reshape_state((h, c)), "reshape_state((h, c))")
    for name, part, result in (("h", h, out[0]), ("c", c, out[1])):
        expect_tensor(result, (1, 3, HIDDEN), f"reshape_state: {name} of (2, B, H/2) = {tuple(part.shape)} ->")
        if max_difference(result, torch.cat([part[1], part[0]], -1).unsqueeze(0)) < TOLERANCE:
            breaks(f"{name}: the halves are swapped, found [backward; forward]; expected [forward; backward] "
                   f"(index 0 of the LSTM's final states is the forward direction)")
        if max_difference(result, torch.cat([part[0], part[1]], -1).unsqueeze(0)) > TOLERANCE:
            breaks(f"{name}: expected torch.cat([{name}[0], {name}[1]], dim=-1).unsqueeze(0), found other values")
    return "(2, B, H/2) -> (1, B, H), forward direction first"


def check_encoder_shapes(st):
    model = build_seq2seq(st, use_attn=False)
    src, src_lengths, _, _ = tiny_inputs(st.device)
    B, S = src.shape
    enc_output, state = expect_pair(model.encoder(src, src_lengths), "encoder(src, lengths)")
    expect_tensor(enc_output, (B, S, HIDDEN), "enc_output (B, S, H)")
    h, c = expect_pair(state, "encoder final state (h, c)")
    if has_shape(h, (1, B, HIDDEN)):
        already_joined(st, enc_output, h, src_lengths)
    expect_tensor(h, (2, B, HIDDEN // 2), "final h (2, B, H/2)")
    expect_tensor(c, (2, B, HIDDEN // 2), "final c (2, B, H/2)")
    own_arguments_departure(st, "Encoder")
    return "enc_output (B, S, H), final states (2, B, H/2)"


def already_joined(st, enc_output, h, src_lengths):
    """An encoder whose final states come joined, (1, B, H): a FAIL if h is not [forward; backward] of each
    word's final states, or if the student's own train raises on it; else a WARN (the course's driver joins
    only a state of two layers, so it takes either)."""
    B, half = h.shape[1], HIDDEN // 2
    joined = torch.cat([enc_output[torch.arange(B), src_lengths - 1, :half], enc_output[:, 0, half:]], dim=-1)
    shape = f"the encoder's final states come joined, (1, B, H) = {tuple(h.shape)}"
    difference = max_difference(h[0], joined)
    if difference > TOLERANCE:
        breaks(f"{shape}, but h is not each word's [forward; backward] final states (read off enc_output; off by "
               f"{difference:.2g}); return the LSTM's (2, B, H/2) and let reshape_state join them")
    judged_by_own_training(st, f"{shape}, [forward; backward] as reshape_state joins them", "the course's driver "
                           "joins only a state of two layers; the skeleton's Encoder returns the LSTM's (2, B, H/2)")


def check_decoder_shapes(st):
    model = build_seq2seq(st, use_attn=False)
    src, src_lengths, tgt, _ = tiny_inputs(st.device)
    (B, T), (_, S), V = tgt.shape, src.shape, TGT_VOCAB
    # what a correct encoder gives (zero at padding), so that the decoder is judged alone
    configure_seed(1)
    padded = torch.arange(S, device=st.device).unsqueeze(0) >= src_lengths.unsqueeze(1)
    enc_output = torch.randn(B, S, HIDDEN, device=st.device).masked_fill(padded.unsqueeze(-1), 0.0)
    state = tuple(torch.randn(2, B, HIDDEN // 2, device=st.device) for _ in range(2))
    stacked, _ = expect_pair(model.decoder.forward(tgt, state, enc_output, src_lengths), "decoder(tgt, ...)")
    outputs, dec_state = model.decoder(tgt, state, enc_output, src_lengths)
    columns = target_columns(outputs, T)
    if columns is None:
        breaks(f"decoder outputs: expected (B, T-1, H) for a full target (B, T), found {describe_value(outputs)}")
    expect_tensor(outputs, (B, columns, HIDDEN), "decoder outputs for a full target")
    for name, part in zip("hc", expect_pair(dec_state, "decoder state (h, c)")):
        expect_tensor(part, (1, B, HIDDEN), f"decoder state {name} (1, B, H)")
    step, _ = model.decoder(tgt[:, :1], state, enc_output, src_lengths)
    expect_tensor(step, (B, 1, HIDDEN), "decoder outputs for one column (B, 1, H)")
    logits, _ = expect_pair(model(src, src_lengths, tgt), "Seq2Seq(src, lengths, tgt)")
    if has_shape(logits, (B, T, V)):
        reads_all_of_tgt(st, logits, tgt)
    expect_tensor(logits, (B, T - 1, V), "Seq2Seq logits (B, T-1, V)")
    own_arguments_departure(st, "Decoder")
    if isinstance(stacked, torch.Tensor) and stacked.shape != outputs.shape:
        judged_by_own_training(st, f"the decoder's outputs come stacked as {tuple(stacked.shape)}, (B, T-1, 1, H)",
                               "the skeleton's decoder returns (B, T-1, H), which the checks use")
    who = ("your decoder reads tgt[:, :-1]" if columns == T - 1
           else "your Seq2Seq drops the last column; the decoder reads all it is given")
    return (f"logits (B, T-1, V) for the course's loss against tgt[:, 1:] ({who}); one column (B, 1, H); "
            f"states (1, B, H)")


def reads_all_of_tgt(st, logits, tgt):
    """A Seq2Seq that gives T logits for a target of T: a FAIL if the student's own train raises on it,
    a WARN if it trains (it passes tgt[:, :-1] itself) while the course's unmodified driver would raise."""
    (B, T), V = tgt.shape, logits.shape[-1]
    try:  # the course's train step, run rather than assumed
        nn.functional.cross_entropy(logits.reshape(-1, V), tgt[:, 1:].reshape(-1), ignore_index=PAD_IDX)
        raised = ""
    except Exception as error:
        raised = error_text(error)
    course = (f"the course's unmodified train scores them against tgt[:, 1:], and cross_entropy(logits.reshape(-1, "
              f"V), tgt[:, 1:].reshape(-1)) raises {raised} (run here)")
    shape = f"Seq2Seq(src, lengths, tgt (B, T)) gives logits (B, T, V) = {(B, T, V)}"
    judged_by_own_training(st, shape, f"{course}; the skeleton's decoder reads tgt[:, :-1] itself")


def check_encoder_padding(st, failed):
    model = build_seq2seq(st, use_attn=False)
    src, src_lengths, _, _ = tiny_inputs(st.device)
    enc_output, state = model.encoder(src, src_lengths)
    for row, length in enumerate(SRC_LENGTHS):
        alone_output, alone_state = model.encoder(src[row:row + 1, :length], src_lengths[row:row + 1])
        outputs = max_difference(enc_output[row, :length], alone_output[0, :length])
        states = max(max_difference(part[:, row], alone[:, 0]) for part, alone in zip(state, alone_state))
        differs = f"a word of length {length} alone and inside a batch padded to {src.shape[1]}"
        if outputs > TOLERANCE:
            breaks(f"{differs} differs (outputs by {outputs:.2g}, final states by {states:.2g}): the LSTM reads "
                   f"the padding; pack the batch (pack_padded_sequence with the lengths, enforce_sorted=False)")
        if states > TOLERANCE and "q3.encoder.shapes" in failed:
            needs(f"{differs}: the outputs agree, the final states differ (by {states:.2g}), which the fault "
                  f"reported in q3.encoder.shapes explains (not counted twice)")
        if states > TOLERANCE:
            breaks(f"{differs}: the outputs agree, but the final states differ (by {states:.2g}): a word's final "
                   f"states depend on the other words of its batch; return the LSTM's own (h, c)")
    return "a word's outputs and final states are the same alone and inside a padded batch"


def model_variants(st, failed):
    """([(use_attn, label)] to check whole models with, the check's verdict from its PASS message). Attention
    is left out where it cannot run (the PASS says so), or where an attention check failed: its fault is
    counted there, so the whole model's check SKIPs, saying that it passes without attention."""
    profile = attention.probe(st)
    faults = [check for check in failed if check.startswith("q3.attention.")]
    problem = f"{profile.problem}; see q3.attention.shapes" if profile.problem else ""
    if not problem and not faults:
        src, src_lengths, tgt, _ = tiny_inputs(st.device)
        try:
            build_seq2seq(st, use_attn=True)(src, src_lengths, tgt)
        except (Exception, SystemExit) as error:
            problem = f"the model with attention raises {describe_error(error, st.folder)}; see q3.attention.shapes"

    def verdict(message):
        if faults and not problem:
            needs(f"{message} without attention; with attention not checked: it fails {', '.join(faults)}")
        return message + (f" (attention not checked here: {problem})" if problem else " (with and without attention)")

    plain = [(False, "without attention")]
    return (plain if problem or faults else plain + [(True, "with attention")]), verdict


def check_teacher_forcing(st, failed):
    variants, verdict = model_variants(st, failed)
    src, src_lengths, _, _ = tiny_inputs(st.device)
    tgt, _ = padded_batch((6, 6, 6), TGT_VOCAB, st.device, seed=3)
    tgt[:, 0] = SOS_IDX
    for use_attn, label in variants:
        model = build_seq2seq(st, use_attn)
        enc_output, state = model.encoder(src, src_lengths)
        full, _ = model.decoder(tgt, state, enc_output, src_lengths)
        if target_columns(full, tgt.shape[1]) is None:
            needs(f"{label}: the decoder's outputs are {describe_value(full)} (see q3.decoder.shapes)")
        steps = []
        for t in range(full.shape[1]):  # the columns that the decoder reads of a full target
            output, state = model.decoder(tgt[:, t:t + 1], state, enc_output, src_lengths)
            steps.append(output)
        expect_tensor(steps[0], (tgt.shape[0], 1, HIDDEN), f"{label}: decoder outputs for one column")
        difference = max_difference(full, torch.cat(steps, dim=1))
        if difference > TOLERANCE:
            breaks(f"{label}: a full target's outputs differ from stepping one token at a time (by {difference:.2g}); "
                   f"each step must read the previous target token and the previous step's state")
        other_start = tgt.clone()
        other_start[:, 1] = (tgt[:, 1] + 1 - UNK_IDX) % (TGT_VOCAB - UNK_IDX - 1) + UNK_IDX + 1  # still no special
        later, _ = model.decoder(other_start, model.encoder(src, src_lengths)[1], enc_output, src_lengths)
        if max_difference(full[:, 2:], later[:, 2:]) < TOLERANCE:
            breaks(f"{label}: changing the target's token 1 leaves the outputs of steps 2 on unchanged (target "
                   f"{tgt[0].tolist()}): a step does not carry the state of the one before (each starts from the "
                   f"encoder's); pass each step the (h, c) the LSTM returned at the previous one")
    return verdict("decoding a full target equals stepping one token at a time, each step carrying the state")


def check_batch_invariance(st, failed):
    variants, verdict = model_variants(st, failed)
    src, src_lengths, tgt, _ = tiny_inputs(st.device)
    for use_attn, label in variants:
        model = build_seq2seq(st, use_attn)
        logits, _ = model(src, src_lengths, tgt)
        if not (isinstance(logits, torch.Tensor) and logits.dim() == 3):
            needs(f"{label}: Seq2Seq gives {describe_value(logits)} (see q3.decoder.shapes)")
        dropped = tgt.shape[1] - logits.shape[1]  # the target columns the model does not predict from
        for row, (s, t) in enumerate(zip(SRC_LENGTHS, TGT_LENGTHS)):
            alone, _ = model(src[row:row + 1, :s], src_lengths[row:row + 1], tgt[row:row + 1, :t])
            if not (isinstance(alone, torch.Tensor) and alone.dim() == 3 and alone.shape[1] == t - dropped):
                needs(f"{label}: a word alone gives {describe_value(alone)}, not {t - dropped} "
                      f"logits (see q3.decoder.shapes)")
            difference = max_difference(logits[row, :t - dropped], alone[0])
            if difference > TOLERANCE:
                explained = [i for i in ("q3.reshape_state", "q3.encoder.shapes", "q3.encoder.padding",
                                         *(["q3.attention.padding", "q3.attention.formula"] if use_attn else []))
                             if i in failed]
                differs = f"{label}: a word's logits alone differ from inside a padded batch (by {difference:.2g})"
                if explained:
                    needs(f"{differs}, which the fault reported in {', '.join(explained)} explains (not counted "
                          f"twice)")
                breaks(f"{differs}: the padding changes the model's output, though encoder and attention each "
                       f"ignore it")
    return verdict("a word's logits are the same alone and inside a padded batch")


def check_tied(st):
    model = build_seq2seq(st, use_attn=False)
    generator, embedding = model.generator, model.decoder.embedding
    if not isinstance(generator, nn.Linear) or (generator.in_features, generator.out_features) != (HIDDEN, TGT_VOCAB):
        breaks(f"generator: expected nn.Linear(H, V) = ({HIDDEN}, {TGT_VOCAB}), found {generator}")
    if generator.weight is not embedding.weight:
        departs("generator.weight is not the decoder embedding's weight, which the skeleton's Seq2Seq ties to it "
                "(self.generator.weight = self.decoder.embedding.weight); the statement does not ask for it, so "
                "your model works, with V x H more parameters (a generator weight of its own)")
    return "generator.weight is the decoder embedding's weight"


def rows(tensor):
    """Non-zero feature vectors of a tensor (..., F) -> (n, F): zeros (padding) tell nothing apart."""
    flat = tensor.detach().reshape(-1, tensor.shape[-1]).float()
    return flat[flat.abs().amax(-1) > 0]


def rows_within(candidate, reference):
    """Whether every row of `candidate` (n, F) is a row of `reference` (m, F)."""
    if reference.shape[0] == 0 or candidate.shape[-1] != reference.shape[-1]:
        return False
    return bool(((candidate.unsqueeze(1) - reference.unsqueeze(0)).abs().amax(-1).min(1).values < 1e-6).all())


def trace_dropout(model, src, src_lengths, tgt, is_students_file):
    """One training-mode forward -> (rows each place produced, [(shape, input rows, output rows)] of
    every dropout call that drops). Places are told apart by values, not names: the embeddings are what
    the nn.Embedding layers return, the final outputs what encoder and decoder return (dropout on them is
    the last thing each does, maybe before a slice); the decoder's LSTM outputs show dropout just before
    attention."""
    places = {name: [] for name in (*PLACES, "decoder LSTM outputs")}

    def recorder(place):
        def hook(module, inputs, output):
            output = output[0] if isinstance(output, tuple) else output
            output = output.data if isinstance(output, nn.utils.rnn.PackedSequence) else output
            if isinstance(output, torch.Tensor):
                places[place].append(rows(output))
        return hook

    watched = [(m, "encoder embeddings") for m in model.encoder.modules() if isinstance(m, nn.Embedding)]
    watched += [(m, "decoder embeddings") for m in model.decoder.modules() if isinstance(m, nn.Embedding)]
    watched += [(m, "decoder LSTM outputs") for m in model.decoder.modules() if isinstance(m, nn.LSTM)]
    watched += [(model.encoder, "encoder outputs"), (model.decoder, "decoder outputs")]
    with forward_hooks(*((module, recorder(place)) for module, place in watched)), \
            OpsRecorded(DROPOUTS, is_students_file) as recorded:
        model.train()
        model(src, src_lengths, tgt)
    calls = [(tuple(op.input.shape), rows(op.input), rows(op.output)) for op in recorded.ops if op.drops]
    return {place: torch.cat(found) if found else torch.empty(0, 0) for place, found in places.items()}, calls


PLACES = ("encoder embeddings", "encoder outputs", "decoder embeddings", "decoder outputs")  # statement Q3.1a
BEFORE_ATTENTION = "decoder outputs (before attention)"


def dropout_place(places, received, produced, use_attn):
    """Where one dropout call acts, from what it received and what it produced (None: elsewhere)."""
    for place in ("encoder embeddings", "decoder embeddings"):
        if rows_within(received, places[place]):
            return place
    for place in ("encoder outputs", "decoder outputs"):  # all of the outputs, or all of them and more, sliced off
        if rows_within(produced, places[place]) or rows_within(places[place], produced):
            return place
    if use_attn and rows_within(received, places["decoder LSTM outputs"]):
        return BEFORE_ATTENTION
    return None


def check_dropout_placement(st, failed):
    variants, verdict = model_variants(st, failed)
    src, src_lengths, tgt, _ = tiny_inputs(st.device)
    before_attention = False
    for use_attn, label in variants:
        model = build_seq2seq(st, use_attn)
        in_eval = dropouts_in_eval_mode(model, lambda m: m(src, src_lengths, tgt), st.wrote)
        if in_eval:
            breaks(f"{label}: {drops_in_eval_mode(in_eval[0])}")
        configure_seed(0)
        places, calls = trace_dropout(model, src, src_lengths, tgt, st.wrote)
        located = [(shape, dropout_place(places, received, produced, use_attn))
                   for shape, received, produced in calls if received.shape[0]]
        touched, stray = {place for _, place in located}, [shape for shape, place in located if place is None]
        if BEFORE_ATTENTION in touched:  # on the decoder's outputs, as the hint's loop drops them
            touched.add("decoder outputs")
            before_attention = True
        problems = [f"also on {len(stray)} other tensor(s), the first of shape {stray[0]}"] if stray else []
        if set(PLACES) - touched:
            problems.insert(0, "never on the " + ", ".join(p for p in PLACES if p not in touched))
        if problems:
            breaks(f"{label}, training mode: dropout acts {'; '.join(problems)}; expected on the embeddings and the "
                   f"final outputs of encoder and decoder only (statement Q3.1a)")
    where = "; with attention, on the LSTM outputs just before it" if before_attention else ""
    return verdict("in training mode dropout acts on the embeddings and final outputs of encoder and decoder only"
                   + where)


def check_greedy_next_token(st):
    configure_seed(0)
    logits = torch.randn(TGT_VOCAB, device=st.device)
    token = st.script.greedy_next_token(logits)
    if isinstance(token, torch.Tensor) and token.numel() == 1 and token.shape != (1,):
        judged_by_own_training(st, f"greedy_next_token(logits (V,)) gives the argmax in shape {tuple(token.shape)}",
                               "the skeleton's gives shape (1,)")
    expect_tensor(token, (1,), "greedy_next_token(logits (V,))")
    if int(token) != int(logits.argmax()):
        breaks(f"greedy_next_token returned {int(token)}, expected the argmax {int(logits.argmax())}")
    return "the argmax, shape (1,)"


def draw_nucleus(st, logits, p, n, raised):
    """n draws of the student's nucleus_sampling(logits, p) -> counts per token (V,); where it raises, a FAIL
    with the call (or a SKIP where an earlier check reported that line)."""
    counts = torch.zeros(logits.shape[-1], dtype=torch.long)
    shown = ", ".join(f"{x:.3g}" for x in logits.softmax(-1).tolist())
    what = f"nucleus_sampling(logits, p={p:g}) with logits the logs of probabilities {shown}"
    for _ in range(n):
        try:
            token = st.script.nucleus_sampling(logits, p=p)
        except (Exception, SystemExit) as error:
            frame = student_frame(error, st.folder)
            where = frame and f"{frame[0]}:{frame[1]}"
            if where in raised:
                needs(f"{what} raises at {where} (see {raised[where]})")
            breaks(f"{what} raises {describe_error(error, st.folder)}", where=where)
        if not isinstance(token, torch.Tensor):
            breaks(f"{what} returns {describe_value(token)} {token!r:.20}, not a tensor: the course's driver calls "
                   f"next_token.view(1, 1) on it, which raises; return the index as a tensor of shape (1,)")
        if token.numel() != 1:
            breaks(f"{what} must return one index, shape (1,); found {describe_value(token)}")
        index = int(token)
        if not 0 <= index < len(counts):
            breaks(f"{what} returned {index}, not a token of the {len(counts)}")
        counts[index] += 1
    return counts


def returned_shape(st, logits, p):
    """A WARN when the sampler's one index has another shape than (1,): the course's driver's
    next_token.view(1, 1) and int(next_token) take any single index."""
    token = st.script.nucleus_sampling(logits, p=p)
    if tuple(token.shape) != (1,):
        departs(f"nucleus_sampling returns its index in shape {tuple(token.shape)}, where the skeleton's docstring "
                f"says (1,); the course's driver reads it with next_token.view(1, 1) and int(next_token), which "
                f"take any single index, so it works as submitted")


def shuffled_distribution(probabilities, seed):
    """Logits of `probabilities` in a shuffled token order (so that sorting is needed) and their order."""
    order = torch.randperm(len(probabilities), generator=torch.Generator().manual_seed(seed))
    probs = torch.empty(len(probabilities))
    probs[order] = torch.tensor(probabilities)
    return probs.log(), order


def check_nucleus_support(st, raised):
    configure_seed(0)
    logits, order = shuffled_distribution([0.5, 0.2, 0.15, 0.1, 0.05], seed=0)
    logits = logits.to(st.device)
    nucleus, crossing = set(order[:3].tolist()), int(order[2])  # mass 0.5, 0.7, then 0.85 crosses p = 0.75
    counts = draw_nucleus(st, logits, 0.75, NUCLEUS_SUPPORT_DRAWS, raised)
    outside = sorted(set(counts.nonzero().view(-1).tolist()) - nucleus)
    given = "p = 0.75 over probabilities 0.5, 0.2, 0.15, 0.1, 0.05"
    if outside:
        breaks(f"{given}: sampled tokens outside the top-p set ({int(counts[outside].sum())} of "
               f"{NUCLEUS_SUPPORT_DRAWS} draws); keep only the most probable tokens until their mass reaches p")
    if counts[crossing] == 0:
        breaks(f"{given}: the token whose mass crosses p (0.15) is never sampled in {NUCLEUS_SUPPORT_DRAWS} draws; "
               f"V^(p) is the smallest set whose mass is >= p, so it includes the token that crosses p")
    tiny = draw_nucleus(st, logits, 1e-6, 50, raised)
    if tiny[int(order[0])] != 50:
        breaks("p = 1e-6: expected the most probable token every time (the top-p set is the argmax alone)")
    full = draw_nucleus(st, logits, 1.0, NUCLEUS_SUPPORT_DRAWS, raised)
    if (full == 0).any():
        breaks(f"p = 1: token(s) {full.eq(0).nonzero().view(-1).tolist()} never sampled in "
               f"{NUCLEUS_SUPPORT_DRAWS} draws; with p = 1 every token can be drawn")
    returned_shape(st, logits, 0.75)
    return "stays in the top-p set, includes the token crossing p; tiny p = argmax; p = 1 samples everything"


def check_nucleus_frequencies(st, raised):
    if not isinstance(st.script.nucleus_sampling(torch.zeros(4, device=st.device), p=0.8), torch.Tensor):
        needs("not checked: nucleus_sampling returns no tensor (see q3.nucleus.support)")
    configure_seed(0)
    probabilities = [0.3, 0.25, 0.2, 0.12, 0.08, 0.05]
    logits, order = shuffled_distribution(probabilities, seed=1)
    kept = order[:4]  # mass 0.3, 0.55, 0.75, then 0.87 crosses p = 0.8
    expected = torch.tensor(probabilities[:4]) / sum(probabilities[:4]) * NUCLEUS_FREQUENCY_DRAWS
    counts = draw_nucleus(st, logits.to(st.device), 0.8, NUCLEUS_FREQUENCY_DRAWS, raised)
    outside = int(counts.sum() - counts[kept].sum())
    if outside:
        breaks(f"p = 0.8: {outside} of {NUCLEUS_FREQUENCY_DRAWS} draws fall outside the top-p set")
    statistic = float(((counts[kept] - expected) ** 2 / expected).sum())
    half_dof = torch.tensor((len(kept) - 1) / 2, dtype=torch.float64)  # P(X >= statistic), X chi-square:
    p_value = float(torch.special.gammaincc(half_dof, torch.tensor(statistic / 2, dtype=torch.float64)))
    observed = ", ".join(f"{c / NUCLEUS_FREQUENCY_DRAWS:.3f}" for c in counts[kept].tolist())
    target = ", ".join(f"{e / NUCLEUS_FREQUENCY_DRAWS:.3f}" for e in expected.tolist())
    if p_value < CHI_SQUARE_ALPHA:
        breaks(f"p = 0.8: frequencies {observed}, expected {target} (the kept probabilities renormalised); "
               f"chi-square {statistic:.1f}, p-value {p_value:.1g}")
    return (f"{NUCLEUS_FREQUENCY_DRAWS:,} draws match the renormalised top-p distribution at p = 0.8 "
            f"(chi-square {statistic:.1f}, p-value {p_value:.2f})")
