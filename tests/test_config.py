import json

import pytest

from mosslite.config import PRESETS, ModelConfig, get_config


def test_unknown_preset_lists_valid_names():
    with pytest.raises(ValueError, match="toy, tiny, small, moss-500m, moss-1b, moss-7b, gpt2-124m, moss-16b"):
        get_config("moss-70b")


def test_moss_16b_preset_is_moss_moon_003():
    c = get_config("moss-16b")
    assert (c.n_layer, c.n_embd, c.n_head, c.head_dim, c.rotary_dim) == (34, 6144, 24, 256, 64)
    assert (c.mlp_hidden, c.block_size, c.vocab_size, c.norm_eps) == (24576, 2048, 107008, 1e-5)
    assert c.parallel_residual and c.rotary_style == "interleaved" and not c.tie_embeddings and c.lm_head_bias
    assert not c.attn_bias and c.mlp_bias


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(n_embd=65), "divisible by n_head"),
        (dict(n_query_groups=3), "divisible by n_query_groups"),
        (dict(rotary_dim=7), "rotary_dim"),
        (dict(tie_embeddings=True, lm_head_bias=True), "tied lm_head"),
        (dict(mlp="relu"), "mlp='relu'"),
    ],
)
def test_invalid_configs_name_the_problem(changes, message):
    with pytest.raises(ValueError, match=message):
        get_config("toy", **changes)


def test_json_round_trip_and_unknown_keys(tmp_path):
    for config in PRESETS.values():
        config.save(tmp_path / "c.json")
        assert ModelConfig.load(tmp_path / "c.json") == config
    data = get_config("toy").to_dict() | {"n_layers": 3}
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"bad.json: unknown ModelConfig keys \['n_layers'\]"):
        ModelConfig.load(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ModelConfig.load(tmp_path / "broken.json")
