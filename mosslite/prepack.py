"""Prepacked linear layers for CPU decoding: the same fp32 weights, stored once in oneDNN's blocked layout.

Decoding one token reads every weight once, so a step costs about (weight bytes) / (memory bandwidth). A plain
`nn.Linear` hands the product to MKL, which on some CPUs (AMD EPYC here) streams a weight matrix well below that
bandwidth, and for a few rows (a batch) re-packs the matrix on every call. oneDNN, given the weight reordered once into
its own blocked layout, streams it close to the bandwidth. Same numbers and fp32 arithmetic (sums differ only in
order, ~1e-6); inference only: no gradients, and the packed model is not for saving (keep the original for that).
Use: `fast = copy.deepcopy(model).eval(); prepack_linears(fast); generate(fast, prompts, n)`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def prepack_available() -> bool:
    """True where this PyTorch has oneDNN's linear kernels (CPU builds for x86 and ARM)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


class PrepackedLinear(nn.Module):
    """A frozen `nn.Linear` whose weight lives in oneDNN's layout, reordered once here instead of at every call."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        if linear.weight.device.type != "cpu" or linear.weight.dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"PrepackedLinear needs an fp32 or bf16 CPU layer, got {linear.weight.dtype} on "
                             f"{linear.weight.device}; prepack a CPU model, or decode with the plain one")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().contiguous()
        # Plain attributes, not buffers: an opaque oneDNN tensor cannot go into a state_dict or through model.to().
        self.packed_weight = torch.ops.mkldnn._reorder_linear_weight(weight)
        self.bias = None if linear.bias is None else linear.bias.detach().clone()

    def forward(self, x: Tensor) -> Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed_weight, self.bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


@torch.no_grad()
def prepack_linears(model: nn.Module, skip: tuple[str, ...] = ()) -> list[str]:
    """Replace every `nn.Linear` of `model` (any model: mosslite's or a `transformers` one) by a PrepackedLinear, in
    place, except those whose name ends with one of `skip`; returns the names replaced. Put the model in eval first."""
    if not prepack_available():
        raise RuntimeError("prepacking needs PyTorch's oneDNN kernels (torch.backends.mkldnn.is_available() is "
                           "False in this build); decode with the plain model instead")
    done = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and not (skip and name.endswith(skip)):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, PrepackedLinear(module))
            done.append(name)
    return done
