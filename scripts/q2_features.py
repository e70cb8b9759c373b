#!/usr/bin/env python
"""What the trained Q2.2 network looks at: its first-layer filters and one image's activation maps.

    python -m scripts.q2_features        # make q2-features, after make q2

Reads the state_dict that make q2 saves for Q2.2 at seed 42 and writes, beside it in results/q2/,
first_layer_filters.png/.pdf (the 32 kernels of the first convolution, each as its R, G and B
3 x 3 weights on one colour scale with its colour bar) and activation_maps.png/.pdf (one test image
and, after each conv block's ReLU, the maps of the channels that respond most strongly to it, one
colour scale and bar per block), and first_layer_filters.json: each kernel's norm and the correlations of
its R, G and B patterns, which the report's reading of the figure quotes. The network runs in eval mode, as it is
tested.
"""
from pathlib import Path

import torch
from torch import nn

import utils
from models import CNN

CHECKPOINT = "results/q2/q22-lr0.01-seed42/model.pt"
MAPS_PER_BLOCK = 6
TOP_QUANTILE = 0.99  # each block's colour scale ends here, so that a few bright pixels do not darken the rest


def load_network(path):
    """The Q2.2 network (batch norm, global average pooling) with the weights of `path`, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise utils.UserError(f"{utils.absolute(path)}: no such checkpoint; `make q2` trains Q2.2 (seed 42) and "
                              "saves it there")
    model = CNN(0.1, batch_norm=True)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def first_convolution(model):
    return next(module for module in model.modules() if isinstance(module, nn.Conv2d))


def block_activations(model, image):
    """image (3, 48, 48) -> the output of each ReLU of the conv blocks, each (C, h, w), in network order.

    Hooks on the ReLU modules whose output is a feature map, so the layers' attribute names do not matter.
    """
    maps = []

    def keep(module, inputs, output):
        if output.dim() == 4:
            maps.append(output[0])

    hooks = [module.register_forward_hook(keep) for module in model.modules() if isinstance(module, nn.ReLU)]
    try:
        with torch.no_grad():
            log_probs = model(image.unsqueeze(0))
    finally:
        for hook in hooks:
            hook.remove()
    return maps, log_probs[0].argmax().item()


def as_picture(image):
    """(3, h, w) tensor -> (h, w, 3) array in [0, 1], stretched to its own range so that its contrast shows."""
    low, high = image.min(), image.max()
    return ((image - low) / (high - low + 1e-12)).permute(1, 2, 0).numpy()


CHANNELS = ("R", "G", "B")


def kernel_statistics(weights):
    """weights (K, 3, k, k) -> each kernel's L2 norm and the correlations of its channels' spatial patterns,
    {"norm": [...], "channel_correlation": [[RG, RB, GB], ...]}: what the filters figure shows, measured."""
    patterns = weights.flatten(2)  # (K, 3, k*k)
    centred = patterns - patterns.mean(dim=2, keepdim=True)
    unit = centred / centred.norm(dim=2, keepdim=True).clamp_min(1e-12)
    correlation = unit @ unit.transpose(1, 2)  # (K, 3, 3)
    pairs = [(0, 1), (0, 2), (1, 2)]
    return {"norm": weights.flatten(1).norm(dim=1).tolist(),
            "channel_correlation": [[correlation[k, i, j].item() for i, j in pairs] for k in range(len(weights))]}


def plot_filters(model, stem):
    """Each first-layer kernel as its R, G and B 3 x 3 weights side by side, on one diverging colour scale
    shared by all kernels (red positive, blue negative, white zero), with its colour bar."""
    weights = first_convolution(model).weight.detach()  # (32, 3, 3, 3)
    limit = weights.abs().max().item()
    per_row, cell, gap, title, row_gap = 8, 0.21, 0.11, 0.17, 0.12  # inches
    rows = -(-len(weights) // per_row)
    width = per_row * 3 * cell + (per_row - 1) * gap + 0.75
    height = rows * (cell + title + row_gap) + 0.3
    plt = utils.pyplot()
    fig = plt.figure(figsize=(width, height))
    for k, kernel in enumerate(weights):
        row, column = divmod(k, per_row)
        bottom = height - 0.3 - (row + 1) * (cell + title + row_gap) + row_gap
        for c, channel in enumerate(kernel):
            left = column * (3 * cell + gap) + c * cell
            ax = fig.add_axes((left / width, bottom / height, cell / width, cell / height))
            image = ax.imshow(channel.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 1:
                ax.set_title(f"{k + 1}", fontsize=7, pad=2)
    left = per_row * 3 * cell + (per_row - 1) * gap + 0.15
    bar = fig.colorbar(image, cax=fig.add_axes((left / width, row_gap / height, 0.1 / width,
                                                (height - 0.3 - row_gap - title) / height)))
    bar.set_label("weight", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle("The 32 first-layer kernels of the Q2.2 network (seed 42), numbered; "
                 "each as its R, G and B weights, left to right", fontsize=8.5, y=1 - 0.08 / height, va="top")
    utils.save_figure(fig, stem)


def plot_activations(model, image, label, stem):
    """The image, then for each conv block the maps (after its ReLU) of the MAPS_PER_BLOCK channels with the
    largest mean activation, on one colour scale per block (0 to the TOP_QUANTILE of its shown values; the
    few above are drawn in the top colour), with that block's colour bar."""
    maps, predicted = block_activations(model, image)
    if len(maps) != 3:
        raise utils.UserError(f"expected the outputs of 3 conv-block ReLUs, found {len(maps)}")
    plt = utils.pyplot()
    fig = plt.figure(figsize=(6.5, 3.6), layout="constrained")
    grid = fig.add_gridspec(len(maps), MAPS_PER_BLOCK + 2, width_ratios=[2.4] + [1] * MAPS_PER_BLOCK + [0.1])
    photo = fig.add_subplot(grid[:, 0])
    photo.imshow(as_picture(image), interpolation="nearest")
    photo.set_title(f"test image 1: {utils.INTEL_CLASSES[label]}\n(predicted: {utils.INTEL_CLASSES[predicted]})",
                    fontsize=8)
    photo.set_axis_off()
    for row, block_maps in enumerate(maps):
        strongest = block_maps.mean(dim=(1, 2)).argsort(descending=True)[:MAPS_PER_BLOCK]
        top = block_maps[strongest].flatten().quantile(TOP_QUANTILE).item()
        for column, channel in enumerate(strongest.tolist(), 1):
            ax = fig.add_subplot(grid[row, column])
            shown = ax.imshow(block_maps[channel].numpy(), cmap="magma", vmin=0, vmax=top, interpolation="nearest")
            ax.set_title(f"ch {channel + 1}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 1:
                side = block_maps.shape[-1]
                ax.set_ylabel(f"block {row + 1}\n{side} × {side}", fontsize=8)
        bar = fig.colorbar(shown, cax=fig.add_subplot(grid[row, -1]), extend="max")
        bar.ax.tick_params(labelsize=6.5)
    fig.suptitle(f"Activation after each block's ReLU: the {MAPS_PER_BLOCK} channels with the largest mean "
                 f"activation, one colour scale per block", fontsize=9)
    utils.save_figure(fig, stem)


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", default=CHECKPOINT, help="state_dict of CNN(0.1, batch_norm=True)")
    parser.add_argument("--data_path", default="data/intel_landscapes_48x48.npz")
    parser.add_argument("--image", type=int, default=0, help="index of the test image whose maps are drawn")
    parser.add_argument("--out", default="results/q2", help="folder for the figures")
    opt = parser.parse_args(argv)
    model = load_network(opt.checkpoint)
    images, labels = utils.load_intel(opt.data_path)["test"]
    parser.check(0 <= opt.image < len(images), f"--image {opt.image}: expected 0 to {len(images) - 1}")
    out = Path(opt.out)
    plot_filters(model, out / "first_layer_filters")
    utils.write_json(out / "first_layer_filters.json",
                     {"checkpoint": opt.checkpoint, **kernel_statistics(first_convolution(model).weight.detach())})
    plot_activations(model, images[opt.image], labels[opt.image].item(), out / "activation_maps")
    print(f"wrote {out / 'first_layer_filters'}.png/.pdf and {out / 'activation_maps'}.png/.pdf")


if __name__ == "__main__":
    utils.run_main(main)
