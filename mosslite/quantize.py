"""Weight-only quantization for CPU inference: int8 per output channel, or int4 in groups along the input (MOSS's
releases used groups of 128). Embeddings and the head stay in full precision, as MOSS's did.

Generation is memory-bound: each new token reads every weight once, so storing weights in 8 or 4 bits instead of 32
cuts both memory and the bytes moved per token. Activations stay in floating point ("weight-only").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INT4_OFFSET = 8  # int4 codes 0..15 stand for -8..7 steps from the group's midpoint


def quantize_int8(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-row int8: w ≈ q · scale, with scale = max|row| / 127."""
    scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
    q = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale


def quantize_int4(weight: Tensor, group_size: int) -> tuple[Tensor, Tensor]:
    """Asymmetric int4 per group of `group_size` inputs: w ≈ (q − 8) · scale + zero, codes q in 0..15.
    Returns codes [out, in] (int32, one per weight before packing) and scales_and_zeros [in/group, out, 2]."""
    out_features, in_features = weight.shape
    groups = weight.reshape(out_features, in_features // group_size, group_size)
    lo, hi = groups.amin(dim=-1), groups.amax(dim=-1)
    scale = ((hi - lo) / 15).clamp(min=1e-8)
    zero = lo + scale * INT4_OFFSET
    q = torch.round((groups - lo[..., None]) / scale[..., None]).clamp(0, 15).to(torch.int32)
    return q.reshape(out_features, in_features), torch.stack([scale, zero], dim=-1).transpose(0, 1).contiguous()


def dequantize_int4(q: Tensor, scales_and_zeros: Tensor, group_size: int) -> Tensor:
    out_features, in_features = q.shape
    scale, zero = scales_and_zeros.transpose(0, 1).unbind(-1)  # [out, groups] each
    groups = q.reshape(out_features, in_features // group_size, group_size).float()
    return ((groups - INT4_OFFSET) * scale[..., None] + zero[..., None]).reshape(out_features, in_features)


def _has_kernel(name: str) -> bool:
    return hasattr(torch.ops.aten, name)


class QuantizedLinear(nn.Module):
    """A frozen nn.Linear stored in int8 or int4. Where PyTorch has a fused CPU kernel for it, the product runs in
    bf16 through that kernel; elsewhere (or with `use_kernel=False`) the weight is dequantized on the fly."""

    def __init__(self, linear: nn.Linear, bits: int = 8, group_size: int = 128, use_kernel: bool = True) -> None:
        super().__init__()
        if bits not in (8, 4):
            raise ValueError(f"bits must be 8 or 4, got {bits}")
        if bits == 4 and linear.in_features % group_size:
            raise ValueError(f"in_features {linear.in_features} is not a multiple of group_size {group_size}")
        self.bits, self.group_size = bits, group_size
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().float()
        if bits == 8:
            q, scale = quantize_int8(weight)
            self.use_kernel = use_kernel and _has_kernel("_weight_int8pack_mm")
            self.register_buffer("qweight", q)
            self.register_buffer("scales", scale.to(self.kernel_dtype))
        else:
            q, scales_and_zeros = quantize_int4(weight, group_size)
            self.use_kernel = use_kernel and _has_kernel("_weight_int4pack_mm_for_cpu")
            # The kernel wants two codes packed per byte in its own layout; the reference path keeps one per int8.
            packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1) if self.use_kernel else q.to(torch.int8)
            self.register_buffer("qweight", packed)
            self.register_buffer("scales", scales_and_zeros.to(self.kernel_dtype))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    @property
    def kernel_dtype(self) -> torch.dtype:
        """The fused kernels multiply in bf16 and take their scales in bf16 too; the reference path stays fp32."""
        return torch.bfloat16 if self.use_kernel else torch.float32

    def dequantized_weight(self) -> Tensor:
        if self.bits == 8:
            return self.qweight.float() * self.scales.float()[:, None]
        if self.use_kernel:  # unpack by multiplying the identity through the kernel: exact, and layout-agnostic
            eye = torch.eye(self.in_features, dtype=torch.bfloat16)
            return self._int4_kernel(eye).float().T
        return dequantize_int4(self.qweight.to(torch.int32), self.scales.float(), self.group_size)

    def _int4_kernel(self, x: Tensor) -> Tensor:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.qweight, self.group_size, self.scales)

    def forward(self, x: Tensor) -> Tensor:
        if self.use_kernel and x.device.type == "cpu":
            flat = x.reshape(-1, self.in_features).to(torch.bfloat16)
            if self.bits == 8:
                y = torch.ops.aten._weight_int8pack_mm(flat, self.qweight, self.scales)
            else:
                y = self._int4_kernel(flat)
            y = y.to(x.dtype).reshape(*x.shape[:-1], self.out_features)
            return y + self.bias if self.bias is not None else y
        return F.linear(x, self.dequantized_weight().to(x.dtype), self.bias)


def quantize_model(model: nn.Module, bits: int = 8, group_size: int = 128, use_kernel: bool = True,
                   skip: tuple[str, ...] = ("lm_head",)) -> list[str]:
    """Replace the model's nn.Linear layers (all but `skip`) by QuantizedLinear, in place; returns their names.
    A layer whose width does not divide into int4 groups stays in full precision and is left out of the list."""
    done = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and not name.endswith(skip):
            if bits == 4 and module.in_features % group_size:
                continue
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, QuantizedLinear(module, bits, group_size, use_kernel))
            done.append(name)
    return done


def model_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer (a tied tensor counted once)."""
    tensors = {t.data_ptr(): t for t in list(model.parameters()) + list(model.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())
