import pytest
import torch

from mosslite.checkpoint import load_checkpoint, save_checkpoint
from mosslite.config import get_config
from mosslite.lora import LoRALinear, inject_lora, merge_lora, trainable_parameters
from mosslite.model import build_model, lm_loss


def test_lora_starts_at_the_base_model_trains_few_parameters_and_merges_exactly(tmp_path):
    torch.manual_seed(0)
    model = build_model(get_config("toy"))
    x = torch.randint(0, 512, (2, 17))
    with torch.no_grad():
        before = model(x[:, :-1])
    total = model.num_parameters()
    wrapped = inject_lora(model, rank=4)
    assert len(wrapped) == 2 * 4  # qkv, proj, fc, proj in each of 2 blocks
    assert trainable_parameters(model) < 0.15 * total
    with torch.no_grad():
        torch.testing.assert_close(model(x[:, :-1]), before)  # B = 0 at the start

    frozen = {k: v.clone() for k, v in model.state_dict().items() if "lora_" not in k}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(20):
        loss = lm_loss(model(x[:, :-1]), x[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in frozen.items())  # the base never moved

    model.eval()
    with torch.no_grad():
        unmerged = model(x[:, :-1])
        merge_lora(model)
        merged = model(x[:, :-1])
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert (merged - unmerged).abs().max() <= 1e-5
    assert not torch.allclose(merged, before)
    save_checkpoint(model, tmp_path / "merged")  # a merged model is a plain checkpoint again
    torch.testing.assert_close(load_checkpoint(tmp_path / "merged")(x[:, :-1]), merged)


def test_bad_targets_and_rank_are_errors():
    with pytest.raises(ValueError, match="no linear layer"):
        inject_lora(build_model(get_config("toy")), targets=("attn.q_proj",))
    with pytest.raises(ValueError, match="rank must be at least 1"):
        inject_lora(build_model(get_config("toy")), rank=0)
