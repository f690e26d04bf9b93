"""Instruction tuning: config checks, masks that reach the loss, turn-boundary truncation, padding, bad JSONL records,
and full and LoRA runs on the pretraining Trainer that lower the assistant-token loss and export a plain model."""

import json

import pytest
import torch
from conftest import ByteTokenizer
from sft_support import WORLD, make_base, sft_settings

from mosslite.chat import COMPACT_META, IGNORE_INDEX, Conversation, Turn, encode_for_training
from mosslite.checkpoint import load_checkpoint
from mosslite.cli import main as cli_main
from mosslite.config import get_config
from mosslite.lora import LoRALinear
from mosslite.model import build_model, lm_loss
from mosslite.train.sft import SFTModule, sft
from mosslite.train.sft_config import load_sft_config, sft_config_from_dict
from mosslite.train.sft_data import DataReport, Example, SFTBatches, collate, encode_conversations

TOK = ByteTokenizer()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def full_run(base, tmp_path_factory):
    config = sft_config_from_dict(sft_settings(*base, tmp_path_factory.mktemp("full")))
    return config, sft(config, quiet=True)


@pytest.fixture(scope="module")
def lora_run(base, tmp_path_factory):
    config = sft_config_from_dict(sft_settings(*base, tmp_path_factory.mktemp("lora"), finetune="lora",
                                               lora_rank=4, lr=1e-2, min_lr=1e-3))
    return config, sft(config, quiet=True)


def conversation(*pairs: tuple[str, str]) -> Conversation:
    return Conversation(turns=[Turn(human=h, moss=m) for h, m in pairs], meta=COMPACT_META)


# ------------------------------------------------------------------------------------------------------ config
def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="unknown key 'max_step'; did you mean 'max_steps'"):
        sft_config_from_dict({"max_step": 3})
    with pytest.raises(ValueError, match="lr='fast' should be of type float"):
        sft_config_from_dict({"lr": "fast"})
    with pytest.raises(ValueError, match=r"policy='human' is not one of \['assistant', 'moss'\]"):
        sft_config_from_dict({"policy": "human"})
    with pytest.raises(ValueError, match=r"world\.n_entitie"):
        sft_config_from_dict({"world": {"n_entitie": 3}})
    with pytest.raises(ValueError, match="world_languages has"):
        sft_config_from_dict({"world_languages": ["fr"]})
    with pytest.raises(ValueError, match="no training data"):
        sft_config_from_dict({"world_dialogues": 0})
    with pytest.raises(FileNotFoundError, match="no fine-tuning config at .*configs/sft/"):
        load_sft_config(tmp_path / "missing.yaml")
    path = tmp_path / "run.yaml"
    path.write_text("max_steps: 40\nworld: {n_entities: 12}\nfinetune: lora\n")
    config = load_sft_config(path, ["--lr", "3e-4", "--world.seed=2", "--jsonl", "[a.jsonl]"])
    assert (config.max_steps, config.lr, config.finetune, config.jsonl) == (40, 3e-4, "lora", ["a.jsonl"])
    assert config.world_config().n_entities == 12 and config.world_config().seed == 2


def test_missing_base_fails_before_anything_runs(tmp_path):
    config = sft_config_from_dict({"base": str(tmp_path / "nowhere"), "out_dir": str(tmp_path / "out")})
    with pytest.raises(FileNotFoundError, match=r"base=.*nowhere.* is not a mosslite checkpoint folder.*mosslite "
                                                 r"pretrain --config"):
        sft(config)
    assert not (tmp_path / "out").exists()
    assert cli_main(["sft", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_tokenizer_must_match_the_base(base, tmp_path):
    checkpoint, tokenizer = base
    small = build_model(get_config("toy", vocab_size=300))
    from mosslite.checkpoint import save_checkpoint

    save_checkpoint(small, tmp_path / "small")
    config = sft_config_from_dict(sft_settings(tmp_path / "small", tokenizer, tmp_path / "out"))
    with pytest.raises(ValueError, match="embeds only 300"):
        sft(config)


# ----------------------------------------------------------------------------------------------- masks, batches
def test_only_masked_in_tokens_carry_loss_and_gradient():
    torch.manual_seed(0)
    model = build_model(get_config("toy", vocab_size=262, block_size=1024))
    examples = encode_conversations([conversation(("What is 6*7?", "It is 42."), ("Thanks", "You are welcome."))],
                                    TOK, "assistant", 1025)
    x, y = collate(examples, pad_id=0)
    logits = model(x).detach().requires_grad_(True)
    lm_loss(logits, y).backward()
    trained = y != IGNORE_INDEX
    assert logits.grad[~trained].abs().max() == 0  # a token outside the mask sends back no gradient at all
    assert (logits.grad[trained].abs().sum(-1) > 0).all()
    # The module's training step is exactly the mean cross-entropy over the trained positions.
    module = SFTModule(model.config, sft_config_from_dict({}))
    module.model = model
    model.zero_grad()
    module.training_step((x, y, int(trained.sum())), 0).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    logp = model(x).log_softmax(-1)
    manual = -logp[trained].gather(-1, y[trained][:, None]).mean()
    manual.backward()
    for g, p in zip(grads, model.parameters()):
        torch.testing.assert_close(g, p.grad)


def test_user_words_carry_loss_only_under_the_moss_policy():
    conv = conversation(("hello there", "hi"))
    text_of = lambda labels: TOK.decode([t for t in labels if t != IGNORE_INDEX])  # noqa: E731
    assert "hello there" not in text_of(encode_for_training(conv, TOK, "assistant")[1])
    assert "hello there" in text_of(encode_for_training(conv, TOK, "moss")[1])


def test_padding_changes_nothing_for_the_real_tokens():
    torch.manual_seed(0)
    model = build_model(get_config("toy", vocab_size=262, block_size=1024)).eval()
    short, long = encode_conversations([conversation(("hi", "hello")),
                                        conversation(("a much longer question here", "and a longer answer"))],
                                       TOK, "assistant", 1025)
    x1, y1 = collate([short], pad_id=0)
    x2, y2 = collate([short, long], pad_id=0)
    assert x2.shape[1] > x1.shape[1] and (y2[0, x1.shape[1]:] == IGNORE_INDEX).all()
    with torch.no_grad():
        torch.testing.assert_close(model(x2)[0, : x1.shape[1]], model(x1)[0])
    x3, _ = collate([short], pad_id=5)  # the padding id is irrelevant too
    with torch.no_grad():
        torch.testing.assert_close(model(x3)[0], model(x1)[0])


def test_long_conversations_lose_whole_old_turns():
    conv = conversation(*[(f"question {i}", f"answer {i}") for i in range(8)])
    full = len(encode_for_training(conv, TOK)[0])
    report = DataReport()
    (example,) = encode_conversations([conv], TOK, "assistant", full // 2, report)
    text = TOK.decode(example.ids)
    assert len(example.ids) <= full // 2 and report.truncated == 1
    assert text.startswith(COMPACT_META.render()) and text.endswith("<|MOSS|>: answer 7<eom>\n")
    assert text.count("<|Human|>:") == text.count("<|MOSS|>:") == text.count("<eom>")  # only whole turns
    assert encode_conversations([conv], TOK, "assistant", 20, report) == [] and report.too_long == 1


def test_batches_depend_only_on_seed_and_step():
    examples = [Example(list(range(1, i + 3)), list(range(1, i + 3))) for i in range(10)]
    one = SFTBatches(examples, batch_size=4, seed=3, rank=0, world=1, pad_id=0)
    halves = [SFTBatches(examples, batch_size=2, seed=3, rank=r, world=2, pad_id=0) for r in range(2)]
    seen = []
    for i in range(5):  # two epochs: every example once per epoch
        x, y, tokens = one[i]
        parts = [h[i][0] for h in halves]
        assert torch.equal(x[:2, : parts[0].shape[1]], parts[0]) and torch.equal(x[2:, : parts[1].shape[1]], parts[1])
        assert tokens == int((y != IGNORE_INDEX).sum()) == halves[0][i][2] == halves[1][i][2]
        seen += [int((row != 0).sum()) for row in x]
    assert sorted(seen[:10]) == sorted(seen[10:]) == list(range(1, 11))


# -------------------------------------------------------------------------------------------------- data sources
def test_bad_jsonl_records_are_reported_with_line_numbers(base, tmp_path):
    from mosslite.data.sft import write_sft_jsonl

    path = tmp_path / "user.jsonl"
    write_sft_jsonl([conversation(("hi", "hello")), conversation(("1+1?", "2"))], path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{broken", lines[1], '{"chat": {}}']) + "\n")
    settings = sft_settings(*base, tmp_path / "out", world_dialogues=0, jsonl=[str(path)], max_steps=3)
    with pytest.raises(ValueError, match=r"user.jsonl: line 2: "):
        sft(sft_config_from_dict(settings))
    from mosslite.train.sft_data import load_conversations

    report = DataReport()
    with pytest.warns(UserWarning, match="2 bad record"):
        pairs = load_conversations(sft_config_from_dict({**settings, "on_bad_record": "continue"}), report)
    assert len(pairs) == 2 and [b.line for b in report.bad_records] == [2, 4]
    assert "bad JSONL record(s) left out, first: line 2" in "\n".join(report.lines())


def test_chatterbot_dialogues_become_conversations():
    pytest.importorskip("chatterbot_corpus")
    from mosslite.train.sft_data import chatterbot_conversations

    convs = chatterbot_conversations(["en", "zh"], COMPACT_META)
    assert len(convs) > 2000
    assert all(t.human and t.moss for c in convs for t in c.turns)
    assert any("\u4e00" <= c.turns[0].human[0] <= "\u9fff" for c in convs)


# ------------------------------------------------------------------------------------------------------- runs
def test_full_sft_lowers_the_assistant_loss_and_exports_a_chat_ready_folder(full_run):
    config, result = full_run
    h = result.history
    assert [s for s, _ in h.train] == list(range(1, 13)) and len(h.val) == 2
    assert h.val[-1][1] < h.val[0][1] and h.train[-1][1] < h.train[0][1]
    assert result.trainable_parameters == result.total_parameters
    assert result.data.train + result.data.val == 120 and 0 < result.data.loss_share < 0.5
    final = result.final_dir
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat.json"} <= {p.name for p in final.iterdir()}
    assert json.loads((final / "chat.json").read_text())["rules"] == list(COMPACT_META.rules)
    assert result.checkpoint is not None and result.checkpoint.name == "step-0000012.ckpt"
    base = load_checkpoint(config.base)
    tuned = load_checkpoint(final)
    assert any(not torch.equal(a, b) for a, b in zip(base.state_dict().values(), tuned.state_dict().values()))


def test_lora_trains_only_adapters_and_exports_a_merged_plain_model(lora_run, base):
    config, result = lora_run
    module = result.module
    wrapped = [m for m in module.model.modules() if isinstance(m, LoRALinear)]
    assert len(wrapped) == 2 * 4
    assert {n for n, p in module.model.named_parameters() if p.requires_grad} == {
        n for n, _ in module.model.named_parameters() if "lora_" in n}
    assert result.trainable_parameters < 0.1 * result.total_parameters
    assert result.history.train[-1][1] < result.history.train[0][1]
    original = load_checkpoint(base[0]).state_dict()
    frozen = {k.replace(".base", ""): v for k, v in module.model.state_dict().items() if "lora_" not in k}
    assert all(torch.equal(original[k], v) for k, v in frozen.items())  # the base weights never moved
    exported = load_checkpoint(result.final_dir)  # a plain model: no adapter keys, loads into the plain class
    assert not any(isinstance(m, LoRALinear) for m in exported.modules())
    x = torch.randint(0, exported.config.vocab_size, (2, 40))
    module.model.eval()
    with torch.no_grad():
        assert (exported(x) - module.model(x)).abs().max() <= 1e-5
        assert not torch.allclose(exported(x), load_checkpoint(base[0])(x))


def test_gradient_accumulation_trains_like_one_big_batch(base, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same kernels for both runs
    try:
        runs = [sft(sft_config_from_dict(sft_settings(*base, tmp_path / name, max_steps=4, val_every=4, ckpt_every=4,
                                                      batch_size=batch, grad_accum=accum)), quiet=True)
                for name, batch, accum in (("big", 8, 1), ("accumulated", 2, 4))]
    finally:
        torch.set_num_threads(threads)
    big, accumulated = (dict(r.history.train) for r in runs)
    # Every trained token weighs the same in both: the loss is a mean over the step's tokens, not over micro-batches.
    assert list(accumulated.values()) == pytest.approx(list(big.values()), rel=1e-5)


def test_rerun_into_a_used_out_dir_needs_resume(full_run):
    config, _ = full_run
    with pytest.raises(ValueError, match="already holds checkpoints"):
        sft(config, quiet=True)


def test_cli_runs_a_config_with_overrides(base, tmp_path, capsys):
    import yaml

    settings = sft_settings(*base, tmp_path / "out", max_steps=4, val_every=4, ckpt_every=4)
    path = tmp_path / "sft.yaml"
    path.write_text(yaml.safe_dump(settings))
    assert cli_main(["sft", "--config", str(path), "--max_steps", "3", "--val_every", "3", "--ckpt_every", "3"]) == 0
    out = capsys.readouterr().out
    assert "[sft] conversations:" in out and "step 3" in out and str(tmp_path / "out" / "final") in out
    assert cli_main(["sft", "--config", str(path), "--world.n_entitie", "3"]) == 2
    assert "world.n_entitie" in capsys.readouterr().err


def test_world_kinds_with_tools_enable_them_in_the_meta(base, tmp_path):
    from mosslite.train.sft_data import load_conversations

    config = sft_config_from_dict(sft_settings(*base, tmp_path, world_kinds=["fact", "calculate"],
                                               world_dialogues=4, world_languages=["en"]))
    pairs = load_conversations(config)
    tools = {c.meta.tools for _, c in pairs}
    # a tool dialogue enables every tool (the question says which to call); plain chat enables none
    assert tools == {(), ("Search", "Calculate", "Solve")} and WORLD["n_entities"] == config.world_config().n_entities


def test_shipped_configs_load():
    from pathlib import Path

    paths = sorted(Path(__file__).parents[1].glob("configs/sft/*.yaml"))
    assert {p.stem for p in paths} >= {"tiny", "lora-tiny", "moss-003"}
    for path in paths:
        config = load_sft_config(path)
        assert config.name == path.stem and config.out_dir == f"runs/sft/{path.stem}"
