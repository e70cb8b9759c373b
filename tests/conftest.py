"""Test session settings."""
import os

import torch

# Two threads on two busy cores are several times slower than one (spin-waiting): one thread here,
# and in every script a test starts (torch's default follows OMP_NUM_THREADS).
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"
