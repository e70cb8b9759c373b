"""Test session settings."""
import torch

# Two threads on two busy cores are several times slower than one (spin-waiting).
torch.set_num_threads(1)
