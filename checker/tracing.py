"""What a forward pass of the student's model does inside: forward hooks, and torch's dropout functions
recorded (dropout is found by what it does to values, whichever module or function calls it)."""
import contextlib
import inspect

from torch import nn


@contextlib.contextmanager
def forward_hooks(*hooked):
    """While inside, each (module, hook) pair's hook(module, inputs, output) runs after the module."""
    handles = [module.register_forward_hook(hook) for module, hook in hooked]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def dropouts_recorded(record, names=("dropout",)):
    """While inside, each call of torch.nn.functional's `names` that drops something (training, p > 0) is
    also handed to record(name, p, a copy of its input, its output)."""
    originals = {name: getattr(nn.functional, name) for name in names}

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

    for name, original in originals.items():
        setattr(nn.functional, name, recording(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(nn.functional, name, original)
