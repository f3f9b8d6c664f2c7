"""The network to train: start weights, frozen parts (backbone BatchNorm, or the whole encoder), optimizer groups."""
from __future__ import annotations

from torch import nn

from streamer.model import build_network
from streamer.model.weights import read_state_dict

ENCODER = "pretrained."  # the official name of the EfficientNet-Lite3 backbone's subtree


def load_start(weights: str | None, state_dict: dict | None = None) -> nn.Module:
    """MidasSmall from a weights file (strict, official layout) or from a checkpoint's state dict."""
    from streamer.model.midas import MidasSmall
    from streamer.model.weights import resolve_weights_path

    if state_dict is not None:
        model = MidasSmall()
        model.load_state_dict(state_dict, strict=True)
        return model
    return build_network(read_state_dict(resolve_weights_path(weights)))


def frozen_modules(model: nn.Module, freeze_backbone: bool, freeze_bn: bool) -> list[nn.Module]:
    """Modules that stay in eval mode while training, with their parameters' requires_grad turned off."""
    if freeze_backbone:
        frozen = [model.get_submodule("pretrained")]
    elif freeze_bn:
        encoder = model.get_submodule("pretrained")
        frozen = [m for m in encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    else:
        frozen = []
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return frozen


def set_train_mode(model: nn.Module, frozen: list[nn.Module]) -> None:
    # model.train() flips every module; frozen BatchNorm must keep using (and not update) its running statistics.
    model.train()
    for module in frozen:
        module.eval()


def param_groups(model: nn.Module, lr: float, encoder_lr_scale: float, weight_decay: float) -> list[dict]:
    """Encoder at lr * encoder_lr_scale (it is already trained), decoder at lr; no decay on biases and norms."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.setdefault((name.startswith(ENCODER), p.ndim > 1), []).append(p)
    return [{"params": params, "lr": lr * (encoder_lr_scale if enc else 1.0),
             "weight_decay": weight_decay if decay else 0.0, "name": f"{'encoder' if enc else 'decoder'}"
             f"{'' if decay else '_nodecay'}"}
            for (enc, decay), params in sorted(groups.items())]
