"""The 3D ResNeXt-101 of Hara et al. (CVPR 2018) that the MSPAN and HCRN motion features came from.

It is in no package, so it is written here, with the module names of the authors' Kinetics
checkpoint (``resnext-101-kinetics.pth``: ``{"state_dict": {"module.conv1.weight": ...}}``, saved
from ``nn.DataParallel``) so that :func:`load_hara_checkpoint` loads it strictly. Only the
projection shortcut (the checkpoint's ``shortcut_type='B'``) is provided.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from mspan_pyg.errors import CheckpointError


class HaraBottleneck(nn.Module):
    r"""ResNeXt bottleneck with 3D convolutions:

    .. math::
        \mathbf{y} = \mathrm{ReLU}\big(\mathrm{BN}(W_3 * \mathrm{ReLU}(\mathrm{BN}(W_2 *_{g}
        \mathrm{ReLU}(\mathrm{BN}(W_1 * \mathbf{x}))))) + \mathrm{shortcut}(\mathbf{x})\big)

    with :math:`W_1, W_3` 1x1x1 and :math:`W_2` a 3x3x3 convolution in ``cardinality`` groups.

    Args:
        in_planes (int): input channels.
        planes (int): block width; the output has ``2 * planes`` channels.
        cardinality (int, optional): groups of the 3x3x3 convolution. (default: :obj:`32`)
        stride (int, optional): stride of the 3x3x3 convolution. (default: :obj:`1`)
        downsample (nn.Module, optional): shortcut projection. (default: :obj:`None`)
    """

    expansion = 2

    def __init__(
        self,
        in_planes: int,
        planes: int,
        cardinality: int = 32,
        stride: int = 1,
        downsample: Optional[nn.Module] = None,
    ):
        super().__init__()
        mid = cardinality * (planes // 32)
        self.conv1 = nn.Conv3d(in_planes, mid, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid)
        self.conv2 = nn.Conv3d(
            mid, mid, kernel_size=3, stride=stride, padding=1, groups=cardinality, bias=False
        )
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3 = nn.Conv3d(mid, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class HaraResNeXt3D(nn.Module):
    r"""3D ResNeXt of Hara et al.; :meth:`forward` returns the pooled clip feature.

    Stem: 7x7x7 convolution (stride 1, 2, 2), BN, ReLU, 3x3x3 max-pool (stride 2); four stages of
    :class:`HaraBottleneck` of widths 128, 256, 512, 1024 (strides 1, 2, 2, 2); global average
    pooling gives a :math:`2 \cdot 1024 = 2048`-d feature (for a 16 x 112 x 112 clip the final map
    is 1 x 4 x 4, the window of the original ``AvgPool3d``). The Kinetics classifier ``fc`` is kept
    so that the public checkpoint loads strictly; :meth:`classify` applies it.

    Args:
        layers (Sequence[int], optional): blocks per stage; ResNeXt-101 is ``(3, 4, 23, 3)``.
            (default: :obj:`(3, 4, 23, 3)`)
        cardinality (int, optional): groups of every 3x3x3 convolution. (default: :obj:`32`)
        num_classes (int, optional): classifier outputs (Kinetics-400). (default: :obj:`400`)
    """

    def __init__(
        self, layers: Sequence[int] = (3, 4, 23, 3), cardinality: int = 32, num_classes: int = 400
    ):
        super().__init__()
        self.layers_config = tuple(layers)
        self.cardinality = cardinality
        self.conv1 = nn.Conv3d(3, 64, kernel_size=7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        in_planes = 64
        stages = []
        for i, (planes, blocks) in enumerate(zip((128, 256, 512, 1024), layers)):
            stride = 1 if i == 0 else 2
            downsample = None
            if stride != 1 or in_planes != planes * HaraBottleneck.expansion:
                downsample = nn.Sequential(
                    nn.Conv3d(
                        in_planes,
                        planes * HaraBottleneck.expansion,
                        kernel_size=1,
                        stride=stride,
                        bias=False,
                    ),
                    nn.BatchNorm3d(planes * HaraBottleneck.expansion),
                )
            stage = [HaraBottleneck(in_planes, planes, cardinality, stride, downsample)]
            in_planes = planes * HaraBottleneck.expansion
            stage += [HaraBottleneck(in_planes, planes, cardinality) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_dim = in_planes
        self.fc = nn.Linear(in_planes, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm3d):
                m.reset_parameters()
        self.fc.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, 3, T, H, W]`` -> ``[B, 2048]`` pooled feature (before ``fc``)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3, 4))

    def classify(self, x: Tensor) -> Tensor:
        return self.fc(self.forward(x))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(layers={self.layers_config}, "
            f"cardinality={self.cardinality}, out_dim={self.out_dim})"
        )


def strip_module_prefix(state: Dict[str, Any]) -> Dict[str, Any]:
    """Drops the ``module.`` prefix ``nn.DataParallel`` put on every key."""
    return {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}


def load_hara_checkpoint(model: nn.Module, path: str) -> None:
    """Loads Hara et al.'s checkpoint (``{"state_dict": ...}`` with ``module.`` keys, or a bare
    state dict) strictly into ``model``; a :class:`CheckpointError` says what does not fit."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch.load raises many kinds for a bad file
        raise CheckpointError(f"{path}: cannot read the weights file ({e})") from None
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict or {{'state_dict': ...}}")
    try:
        model.load_state_dict(strip_module_prefix(state))
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:400]
        raise CheckpointError(f"{path}: not a 3D ResNeXt-101 checkpoint: {detail}") from None
