"""CLIP image encoders through ``open-clip-torch`` (the ``clip`` extra): ``clip:ARCH``.

``ARCH`` is an open_clip architecture (``ViT-B-32``, ``ViT-B-16``, ``ViT-L-14``, their
``-quickgelu`` twins for OpenAI's weights, ...). The feature of a frame is CLIP's image
embedding: the pooled token projected into the joint image-text space (``encode_image``; 512-d
for ViT-B, 768-d for ViT-L), not L2-normalised (the model's projection follows). Frames get the
model's own preprocessing: shorter side to the input size (bicubic), centre crop, OpenAI's mean
and std.

Weights come only from a local file, never from a hub: a state dict of the architecture, or a
dict ``{"model_cfg": {...}, "state_dict": {...}}`` that also carries the architecture (how the
tests and the demo save tiny random CLIP models; such an ``ARCH`` may be any name).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from mspan_pyg.errors import CheckpointError, ConfigError

from ..preprocess import Preprocess

PREFIX = "clip:"
EXTRA_HINT = 'pip install "mspan-pyg[clip]"'
#: OpenAI CLIP's pixel statistics (every open_clip ViT uses them)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def is_clip(name: str) -> bool:
    return name.startswith(PREFIX)


def require_open_clip():
    try:
        import open_clip
    except ImportError as e:
        raise ConfigError(
            f"CLIP backbones need the optional package 'open_clip' (open-clip-torch; {e}); "
            f"install the extra: {EXTRA_HINT}"
        ) from None
    return open_clip


def clip_preprocess(image_size: int) -> Preprocess:
    """open_clip's evaluation transform: Resize(shorter side) + CenterCrop, bicubic."""
    return Preprocess(image_size, "short_side", "bicubic", 255.0, CLIP_MEAN, CLIP_STD)


class ClipImageEncoder(nn.Module):
    """A CLIP model's image tower: ``[B, 3, S, S]`` -> image embedding ``[B, embed_dim]``."""

    def __init__(self, model: nn.Module, embed_dim: int, image_size: int):
        super().__init__()
        self.visual = model.visual  # the text tower is dropped: frames only
        self.embed_dim, self.image_size = embed_dim, image_size

    def forward(self, x: Tensor) -> Tensor:
        return self.visual(x)


def _read_file(path: str) -> Tuple[Optional[Dict[str, Any]], Dict[str, Tensor]]:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: cannot read the weights file ({e})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a CLIP state dict")
    if "state_dict" in raw and isinstance(raw["state_dict"], dict):
        return raw.get("model_cfg"), raw["state_dict"]
    return None, raw


def _config(open_clip, arch: str, file_cfg: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if file_cfg is not None:
        return dict(file_cfg)
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise ConfigError(
            f"unknown CLIP architecture {arch!r} (open_clip knows e.g. ViT-B-32, ViT-B-16, "
            f"ViT-L-14); a weights file may carry its own 'model_cfg'"
        )
    if "-quickgelu" in arch.lower():
        cfg["quick_gelu"] = True
    return cfg


def build_clip(
    arch: str, weights: Optional[str], random_weights: bool, seed: int
) -> Tuple[ClipImageEncoder, Dict[str, Any]]:
    """The image encoder of ``clip:ARCH`` from a weights file (or random, seeded); returns it
    and the architecture's config (recorded in the provenance)."""
    open_clip = require_open_clip()
    file_cfg, state = _read_file(weights) if weights else (None, None)
    cfg = _config(open_clip, arch, file_cfg)
    if state is None and not random_weights:
        raise ConfigError(
            f"the clip:{arch} appearance backbone needs weights: --appearance-weights PATH (a "
            f"local open_clip state dict; nothing is downloaded), or --random-weights for a test"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = open_clip.CLIP(**cfg)
        except TypeError as e:
            raise ConfigError(f"clip:{arch}: open_clip cannot build this config ({e})") from None
    if state is not None:
        state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            detail = " ".join(str(e).split())[:400]
            raise CheckpointError(f"{weights}: does not fit CLIP {arch}: {detail}") from None
    image_size = cfg["vision_cfg"].get("image_size", 224)
    image_size = image_size[0] if isinstance(image_size, (list, tuple)) else int(image_size)
    encoder = ClipImageEncoder(model, int(cfg["embed_dim"]), image_size)
    return encoder.eval(), cfg


def save_clip(model: nn.Module, model_cfg: Dict[str, Any], path: str) -> str:
    """Saves an open_clip ``CLIP`` with its config, in the format :func:`build_clip` reads."""
    torch.save({"model_cfg": model_cfg, "state_dict": model.state_dict()}, path)
    return path


def tiny_clip_config(embed_dim: int = 32, image_size: int = 32) -> Dict[str, Any]:
    """A tiny ViT CLIP (about 0.1 M parameters) for tests and demos: random weights only."""
    return dict(
        embed_dim=embed_dim,
        vision_cfg=dict(image_size=image_size, layers=2, width=64, patch_size=8, head_width=32),
        text_cfg=dict(context_length=16, vocab_size=1000, width=32, heads=2, layers=1),
    )


def write_tiny_clip(path: str, seed: int = 0, **kw) -> str:
    """A tiny random CLIP saved to ``path`` (the format of a user's local weights file)."""
    open_clip = require_open_clip()
    cfg = tiny_clip_config(**kw)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.CLIP(**cfg)
    return save_clip(model, cfg, path)
