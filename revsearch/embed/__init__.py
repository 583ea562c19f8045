"""Embedding models: the registry, the loaded embedder and the batched decode + inference pipeline."""

from revsearch.embed.embedder import Embedder
from revsearch.embed.models import REGISTRY, WeightsUnavailable, default_model

__all__ = ["Embedder", "REGISTRY", "WeightsUnavailable", "default_model"]
