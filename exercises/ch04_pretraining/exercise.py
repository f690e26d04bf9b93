"""Chapter 4 exercises: the three pieces of a pretraining recipe that Lightning does not write for you.

Replace each `raise NotImplementedError` with your code, then run `pytest exercises/ch04_pretraining`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def cosine_lr(step: int, lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    """Learning rate for optimizer step `step` (counted from 0).

    - warmup: for step < warmup_steps, rise linearly so that step 0 gets lr / warmup_steps and step
      warmup_steps - 1 gets the full lr;
    - decay: from warmup_steps to max_steps, follow half a cosine from lr down to min_lr;
    - after max_steps: stay at min_lr.
    """
    raise NotImplementedError


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW parameter groups: [{"params": [...], "weight_decay": weight_decay}, {"params": [...],
    "weight_decay": 0.0}].

    Weight decay goes on the weights of the matrix multiplies (nn.Linear weights) only. Norm parameters
    (nn.LayerNorm, mosslite's RMSNorm), every bias and the embedding tables (nn.Embedding) get none. Each
    parameter appears exactly once, even when two modules share it (a tied head shares the embedding's matrix,
    and belongs with the embedding). Hint: walk `model.named_modules()` and each module's
    `named_parameters(recurse=False)`.
    """
    raise NotImplementedError


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, micro_batches: list[tuple[Tensor, Tensor]],
                  grad_clip: float) -> float:
    """One optimizer step over several equal-sized micro-batches (gradient accumulation); return the mean loss.

    For each (x, y): logits = model(x), loss = next-token cross-entropy of the logits against y (mosslite.model's
    `lm_loss`), backward of loss / len(micro_batches) so the gradients add up to the full batch's. Then clip the
    global gradient norm to `grad_clip` (torch.nn.utils.clip_grad_norm_), step the optimizer and zero the gradients.
    The result must equal one step on all the micro-batches concatenated into one batch.
    """
    raise NotImplementedError
