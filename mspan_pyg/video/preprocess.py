"""Resize and normalisation of frames before a backbone.

Resizing happens in the decoding workers (uint8 out, so little crosses between processes);
normalisation happens batched on the backbone's device. Two resize modes:

- ``crop``: shorter side to ``round(size * 8 / 7)`` (256 for 224, 128 for 112) then a centre
  ``size x size`` crop: the shape the ImageNet / Kinetics models were trained on;
- ``squash``: straight to ``size x size`` (aspect ratio lost), as ``scipy.misc.imresize(frame,
  (size, size), 'bicubic')`` did in the MSPAN and HCRN extraction scripts;
- ``short_side``: shorter side to exactly ``size``, then a centre crop: CLIP's own transform
  (torchvision's ``Resize(size)`` + ``CenterCrop(size)``).

:func:`compat_preprocess` gives those scripts' exact settings (``--compat mspan|hcrn``): squashed
bicubic resize to 224 (appearance) and 112 (motion), ImageNet mean with their std typo
``(0.229, 0.224, 0.224)`` for appearance, and unnormalised 0..255 motion input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Tuple

import numpy as np
import torch

from mspan_pyg.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The extraction scripts of HCRN and MSPAN typed the blue std as 0.224.
IMAGENET_STD_TYPO = (0.229, 0.224, 0.224)
#: torchvision's Kinetics-400 video models.
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
#: Hara et al. train on 0..255 pixels minus the ActivityNet mean, no std division.
HARA_MEAN = (114.7748, 107.7354, 99.4750)
COMPAT = ("mspan", "hcrn")


@dataclass(frozen=True)
class Preprocess:
    """How frames reach a backbone.

    Args:
        size: output side (square), e.g. 224 (appearance) or 112 (motion).
        resize: ``"crop"`` (aspect-preserving resize + centre crop), ``"squash"`` or
            ``"short_side"`` (CLIP's: shorter side to ``size`` + centre crop).
        interpolation: ``"bilinear"`` or ``"bicubic"`` (PIL filters).
        pixel_scale: pixels are divided by this before ``mean``/``std`` (255.0 or 1.0).
        mean, std: per-channel RGB statistics in the divided units.
    """

    size: int
    resize: str = "crop"
    interpolation: str = "bilinear"
    pixel_scale: float = 255.0
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self):
        if self.size < 1:
            raise ConfigError(f"image size must be >= 1, got {self.size}")
        if self.resize not in ("crop", "squash", "short_side"):
            raise ConfigError(f"resize must be crop, squash or short_side, got {self.resize!r}")
        if self.interpolation not in ("bilinear", "bicubic"):
            raise ConfigError(
                f"interpolation must be bilinear or bicubic, got {self.interpolation!r}"
            )

    def resize_frame(self, rgb: np.ndarray) -> np.ndarray:
        """``[H, W, 3]`` uint8 -> ``[size, size, 3]`` uint8."""
        from PIL import Image

        img = Image.fromarray(rgb)
        filt = Image.BICUBIC if self.interpolation == "bicubic" else Image.BILINEAR
        s = self.size
        if self.resize == "squash":
            return np.asarray(img.resize((s, s), filt))
        w, h = img.size
        if self.resize == "short_side":  # torchvision's Resize(s): the long side truncated
            nw, nh = (s, max(s, int(s * h / w))) if w <= h else (max(s, int(s * w / h)), s)
        else:
            short = max(s, round(s * 8 / 7))
            if w <= h:
                nw, nh = short, max(short, round(h * short / w))
            else:
                nw, nh = max(short, round(w * short / h)), short
        img = img.resize((nw, nh), filt)
        left, top = (nw - s) // 2, (nh - s) // 2
        return np.asarray(img.crop((left, top, left + s, top + s)))

    def normalise(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``[..., size, size, 3]`` -> float ``[..., 3, size, size]`` normalised."""
        x = frames.movedim(-1, -3).float()
        shape = (3, 1, 1)
        mean = torch.tensor(self.mean, device=x.device).view(shape)
        std = torch.tensor(self.std, device=x.device).view(shape)
        return (x / self.pixel_scale - mean) / std

    def describe(self) -> Dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


def compat_preprocess(kind: str, compat: str, size: int = 0) -> Preprocess:
    """The MSPAN / HCRN scripts' preprocessing of ``kind`` ("appearance" or "motion")."""
    if compat not in COMPAT:
        raise ConfigError(f"unknown --compat {compat!r}; valid: {', '.join(COMPAT)}")
    if kind == "appearance":
        return Preprocess(size or 224, "squash", "bicubic", 255.0, IMAGENET_MEAN, IMAGENET_STD_TYPO)
    return Preprocess(size or 112, "squash", "bicubic", 1.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
