"""A small PyTorch model with BatchNorm and its digits lineage (the torch twin of ``lineage.py``).

    Linear(64, 128) → BatchNorm1d(128) → ReLU → Linear(128, 10)

:func:`bn_mlp` builds the architecture (the factory a :class:`~driftline.repair.TorchFamily`
needs); :func:`train_torch_lineage` trains the root on ``scenario.base`` and then fine-tunes, from
the parent's weights, one regime after another, so the family shares one basin of the loss
surface as in the scikit-learn recipe. Everything runs on the CPU; call
``torch.set_num_threads(1)`` first on a shared machine. Needs the ``torch`` extra.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from driftline.datasets import DigitsScenario
from driftline.demo.lineage import LineageMember
from driftline.params import ModelParams

__all__ = [
    "ARCHITECTURE",
    "bn_mlp",
    "torch_family",
    "train_torch",
    "train_torch_lineage",
]

N_IN, HIDDEN, N_OUT = 64, 128, 10
ARCHITECTURE = {
    "framework": "torch",
    "class": "driftline.demo.torch_models.bn_mlp",
    "layers": f"Linear({N_IN},{HIDDEN})-BatchNorm1d({HIDDEN})-ReLU-Linear({HIDDEN},{N_OUT})",
}


def bn_mlp(
    n_in: int = N_IN, hidden: int = HIDDEN, n_out: int = N_OUT, seed: int | None = None
) -> Any:
    """``fc1 → bn1 → relu → fc2`` as an ``nn.Sequential`` (named layers, so tensor names read
    ``fc1.weight``, ``bn1.running_mean``, …). ``seed`` seeds the initial weights."""
    from driftline.params.torch_adapter import require_torch

    torch = require_torch()
    nn = torch.nn
    if seed is not None:
        torch.manual_seed(seed)
    return nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(n_in, hidden),
            bn1=nn.BatchNorm1d(hidden),
            relu=nn.ReLU(),
            fc2=nn.Linear(hidden, n_out),
        )
    )


def torch_family() -> Any:
    """A :class:`~driftline.repair.TorchFamily` for :func:`bn_mlp` (classes 0..9)."""
    from driftline.repair import TorchFamily

    return TorchFamily(bn_mlp, classes=np.arange(N_OUT))


def train_torch(
    module: Any,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> Any:
    """``epochs`` passes of Adam minibatch training (cross-entropy) on (X, y), in place; returns
    the module in eval mode. BatchNorm layers update their running statistics as usual."""
    from driftline.params.torch_adapter import require_torch

    torch = require_torch()
    xt = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
    opt = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = len(xt)
    bs = min(batch_size, n)
    module.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            if len(idx) < 2:  # BatchNorm needs two rows in train mode
                continue
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(module(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    module.eval()
    return module


def _member_params(module: Any) -> ModelParams:
    from driftline.params.torch_adapter import module_to_params

    return ModelParams(module_to_params(module), "torch", dict(ARCHITECTURE))


def train_torch_lineage(
    scenario: DigitsScenario,
    *,
    seed: int = 0,
    base_epochs: int = 30,
    finetune_epochs: int = 10,
    lr: float = 1e-3,
) -> list[LineageMember]:
    """Root on ``scenario.base`` (``base_epochs``), then ``finetune_epochs`` on each
    ``scenario.lineage`` regime in turn, each starting from its parent's weights (one continuing
    module, one Adam optimiser per stage)."""
    module = bn_mlp(seed=seed)
    train_torch(module, scenario.base.X, scenario.base.y, epochs=base_epochs, lr=lr, seed=seed)
    members = [
        LineageMember(
            "digits",
            _member_params(module),
            scenario.base,
            None,
            "train",
            {"epochs": base_epochs, "regime": scenario.base.name},
        )
    ]
    for k, regime in enumerate(scenario.lineage, start=1):
        train_torch(module, regime.X, regime.y, epochs=finetune_epochs, lr=lr, seed=seed + k)
        members.append(
            LineageMember(
                "digits",
                _member_params(module),
                regime,
                len(members) - 1,
                "finetune",
                {"epochs": finetune_epochs, "regime": regime.name},
            )
        )
    return members
