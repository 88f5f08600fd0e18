"""Feature backbones: a name -> network, its input preprocessing, and where its weights came from.

Appearance (one frame ``[B, 3, H, W]`` -> ``[B, D]``):

- ``resnet152`` (the paper's, pool5 2048-d), ``resnet101`` (HCRN's), ``resnet50``: torchvision;
- ``clip:ARCH`` (``clip:ViT-B-32``, ``clip:ViT-B-16``, ``clip:ViT-L-14``, any open_clip
  architecture): CLIP's projected image embedding through open-clip-torch (the ``clip`` extra),
  :mod:`.clip`, weights from a local file only;
- ``pixels``: parameter-free RGB thumbnail: the frame average-pooled to ``g x g`` and flattened,
  plus the per-channel maximum over the frame (``3 g^2 + 3``-d, ``g = 4``; the maximum keeps the
  colour of a small bright object wherever it is). It needs no weights and is what the tests
  and the learns-from-pixels example use (random ImageNet-style networks do not keep colours
  apart reliably).

Motion (a snippet ``[B, 3, L, H, W]`` -> ``[B, D]``):

- ``resnext101``: Hara et al.'s Kinetics 3D ResNeXt-101 (2048-d), :mod:`.resnext3d`;
- ``r3d_18``, ``mc3_18``, ``r2plus1d_18`` (512-d), ``s3d`` (1024-d), ``mvit_v1_b``,
  ``mvit_v2_s`` (768-d; 16 x 224 x 224 input only): torchvision's Kinetics-400 models;
- ``pixels``: the snippet's first and second halves pooled to ``g x g`` (``6 g^2``-d);
- ``none``: no motion features.

Weights come only from a local file (``--appearance-weights PATH``, its SHA-256 recorded), from
torchvision's named weights when asked for by name (``torchvision:IMAGENET1K_V2``; downloads on
an online machine), or are random when asked for (``--random-weights``; seeded, so the same
network is rebuilt to answer questions later). Nothing is ever downloaded implicitly.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Optional

import torch
from torch import Tensor, nn

from mspan_pyg.errors import CheckpointError, ConfigError

from .. import require
from ..preprocess import (
    HARA_MEAN,
    KINETICS_MEAN,
    KINETICS_STD,
    Preprocess,
    compat_preprocess,
)
from .clip import PREFIX as CLIP_PREFIX
from .clip import build_clip, clip_preprocess, is_clip
from .resnext3d import HaraResNeXt3D, load_hara_checkpoint, strip_module_prefix

PIXEL_GRID = 4
_PIXEL_PRE = dict(
    resize="squash",
    interpolation="bilinear",
    pixel_scale=255.0,
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
)


@dataclass(frozen=True)
class Spec:
    """A registered backbone: its output size, default preprocessing and whether it has weights."""

    kind: str
    dim: int
    preprocess: Preprocess
    needs_weights: bool = True
    fixed_size: Optional[int] = None  # input side the architecture insists on


APPEARANCE: Dict[str, Spec] = {
    "resnet152": Spec("appearance", 2048, Preprocess(224)),
    "resnet101": Spec("appearance", 2048, Preprocess(224)),
    "resnet50": Spec("appearance", 2048, Preprocess(224)),
    "pixels": Spec("appearance", 3 * PIXEL_GRID**2 + 3, Preprocess(32, **_PIXEL_PRE), False),
}
_KIN = dict(pixel_scale=255.0, mean=KINETICS_MEAN, std=KINETICS_STD)
MOTION: Dict[str, Spec] = {
    "resnext101": Spec(
        "motion", 2048, Preprocess(112, pixel_scale=1.0, mean=HARA_MEAN, std=(1.0, 1.0, 1.0))
    ),
    "r3d_18": Spec("motion", 512, Preprocess(112, **_KIN)),
    "mc3_18": Spec("motion", 512, Preprocess(112, **_KIN)),
    "r2plus1d_18": Spec("motion", 512, Preprocess(112, **_KIN)),
    "s3d": Spec("motion", 1024, Preprocess(224, **_KIN)),
    "mvit_v1_b": Spec("motion", 768, Preprocess(224, **_KIN), fixed_size=224),
    "mvit_v2_s": Spec("motion", 768, Preprocess(224, **_KIN), fixed_size=224),
    "pixels": Spec("motion", 6 * PIXEL_GRID**2, Preprocess(32, **_PIXEL_PRE), False),
    "none": Spec("motion", 0, Preprocess(32, **_PIXEL_PRE), False),
}
TORCHVISION_PREFIX = "torchvision:"


def registry(kind: str) -> Dict[str, Spec]:
    if kind not in ("appearance", "motion"):
        raise ConfigError(f"backbone kind must be appearance or motion, got {kind!r}")
    return APPEARANCE if kind == "appearance" else MOTION


def spec(kind: str, name: str) -> Spec:
    if kind == "appearance" and is_clip(name):  # any open_clip architecture; dim from the model
        return Spec("appearance", 0, clip_preprocess(224))
    table = registry(kind)
    if name not in table:
        extra = f", {CLIP_PREFIX}ARCH" if kind == "appearance" else ""
        raise ConfigError(f"unknown {kind} backbone {name!r}; valid: {', '.join(table)}{extra}")
    return table[name]


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------ networks
class PixelThumbnail(nn.Module):
    """Each frame average-pooled to ``grid x grid`` and flattened, and its per-channel maximum
    (``3 grid^2 + 3``-d; no parameters)."""

    def __init__(self, grid: int = PIXEL_GRID):
        super().__init__()
        self.grid = grid

    def forward(self, x: Tensor) -> Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(x, self.grid).flatten(1)
        return torch.cat([pooled, x.amax(dim=(2, 3))], dim=1)


class PixelSnippet(nn.Module):
    """Average-pools a snippet to ``2 x grid x grid`` (its two halves), flattened (``6 grid^2``)."""

    def __init__(self, grid: int = PIXEL_GRID):
        super().__init__()
        self.grid = grid

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.adaptive_avg_pool3d(x, (2, self.grid, self.grid)).flatten(1)


class _Pooled(nn.Module):
    """A torchvision video network without its classifier, pooled to ``[B, D]``."""

    def __init__(self, net: nn.Module, head: Callable[[nn.Module], None]):
        super().__init__()
        head(net)
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        y = self.net(x)
        return y.flatten(2).mean(-1) if y.dim() > 2 else y


def _drop_fc(net):
    net.fc = nn.Identity()


def _drop_s3d_head(net):
    net.classifier = nn.Identity()  # leaves [B, 1024, T', 1, 1] after avgpool; _Pooled averages


def _drop_mvit_head(net):
    net.head = nn.Identity()


_TV_HEADS = {
    "resnet152": _drop_fc,
    "resnet101": _drop_fc,
    "resnet50": _drop_fc,
    "r3d_18": _drop_fc,
    "mc3_18": _drop_fc,
    "r2plus1d_18": _drop_fc,
    "s3d": _drop_s3d_head,
    "mvit_v1_b": _drop_mvit_head,
    "mvit_v2_s": _drop_mvit_head,
}


def _torchvision_net(name: str, weights_enum=None) -> nn.Module:
    tv = require("torchvision")
    if name in ("resnet152", "resnet101", "resnet50"):
        return getattr(tv.models, name)(weights=weights_enum)
    return getattr(tv.models.video, name)(weights=weights_enum)


def _load_file(net: nn.Module, name: str, path: str) -> None:
    if name == "resnext101":
        load_hara_checkpoint(net, path)
        return
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: cannot read the weights file ({e})") from None
    state = raw.get("state_dict", raw.get("model", raw)) if isinstance(raw, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict")
    try:
        net.load_state_dict(strip_module_prefix(state))
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:400]
        raise CheckpointError(f"{path}: does not fit torchvision's {name}: {detail}") from None


class Backbone(nn.Module):
    """A feature network with its preprocessing and provenance.

    Args:
        kind: "appearance" or "motion".
        name: a key of :data:`APPEARANCE` / :data:`MOTION`.
        net: the network (``None`` for ``none``).
        preprocess: how its frames are resized and normalised.
        weights: provenance of the weights (``{"source": ..., ...}``).
    """

    def __init__(
        self,
        kind: str,
        name: str,
        net: Optional[nn.Module],
        preprocess: Preprocess,
        weights: Dict[str, Any],
    ):
        super().__init__()
        self.kind, self.name, self.net = kind, name, net
        self.preprocess = preprocess
        self.weights = weights
        self.dim = getattr(net, "embed_dim", None) or spec(kind, name).dim

    @torch.no_grad()
    def forward(self, frames: Tensor) -> Tensor:
        """uint8 ``[B, H, W, 3]`` (appearance) or ``[B, L, H, W, 3]`` (motion) -> ``[B, D]``."""
        x = self.preprocess.normalise(frames)
        if self.kind == "motion":
            x = x.transpose(1, 2)  # [B, L, 3, H, W] -> [B, 3, L, H, W]
        return self.net(x).float()

    def provenance(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "dim": self.dim,
            "weights": dict(self.weights),
            "preprocess": self.preprocess.describe(),
        }

    def __repr__(self) -> str:
        return (
            f"Backbone({self.kind}={self.name}, dim={self.dim}, weights={self.weights['source']})"
        )


def build_backbone(
    kind: str,
    name: str,
    weights: Optional[str] = None,
    random_weights: bool = False,
    seed: int = 0,
    size: Optional[int] = None,
    compat: Optional[str] = None,
    expected_sha256: Optional[str] = None,
) -> Backbone:
    """Builds a :class:`Backbone` in eval mode on the CPU.

    Args:
        kind: "appearance" or "motion".
        name: the backbone (see the module docstring).
        weights: a weights file, or ``"torchvision:NAME"`` for torchvision's named weights.
        random_weights: allow random weights (seeded by ``seed``) when ``weights`` is ``None``.
        seed: the seed of random weights.
        size: input side (default: the backbone's); a fixed-size architecture refuses others.
        compat: ``"mspan"`` / ``"hcrn"``: the original scripts' preprocessing
            (:func:`~mspan_pyg.video.preprocess.compat_preprocess`).
        expected_sha256: the weights file must have this digest (re-extraction for ``answer``).
    """
    s = spec(kind, name)
    if is_clip(name):
        return _build_clip_backbone(name, weights, random_weights, seed, size, expected_sha256)
    pre = s.preprocess
    if compat and name in ("resnet152", "resnet101", "resnet50", "resnext101"):
        pre = compat_preprocess(kind, compat)
    if size:
        if s.fixed_size and size != s.fixed_size:
            raise ConfigError(
                f"{name} takes {s.fixed_size} x {s.fixed_size} input only, not {size}"
            )
        pre = replace(pre, size=int(size))
    if name == "none":
        return Backbone(kind, name, None, pre, {"source": "none"})
    if not s.needs_weights:
        if weights:
            raise ConfigError(f"the {name} {kind} backbone has no weights; drop the weights option")
        net = PixelThumbnail() if kind == "appearance" else PixelSnippet()
        return Backbone(kind, name, net.eval(), pre, {"source": "none (parameter-free)"})
    flag = f"--{kind}-weights"
    if weights and weights.startswith(TORCHVISION_PREFIX):
        if name == "resnext101":
            raise ConfigError("resnext101 (Hara et al.) has no torchvision weights; give the file")
        tv = require("torchvision")
        label = weights[len(TORCHVISION_PREFIX) :]
        try:
            enum = tv.models.get_model_weights(name)[label]
        except KeyError:
            valid = ", ".join(w.name for w in tv.models.get_model_weights(name))
            raise ConfigError(
                f"{flag}: {name} has no torchvision weights {label!r}; valid: {valid}"
            ) from None
        net = _torchvision_net(name, enum)  # an explicit request: downloads when not cached
        info = {
            "source": "torchvision",
            "name": f"{type(enum).__name__}.{enum.name}",
            "url": enum.url,
        }
    elif weights:
        info = _weights_file_info(weights, flag, expected_sha256)
        net = HaraResNeXt3D() if name == "resnext101" else _torchvision_net(name)
        _load_file(net, name, weights)
    elif random_weights:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = HaraResNeXt3D() if name == "resnext101" else _torchvision_net(name)
        info = {"source": "random", "seed": int(seed)}
    else:
        raise ConfigError(
            f"the {name} {kind} backbone needs weights: {flag} PATH (a local file), {flag} "
            f"torchvision:NAME (torchvision's named weights, downloaded on an online machine), or "
            f"--random-weights for a test run (marked as such in the file)"
        )
    if name != "resnext101":
        _TV_HEADS[name](net)
        if name not in ("resnet152", "resnet101", "resnet50"):
            net = _Pooled(net, lambda n: None)
    return Backbone(kind, name, net.eval(), pre, info)


def _weights_file_info(weights: str, flag: str, expected_sha256: Optional[str]) -> Dict[str, Any]:
    """The provenance of a local weights file: its name and SHA-256, which must be
    ``expected_sha256`` when given (re-extraction for ``answer``)."""
    if not os.path.isfile(weights):
        raise ConfigError(f"{flag}: weights file {weights} not found")
    digest = sha256_of(weights)
    if expected_sha256 and digest != expected_sha256:
        raise CheckpointError(
            f"{weights}: SHA-256 {digest[:16]}... differs from the {expected_sha256[:16]}... "
            f"the features were extracted with"
        )
    return {"source": "file", "file": os.path.basename(weights), "sha256": digest}


def _build_clip_backbone(name, weights, random_weights, seed, size, expected_sha256) -> Backbone:
    """``clip:ARCH`` from a local file (or random); its preprocessing is the model's own,
    whatever ``--compat`` says (that option is about the ResNet/ResNeXt scripts)."""
    arch = name[len(CLIP_PREFIX) :]
    info: Dict[str, Any]
    if weights:
        if weights.startswith(TORCHVISION_PREFIX):
            raise ConfigError(f"{name} has no torchvision weights; give a local weights file")
        info = _weights_file_info(weights, "--appearance-weights", expected_sha256)
    else:
        info = {"source": "random", "seed": int(seed)}
    net, _ = build_clip(arch, weights, random_weights and not weights, seed)
    if size and size != net.image_size:
        side = net.image_size
        raise ConfigError(f"{name} takes {side} x {side} input only, not {size}")
    info["embed_dim"], info["image_size"] = net.embed_dim, net.image_size
    return Backbone("appearance", name, net, clip_preprocess(net.image_size), info)


def rebuild_backbone(
    kind: str,
    provenance: Dict[str, Any],
    weights: Optional[str] = None,
    compat: Optional[str] = None,
) -> Backbone:
    """The backbone a feature file's provenance describes (for answering a new video).

    Random and parameter-free backbones are rebuilt as they were; a weights file must be given
    again (``weights``; its SHA-256 must match), and torchvision's named weights are used again
    only when ``weights`` names them.
    """
    name = provenance["name"]
    source = provenance["weights"]["source"]
    size = provenance["preprocess"]["size"]
    flag = f"--{kind}-weights"
    if source == "random":
        b = build_backbone(
            kind,
            name,
            random_weights=True,
            seed=provenance["weights"]["seed"],
            size=size,
            compat=compat,
        )
    elif source == "file":
        if not weights:
            raise ConfigError(
                f"the checkpoint's features were extracted with the {name} {kind} backbone from "
                f"{provenance['weights']['file']} "
                f"(SHA-256 {provenance['weights']['sha256'][:16]}...); "
                f"pass that file with {flag} PATH"
            )
        b = build_backbone(
            kind,
            name,
            weights,
            size=size,
            compat=compat,
            expected_sha256=provenance["weights"]["sha256"],
        )
    elif source == "torchvision":
        wanted = TORCHVISION_PREFIX + provenance["weights"]["name"].split(".")[-1]
        if weights != wanted:
            raise ConfigError(
                f"the checkpoint's features were extracted with torchvision's "
                f"{provenance['weights']['name']}; pass {flag} {wanted}"
            )
        b = build_backbone(kind, name, weights, size=size, compat=compat)
    else:
        b = build_backbone(kind, name, size=size, compat=compat)
    recorded = provenance["preprocess"]
    if b.preprocess.describe() != recorded:
        b.preprocess = Preprocess(
            size=recorded["size"],
            resize=recorded["resize"],
            interpolation=recorded["interpolation"],
            pixel_scale=recorded["pixel_scale"],
            mean=tuple(recorded["mean"]),
            std=tuple(recorded["std"]),
        )
    return b


__all__ = [
    "APPEARANCE",
    "MOTION",
    "Backbone",
    "HaraResNeXt3D",
    "build_backbone",
    "rebuild_backbone",
    "sha256_of",
    "spec",
]
