"""What the checker takes from elsewhere: the course driver's greedy loop, and this project's
own hw2-q3.py as the reference (imported under another name: a student's folder has one too)."""
import importlib.util

import torch

from utils import EOS_IDX, PAD_IDX, SOS_IDX

from .layout import ROOT


def course_encode(model, reshape_state, src, src_lengths):
    """The encoder as the course's driver calls it -> (encoder outputs, the decoder's first state:
    `reshape_state` of the encoder's when it has two layers)."""
    encoder_outputs, state = model.encoder(src, src_lengths)
    return encoder_outputs, reshape_state(state) if state[0].shape[0] == 2 else state


@torch.inference_mode()
def course_greedy(model, reshape_state, src, src_lengths, max_len):
    """Greedy decoding with the course driver's calls, for src (b, S) of words of one length -> tokens
    (b, L), EOS included, PAD after each word's EOS. The course decodes one word at a time; words of one
    length need no padding, so a batch of them gives each word what it gives alone."""
    encoder_outputs, state = course_encode(model, reshape_state, src, src_lengths)
    batch_size = src.shape[0]
    token = torch.full((batch_size, 1), SOS_IDX, dtype=torch.long, device=src.device)
    produced, ended = [], torch.zeros(batch_size, 1, dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        output, state = model.decoder(token, state, encoder_outputs, src_lengths)
        token = model.generator(output).reshape(batch_size, -1).argmax(-1, keepdim=True)  # (b, 1)
        produced.append(token.masked_fill(ended, PAD_IDX))
        ended = ended | (token == EOS_IDX)
        if bool(ended.all()):
            break
    return torch.cat(produced, dim=1)


_spec = importlib.util.spec_from_file_location("reference_hw2_q3", ROOT / "hw2-q3.py")
reference_q3 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference_q3)
