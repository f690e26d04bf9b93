import pytest
import torch

from mosslite.checkpoint import load_checkpoint, load_state, read_weights, save_checkpoint
from mosslite.config import get_config
from mosslite.model import build_model


@pytest.mark.parametrize("tied", [False, True])
def test_save_load_round_trip(tmp_path, tied):
    config = get_config("toy", tie_embeddings=tied, lm_head_bias=not tied, position="learned" if tied else "rotary")
    model = build_model(config).eval()
    save_checkpoint(model, tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt").eval()
    x = torch.randint(0, 512, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)
    assert loaded.config == config
    if tied:
        assert loaded.lm_head.weight is loaded.tok_emb.weight


def test_loading_into_a_different_config_names_the_tensors(tmp_path):
    save_checkpoint(build_model(get_config("toy")), tmp_path / "ckpt")
    with pytest.raises(ValueError) as err:
        load_checkpoint(tmp_path / "ckpt", config=get_config("toy", n_layer=3, n_embd=96))
    text = str(err.value)
    assert "missing: blocks.2." in text and "shape mismatch: blocks.0.attn.proj.weight" in text


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint folder"):
        load_checkpoint(tmp_path / "nowhere")
    save_checkpoint(build_model(get_config("toy")), tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a truncated copy
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "ckpt")


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = build_model(get_config("toy"))
    save_checkpoint(model, tmp_path / "ckpt")
    before = (tmp_path / "ckpt" / "model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("mosslite.checkpoint.save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(build_model(get_config("toy")), tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").read_bytes() == before
    assert [p.name for p in (tmp_path / "ckpt").iterdir() if p.name.endswith(".tmp")] == []


def test_torch_pickles_load_weights_only(tmp_path):
    model = build_model(get_config("toy"))
    torch.save(model.state_dict(), tmp_path / "w.bin")
    fresh = build_model(get_config("toy"))
    load_state(fresh, read_weights(tmp_path / "w.bin"))
    torch.testing.assert_close(fresh.state_dict(), model.state_dict())

    class Evil:
        def __reduce__(self):
            return (print, ("code ran on load",))

    torch.save({"x": Evil()}, tmp_path / "evil.bin")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        read_weights(tmp_path / "evil.bin")
