"""Q2 checks by behaviour: the CNN's signature, size, outputs, switches, where dropout acts, and how
the student's loader and network read the Intel images. Every network is built as the course's driver
builds it; a CNN whose signature differs is reported once (q2.signature) and built by keyword elsewhere.
"""
import ast
import inspect
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

import utils

from .student import describe_error, own_bound_calls, own_call_values, own_calls
from .tensors import describe_value, expect_finite, expect_tensor
from .tracing import DROPOUTS, OpsRecorded, drops_in_eval_mode
from .verdicts import breaks, cannot_judge, departs, needs

COURSE_SIGNATURE = "CNN(dropout_prob, maxpool=True, batch_norm=True, conv_bias=True)"
COURSE_CALL = "CNN(opt.dropout, maxpool=not opt.no_maxpool, batch_norm=not opt.no_batch_norm)"
DROPOUT_PROB = 0.1
Q2_PARAMS = {False: 5_340_742, True: 755_718}
INTEL_SIDE = 48  # the Intel images' height and width
LAYOUT_IMAGES = 16
TRACE_IMAGES = 4
MAX_PROBED_PARAMETERS = 50_000_000  # a network without max-pool that flattens 128x48x48 features has 302M


@dataclass
class CnnBuilder:
    """How the student's CNN is built for the checks, read from its signature."""

    dropout_keyword: str = None  # None: the dropout probability goes first, as the course's driver passes it
    switches: set = field(default_factory=lambda: {"maxpool", "batch_norm"})  # which of the two it takes
    problems: list = field(default_factory=list)  # how the signature differs from the course's
    extra: dict = field(default_factory=dict)  # the parameters the course does not pass, as the group's call does

    def construct(self, st, batch_norm=True, maxpool=True):
        """A switch the CNN does not take is left out (the checks needing it skip)."""
        keywords = {name: value for name, value in (("maxpool", maxpool), ("batch_norm", batch_norm))
                    if name in self.switches}
        utils.configure_seed(0)
        if self.dropout_keyword:
            return st.q2.CNN(**{self.dropout_keyword: DROPOUT_PROB}, **keywords, **self.extra)
        return st.q2.CNN(DROPOUT_PROB, **keywords, **self.extra)

    def build(self, st, batch_norm=True, maxpool=True):
        return self.construct(st, batch_norm, maxpool).to(st.device).eval()

    def needs(self, switch):
        if switch not in self.switches:
            needs(f"not checked: CNN takes no {switch} switch (see q2.signature)")


def cnn_builder(st):
    """The CnnBuilder of the student's CNN class, from its parameters' names."""
    if not hasattr(st.q2, "CNN"):
        needs("not checked: hw2-q2.py has no CNN (see q2.signature)")
    try:
        parameters = list(inspect.signature(st.q2.CNN).parameters.values())
    except (TypeError, ValueError):  # no signature to read: build it as the course does
        return CnnBuilder()
    names = [p.name for p in parameters]
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters)
    builder = CnnBuilder(switches={s for s in ("maxpool", "batch_norm") if s in names or takes_any})
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    dropout_names = [n for n in names if "drop" in n.lower()]
    if positional and "drop" not in positional[0].name.lower() and dropout_names:
        builder.dropout_keyword = dropout_names[0]
        builder.problems.append(f"its first parameter is {positional[0].name!r}, not the dropout probability "
                                f"(it takes it as {dropout_names[0]}=)")
    builder.problems += [f"it takes no {switch} switch" for switch in ("maxpool", "batch_norm")
                         if switch not in builder.switches]
    dropout = builder.dropout_keyword or (positional[0].name if positional else "")
    required = [p.name for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD,
                p.KEYWORD_ONLY) and p.name not in {dropout, "maxpool", "batch_norm", "conv_bias"}]
    if required:
        values = own_call_values(Path(st.q2.__file__), st.q2.CNN, required, st.q2)
        builder.extra = {name: values[name] for name in required if name in values}
        builder.problems.append(f"it needs {', '.join(required)}, which the course's driver does not pass (your "
                                f"hw2-q2.py passes {', '.join(f'{k}={v!r}' for k, v in builder.extra.items())})"
                                if builder.extra.keys() == set(required) else
                                f"it needs {', '.join(required)}, which the course's driver does not pass")
    return builder


def trainable_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def batch_norm_settings(st):
    """The batch_norm values the checks build the CNN with: both, unless it takes no batch_norm switch."""
    return (False, True) if "batch_norm" in cnn_builder(st).switches else (False,)


def build_cnn(st, batch_norm, judged_here=False):
    """The student's CNN with max-pooling, as the checks build it. Building it raising, or a CNN without
    layers, FAILs q2.signature (`judged_here`); the other checks that need the CNN skip, pointing there."""
    def problem(message):
        if judged_here:
            breaks(message)
        needs(f"not checked: {message} (see q2.signature)")

    try:
        model = cnn_builder(st).build(st, batch_norm)
    except (Exception, SystemExit) as error:
        problem(f"building the CNN with maxpool=True, batch_norm={batch_norm}, as the course's driver does, raises "
                f"{describe_error(error, st.folder)}")
    if not trainable_count(model):
        problem(f"CNN({DROPOUT_PROB}, batch_norm={batch_norm}) has no layers with parameters, as the skeleton's: the "
                f"network of Q2.1 is not implemented")
    return model


def check_signature(st):
    if not hasattr(st.q2, "CNN"):
        breaks("hw2-q2.py has no CNN (it may import it from models.py)")
    builder = cnn_builder(st)
    for batch_norm in (True, False):  # as the other checks build it
        build_cnn(st, batch_norm, judged_here=True)
    if builder.problems:
        try:
            CnnBuilder().construct(st)  # the course's call
            outcome = ""
        except (Exception, SystemExit) as error:
            outcome = f", which raises {describe_error(error, st.folder)}"
        finding = (f"CNN's signature is not the course's {COURSE_SIGNATURE}: {'; '.join(builder.problems)}; the "
                   f"course's driver calls {COURSE_CALL}{outcome}")
        by_keyword = "; the other checks build it by keyword" if builder.dropout_keyword else ""
        calls = cnn_calls(st)
        misfits = [(line, problem) for line, problem in calls if problem]
        if misfits:
            breaks(f"{finding}; your own hw2-q2.py at line {misfits[0][0]} {misfits[0][1]}{by_keyword}")
        departs(f"{finding}; " + (f"your hw2-q2.py builds it to fit (line {calls[0][0]}), so it works as "
                                  f"submitted, but the course's unmodified driver would not" if calls else
                                  "your hw2-q2.py has no CNN(...) call to check against it") + by_keyword)
    return f"the course's {COURSE_SIGNATURE}: CNN({DROPOUT_PROB}, maxpool=..., batch_norm=...) builds both networks"


def cnn_calls(st):
    """(line, what goes wrong or None) of each CNN(...) call in the student's hw2-q2.py: its arguments must
    bind to their CNN's parameters, an argument named for the dropout to the dropout's parameter."""
    calls = []
    for line, arguments in own_bound_calls(Path(st.q2.__file__), st.q2.CNN):
        if isinstance(arguments, TypeError):
            calls.append((line, f"calls CNN so that it raises too (TypeError: {arguments})"))
            continue
        misplaced = [(ast.unparse(value), name) for name, value in arguments.items()
                     if isinstance(value, ast.expr) and "drop" in ast.unparse(value).lower()
                     and "drop" not in name.lower()]
        calls.append((line, f"passes {misplaced[0][0]} to {misplaced[0][1]!r}, not to the dropout probability"
                      if misplaced else None))
    return sorted(calls)


def layer_summary(model):
    parts = []
    for module in model.modules():
        own = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
        if not own:
            continue
        if isinstance(module, nn.Conv2d):
            name = f"conv {module.in_channels}->{module.out_channels}"
        elif isinstance(module, nn.Linear):
            name = f"linear {module.in_features}->{module.out_features}"
        elif isinstance(module, nn.modules.batchnorm._NormBase):
            name = f"{type(module).__name__}({module.num_features})"
        else:
            name = type(module).__name__
        parts.append(f"{name} ({own:,})")
    return ", ".join(parts) or "none"


def check_params(st, batch_norm):
    if batch_norm:
        cnn_builder(st).needs("batch_norm")
    model = build_cnn(st, batch_norm)
    expected, counted = Q2_PARAMS[batch_norm], trainable_count(model)
    if counted != expected:
        breaks(f"the network has {counted:,} trainable parameters, expected {expected:,} ({counted - expected:+,}): "
               f"it differs from the statement's (layers with parameters: {layer_summary(model)})")
    return f"{counted:,} trainable parameters"


def check_count_function(st):
    if not hasattr(st.q2, "get_number_trainable_params"):
        breaks("hw2-q2.py has no get_number_trainable_params (Q2.3)")
    # 34 trainable parameters and 10 frozen ones, layers nested as students' CNNs nest them
    probe = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), nn.Linear(4, 2),
                          nn.Linear(4, 2).requires_grad_(False))
    found = st.q2.get_number_trainable_params(probe)
    if found == trainable_count(probe):
        return f"counts the trainable parameters only ({trainable_count(probe)} of a network with 10 frozen)"
    wrong = (f"get_number_trainable_params returns {found!r} for a network of {trainable_count(probe)} trainable "
             f"and 10 frozen parameters ({layer_summary(probe)}): count p.numel() of the parameters with "
             f"p.requires_grad")
    networks = [build_cnn(st, batch_norm) for batch_norm in (False, True)]
    if all(st.q2.get_number_trainable_params(model) == trainable_count(model) for model in networks):
        departs(f"{wrong}; on your two CNNs, which freeze nothing, it gives the right counts, so no result depends "
                f"on it")
    breaks(wrong)


def check_output(st):
    settings = batch_norm_settings(st)
    for batch_norm in settings:
        model = build_cnn(st, batch_norm)
        utils.configure_seed(0)
        out = model(torch.rand(4, 3, INTEL_SIDE, INTEL_SIDE, device=st.device))
        label = "with batch norm" if batch_norm else "without batch norm"
        expect_tensor(out, (4, 6), f"{label}: CNN(images (B, 3, 48, 48))")
        expect_finite(out, f"{label}: CNN(4 random images (4, 3, 48, 48))")
        log_total = out.double().logsumexp(-1)  # 0 for log-probabilities
        if float(log_total.abs().max()) > 1e-4:
            sums = log_total.exp()
            scores = (f"{label}: the outputs are not log-probabilities (exp sums to {float(sums.min()):.3g}.."
                      f"{float(sums.max()):.3g} per image, expected 1)")
            source = Path(st.q2.__file__)
            if own_calls(source, "CrossEntropyLoss") and not own_calls(source, "NLLLoss"):
                departs(f"{scores}, but your hw2-q2.py trains them with nn.CrossEntropyLoss, which applies the "
                        f"log-softmax itself: the same training and predictions as the statement's log-softmax "
                        f"layer under the skeleton's nn.NLLLoss, which your network leaves out")
            breaks(f"{scores}: end the network with a log-softmax over the 6 classes (the skeleton trains it with "
                   f"nn.NLLLoss, which expects log-probabilities)")
    note = "" if len(settings) == 2 else " (batch norm not checked: no batch_norm switch, see q2.signature)"
    return "log-probabilities (B, 6) for images (B, 3, 48, 48)" + note


def ops_run(st, model, names, images):
    """The Ops `names` that `model` runs on `images` (B, 3, 48, 48), in order."""
    with OpsRecorded(names, st.wrote) as recorded:
        model(images)
    return recorded.ops


def random_images(st, n):
    """n random images (n, 3, 48, 48), the same at every call."""
    utils.configure_seed(0)
    return torch.rand(n, 3, INTEL_SIDE, INTEL_SIDE, device=st.device)


def check_batchnorm_switch(st):
    cnn_builder(st).needs("batch_norm")
    problems = []
    for batch_norm in (True, False):
        ops = ops_run(st, build_cnn(st, batch_norm), {"conv2d", "linear", "batch_norm"}, random_images(st, 2))
        convs, linears = ([op for op in ops if op.name == name] for name in ("conv2d", "linear"))
        if not convs or not linears:
            cannot_judge("not checked: the network runs no nn.Conv2d or no nn.Linear layer")
        features, channels = linears[0].input.shape[-1], convs[-1].output.shape[1]
        norms2d = [op for op in ops if op.name == "batch_norm" and op.input.dim() == 4]
        norms1d = [op for op in ops if op.name == "batch_norm" and op.input.dim() < 4]
        if batch_norm:
            if len(norms2d) != len(convs):
                problems.append(f"batch_norm=True runs {len(norms2d)} BatchNorm2d for {len(convs)} "
                                f"conv blocks (expected one in every block)")
            if features != channels:
                problems.append(f"batch_norm=True feeds the MLP {features} features, expected {channels}: global "
                                f"average pooling (nn.AdaptiveAvgPool2d((1, 1))) after the last block")
            if not any(op.input.shape[1] == 1024 for op in norms1d):
                problems.append("batch_norm=True runs no BatchNorm1d(1024) in the MLP (before its dropout)")
        else:
            if norms2d or norms1d:
                problems.append("batch_norm=False still runs batch norm (use nn.Identity when it is off)")
            if features == channels:
                problems.append("batch_norm=False still pools globally; the Q2.1 network flattens the conv output")
    if problems:
        breaks("; ".join(problems))
    return "batch_norm=True: BatchNorm2d in every block, global average pooling, BatchNorm1d(1024); off: none of them"


def conv_input_sides(st, model):
    """(height, width) of what each convolution receives in one forward pass of two random images."""
    return [tuple(op.input.shape[-2:]) for op in ops_run(st, model, {"conv2d"}, random_images(st, 2))]


def check_maxpool_switch(st):
    builder = cnn_builder(st)
    builder.needs("maxpool")
    builder.needs("batch_norm")  # without global average pooling, no max-pool means a 302M-parameter MLP
    with torch.device("meta"):  # count first, on no memory: a network this checker should not run
        try:
            size = sum(p.numel() for p in builder.construct(st, batch_norm=True, maxpool=False).parameters())
        except (Exception, SystemExit):
            size = 0  # meta tensors are not everything a student's __init__ may use; build it for real
    if size > MAX_PROBED_PARAMETERS:
        cannot_judge(f"not checked: CNN(maxpool=False, batch_norm=True) would have {size:,} parameters, as "
                     f"without global average pooling (see q2.batchnorm_switch)")
    unasked = ("; the statement never asks for a network without max-pooling, only the skeleton's -no_maxpool "
               "flag does, so no result depends on it")
    sides_with = conv_input_sides(st, build_cnn(st, batch_norm=True))  # its fault is not maxpool's
    try:
        without = builder.build(st, batch_norm=True, maxpool=False)
        sides_without = conv_input_sides(st, without)
        output = without(torch.rand(2, 3, INTEL_SIDE, INTEL_SIDE, device=st.device))
    except (Exception, SystemExit) as error:
        departs(f"CNN({DROPOUT_PROB}, maxpool=False, batch_norm=True), the skeleton's -no_maxpool, raises "
                f"{describe_error(error, st.folder)}{unasked}")
    if not sides_with:
        cannot_judge("not checked: the network runs no nn.Conv2d, so what its convolutions receive cannot be seen")
    shown = ", ".join(f"{h}x{w}" for h, w in sides_without)
    if sides_without == sides_with:
        departs(f"maxpool=False changes nothing: the convolutions still receive {shown}; the skeleton's -no_maxpool "
                f"builds CNN(dropout, maxpool=False, ...) to leave the max-pooling out (nn.Identity){unasked}")
    if any(side != (INTEL_SIDE, INTEL_SIDE) for side in sides_without):
        departs(f"maxpool=False still shrinks the images: the convolutions receive {shown}, expected 48x48 each"
                f"{unasked}")
    if not (isinstance(output, torch.Tensor) and output.shape == (2, 6)):
        departs(f"CNN(maxpool=False) outputs {describe_value(output)} for 2 images, expected shape (2, 6){unasked}")
    return (f"maxpool=False: every convolution receives 48x48 (with max-pool: "
            f"{', '.join(f'{h}x{w}' for h, w in sides_with)}); checked with batch norm")


# What the statement's network computes, by kind, whichever module, function or tensor method does it
KINDS = {"conv2d": "conv", "linear": "affine", "batch_norm": "batch norm", "relu": "ReLU", "max_pool2d": "max-pool",
         **dict.fromkeys(DROPOUTS, "dropout")}
BLOCK = ("batch norm", "ReLU", "max-pool")  # Figure 2: conv -> batch norm -> ReLU -> max-pool -> dropout
MLP_FEATURES = {1: 1024, 2: 512}  # the MLP's affine layers followed by a ReLU, and their features


@dataclass
class Stage:
    """What runs after one conv or affine layer, up to the next one."""

    layer: str  # "conv" or "affine"
    index: int  # 1 for the first of its kind
    where: str  # the student's file:line that runs the layer
    ops: list = field(default_factory=list)  # the Ops after it, in order

    def kinds(self, keep_dropout=False):
        """The kinds it runs, each at its first occurrence (an extra layer with parameters is the
        parameter counts' to report, not counted twice)."""
        kinds = [KINDS[op.name] for op in self.ops if keep_dropout or KINDS[op.name] != "dropout"]
        return list(dict.fromkeys(kinds))

    def dropouts(self):
        return [op for op in self.ops if op.drops]

    def acts_before(self, first, second):
        kinds = self.kinds(keep_dropout=True)
        return first in kinds and second in kinds and kinds.index(first) < kinds.index(second)

    @property
    def label(self):
        return f"conv block {self.index}" if self.layer == "conv" else f"the MLP's affine layer {self.index}"


def traced_stages(st, batch_norm, training=True):
    """One forward pass of random images -> (the Ops before the first conv, [Stage] after each conv and
    affine layer, in order)."""
    model = build_cnn(st, batch_norm).train(training)
    before, stages, counts = [], [], Counter()
    for op in ops_run(st, model, KINDS, random_images(st, TRACE_IMAGES)):
        if KINDS[op.name] in ("conv", "affine"):
            counts[KINDS[op.name]] += 1
            stages.append(Stage(KINDS[op.name], counts[KINDS[op.name]], op.where))
        else:
            (stages[-1].ops if stages else before).append(op)
    return before, stages


def check_dropout_placement(st):
    dropout_kinds = set()
    for batch_norm in batch_norm_settings(st):
        label = f"batch_norm={batch_norm}"
        in_eval = [op for stage in traced_stages(st, batch_norm, training=False)[1] for op in stage.dropouts()]
        if in_eval:
            breaks(f"{label}: {drops_in_eval_mode(in_eval[0])}")
        before, stages = traced_stages(st, batch_norm)
        calls = [op for op in before if op.drops] + [op for stage in stages for op in stage.dropouts()]
        dropout_kinds |= {op.name for op in calls}
        problems = []
        rates = sorted({op.arguments.get("p", 0.5) for op in calls} - {DROPOUT_PROB})
        if rates:
            problems.append(f"dropout p = {', '.join(f'{p:g}' for p in rates)}, expected dropout_prob = {DROPOUT_PROB}")
        if any(op.drops for op in before):
            problems.append("a dropout on the input images")
        for stage in stages:  # one in every conv block and after the MLP's first affine layer, nowhere else
            dropouts, expected = stage.dropouts(), int(stage.layer == "conv" or stage.index == 1)
            if len(dropouts) != expected:
                on = f" (on {dropouts[0].input.shape[-1]} features)" if dropouts and stage.layer == "affine" else ""
                problems.append(f"{len(dropouts)} dropout(s) {'in' if stage.layer == 'conv' else 'after'} {stage.label}"
                                f"{on}, expected {'one' if expected else 'none'}")
        if problems:
            breaks(f"{label}, training mode: {'; '.join(problems)} (at {calls[0].where if calls else 'your CNN'})")
    kinds = sorted(DROPOUTS[name] for name in dropout_kinds - {"dropout"})
    if kinds:
        departs(f"in the statement's places and rate, but {' and '.join(kinds)} where the statement has a dropout "
                f"layer (nn.Dropout, which drops each activation on its own)")
    return (f"in training mode, dropout(p={DROPOUT_PROB}) acts once in every conv block and once after the "
            f"MLP's first affine layer, nowhere else, and not in eval mode")


def check_block_order(st):
    for batch_norm in batch_norm_settings(st):
        label = f"batch_norm={batch_norm}"
        _, stages = traced_stages(st, batch_norm)
        expected = list(BLOCK if batch_norm else BLOCK[1:])
        for stage in stages:
            kinds, at = stage.kinds(), f" (after the layer at {stage.where})" if stage.where else ""
            ran, block = kinds, expected
            if not batch_norm or "batch norm" not in kinds:  # whether it runs is q2.batchnorm_switch's to say
                ran, block = [k for k in kinds if k != "batch norm"], [k for k in expected if k != "batch norm"]
            if stage.layer == "conv" and ran != block:
                breaks(f"{label}: {stage.label} runs conv -> {' -> '.join(ran + ['dropout'])}; the statement's block "
                       f"is conv -> {' -> '.join(block)} -> dropout (Figure {2 if batch_norm else 1}){at}")
            pools = [op for op in stage.ops if op.name == "max_pool2d"]
            if any(tuple(op.output.shape[-2:]) != tuple(s // 2 for s in op.input.shape[-2:]) for op in pools):
                breaks(f"{label}: {stage.label}'s max-pool turns {tuple(pools[0].input.shape[-2:])} into "
                       f"{tuple(pools[0].output.shape[-2:])}; a 2x2 max-pool with stride 2 halves it{at}")
            if stage.layer == "conv" and stage.acts_before("dropout", "max-pool"):
                breaks(f"{label}: in {stage.label}, dropout acts before the max-pool; the statement's block is "
                       f"conv -> {' -> '.join(expected)} -> dropout{at}")
            if stage.layer == "affine" and stage.index in MLP_FEATURES and "ReLU" not in kinds:
                breaks(f"{label}: no ReLU after {stage.label} ({MLP_FEATURES[stage.index]} features){at}")
            if stage.layer == "affine" and stage.index == 1 and batch_norm and \
                    stage.acts_before("dropout", "batch norm"):
                breaks(f"{label}: the MLP's batch norm comes after its dropout; the statement puts it before the "
                       f"dropout (Q2.2){at}")
    return ("conv -> batch norm (Q2.2) -> ReLU -> max-pool -> dropout in every block, as Figures 1 and 2 draw it; "
            "the MLP's ReLUs, and its batch norm before the dropout")


def smoothness(images):
    """images (N, C, h, w) -> mean |difference| of neighbouring pixels / that of random pixel pairs: well
    below 1 for real photographs read in their true layout, near 1 for scrambled ones."""
    images = images.float()
    neighbours = ((images[..., 1:, :] - images[..., :-1, :]).abs().mean()
                  + (images[..., :, 1:] - images[..., :, :-1]).abs().mean()) / 2
    flat = images.reshape(images.shape[0], -1)
    shuffled = flat[:, torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(0))]
    return float(neighbours / (flat - shuffled).abs().mean().clamp(min=1e-12))


def stored_layout(images):
    """Raw uint8 images (N, ...) -> ('HWC' or 'CHW', true images (N, 3, 48, 48), {layout: smoothness})."""
    raw = torch.from_numpy(np.ascontiguousarray(images)).reshape(images.shape[0], -1)
    readings = {"HWC": raw.reshape(-1, INTEL_SIDE, INTEL_SIDE, 3).permute(0, 3, 1, 2),
                "CHW": raw.reshape(-1, 3, INTEL_SIDE, INTEL_SIDE)}
    scores = {layout: smoothness(image) for layout, image in readings.items()}
    layout = min(scores, key=scores.get)
    return layout, readings[layout].float(), scores


def correlation(a, b):
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp(min=1e-12))


def students_images(st, npz_path):
    """The images as the student's Q2 loader hands them over -> (tensor, which loader)."""
    student_utils = getattr(st.q2, "utils", None)
    if hasattr(student_utils, "load_dataset"):
        data = student_utils.load_dataset(str(npz_path))
        X = data["dev"][0] if "dev" in data else data["val"][0]
        return torch.as_tensor(np.asarray(X), dtype=torch.float32), "your utils.load_dataset"
    if hasattr(student_utils, "load_intel"):
        return student_utils.load_intel(npz_path)["val"][0].float(), "your utils.load_intel"
    return None, "no loader found (utils.load_dataset)"


def check_layout(st):
    if st.npz is None:
        cannot_judge("pass --npz FILE (the Intel .npz you trained on) to check how your code reads the images")
    try:  # the first validation images only, without reading the other splits
        with np.load(st.npz) as archive:
            images, labels = archive["val_images"][:LAYOUT_IMAGES], np.asarray(archive["val_labels"][:LAYOUT_IMAGES])
    except Exception as error:
        cannot_judge(f"{st.npz}: cannot read val_images/val_labels ({type(error).__name__}: {error})")
    layout, true_images, scores = stored_layout(images)
    stored = (f"stored {'flat' if images.ndim == 2 else tuple(images.shape[1:])} in {layout} order "
              f"(neighbouring-pixel score {scores[layout]:.2f} vs {scores['CHW' if layout == 'HWC' else 'HWC']:.2f})")
    scrambled = torch.from_numpy(np.ascontiguousarray(images)).reshape(-1, 3, INTEL_SIDE, INTEL_SIDE).float()
    arrays = {f"{split}_{kind}": value for split in utils.INTEL_SPLITS
              for kind, value in (("images", images), ("labels", labels))}
    with tempfile.TemporaryDirectory() as tmp:  # the loader reads a file: give it the slice only
        np.savez(Path(tmp) / "slice.npz", **arrays)
        loaded, loader = students_images(st, Path(tmp) / "slice.npz")
    if loaded is None:
        loaded, loader = torch.from_numpy(np.ascontiguousarray(images)).float() / 256, "the stored arrays / 256"
    model = build_cnn(st, batch_norm=batch_norm_settings(st)[-1])
    convs = ops_run(st, model, {"conv2d"}, loaded.to(st.device))
    if not convs:
        breaks("the network has no nn.Conv2d")
    first = convs[0].input.cpu()
    if first.shape[1:] != (3, INTEL_SIDE, INTEL_SIDE):
        breaks(f"{stored}; the first conv receives {tuple(first.shape)}, expected (B, 3, 48, 48)")
    if correlation(first, true_images) > 0.9 or (layout == "CHW" and smoothness(first) < 0.8):
        return f"{stored}; {loader} and your CNN hand the first conv the images in their true layout"
    fix = ("transpose, do not reshape: images.reshape(-1, 48, 48, 3).transpose(0, 3, 1, 2) "
           "(or .permute(0, 3, 1, 2) on a tensor) before the network")
    if layout == "HWC" and correlation(first, scrambled) > 0.9:
        departs(f"{stored}; {loader} and your CNN reshape each image to (3, 48, 48) as stored, as the course's "
                f"skeleton does (x.reshape(x.shape[0], 3, 48, -1)), so on this file the first conv sees colour and "
                f"position mixed up (score {smoothness(first):.2f}); the statement fixes no layout and the course's "
                f"own npz may store its images otherwise, so this is not counted against you; on an HWC file: {fix}")
    breaks(f"{stored}; the first conv receives images that match neither layout (score {smoothness(first):.2f}, true "
           f"layout {scores[layout]:.2f}); check your loading and reshaping")
