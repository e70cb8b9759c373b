"""Whether a checkpoint was trained with other code than the folder's models.py: the code changes
that keep every key and shape of the state_dict (W_out reading its input's halves the other way
round, two attention weights of one shape swapped by name) are undone on the weights, and the
checkpoint scored again. A checkpoint that then scores as a correct implementation does was
trained before the code changed."""
import itertools

import torch


def rewrites(state_dict):
    """[(what the training code did differently, the state_dict as the student's code would read it)]."""
    found = []
    for key, weight in state_dict.items():
        if key.startswith("decoder.") and weight.dim() == 2 and weight.shape[1] == 2 * weight.shape[0]:
            H = weight.shape[0]
            swapped = torch.cat([weight[:, H:], weight[:, :H]], dim=1)
            found.append((f"{key} took its input's halves the other way round ([c_t; s] where your code has "
                          f"[s; c_t], or the reverse)", {**state_dict, key: swapped}))
    attention = [key for key, weight in state_dict.items() if key.startswith("decoder.attn.") and weight.dim() == 2]
    for a, b in itertools.combinations(attention, 2):
        if state_dict[a].shape == state_dict[b].shape:
            found.append((f"{a} and {b} were each other's", {**state_dict, a: state_dict[b], b: state_dict[a]}))
    return found


def trained_differently(model, state_dict, cer_of, limit):
    """(what the training code did differently, the CER with it undone) for the first rewrite that scores
    within `limit`, or None; `cer_of(model)` scores the model as loaded. The model is left as it was."""
    try:
        for change, rewritten in rewrites(state_dict):
            model.load_state_dict(rewritten)
            cer = cer_of(model)
            if cer <= limit:
                return change, cer
        return None
    finally:
        model.load_state_dict(state_dict)
