"""Pretraining with Lightning: one recipe from a 2-core laptop to FSDP2 on many GPUs.

    config.py     PretrainConfig: YAML + `--key value` overrides, checked before anything runs
    data.py       PackedDataModule: batches from packed token arrays, a function of (seed, step) alone
    module.py     PretrainModule: next-token loss, AdamW groups, warmup + cosine, FSDP2 sharding per block
    callbacks.py  loss and divergence, tokens/s and MFU, samples, atomic checkpoints, the History they fill
    run.py        pretrain(config): the Trainer built from a config (the CLI, notebook and tests all call it)
    sft_config.py TuneConfig (the keys every fine-tuning stage shares) and SFTConfig: the same loader and checks
    align_config.py AlignConfig: DPO's knobs (reference, beta, preference pairs); the run is mosslite.align
    sft_data.py   conversations (world, chatterbot-corpus, JSONL) as masked, padded batches
    sft.py        sft(config): full or LoRA fine-tuning on the same Trainer, exporting a plain merged model
    cli.py        `mosslite pretrain|sft|align --config configs/<stage>/<name>.yaml [--key value ...] [--resume]`
"""

import importlib

# Names resolve on first use, so `mosslite --help` and config checks do not pay for importing Lightning.
_EXPORTS = {
    "mosslite.train.callbacks": ["Checkpointer", "DivergenceError", "History", "SampleText", "Throughput",
                                 "TrainLoss", "measure_cpu_flops"],
    "mosslite.train.config": ["PretrainConfig", "config_from_dict", "load_config", "parse_overrides", "replace"],
    "mosslite.train.data": ["PackedDataModule"],
    "mosslite.train.module": ["PretrainModule", "cosine_lr", "param_groups"],
    "mosslite.train.run": ["PretrainResult", "pretrain"],
    "mosslite.train.sft": ["SFTModule", "SFTResult", "sft"],
    "mosslite.train.sft_config": ["SFTConfig", "TuneConfig", "load_sft_config", "sft_config_from_dict"],
    "mosslite.train.align_config": ["AlignConfig", "align_config_from_dict", "load_align_config"],
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'mosslite.train' has no attribute {name!r}")
