"""What a forward pass of the student's code computes, whichever way it is written: forward hooks on
modules, and every torch operation it calls, as a module, a torch.nn.functional or torch.* function or a
tensor method (torch.overrides.TorchFunctionMode sees them all), with the student's file:line of each."""
import contextlib
import inspect
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

DROPOUTS = {"dropout": "nn.Dropout", "dropout1d": "nn.Dropout1d", "dropout2d": "nn.Dropout2d",
            "dropout3d": "nn.Dropout3d", "alpha_dropout": "nn.AlphaDropout",
            "feature_alpha_dropout": "nn.FeatureAlphaDropout"}


@contextlib.contextmanager
def forward_hooks(*hooked):
    """While inside, each (module, hook) pair's hook(module, inputs, output) runs after the module."""
    with contextlib.ExitStack() as registered:
        for module, hook in hooked:
            registered.callback(module.register_forward_hook(hook).remove)
        yield


@dataclass
class Op:
    """One torch operation the student's code called."""

    name: str  # "conv2d", "batch_norm", "relu", "max_pool2d", "dropout", "softmax", "linear", ...
    input: torch.Tensor  # its first argument, as it was before the call (a copy, for inplace operations)
    output: object
    arguments: dict  # the rest, by name where the function has a signature: {"p": 0.1, "training": True, "dim": 1}
    where: str  # the student's file:line that called it, or ""

    @property
    def drops(self):
        """Whether it is a dropout that drops something (training on, p > 0)."""
        if self.name not in DROPOUTS:
            return False
        default_training = self.name in ("dropout", "dropout1d", "dropout2d", "dropout3d")
        return self.arguments.get("training", self.arguments.get("train", default_training)) and \
            self.arguments.get("p", 0.5) > 0


def named_arguments(func, args, kwargs):
    """{name: value} of a call's arguments after the first; a builtin without a signature (torch.dropout,
    torch.softmax) by its documented order."""
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(list(bound.arguments.items())[1:])
    except (TypeError, ValueError):
        names = {"dropout": ("p", "train"), "softmax": ("dim",)}.get(func.__name__, ())
        return {**dict(zip(names, args[1:])), **kwargs}


class OpsRecorded(TorchFunctionMode):
    """While inside, `ops` gets an Op for each call of a torch operation named in `names` (the outermost
    only: what a function does inside is its own business)."""

    def __init__(self, names, is_students_file):
        super().__init__()
        self.names, self.is_students_file, self.ops = set(names), is_students_file, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name not in self.names:
            return func(*args, **kwargs)
        first = args[0] if args else None
        received = first.detach().clone() if isinstance(first, torch.Tensor) else first
        output = func(*args, **kwargs)
        self.ops.append(Op(name, received, output, named_arguments(func, args, kwargs), self.caller()))
        return output

    def caller(self):
        frame = inspect.currentframe()
        while frame is not None:
            if self.is_students_file(frame.f_code.co_filename):
                return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
            frame = frame.f_back
        return ""


class DropoutsOff(TorchFunctionMode):
    """While inside, every dropout function hands back its input: a check of an eval-mode model then judges
    the rest of the code even where a dropout still drops in eval mode (the dropout checks report that, once)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        received = args[0] if args else kwargs.get("input")
        if getattr(func, "__name__", "") in DROPOUTS and isinstance(received, torch.Tensor):
            return received
        return func(*args, **kwargs)


def dropouts_in_eval_mode(model, run, is_students_file):
    """The dropouts that still drop when `model` is in eval mode, while `run(model)` runs: the functions
    called with training=True (F.dropout's default) rather than training=self.training."""
    model.eval()
    with OpsRecorded(DROPOUTS, is_students_file) as recorded:
        run(model)
    return [op for op in recorded.ops if op.drops]


def drops_in_eval_mode(op):
    return (f"dropout still drops in eval mode ({op.name} at {op.where or 'your code'}, "
            f"p={op.arguments.get('p', 0.5):g}), so validation and test outputs are random: F.dropout's training "
            f"argument is True unless you pass training=self.training (nn.Dropout stops by itself in eval mode)")
