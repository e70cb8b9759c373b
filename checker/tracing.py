"""What a forward pass of the student's model does inside: forward hooks, and torch's dropout functions
recorded (dropout is found by what it does to values, whichever module or function calls it)."""
import contextlib
import inspect
from unittest import mock

from torch import nn


@contextlib.contextmanager
def forward_hooks(*hooked):
    """While inside, each (module, hook) pair's hook(module, inputs, output) runs after the module."""
    with contextlib.ExitStack() as registered:
        for module, hook in hooked:
            registered.callback(module.register_forward_hook(hook).remove)
        yield


@contextlib.contextmanager
def dropouts_recorded(record, names=("dropout",)):
    """While inside, each call of torch.nn.functional's `names` that drops something (training, p > 0) is
    also handed to record(name, p, a copy of its input, its output)."""
    def recording(name, original):
        signature = inspect.signature(original)

        def dropout(*args, **kwargs):
            arguments = signature.bind(*args, **kwargs)
            arguments.apply_defaults()
            p, training, received = (arguments.arguments[a] for a in ("p", "training", "input"))
            received = received.clone() if training and p > 0 else None  # before an inplace dropout changes it
            output = original(*args, **kwargs)
            if received is not None:
                record(name, p, received, output)
            return output
        return dropout

    with contextlib.ExitStack() as patched:
        for name in names:
            patched.enter_context(mock.patch.object(nn.functional, name, recording(name, getattr(nn.functional, name))))
        yield
