"""Parity with Hugging Face: tiny random CodeGen, GPT-2 and Llama models convert to mosslite and back, logits equal."""

import json

import pytest
import torch
from safetensors.torch import save_file
from transformers import (
    AutoModelForCausalLM,
    CodeGenConfig,
    CodeGenForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
)

from mosslite.cli import main as cli_main
from mosslite.config import get_config
from mosslite.interop import (
    codegen_qkv_to_ours,
    config_from_hf,
    export_hf,
    from_hf_model,
    from_hf_state_dict,
    load_hf_checkpoint,
    ours_to_codegen_qkv,
)
from mosslite.model import build_model

V, ATOL = 97, 1e-5
HF_CONFIGS = {
    # n_head 8 puts two heads in each of CodeGen's 4 q/v/k groups; rotary on 4 of 8 dims per head.
    "codegen": lambda: CodeGenConfig(vocab_size=V, n_embd=64, n_layer=2, n_head=8, rotary_dim=4, n_positions=64,
                                     n_inner=80),
    "gpt2": lambda: GPT2Config(vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=64),
    "llama": lambda: LlamaConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, intermediate_size=48, max_position_embeddings=64,
                                 rope_theta=500000.0),
    # Multi-query attention with biases on q/k/v/o and a tied head: the less common Llama switches.
    "llama-mqa-bias-tied": lambda: LlamaConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2,
                                               num_attention_heads=4, num_key_value_heads=1, intermediate_size=48,
                                               max_position_embeddings=64, attention_bias=True,
                                               tie_word_embeddings=True),
}
HF_CLASSES = {"codegen": CodeGenForCausalLM, "gpt2": GPT2LMHeadModel, "llama": LlamaForCausalLM,
              "llama-mqa-bias-tied": LlamaForCausalLM}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine (CI runs 2 workers) two torch threads per
    process stall each other: generation tests ran 10-60x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@torch.no_grad()
def randomize(model: torch.nn.Module) -> None:
    """Weights large enough that attention is sharp: with HF's 0.02 init, scores are ~0 and a q/k mix-up would hide."""
    for p in model.parameters():
        if p.ndim == 2:
            p.normal_(0.0, p.shape[1] ** -0.5)
        else:
            p.add_(0.1 * torch.randn_like(p))


def tiny_hf(family: str, seed: int = 0):
    torch.manual_seed(seed)
    config = HF_CONFIGS[family]()
    config.bos_token_id = config.eos_token_id = config.pad_token_id = None
    model = HF_CLASSES[family](config)
    model.config._attn_implementation = "eager"  # the reference path: plain matmul + softmax
    randomize(model)
    return model.eval()


@pytest.fixture(scope="module", params=list(HF_CONFIGS))
def pair(request):
    hf = tiny_hf(request.param)
    return hf, from_hf_model(hf)


@torch.no_grad()
def test_logits_match_hf_for_several_lengths(pair):
    hf, ours = pair
    for length in (1, 7, 23):
        x = torch.randint(0, V, (3, length))
        ref = hf(x).logits
        assert ref.std() > 0.3  # real, spread-out logits, not a near-constant that anything would match
        assert (ours(x) - ref).abs().max() <= ATOL


@torch.no_grad()
def test_kv_cache_decoding_matches_hf_full_forward(pair):
    hf, ours = pair
    x = torch.randint(0, V, (2, 14))
    ref = hf(x).logits
    cache = ours.make_cache(2)
    steps = [ours(x[:, :6], cache=cache)] + [ours(x[:, t : t + 1], cache=cache) for t in range(6, 14)]
    assert (torch.cat(steps, dim=1) - ref).abs().max() <= ATOL


@torch.no_grad()
def test_left_padded_batch_matches_hf_attention_mask(pair):
    hf, ours = pair
    x = torch.randint(0, V, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, :4] = False
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    ref = hf(x, attention_mask=mask.long(), position_ids=positions).logits
    got = ours(x, positions=positions, pad_mask=mask)
    assert (got[mask] - ref[mask]).abs().max() <= ATOL  # padding positions' own outputs are meaningless


@torch.no_grad()
def test_export_loads_in_transformers_with_the_same_logits(pair, tmp_path):
    hf, ours = pair
    export_hf(ours, tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert type(reloaded) is type(hf)
    x = torch.randint(0, V, (2, 11))
    assert (reloaded(x).logits - hf(x).logits).abs().max() <= ATOL


@pytest.mark.parametrize("overrides", [
    {},  # the toy preset: MOSS-shaped, so CodeGen
    dict(position="learned", parallel_residual=False, attn_bias=True, attn_out_bias=True, tie_embeddings=True,
         lm_head_bias=False),
    dict(norm="rmsnorm", mlp="swiglu", rotary_style="half", rotary_dim=None, n_query_groups=2, mlp_bias=False,
         lm_head_bias=False, n_inner=96, parallel_residual=False),
], ids=["codegen", "gpt2", "llama"])
@torch.no_grad()
def test_mosslite_presets_export_to_the_matching_family(overrides, tmp_path):
    torch.manual_seed(0)
    ours = build_model(get_config("toy", **overrides)).eval()
    randomize(ours)
    export_hf(ours, tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="eager").eval()
    x = torch.randint(0, 512, (2, 10))
    assert (reloaded(x).logits - ours(x)).abs().max() <= ATOL


def test_export_refuses_configs_the_family_cannot_express(tmp_path):
    model = build_model(get_config("toy", norm="rmsnorm"), device="meta")
    with pytest.raises(ValueError, match=r"codegen: norm='rmsnorm' \(needs 'layernorm'\)"):
        export_hf(model, tmp_path)
    with pytest.raises(ValueError, match=r"cannot be exported as gpt2: position='rotary' \(needs 'learned'\)"):
        export_hf(build_model(get_config("toy"), device="meta"), tmp_path, family="gpt2")
    assert not any(tmp_path.iterdir())


def test_codegen_qkv_unpacking_follows_the_moss_layout():
    E = 64
    w = torch.randn(3 * E, E)
    groups = w.view(4, 3, E // 4, E)  # moss-facts §1: 4 groups, each [query, value, key]
    q, v, k = (groups[:, i].reshape(E, E) for i in range(3))
    assert torch.equal(codegen_qkv_to_ours(w), torch.cat([q, k, v]))
    assert torch.equal(ours_to_codegen_qkv(codegen_qkv_to_ours(w)), w)


# --------------------------------------------------------------------------------- a MOSS checkpoint on disk
def moss_config(hf) -> dict:
    """config.json as fnlp/moss-moon-003-sft ships it, at the tiny model's sizes."""
    c = hf.config
    return {"model_type": "moss", "architectures": ["MossForCausalLM"],
            "auto_map": {"AutoConfig": "configuration_moss.MossConfig",
                         "AutoModelForCausalLM": "modeling_moss.MossForCausalLM"},
            "activation_function": "gelu_new", "n_ctx": c.n_positions, "n_positions": c.n_positions,
            "n_embd": c.n_embd, "n_head": c.n_head, "n_layer": c.n_layer, "n_inner": c.n_inner,
            "rotary_dim": c.rotary_dim, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": False,
            "vocab_size": c.vocab_size, "bos_token_id": 1, "eos_token_id": 2, "wbits": 32, "groupsize": 128,
            "torch_dtype": "float16", "use_cache": True}


def write_moss_checkpoint(directory, hf, fmt: str, dtype=torch.float32) -> None:
    """MOSS's layout: fused qkv in q/v/k groups (CodeGen's own), a causal_mask buffer per layer, two shards + index."""
    n = hf.config.n_positions
    state = {k: v.to(dtype).clone() for k, v in hf.state_dict().items()}
    for i in range(hf.config.n_layer):
        state[f"transformer.h.{i}.attn.causal_mask"] = torch.tril(torch.ones(1, 1, n, n, dtype=torch.bool))
        state[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e9)
    names = ("pytorch_model-0000{}-of-00002.bin", "pytorch_model.bin.index.json") if fmt == "bin" else \
            ("model-0000{}-of-00002.safetensors", "model.safetensors.index.json")
    shards = [{k: v for k, v in state.items() if (".h.0." in k or "wte" in k) == (s == 1)} for s in (1, 2)]
    for s, shard in enumerate(shards, start=1):
        path = directory / names[0].format(s)
        torch.save(shard, path) if fmt == "bin" else save_file(shard, str(path))
    weight_map = {k: names[0].format(s) for s, shard in enumerate(shards, start=1) for k in shard}
    (directory / names[1]).write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    (directory / "config.json").write_text(json.dumps(moss_config(hf)))


@pytest.fixture(scope="module")
def codegen():
    return tiny_hf("codegen", seed=1)


@torch.no_grad()
def test_moss_pickle_shards_import_and_match_codegen(codegen, tmp_path):
    write_moss_checkpoint(tmp_path, codegen, "bin")
    ours = load_hf_checkpoint(tmp_path)
    assert ours.config.n_head == 8 and ours.config.rotary_dim == 4 and ours.config.lm_head_bias
    x = torch.randint(0, V, (2, 13))
    assert (ours(x) - codegen(x).logits).abs().max() <= ATOL


@torch.no_grad()
def test_moss_fp16_safetensors_shards_keep_their_dtype_unless_asked(codegen, tmp_path):
    write_moss_checkpoint(tmp_path, codegen, "safetensors", dtype=torch.float16)
    assert load_hf_checkpoint(tmp_path).lm_head.weight.dtype == torch.float16
    ours = load_hf_checkpoint(tmp_path, dtype=torch.float32)
    rounded = tiny_hf("codegen", seed=1)
    rounded.load_state_dict({k: v.half().float() for k, v in codegen.state_dict().items()})
    x = torch.randint(0, V, (2, 13))
    assert (ours(x) - rounded(x).logits).abs().max() <= ATOL


def test_cli_import_then_export_round_trips(codegen, tmp_path):
    (tmp_path / "moss").mkdir()
    write_moss_checkpoint(tmp_path / "moss", codegen, "bin")
    assert cli_main(["convert", "import", str(tmp_path / "moss"), str(tmp_path / "ours")]) == 0
    assert cli_main(["convert", "export", str(tmp_path / "ours"), str(tmp_path / "hf")]) == 0
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", attn_implementation="eager").eval()
    x = torch.randint(0, V, (1, 9))
    with torch.no_grad():
        assert (reloaded(x).logits - codegen(x).logits).abs().max() <= ATOL


# -------------------------------------------------------------------------------------------------- bad inputs
def test_bad_checkpoints_give_errors_that_name_the_problem(codegen, tmp_path):
    state = {k: v.clone() for k, v in codegen.state_dict().items()}
    config = moss_config(codegen)

    def folder(name, weights, cfg=config):
        path = tmp_path / name
        path.mkdir()
        save_file(weights, str(path / "model.safetensors"))
        if cfg is not None:
            (path / "config.json").write_text(json.dumps(cfg))
        return path

    missing = {k: v for k, v in state.items() if k != "transformer.h.1.mlp.fc_in.bias"}
    with pytest.raises(ValueError, match=r"missing: transformer\.h\.1\.mlp\.fc_in\.bias"):
        load_hf_checkpoint(folder("missing", missing))
    wrong = {**state, "transformer.h.0.attn.out_proj.weight": torch.zeros(64, 32)}
    with pytest.raises(ValueError, match=r"shape mismatch: transformer\.h\.0\.attn\.out_proj\.weight: \(64, 32\), "
                                         r"expected \(64, 64\)"):
        load_hf_checkpoint(folder("wrong", wrong))
    extra = {**state, "transformer.h.0.attn.lora_A": torch.zeros(2)}
    with pytest.raises(ValueError, match=r"unexpected: transformer\.h\.0\.attn\.lora_A"):
        load_hf_checkpoint(folder("extra", extra))
    with pytest.raises(ValueError, match=r"model_type 'bert' is not supported"):
        load_hf_checkpoint(folder("bert", state, {**config, "model_type": "bert"}))
    with pytest.raises(ValueError, match=r"wbits=4"):
        load_hf_checkpoint(folder("gptq", state, {**config, "wbits": 4}))
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_hf_checkpoint(folder("noconfig", state, None))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps(config))
    with pytest.raises(FileNotFoundError, match=r"no weights"):
        load_hf_checkpoint(empty)
    (empty / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}}))
    with pytest.raises(FileNotFoundError, match=r"model-00002-of-00002\.safetensors"):
        load_hf_checkpoint(empty)


def test_codegen_needs_heads_in_multiples_of_four():
    with pytest.raises(ValueError, match=r"n_head=6 must be divisible by 4"):
        config_from_hf({"model_type": "codegen", "n_head": 6, "n_embd": 48, "n_layer": 1, "vocab_size": 10,
                        "n_positions": 8, "rotary_dim": 4})


def test_gpt2_base_model_files_without_the_transformer_prefix_load():
    hf = tiny_hf("gpt2")
    bare = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    config, state = from_hf_state_dict(bare, hf.config)
    assert config.tie_embeddings and torch.equal(state["tok_emb.weight"], hf.transformer.wte.weight)
