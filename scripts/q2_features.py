#!/usr/bin/env python
"""What the trained Q2.2 network looks at: its first-layer filters and one image's activation maps.

    python -m scripts.q2_features        # make q2-features, after make q2

Reads the state_dict that make q2 saves for Q2.2 at seed 42 and writes, beside it in results/q2/,
first_layer_filters.png/.pdf (the 32 kernels of the first convolution, each drawn as a 3 x 3
colour image) and activation_maps.png/.pdf (one test image and, after each conv block's ReLU, the
maps of the channels that respond most strongly to it). The network runs in eval mode, as it is
tested.
"""
from pathlib import Path

import torch
from torch import nn

import utils
from models import CNN

CHECKPOINT = "results/q2/q22-lr0.01-seed42/model.pt"
MAPS_PER_BLOCK = 8


def load_network(path):
    """The Q2.2 network (batch norm, global average pooling) with the weights of `path`, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise utils.UserError(f"{path}: no such checkpoint; `make q2` trains Q2.2 (seed 42) and saves it there")
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


def kernel_picture(kernel):
    """(3, k, k) weights -> (k, k, 3) array in [0, 1] with zero at mid-grey, so a kernel's sign pattern shows."""
    return (0.5 + 0.5 * kernel / (kernel.abs().max() + 1e-12)).permute(1, 2, 0).numpy()


def plot_filters(model, stem):
    weights = first_convolution(model).weight.detach()  # (32, 3, 3, 3)
    columns = 8
    rows = -(-len(weights) // columns)
    plt = utils.pyplot()
    fig, axes = plt.subplots(rows, columns, figsize=(6.4, 0.72 * rows + 0.3), layout="constrained")
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < len(weights):
            ax.imshow(kernel_picture(weights[k]), interpolation="nearest")
            ax.set_title(f"{k + 1}", fontsize=8)
    fig.suptitle("The 32 first-layer kernels of Q2.2, 3 × 3 × RGB (grey is 0; each scaled to its largest weight)",
                 fontsize=9.5)
    utils.save_figure(fig, stem)


def plot_activations(model, image, label, stem):
    maps, predicted = block_activations(model, image)
    if len(maps) != 3:
        raise utils.UserError(f"expected the outputs of 3 conv-block ReLUs, found {len(maps)}")
    plt = utils.pyplot()
    fig = plt.figure(figsize=(6.4, 2.6), layout="constrained")
    grid = fig.add_gridspec(len(maps), MAPS_PER_BLOCK + 1, width_ratios=[3] + [1] * MAPS_PER_BLOCK)
    photo = fig.add_subplot(grid[:, 0])
    photo.imshow(as_picture(image), interpolation="nearest")
    photo.set_title(f"a test image: {utils.INTEL_CLASSES[label]}\n(predicted {utils.INTEL_CLASSES[predicted]})",
                    fontsize=8)
    photo.set_axis_off()
    for row, block_maps in enumerate(maps):
        strongest = block_maps.mean(dim=(1, 2)).argsort(descending=True)[:MAPS_PER_BLOCK]
        for column, channel in enumerate(strongest.tolist(), 1):
            ax = fig.add_subplot(grid[row, column])
            ax.imshow(block_maps[channel].numpy(), cmap="magma", interpolation="nearest")
            ax.set_title(f"ch {channel + 1}", fontsize=7.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 1:
                side = block_maps.shape[-1]
                ax.set_ylabel(f"block {row + 1}\n{side} × {side}", fontsize=8)
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
    plot_activations(model, images[opt.image], labels[opt.image].item(), out / "activation_maps")
    print(f"wrote {out / 'first_layer_filters'}.png/.pdf and {out / 'activation_maps'}.png/.pdf")


if __name__ == "__main__":
    utils.run_main(main)
