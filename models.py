"""Every network of the homework.

Q2: `ConvBlock` and `CNN`, the image classifiers of the Intel scenes.

Shapes in docstrings use one alphabet: B batch, S source length, T target length,
H hidden size, V vocabulary size; images are (B, 3, 48, 48).
"""
import torch
from torch import nn

# ----------------------------------------------------------------------------- Q2


class ConvBlock(nn.Module):
    """conv (stride 1) -> [batch norm] -> ReLU -> [2x2 max-pool, stride 2] -> dropout.

    The optional layers are `nn.Identity` when switched off, so one class serves both the
    Q2.1 block (statement's Figure 1) and the Q2.2 block (Figure 2).
    """

    def __init__(self, in_channels, out_channels, kernel_size, padding=None, maxpool=True,
                 batch_norm=True, dropout=0.0, bias=True):
        super().__init__()
        if padding is None:
            padding = kernel_size // 2  # keeps the height and width of an odd kernel's input
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=padding, bias=bias)
        self.norm = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2) if maxpool else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """x (B, C_in, h, w) -> (B, C_out, h/2, w/2), or (B, C_out, h, w) without max-pool."""
        return self.dropout(self.pool(self.activation(self.norm(self.conv(x)))))


class CNN(nn.Module):
    """Three conv blocks (32, 64, 128 channels) and an MLP (1024, 512, n_classes).

    `batch_norm=False` is the Q2.1 network: the conv output is flattened into the MLP.
    `batch_norm=True` is the Q2.2 network: batch norm in every conv block, global average
    pooling instead of flattening, and `BatchNorm1d(1024)` just before the MLP's dropout.
    """

    def __init__(self, dropout_prob, maxpool=True, batch_norm=True, conv_bias=True,
                 n_classes=6, image_side=48, channels=(3, 32, 64, 128)):
        super().__init__()
        self.blocks = nn.Sequential(*(
            ConvBlock(c_in, c_out, kernel_size=3, padding=1, maxpool=maxpool, batch_norm=batch_norm,
                      dropout=dropout_prob, bias=conv_bias)
            for c_in, c_out in zip(channels[:-1], channels[1:])
        ))
        if batch_norm:
            self.pool = nn.AdaptiveAvgPool2d((1, 1))
            n_features = channels[-1]
        else:
            self.pool = nn.Identity()
            side = image_side // 2 ** (len(channels) - 1) if maxpool else image_side
            n_features = channels[-1] * side * side
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_features, 1024),
            nn.ReLU(),
            nn.BatchNorm1d(1024) if batch_norm else nn.Identity(),
            nn.Dropout(dropout_prob),
            nn.Linear(1024, 512),
            nn.ReLU(),
            nn.Linear(512, n_classes),
            nn.LogSoftmax(dim=-1),
        )
        self.image_shape = (channels[0], image_side, image_side)

    def forward(self, x):
        """x (B, 3, 48, 48), or flat (B, 6912) read channel-first -> log-probabilities (B, n_classes)."""
        x = x.reshape(x.shape[0], *self.image_shape)
        return self.mlp(self.pool(self.blocks(x)))


def init_kaiming_(model):
    """He-normal weights (fan-in, ReLU gain) and zero biases for every conv and linear layer.

    Torch's default draws weights about 2.4x smaller (uniform with a = sqrt(5)), which
    slows plain SGD down in a ReLU network this deep; the last layer, read by a
    log-softmax rather than a ReLU, keeps torch's default.
    """
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers[:-1]:
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return model


def get_number_trainable_params(model):
    """Number of scalar parameters that the optimiser updates."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
