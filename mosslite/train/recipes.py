"""A pretraining config planned before it is launched: memory per device for exactly that run, and whether it fits.

`mosslite plan --config configs/pretrain/moss-16b.yaml` prints it; tests/test_recipes.py checks every shipped recipe
this way, so a recipe that would run out of memory on the GPUs it names fails on a laptop first.
"""

from __future__ import annotations

from mosslite.scaling import GB, Plan, format_plan, plan
from mosslite.train.config import PretrainConfig

# Bytes per logit at the loss's peak (its backward): the fp32 logits, their log-softmax and its gradient, which the
# planner's activation count (one saved log-softmax) leaves out. With MOSS's 107K vocabulary they are not small.
LOSS_BYTES_PER_LOGIT = 12


def plan_run(config: PretrainConfig) -> Plan:
    """The planner's view of `config`: its model (the preset's vocabulary), devices, strategy, precision,
    checkpointing, context and micro-batch."""
    gpus = config.devices * config.num_nodes
    strategy = {"fsdp": "fsdp", "ddp": "ddp"}.get(config.strategy, "single" if gpus == 1 else "ddp")
    precision = "bf16-mixed" if config.precision == "16-mixed" else config.precision  # the same bytes
    return plan(config.model_config(), gpus=gpus, strategy=strategy, precision=precision,
                checkpointing=config.activation_checkpointing, seq_len=config.context, micro_batch=config.batch_size)


def loss_peak_gb(config: PretrainConfig) -> float:
    """Memory the loss needs at its peak for one micro-batch, on top of the planner's total."""
    return LOSS_BYTES_PER_LOGIT * config.model_config().vocab_size * config.context * config.batch_size / GB


def peak_gb(config: PretrainConfig) -> float:
    """Planned memory per device at the step's peak: states, activations, FSDP buffers and the loss's logits."""
    return plan_run(config).total_gb + loss_peak_gb(config)


def format_run_plan(config: PretrainConfig, device_memory_gb: float | None = None, mfu: float = 0.4) -> str:
    """The planner's table for `config`, the loss's peak, and the fit against `device_memory_gb` (default: the
    recipe's own `device_memory_gb`)."""
    p = plan_run(config)
    memory = device_memory_gb or config.device_memory_gb
    peak_tflops = config.peak_flops / 1e12 if config.peak_flops else 989.5
    tokens = config.batch_size * config.context * config.grad_accum * p.gpus * config.max_steps
    lines = [f"recipe       {config.name}: {p.gpus} device(s) ({config.devices} per node x {config.num_nodes} "
             f"node(s)), {tokens / 1e9:,.1f}B tokens in {config.max_steps:,} steps",
             format_plan(p, peak_tflops=peak_tflops, mfu=mfu, tokens=tokens),
             f"loss peak    {loss_peak_gb(config):10.2f} GB (fp32 logits of one micro-batch, not in the total)"]
    if memory:
        verdict = "fits" if peak_gb(config) <= memory else "does NOT fit"
        lines.append(f"peak         {peak_gb(config):10.2f} GB per device: {verdict} in {memory:g} GB")
    return "\n".join(lines)
