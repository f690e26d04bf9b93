"""Chapter 3's widgets, driven headless: the parameter explorer and the attention viewer redraw from new data."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from mosslite.config import get_config  # noqa: E402
from mosslite.model import build_model  # noqa: E402
from mosslite.widgets.attention_viewer import attention_viewer_widget, attention_weights, byte_tokens  # noqa: E402
from mosslite.widgets.param_explorer import param_explorer_widget, preset_breakdown  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_moss_16b_breakdown_matches_the_hand_count():
    counts = preset_breakdown("moss-16b")
    assert counts == {"embedding": 657_457_152, "attention": 34 * 4 * 6144**2,
                      "mlp": 34 * (8 * 6144**2 + 5 * 6144), "norm": 34 * 2 * 6144 + 2 * 6144,
                      "head": 657_564_160}
    assert sum(counts.values()) == 16_717_980_160


def test_param_explorer_redraws_with_the_new_presets_counts():
    box = param_explorer_widget("toy")
    toy_heights = [bar.get_height() for bar in box.last["ax"].patches]
    assert box.last["counts"] == preset_breakdown("toy") and toy_heights == list(preset_breakdown("toy").values())
    box.controls["preset"].value = "gpt2-124m"
    heights = [bar.get_height() for bar in box.last["ax"].patches]
    assert box.last["preset"] == "gpt2-124m" and heights != toy_heights
    assert heights == list(preset_breakdown("gpt2-124m").values())
    assert box.last["counts"]["head"] == 0  # GPT-2's head is tied: it is counted under the embedding


def _toy_model():
    torch.manual_seed(0)
    model = build_model(get_config("toy")).eval()
    with torch.no_grad():  # larger query/key weights than the init's, so heads attend sharply and differ
        for block in model.blocks:
            block.attn.qkv.weight.mul_(20)
    return model


def test_attention_weights_reproduce_the_models_attention():
    model = _toy_model()
    idx, _ = byte_tokens("hello, MOSS")
    weights = attention_weights(model, idx)
    T = idx.shape[1]
    assert weights.shape == (2, 4, T, T)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, T))
    assert torch.all(weights.triu(1) == 0)  # causal: nothing reads the future
    # Weights times values, through the output projection, equal what the first attention module returns.
    attn, captured = model.blocks[0].attn, {}
    attn.register_forward_hook(lambda _m, args, out: captured.update(h=args[0], rope=args[1], out=out))
    with torch.no_grad():
        model(idx)
        v = attn.qkv(captured["h"]).unflatten(-1, (12, 16))[:, :, 8:].transpose(1, 2)  # toy: 4 q, 4 k, 4 v heads
        y = (weights[0][None] @ v).transpose(1, 2).flatten(2)
        torch.testing.assert_close(attn.proj(y), captured["out"], atol=1e-5, rtol=1e-4)


def test_attention_viewer_redraws_for_a_new_head_layer_and_text():
    box = attention_viewer_widget(_toy_model(), text="abcdef")
    first = box.last["weights"].clone()
    assert box.last["labels"] == list("abcdef")
    box.controls["head"].value = 2
    assert box.last["head"] == 2 and not torch.allclose(box.last["weights"], first)
    box.controls["layer"].value = 1
    second = box.last["weights"].clone()
    assert box.last["layer"] == 1 and not torch.allclose(second, first)
    box.controls["text"].value = "MOSS 003"
    assert box.last["labels"] == ["M", "O", "S", "S", "␣", "0", "0", "3"] and box.last["weights"].shape == (8, 8)
