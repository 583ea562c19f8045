"""The seed-style pipeline revsearch is compared with: full decode, Resize(256)+CenterCrop(224), batch 1, PyTorch
eager, the same Lite0 weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Naive:
    def __init__(self) -> None:
        import torch
        from torchvision import transforms

        from revsearch.embed.models import LITE0, build_lite0, lite0_weights_path

        self.torch = torch
        self.net = build_lite0(lite0_weights_path()).eval()
        self.transform = transforms.Compose([
            transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
            transforms.Normalize(LITE0.mean, LITE0.std),
        ])

    def decode(self, path: Path):
        from PIL import Image

        with Image.open(path) as im:
            return im.convert("RGB")

    def forward(self, x) -> np.ndarray:
        with self.torch.no_grad():
            feats = self.net(x.unsqueeze(0))
            return self.torch.nn.functional.normalize(feats, dim=1)[0].numpy()

    def embed_file(self, path: Path) -> np.ndarray:
        return self.forward(self.transform(self.decode(path)))

    def index(self, files: list[Path]):
        """Embed every file, one forward pass each, then an exact FAISS index over them."""
        import faiss

        vectors = np.stack([self.embed_file(p) for p in files])
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return index
