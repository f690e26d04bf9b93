"""Hugging Face interop: load CodeGen/MOSS, GPT-2 and Llama checkpoints into a `Transformer`, and export back.

Conversion is a key map per family (HF name template -> mosslite name, `None` drops a buffer) plus a few per-tensor
transforms: MOSS/CodeGen's q/v/k packing of the fused qkv, GPT-2's transposed Conv1D weights, Llama's separate q/k/v.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from einops import rearrange
from safetensors.torch import save_file
from torch import Tensor

from mosslite.checkpoint import (
    atomic_write,
    check_state,
    load_checkpoint,
    load_state,
    read_weights,
    save_checkpoint,
)
from mosslite.config import ModelConfig
from mosslite.model import Transformer, build_model

FAMILIES = ("codegen", "gpt2", "llama")
MODEL_TYPES = {"codegen": "codegen", "moss": "codegen", "gpt2": "gpt2", "llama": "llama"}  # HF model_type -> family

# "{}" stands for the layer index. The same names with the leading "transformer."/"model." stripped are accepted too.
CODEGEN_KEYS: dict[str, str | None] = {
    "transformer.wte.weight": "tok_emb.weight",
    "transformer.h.{}.ln_1.weight": "blocks.{}.norm_1.weight",
    "transformer.h.{}.ln_1.bias": "blocks.{}.norm_1.bias",
    "transformer.h.{}.attn.qkv_proj.weight": "blocks.{}.attn.qkv.weight",  # q/v/k packed: see codegen_qkv_to_ours
    "transformer.h.{}.attn.out_proj.weight": "blocks.{}.attn.proj.weight",
    "transformer.h.{}.attn.causal_mask": None,  # MOSS saves its [1, 1, 2048, 2048] causal mask in every layer
    "transformer.h.{}.attn.masked_bias": None,
    "transformer.h.{}.attn.bias": None,
    "transformer.h.{}.mlp.fc_in.weight": "blocks.{}.mlp.fc.weight",
    "transformer.h.{}.mlp.fc_in.bias": "blocks.{}.mlp.fc.bias",
    "transformer.h.{}.mlp.fc_out.weight": "blocks.{}.mlp.proj.weight",
    "transformer.h.{}.mlp.fc_out.bias": "blocks.{}.mlp.proj.bias",
    "transformer.ln_f.weight": "norm_f.weight",
    "transformer.ln_f.bias": "norm_f.bias",
    "lm_head.weight": "lm_head.weight",
    "lm_head.bias": "lm_head.bias",
}

GPT2_KEYS: dict[str, str | None] = {
    "transformer.wte.weight": "tok_emb.weight",
    "transformer.wpe.weight": "pos_emb.weight",
    "transformer.h.{}.ln_1.weight": "blocks.{}.norm_1.weight",
    "transformer.h.{}.ln_1.bias": "blocks.{}.norm_1.bias",
    "transformer.h.{}.attn.c_attn.weight": "blocks.{}.attn.qkv.weight",  # Conv1D: stored [in, out], transposed
    "transformer.h.{}.attn.c_attn.bias": "blocks.{}.attn.qkv.bias",
    "transformer.h.{}.attn.c_proj.weight": "blocks.{}.attn.proj.weight",
    "transformer.h.{}.attn.c_proj.bias": "blocks.{}.attn.proj.bias",
    "transformer.h.{}.attn.bias": None,  # old checkpoints save the causal mask
    "transformer.h.{}.attn.masked_bias": None,
    "transformer.h.{}.ln_2.weight": "blocks.{}.norm_2.weight",
    "transformer.h.{}.ln_2.bias": "blocks.{}.norm_2.bias",
    "transformer.h.{}.mlp.c_fc.weight": "blocks.{}.mlp.fc.weight",
    "transformer.h.{}.mlp.c_fc.bias": "blocks.{}.mlp.fc.bias",
    "transformer.h.{}.mlp.c_proj.weight": "blocks.{}.mlp.proj.weight",
    "transformer.h.{}.mlp.c_proj.bias": "blocks.{}.mlp.proj.bias",
    "transformer.ln_f.weight": "norm_f.weight",
    "transformer.ln_f.bias": "norm_f.bias",
    "lm_head.weight": "lm_head.weight",  # absent from files when tied to wte
}
GPT2_CONV1D = ("attn.qkv.weight", "attn.proj.weight", "mlp.fc.weight", "mlp.proj.weight")

LLAMA_KEYS: dict[str, str | None] = {
    "model.embed_tokens.weight": "tok_emb.weight",
    "model.layers.{}.input_layernorm.weight": "blocks.{}.norm_1.weight",
    # Not a real HF name: q_proj, k_proj and v_proj are concatenated into it first (see fuse_qkv).
    "model.layers.{}.self_attn.qkv_proj.weight": "blocks.{}.attn.qkv.weight",
    "model.layers.{}.self_attn.qkv_proj.bias": "blocks.{}.attn.qkv.bias",
    "model.layers.{}.self_attn.o_proj.weight": "blocks.{}.attn.proj.weight",
    "model.layers.{}.self_attn.o_proj.bias": "blocks.{}.attn.proj.bias",
    "model.layers.{}.self_attn.rotary_emb.inv_freq": None,
    "model.layers.{}.post_attention_layernorm.weight": "blocks.{}.norm_2.weight",
    "model.layers.{}.mlp.gate_proj.weight": "blocks.{}.mlp.gate.weight",
    "model.layers.{}.mlp.gate_proj.bias": "blocks.{}.mlp.gate.bias",
    "model.layers.{}.mlp.up_proj.weight": "blocks.{}.mlp.fc.weight",
    "model.layers.{}.mlp.up_proj.bias": "blocks.{}.mlp.fc.bias",
    "model.layers.{}.mlp.down_proj.weight": "blocks.{}.mlp.proj.weight",
    "model.layers.{}.mlp.down_proj.bias": "blocks.{}.mlp.proj.bias",
    "model.norm.weight": "norm_f.weight",
    "lm_head.weight": "lm_head.weight",
}

KEY_MAPS = {"codegen": CODEGEN_KEYS, "gpt2": GPT2_KEYS, "llama": LLAMA_KEYS}
PREFIXES = {"codegen": "transformer.", "gpt2": "transformer.", "llama": "model."}

# What each family's HF model hard-codes; a mosslite config that differs cannot be exported to it.
FIXED = {
    "codegen": dict(position="rotary", rotary_style="interleaved", rotary_base=10000.0, parallel_residual=True,
                    mlp="gelu", norm="layernorm", attn_bias=False, attn_out_bias=False, mlp_bias=True,
                    tie_embeddings=False, lm_head_bias=True),
    "gpt2": dict(position="learned", parallel_residual=False, mlp="gelu", norm="layernorm", attn_bias=True,
                 attn_out_bias=True, mlp_bias=True, lm_head_bias=False),
    "llama": dict(position="rotary", rotary_style="half", parallel_residual=False, mlp="swiglu", norm="rmsnorm",
                  lm_head_bias=False),
}


# ------------------------------------------------------------------------------------------ per-tensor transforms
def codegen_qkv_to_ours(w: Tensor) -> Tensor:
    """CodeGen/MOSS fused qkv rows -> mosslite's [Q | K | V].

    CodeGen was trained on 4 TPU cores (`mp_num = 4`): its rows form 4 groups, each holding that group's heads of
    query, then value, then key. Heads are numbered group-major, so regrouping the rows restores the head order.
    """
    q, v, k = rearrange(w, "(group part rows) e -> part (group rows) e", group=4, part=3)
    return torch.cat([q, k, v])


def ours_to_codegen_qkv(w: Tensor) -> Tensor:
    """mosslite's [Q | K | V] rows -> CodeGen/MOSS's 4 groups of (query, value, key): the inverse of the above."""
    q, k, v = w.chunk(3)
    return rearrange(torch.stack([q, v, k]), "part (group rows) e -> (group part rows) e", group=4)


def fuse_qkv(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Replace Llama's q_proj/k_proj/v_proj by one `qkv_proj` tensor with rows [Q | K | V], as mosslite stores it."""
    out = {}
    for key, tensor in state.items():
        if ".self_attn.q_proj." in key:
            parts = [state[key.replace(".q_proj.", f".{p}_proj.")] for p in "qkv"]
            out[key.replace(".q_proj.", ".qkv_proj.")] = torch.cat(parts)
        elif not re.search(r"\.self_attn\.[kv]_proj\.", key):
            out[key] = tensor
    return out


def split_qkv(state: dict[str, Tensor], config: ModelConfig) -> dict[str, Tensor]:
    """The inverse of `fuse_qkv`: rows [Q | K | V] back into q_proj, k_proj, v_proj (K and V have kv_heads heads)."""
    sizes = [config.n_head * config.head_dim] + 2 * [config.kv_heads * config.head_dim]
    out = {}
    for key, tensor in state.items():
        if ".qkv_proj." in key:
            for p, part in zip("qkv", tensor.split(sizes)):
                out[key.replace(".qkv_proj.", f".{p}_proj.")] = part
        else:
            out[key] = tensor
    return out


def _tensor_to_ours(family: str, key: str, tensor: Tensor) -> Tensor:
    if family == "codegen" and key.endswith("attn.qkv.weight"):
        return codegen_qkv_to_ours(tensor)
    if family == "gpt2" and key.endswith(GPT2_CONV1D):
        return tensor.t()
    return tensor


def _tensor_to_hf(family: str, key: str, tensor: Tensor) -> Tensor:
    if family == "codegen" and key.endswith("attn.qkv.weight"):
        return ours_to_codegen_qkv(tensor)
    if family == "gpt2" and key.endswith(GPT2_CONV1D):
        return tensor.t()
    return tensor


def _template(key: str) -> tuple[str, str]:
    """'transformer.h.3.ln_1.weight' -> ('transformer.h.{}.ln_1.weight', '3')."""
    match = re.search(r"\.(\d+)\.", key)
    if match is None:
        return key, ""
    return key[: match.start()] + ".{}." + key[match.end() :], match[1]


# ------------------------------------------------------------------------------------------------------- configs
def _as_dict(hf_config) -> dict:
    return hf_config if isinstance(hf_config, Mapping) else hf_config.to_dict()


def hf_family(hf_config) -> str:
    """Which conversion applies to an HF config ("codegen", "gpt2" or "llama"); MOSS is CodeGen under another name."""
    model_type = _as_dict(hf_config).get("model_type")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type {model_type!r} is not supported; mosslite converts {sorted(MODEL_TYPES)}")
    return MODEL_TYPES[model_type]


def _require(family: str, field: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{family} config field {field}={value!r} has no mosslite equivalent; supported: {allowed}")


def _codegen_config(hf: dict, name: str) -> ModelConfig:
    _require("codegen", "activation_function", hf.get("activation_function", "gelu_new"),
             ("gelu_new", "gelu_pytorch_tanh"))
    _require("codegen", "tie_word_embeddings", hf.get("tie_word_embeddings", False), (False,))
    if hf.get("wbits", 32) != 32:
        raise ValueError(f"config wbits={hf['wbits']}: a GPTQ-quantized MOSS checkpoint; convert the fp16 one "
                         "(fnlp/moss-moon-003-sft, not its -int4/-int8 variants)")
    if hf["n_head"] % 4:
        raise ValueError(f"codegen config n_head={hf['n_head']} must be divisible by 4 (CodeGen's mp_num)")
    return ModelConfig(name=name, vocab_size=hf["vocab_size"], block_size=hf["n_positions"], n_layer=hf["n_layer"],
                       n_head=hf["n_head"], n_embd=hf["n_embd"], n_inner=hf.get("n_inner"),
                       norm_eps=hf.get("layer_norm_epsilon", 1e-5), rotary_dim=hf.get("rotary_dim"),
                       **FIXED["codegen"])


def _gpt2_config(hf: dict, name: str) -> ModelConfig:
    _require("gpt2", "activation_function", hf.get("activation_function", "gelu_new"),
             ("gelu_new", "gelu_pytorch_tanh"))
    for flag, allowed in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                          ("add_cross_attention", False)):
        _require("gpt2", flag, hf.get(flag, allowed), (allowed,))
    return ModelConfig(name=name, vocab_size=hf["vocab_size"], block_size=hf["n_positions"], n_layer=hf["n_layer"],
                       n_head=hf["n_head"], n_embd=hf["n_embd"], n_inner=hf.get("n_inner"),
                       norm_eps=hf.get("layer_norm_epsilon", 1e-5),
                       tie_embeddings=hf.get("tie_word_embeddings", True), **FIXED["gpt2"])


def _llama_config(hf: dict, name: str) -> ModelConfig:
    # transformers v5 keeps rope_theta in rope_parameters; v4 configs have it at the top level.
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    _require("llama", "rope_type", rope.get("rope_type", rope.get("type", "default")), ("default",))
    _require("llama", "hidden_act", hf.get("hidden_act", "silu"), ("silu",))
    head_dim = hf["hidden_size"] // hf["num_attention_heads"]
    _require("llama", "head_dim", hf.get("head_dim") or head_dim, (head_dim,))
    bias = hf.get("attention_bias", False)  # one switch for the q, k, v and o projections
    return ModelConfig(name=name, vocab_size=hf["vocab_size"], block_size=hf["max_position_embeddings"],
                       n_layer=hf["num_hidden_layers"], n_head=hf["num_attention_heads"], n_embd=hf["hidden_size"],
                       n_query_groups=hf.get("num_key_value_heads"), n_inner=hf["intermediate_size"],
                       norm_eps=hf.get("rms_norm_eps", 1e-6),
                       rotary_base=rope.get("rope_theta", hf.get("rope_theta", 10000.0)), attn_bias=bias,
                       attn_out_bias=bias, mlp_bias=hf.get("mlp_bias", False),
                       tie_embeddings=hf.get("tie_word_embeddings", False), **FIXED["llama"])


def config_from_hf(hf_config) -> ModelConfig:
    """The `ModelConfig` of an HF config (a `PretrainedConfig` or the dict of its config.json)."""
    hf = _as_dict(hf_config)
    family = hf_family(hf)
    read = {"codegen": _codegen_config, "gpt2": _gpt2_config, "llama": _llama_config}[family]
    try:
        return read(hf, name=hf.get("_name_or_path") or hf["model_type"])
    except KeyError as err:
        raise ValueError(f"{family} config has no field {err}; is config.json complete?") from None


def _unsupported(config: ModelConfig, family: str) -> list[str]:
    """Why `family` cannot express `config` (empty when it can)."""
    reasons = [f"{field}={getattr(config, field)!r} (needs {value!r})"
               for field, value in FIXED[family].items() if getattr(config, field) != value]
    if family == "codegen" and config.n_head % 4:
        reasons.append(f"n_head={config.n_head} (needs a multiple of 4)")
    if family != "llama" and config.kv_heads != config.n_head:
        reasons.append(f"n_query_groups={config.n_query_groups} (needs {config.n_head}: no grouped-query attention)")
    if family == "llama" and config.rope_dims != config.head_dim:
        reasons.append(f"rotary_dim={config.rotary_dim} (needs the whole head, {config.head_dim})")
    if family == "llama" and config.attn_bias != config.attn_out_bias:
        reasons.append("attn_bias != attn_out_bias (Llama's attention_bias covers q, k, v and o together)")
    return reasons


def infer_family(config: ModelConfig) -> str:
    """The HF family that can express `config`, or an error that says, per family, what stands in the way."""
    reasons = {family: _unsupported(config, family) for family in FAMILIES}
    for family, problems in reasons.items():
        if not problems:
            return family
    details = "; ".join(f"{family}: {', '.join(problems)}" for family, problems in reasons.items())
    raise ValueError(f"no Hugging Face family can express config {config.name!r} ({details})")


def config_to_hf(config: ModelConfig, family: str | None = None) -> dict:
    """The config.json dict of the HF model equal to `config`; refuses configs the family cannot express."""
    family = family or infer_family(config)
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")
    if problems := _unsupported(config, family):
        raise ValueError(f"config {config.name!r} cannot be exported as {family}: {', '.join(problems)}")
    c = config
    if family == "codegen":
        return dict(model_type="codegen", architectures=["CodeGenForCausalLM"], vocab_size=c.vocab_size,
                    n_positions=c.block_size, n_ctx=c.block_size, n_embd=c.n_embd, n_layer=c.n_layer,
                    n_head=c.n_head, rotary_dim=c.rope_dims, n_inner=c.n_inner, activation_function="gelu_new",
                    layer_norm_epsilon=c.norm_eps, tie_word_embeddings=False)
    if family == "gpt2":
        return dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], vocab_size=c.vocab_size,
                    n_positions=c.block_size, n_embd=c.n_embd, n_layer=c.n_layer, n_head=c.n_head, n_inner=c.n_inner,
                    activation_function="gelu_new", layer_norm_epsilon=c.norm_eps,
                    tie_word_embeddings=c.tie_embeddings)
    return dict(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=c.vocab_size,
                max_position_embeddings=c.block_size, hidden_size=c.n_embd, num_hidden_layers=c.n_layer,
                num_attention_heads=c.n_head, num_key_value_heads=c.kv_heads, intermediate_size=c.mlp_hidden,
                hidden_act="silu", rms_norm_eps=c.norm_eps, attention_bias=c.attn_bias, mlp_bias=c.mlp_bias,
                rope_parameters={"rope_type": "default", "rope_theta": c.rotary_base},
                rope_theta=c.rotary_base,  # where transformers v4 reads it
                tie_word_embeddings=c.tie_embeddings)


# ------------------------------------------------------------------------------------------------- state dicts
def to_hf_state_dict(state: Mapping[str, Tensor], config: ModelConfig,
                     family: str | None = None) -> dict[str, Tensor]:
    """mosslite tensors -> the HF family's names and layouts (a tied head is left out, as HF files do)."""
    family = family or infer_family(config)
    inverse = {ours: hf for hf, ours in KEY_MAPS[family].items() if ours is not None}
    out = {}
    for key, tensor in state.items():
        if key == "lm_head.weight" and config.tie_embeddings:
            continue
        template, layer = _template(key)
        out[inverse[template].format(layer)] = _tensor_to_hf(family, key, tensor)
    return split_qkv(out, config) if family == "llama" else out


def from_hf_state_dict(state: Mapping[str, Tensor], hf_config,
                       source: str = "HF state dict") -> tuple[ModelConfig, dict[str, Tensor]]:
    """An HF state dict and its config -> (ModelConfig, mosslite state dict), checked tensor by tensor.

    Errors name the HF tensors that are missing, unexpected or of the wrong shape.
    """
    try:
        family, config = hf_family(hf_config), config_from_hf(hf_config)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    prefix = PREFIXES[family]
    if not any(k.startswith(prefix) for k in state):  # base-model files (e.g. the original gpt2) omit the prefix
        state = {(k if k.startswith("lm_head.") else prefix + k): v for k, v in state.items()}
    key_map = KEY_MAPS[family]
    dropped = {template for template, ours in key_map.items() if ours is None}
    state = {k: v for k, v in state.items() if _template(k)[0] not in dropped}
    if config.tie_embeddings:
        state.pop("lm_head.weight", None)  # the same tensor as the token embedding
    expected = to_hf_state_dict(build_model(config, device="meta").state_dict(), config, family)
    check_state(state, expected, f"{source}: the weights do not fit the model its config describes:")
    if family == "llama":
        state = fuse_qkv(state)
    ours = {}
    for key, tensor in state.items():
        template, layer = _template(key)
        name = key_map[template].format(layer)
        ours[name] = _tensor_to_ours(family, name, tensor)
    return config, ours


# -------------------------------------------------------------------------------------------------- whole models
def _model_from_state(config: ModelConfig, state: Mapping[str, Tensor], dtype: torch.dtype | None,
                      source: str) -> Transformer:
    """A model holding `state`, built on the meta device first so a 16B model skips a useless random init."""
    dtype = dtype or next(t.dtype for t in state.values() if t.is_floating_point())
    model = build_model(config, device="meta").to(dtype).to_empty(device="cpu")
    if config.tie_embeddings:
        model.lm_head.weight = model.tok_emb.weight  # to_empty allocates each parameter anew, untying them
    load_state(model, state, source=source)
    return model.eval()


def from_hf_model(hf_model, dtype: torch.dtype | None = None) -> Transformer:
    """A mosslite `Transformer` with the weights of an in-memory `transformers` model (CodeGen, GPT-2 or Llama)."""
    config, state = from_hf_state_dict(hf_model.state_dict(), hf_model.config, source=type(hf_model).__name__)
    return _model_from_state(config, state, dtype, type(hf_model).__name__)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


def _read_hf_weights(directory: Path) -> dict[str, Tensor]:
    """All tensors of an HF checkpoint folder: one safetensors/pickle file, or shards listed in an index json."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = directory / index_name
        if index.is_file():
            weight_map = _read_json(index).get("weight_map")
            if not isinstance(weight_map, dict):
                raise ValueError(f"{index} has no \"weight_map\" of tensor names to shard files")
            shards = sorted(set(weight_map.values()))
            missing = [s for s in shards if not (directory / s).is_file()]
            if missing:
                raise FileNotFoundError(f"{index} lists shards that are not in {directory}: {missing}")
            state = {}
            for shard in shards:
                state.update(read_weights(directory / shard))
            return state
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (directory / name).is_file():
            return read_weights(directory / name)
    raise FileNotFoundError(f"no weights in {directory}: expected model.safetensors, pytorch_model.bin, "
                            "or a *.index.json with its shards")


def load_hf_checkpoint(directory: str | Path, dtype: torch.dtype | None = None) -> Transformer:
    """A `Transformer` from a Hugging Face checkpoint folder (config.json + weights), in the stored dtype by default.

    Reads safetensors or torch pickles (with `weights_only=True`), whole or sharded; MOSS folders load as CodeGen.
    """
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"no config.json in {directory}: a Hugging Face checkpoint folder needs one")
    hf_config = _read_json(config_path)
    config, state = from_hf_state_dict(_read_hf_weights(directory), hf_config, source=str(directory))
    return _model_from_state(config, state, dtype, str(directory))


def export_hf(model: Transformer, directory: str | Path, family: str | None = None) -> Path:
    """Write config.json + model.safetensors that `AutoModelForCausalLM.from_pretrained(directory)` loads as is.

    The family is inferred from the config when not given; a config the family cannot express is refused.
    """
    directory = Path(directory)
    hf_config = config_to_hf(model.config, family)
    # mosslite keeps special-token ids with the tokenizer; None stops HF from assuming its own defaults (e.g. 50256).
    hf_config.update(bos_token_id=None, eos_token_id=None, torch_dtype=str(model.lm_head.weight.dtype).split(".")[-1])
    state = to_hf_state_dict(model.state_dict(), model.config, hf_config["model_type"])
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    atomic_write(directory / "model.safetensors", lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))
    atomic_write(directory / "config.json", lambda tmp: tmp.write_text(json.dumps(hf_config, indent=2) + "\n"))
    return directory


# ----------------------------------------------------------------------------------------------------------- CLI
def _import(args: argparse.Namespace) -> int:
    model = load_hf_checkpoint(args.hf_dir)
    save_checkpoint(model, args.out_dir, extra={"converted_from": str(args.hf_dir)})
    print(f"imported {args.hf_dir} ({model.num_parameters():,} parameters) -> mosslite checkpoint {args.out_dir}")
    return 0


def _export(args: argparse.Namespace) -> int:
    model = load_checkpoint(args.ckpt_dir)
    family = args.family or infer_family(model.config)
    export_hf(model, args.out_dir, family)
    print(f"exported {args.ckpt_dir} -> Hugging Face {family} folder {args.out_dir}")
    return 0


def register(subparsers) -> None:
    convert = subparsers.add_parser("convert", help="convert checkpoints between Hugging Face and mosslite")
    actions = convert.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("import", help="HF folder (CodeGen/MOSS, GPT-2, Llama) -> mosslite checkpoint")
    p.add_argument("hf_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.set_defaults(func=_import)
    p = actions.add_parser("export", help="mosslite checkpoint -> HF folder that transformers loads")
    p.add_argument("ckpt_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--family", choices=FAMILIES, help="HF architecture to write (default: inferred from the config)")
    p.set_defaults(func=_export)
