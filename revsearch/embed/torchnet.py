"""The PyTorch front end shared by every model (kept apart so that only the torch path imports torch)."""

from __future__ import annotations

import torch
from torch import nn


class FeatureNet(nn.Module):
    """uint8 NHWC batch → L2-normalised pooled features; the shared front end of every model."""

    def __init__(self, body: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.body = body
        std_t = torch.tensor(std, dtype=torch.float32) * 255.0
        self.register_buffer("scale", (1.0 / std_t).view(1, 3, 1, 1))
        self.register_buffer("shift", (-torch.tensor(mean, dtype=torch.float32) / torch.tensor(std)).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2).float() * self.scale + self.shift
        feats = self.body(x)
        return nn.functional.normalize(feats, dim=1)
