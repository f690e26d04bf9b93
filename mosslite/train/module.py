"""`PretrainModule`: causal-LM pretraining of a mosslite `Transformer` as a Lightning module.

The recipe is the one every GPT since GPT-2 uses: next-token cross-entropy, AdamW with weight decay on the matmul
weights only, a linear warmup then a cosine decay. Lightning supplies the loop, precision, accumulation, clipping and
the distributed strategies; `configure_model` builds the model and, under FSDP2, shards it block by block.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.strategies import ModelParallelStrategy
from torch import Tensor, nn
from torch.distributed._composable import checkpoint
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from mosslite.config import ModelConfig
from mosslite.model import RMSNorm, Transformer, build_model, lm_loss
from mosslite.train.config import PretrainConfig


def cosine_lr(step: int, lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup to `lr`, then a half cosine down to `min_lr`.

    Warmup keeps Adam's first, noisy updates small while its second-moment estimate settles; the cosine spends most
    steps at a high rate and anneals at the end, where a low rate turns noisy progress into a lower loss.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps  # step 0 already moves: a zero rate would waste a batch
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)  # 0 -> 1 over the decay
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: matmul weights decay; norms, biases and embedding tables do not.

    Decay pulls a weight towards zero. That regularises a projection, but a norm's gain is meant to sit near 1 and a
    bias or an embedding row is an offset, not a map: decaying them only fights the loss. (MOSS's own script meant to
    exclude its LayerNorms but matched the name "LayerNorm.weight", which no MOSS parameter has, so it decayed them.)
    """
    decay, no_decay = {}, {}
    seen = set()
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen or not param.requires_grad:
                continue  # a tied head is the embedding table again: it stays in the embedding's group
            seen.add(id(param))
            full = f"{module_name}.{name}" if module_name else name
            skip = isinstance(module, (nn.LayerNorm, RMSNorm, nn.Embedding)) or name == "bias"
            (no_decay if skip else decay)[full] = param
    return [{"params": list(decay.values()), "param_names": list(decay), "weight_decay": weight_decay},
            {"params": list(no_decay.values()), "param_names": list(no_decay), "weight_decay": 0.0}]


def shard(model: Transformer, mesh, bf16: bool = False) -> None:
    """FSDP2: every block becomes one all-gather unit, then the root takes the embeddings, final norm and head.

    A forward pass then holds one block's full weights at a time; everything else stays split across ranks. With
    `bf16`, weights are gathered and used in bf16 while the fp32 master copy and the gradient reduction stay fp32.
    """
    bf16_policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    policy = bf16_policy if bf16 else MixedPrecisionPolicy()  # the default keeps the weights' own dtype
    for block in model.blocks:
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)


class PretrainModule(L.LightningModule):
    """Next-token pretraining: the model is built in `configure_model`, so Lightning can shard it as it is made."""

    def __init__(self, model_config: ModelConfig, config: PretrainConfig) -> None:
        super().__init__()
        self.model_config = model_config
        self.config = config
        self.save_hyperparameters({"model_config": model_config.to_dict(), "config": config.to_dict()})
        self.model: Transformer | None = None

    def configure_model(self) -> None:
        if self.model is not None:  # Lightning may call this hook more than once
            return
        cfg = self.config
        model = self.initial_model()
        for block in model.blocks:
            if cfg.activation_checkpointing:
                checkpoint(block)  # keep only the block's input for backward; recompute the rest
            if cfg.compile:
                block.compile()  # in place, so parameter names (and checkpoints) do not change
        strategy = self._trainer.strategy if self._trainer is not None else None
        if isinstance(strategy, ModelParallelStrategy):
            shard(model, self.device_mesh["data_parallel"], bf16=cfg.precision == "bf16-mixed")
        if cfg.meta_init:  # give the (sharded) parameters memory, then their first values, shard by shard
            model.to_empty(device=strategy.root_device if strategy else "cpu")
            if model.config.tie_embeddings:  # to_empty gives an unsharded model's head a new tensor of its own
                model.lm_head.weight = model.tok_emb.weight
            self.fill_weights(model)
        self.model = model

    def initial_model(self) -> Transformer:
        """The model before wrapping and sharding: fresh weights here; fine-tuning loads a checkpoint instead."""
        torch.manual_seed(self.config.seed)  # the same initial weights on every rank and at every world size
        return build_model(self.model_config, device="meta" if self.config.meta_init else None)

    def fill_weights(self, model: Transformer) -> None:
        """Give a model built on the meta device (and possibly sharded) its first values: here the model's own init."""
        model.reset_parameters()

    def forward(self, idx: Tensor) -> Tensor:
        return self.model(idx)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        return lm_loss(self.model(x), y)  # the callbacks average, log and check it

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        # Mean over the validation batches and over ranks: every rank sees an equal share of the same windows.
        self.log("val/loss", lm_loss(self.model(x), y), sync_dist=True, prog_bar=True, batch_size=x.shape[0])

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip by global norm. Lightning refuses to clip for a fused optimizer under mixed precision, since with fp16
        the gradients are still loss-scaled then; bf16 has no loss scaling, so its gradients can be clipped as they are."""
        if gradient_clip_val and self.config.precision == "bf16-mixed":
            torch.nn.utils.clip_grad_norm_(self.parameters(), gradient_clip_val)
        else:
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self):
        cfg = self.config
        # Fused AdamW updates every tensor in one kernel: ~5x faster than the per-tensor loop on a CPU, too.
        optimizer = torch.optim.AdamW(param_groups(self.model, cfg.weight_decay), lr=cfg.lr,
                                      betas=(cfg.beta1, cfg.beta2),
                                      # fp16's loss scaler must unscale before clipping, which a fused step cannot
                                      fused=self.device.type in ("cpu", "cuda") and cfg.precision != "16-mixed")
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: cosine_lr(step, cfg.lr, cfg.min_lr, cfg.warmup_steps, cfg.max_steps) / cfg.lr)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
