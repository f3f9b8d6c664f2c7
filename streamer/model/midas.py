"""MiDaS v2.1 small (`MiDaS_small`) as isl-org/MiDaS builds it: timm's tf_efficientnet_lite3 + the MiDaS decoder.

Module names mirror the official ones (`pretrained.layerN`, `scratch.layerN_rn`, `scratch.refinenetN`,
`scratch.output_conv`) so the official state dict loads key for key, with no renaming table to drift.
"""
from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from timm.models.efficientnet import EfficientNet
from torch import nn

from streamer.model.weights import LoadedWeights, load_into

BACKBONE = "tf_efficientnet_lite3"
FEATURES = 64  # decoder width of the small model; the expanded decoder uses 64/128/256/512
BACKBONE_CHANNELS = (32, 48, 136, 384)  # backbone features at strides 4, 8, 16, 32


class ResidualConvUnit(nn.Module):
    """relu -> conv3x3 -> relu -> conv3x3, plus the input (MiDaS `ResidualConvUnit_custom`, bn=False, groups=1)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not in place: `x` is needed again for the skip connection.
        out = self.conv1(F.relu(x))
        out = self.conv2(F.relu(out))
        return out + x


class FeatureFusionBlock(nn.Module):
    """Fuse the coarser path with a skip feature, upsample x2 (align_corners=True as in MidasNet_small), project."""

    def __init__(self, features: int, expand: bool) -> None:
        super().__init__()
        out_features = features // 2 if expand else features
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, out_features, 1, bias=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class Interpolate(nn.Module):
    """x2 bilinear upsampling inside `output_conv` (the official `Interpolate`, align_corners=False)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class _Encoder(nn.Module):
    """The backbone's four stages (the official `pretrained.layer1..4`); declared here so they are typed."""

    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential


class _Decoder(nn.Module):
    """The decoder (the official `scratch.*`); declared here so its parts are typed."""

    layer1_rn: nn.Conv2d
    layer2_rn: nn.Conv2d
    layer3_rn: nn.Conv2d
    layer4_rn: nn.Conv2d
    refinenet1: FeatureFusionBlock
    refinenet2: FeatureFusionBlock
    refinenet3: FeatureFusionBlock
    refinenet4: FeatureFusionBlock
    output_conv: nn.Sequential


class MidasSmall(nn.Module):
    """Relative inverse depth from an ImageNet-normalised RGB batch (N x 3 x H x W, H and W multiples of 32).

    Returns N x H x W, non-negative; larger values are nearer.
    """

    def __init__(self) -> None:
        super().__init__()
        # The official weights carry the backbone too, so timm's own ImageNet weights are never fetched.
        effnet = timm.create_model(BACKBONE, pretrained=False)
        assert isinstance(effnet, EfficientNet)
        self.pretrained = _Encoder()
        # timm folds the stem activation into bn1 (BatchNormAct2d); the Identity keeps the official index 2.
        self.pretrained.layer1 = nn.Sequential(effnet.conv_stem, effnet.bn1, nn.Identity(), *effnet.blocks[0:2])
        self.pretrained.layer2 = nn.Sequential(*effnet.blocks[2:3])
        self.pretrained.layer3 = nn.Sequential(*effnet.blocks[3:5])
        self.pretrained.layer4 = nn.Sequential(*effnet.blocks[5:9])

        f1, f2, f3, f4 = FEATURES, FEATURES * 2, FEATURES * 4, FEATURES * 8
        self.scratch = _Decoder()
        for i, (cin, cout) in enumerate(zip(BACKBONE_CHANNELS, (f1, f2, f3, f4), strict=True), start=1):
            setattr(self.scratch, f"layer{i}_rn", nn.Conv2d(cin, cout, 3, padding=1, bias=False))
        self.scratch.refinenet4 = FeatureFusionBlock(f4, expand=True)
        self.scratch.refinenet3 = FeatureFusionBlock(f3, expand=True)
        self.scratch.refinenet2 = FeatureFusionBlock(f2, expand=True)
        self.scratch.refinenet1 = FeatureFusionBlock(f1, expand=False)
        self.scratch.output_conv = nn.Sequential(
            nn.Conv2d(FEATURES, FEATURES // 2, 3, padding=1),
            Interpolate(),
            nn.Conv2d(FEATURES // 2, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 1, 1),
            nn.ReLU(),  # non_negative=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, s = self.pretrained, self.scratch
        layer_1 = p.layer1(x)
        layer_2 = p.layer2(layer_1)
        layer_3 = p.layer3(layer_2)
        layer_4 = p.layer4(layer_3)
        path = s.refinenet4(s.layer4_rn(layer_4))
        path = s.refinenet3(path, s.layer3_rn(layer_3))
        path = s.refinenet2(path, s.layer2_rn(layer_2))
        path = s.refinenet1(path, s.layer1_rn(layer_1))
        return s.output_conv(path).squeeze(1)


def build_network(weights: LoadedWeights) -> MidasSmall:
    """MidasSmall with `weights` strictly loaded, in eval mode."""
    model = MidasSmall()
    load_into(model, weights)
    return model.eval()
