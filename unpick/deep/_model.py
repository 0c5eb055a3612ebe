"""The 3-D ResUNet (DeepETPicker style) and the torch device switch."""

from __future__ import annotations

import logging

import torch
from torch import nn

from .._shared import UnpickInputError
from ._config import NORMS, TORCH_DEVICES

logger = logging.getLogger(__name__)

DOWNSAMPLINGS = 3  # 4 levels: inputs must be a multiple of 2**3 = 8 voxels on every axis


def resolve_device(device: str) -> torch.device:
    """Map 'cpu', 'gpu' or 'auto' to a torch device ('auto' uses CUDA when present)."""
    if device not in TORCH_DEVICES:
        raise UnpickInputError(f"device: expected one of {', '.join(TORCH_DEVICES)}, got {device!r}")
    if device == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if device == "gpu":
        raise UnpickInputError(
            "device 'gpu' was asked for but torch sees no CUDA device; "
            "install a CUDA build of torch or use --device cpu"
        )
    logger.info("device auto: torch sees no CUDA device, training/inference run on the CPU")
    return torch.device("cpu")


def channels_last(tensor_or_model):
    """``tensor_or_model`` in the channels-last 3-D memory layout: oneDNN's 3-D convolutions run
    1.4-1.7x faster on it on a CPU (benchmarks/README.md); the values are unchanged."""
    if isinstance(tensor_or_model, nn.Module):
        return tensor_or_model.to(memory_format=torch.channels_last_3d)
    return tensor_or_model.contiguous(memory_format=torch.channels_last_3d)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    groups = max(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class _ResBlock(nn.Module):
    """conv-norm-ELU-conv-norm plus a (1x1x1 projected) shortcut, then ELU."""

    def __init__(self, in_channels: int, out_channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, 3, padding=1, bias=False),
            _norm(norm, out_channels),
            nn.ELU(inplace=True),
            nn.Conv3d(out_channels, out_channels, 3, padding=1, bias=False),
            _norm(norm, out_channels),
        )
        self.shortcut = (
            nn.Identity() if in_channels == out_channels else nn.Conv3d(in_channels, out_channels, 1, bias=False)
        )
        self.act = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def _coordinates(x: torch.Tensor) -> torch.Tensor:
    """Three channels holding the z, y, x position in the patch, scaled to [-1, 1]."""
    batch, _, *spatial = x.shape
    axes = [torch.linspace(-1.0, 1.0, n, device=x.device, dtype=x.dtype) for n in spatial]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"))
    return grid.unsqueeze(0).expand(batch, -1, -1, -1, -1)


class ResUNet3d(nn.Module):
    """3-D residual U-Net with 4 levels that outputs one logit per voxel.

    Follows DeepETPicker (Liu et al., Nat. Commun. 2024): residual blocks with ELU, average
    pooling down, transposed convolutions up, skips summed (not concatenated), optional
    coordinate channels (CoordConv) and image-pyramid inputs, GroupNorm or InstanceNorm
    because batches are small.

    Parameters
    ----------
    widths : tuple of 4 int
        Channels of each level, e.g. (8, 16, 24, 36) (light, CPU) or (24, 48, 72, 108).
    norm : {'group', 'instance'}
    coord_channels : bool
        Append 3 coordinate channels (position in the patch, in [-1, 1]) to the input.
    pyramid : bool
        Concatenate the input, average-pooled to each level's scale, to that level's input.

    Notes
    -----
    Input ``(B, 1, Z, Y, X)`` float32 with every spatial size a multiple of 8; output
    ``(B, 1, Z, Y, X)`` logits.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (8, 16, 24, 36),
        *,
        norm: str = "group",
        coord_channels: bool = False,
        pyramid: bool = True,
    ) -> None:
        super().__init__()
        if len(widths) != DOWNSAMPLINGS + 1:
            raise UnpickInputError(f"widths: expected {DOWNSAMPLINGS + 1} channel counts, got {tuple(widths)!r}")
        if norm not in NORMS:
            raise UnpickInputError(f"norm: expected one of {', '.join(NORMS)}, got {norm!r}")
        self.coord_channels = coord_channels
        self.pyramid = pyramid
        extra = 1 + (3 if coord_channels else 0)  # channels of the (pooled) input image
        self.stem = nn.Conv3d(extra, widths[0], 3, padding=1)
        self.encoders = nn.ModuleList([_ResBlock(widths[0], widths[0], norm)])
        for level in range(1, len(widths)):
            side = extra if pyramid else 0
            self.encoders.append(_ResBlock(widths[level - 1] + side, widths[level], norm))
        self.ups = nn.ModuleList(
            nn.ConvTranspose3d(widths[level], widths[level - 1], 2, stride=2) for level in range(len(widths) - 1, 0, -1)
        )
        self.decoders = nn.ModuleList(
            _ResBlock(widths[level - 1], widths[level - 1], norm) for level in range(len(widths) - 1, 0, -1)
        )
        self.head = nn.Conv3d(widths[0], 1, 1)
        self.pool = nn.AvgPool3d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 1:
            raise UnpickInputError(f"ResUNet3d input: expected shape (B, 1, Z, Y, X), got {tuple(x.shape)}")
        if any(n % 2**DOWNSAMPLINGS for n in x.shape[2:]):
            raise UnpickInputError(
                f"ResUNet3d input: expected every spatial size to be a multiple of 8, got {tuple(x.shape[2:])}; pad it"
            )
        if self.coord_channels:
            x = torch.cat([x, _coordinates(x)], dim=1)
        image = x
        h = self.encoders[0](self.stem(x))
        skips = [h]
        for encoder in self.encoders[1:]:
            h = self.pool(h)
            if self.pyramid:
                image = self.pool(image)
                h = torch.cat([h, image], dim=1)
            h = encoder(h)
            skips.append(h)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips[:-1])):
            h = decoder(up(h) + skip)
        return self.head(h)
