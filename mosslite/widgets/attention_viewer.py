"""An attention heatmap: pick a layer and a head, see how much each position attends to every earlier one.

The weights are recomputed here from each layer's queries and keys (softmax(q·kᵀ/√D) under the causal mask), because
the model itself calls SDPA, which never materialises them. A test checks they reproduce the model's outputs.
"""

from __future__ import annotations

import math

import ipywidgets as w
import matplotlib.pyplot as plt
import torch
from einops import rearrange
from IPython.display import display
from torch import Tensor

from mosslite.model import Transformer, apply_rotary


@torch.no_grad()
def attention_weights(model: Transformer, idx: Tensor) -> Tensor:
    """Attention probabilities of every layer and head for token ids [1, T]: a [n_layer, n_head, T, T] tensor.

    Forward pre-hooks catch each attention module's input (the normed residual stream) and rotary angles.
    """
    inputs: list[tuple] = []
    hooks = [block.attn.register_forward_pre_hook(lambda _m, args: inputs.append(args[:2])) for block in model.blocks]
    try:
        model(idx)
    finally:
        for hook in hooks:
            hook.remove()
    c = model.config
    H, G, D, T = c.n_head, c.kv_heads, c.head_dim, idx.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()
    maps = []
    for block, (h, rope) in zip(model.blocks, inputs):
        qk = rearrange(block.attn.qkv(h), "b t (n d) -> b n t d", d=D)[:, : H + G]
        if rope is not None:
            qk = apply_rotary(qk, *rope, c.rotary_style)
        q, k = qk.split([H, G], dim=1)
        k = k.repeat_interleave(H // G, dim=1)  # grouped-query attention: each key head serves H/G query heads
        scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(D)
        maps.append(scores.masked_fill(~causal, float("-inf")).softmax(-1)[0])
    return torch.stack(maps)


def draw_attention(weights: Tensor, labels: list[str], layer: int, head: int, ax=None) -> Tensor:
    """Heatmap of one head's [T, T] weights: row = the query position, column = the key it reads from.

    Returns the matrix drawn.
    """
    matrix = weights[layer, head]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 4.2))
    image = ax.imshow(matrix.numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(f"layer {layer}, head {head}", fontsize=10)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    return matrix


def byte_tokens(text: str) -> tuple[Tensor, list[str]]:
    """Token ids [1, T] and tick labels for `text`, one token per UTF-8 byte.

    Any model with a vocabulary of at least 256 can read it, so the viewer needs no trained tokenizer.
    """
    data = text.encode("utf-8")
    labels = [chr(b) if 32 < b < 127 else ("␣" if b == 32 else f"{b:02x}") for b in data]
    return torch.tensor([list(data)]), labels


def attention_viewer_widget(model: Transformer, text: str = "MOSS rotates q and k") -> w.Widget:
    """Sliders for layer and head and a text box over the heatmap; `box.last` holds the matrix last drawn.

    Changing the text reruns the model; changing layer or head only redraws.
    """
    if model.config.vocab_size < 256:
        raise ValueError(f"attention_viewer_widget reads UTF-8 bytes as tokens: the model's vocab_size="
                         f"{model.config.vocab_size} must be at least 256; use a preset such as 'toy'")
    model.eval()
    controls = {
        "text": w.Text(value=text, description="text", continuous_update=False),
        "layer": w.IntSlider(value=0, min=0, max=model.config.n_layer - 1, description="layer"),
        "head": w.IntSlider(value=0, min=0, max=model.config.n_head - 1, description="head"),
    }
    out = w.Output()
    box = w.VBox([w.HBox(list(controls.values())), out])
    box.controls = controls
    box.last = {}
    state: dict = {}

    def recompute(*_) -> None:
        idx, labels = byte_tokens(controls["text"].value[: model.config.block_size] or " ")
        state.update(weights=attention_weights(model, idx), labels=labels)
        redraw()

    def redraw(*_) -> None:
        layer, head = controls["layer"].value, controls["head"].value
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(4.8, 4.2))
            matrix = draw_attention(state["weights"], state["labels"], layer, head, ax)
            box.last = {"layer": layer, "head": head, "labels": state["labels"], "weights": matrix}
            plt.show()
            plt.close(fig)

    controls["text"].observe(recompute, names="value")
    controls["layer"].observe(redraw, names="value")
    controls["head"].observe(redraw, names="value")
    recompute()
    return box


def show_attention_viewer(model: Transformer, text: str = "MOSS rotates q and k") -> None:
    """Display the viewer in a notebook.

    A one-liner for chapter 3.
    """
    display(attention_viewer_widget(model, text))
