"""Alignment: DPO's loss and gradient by hand, answer-only masks, a frozen reference, a tiny run that widens the
chosen-vs-rejected margin, config errors, preference JSONL (the flywheel's format) and the world's pairs."""

import json
import math

import pytest
import torch
import yaml
from conftest import ByteTokenizer
from sft_support import WORLD, make_base

from mosslite.align import (
    AlignModule,
    align,
    answer_logprobs,
    collate_pairs,
    dpo_loss,
    encode_pair,
    sequence_logprobs,
)
from mosslite.chat import COMPACT_META, IGNORE_INDEX, Conversation, Turn
from mosslite.checkpoint import load_checkpoint
from mosslite.cli import main as cli_main
from mosslite.data.preference import (
    DECLINE_PRIVATE,
    DONT_KNOW,
    PAIR_KINDS,
    PreferencePair,
    pair_from_record,
    prompt_conversation,
    read_pairs_jsonl,
    world_pairs,
    write_pairs_jsonl,
)
from mosslite.data.world import World, WorldConfig
from mosslite.evaluate import is_refusal
from mosslite.flywheel import FlywheelStore, preference_pairs
from mosslite.train.align_config import align_config_from_dict, load_align_config

TOK = ByteTokenizer()
PAIR_WORLD = {**WORLD, "heldout": 0.2, "private": 0.5}
RUN_KINDS = ("known", "unknown", "heldout", "private")  # the run's mix; "benign" pairs are checked on their own


def align_settings(base, tokenizer, out, **changes) -> dict:
    """A DPO run of a few seconds on world pairs of every kind (compact meta, the toy base's 512-token context)."""
    return {"base": str(base), "tokenizer_dir": str(tokenizer), "out_dir": str(out), "world": PAIR_WORLD,
            "world_pairs": 48, "pair_kinds": list(RUN_KINDS), "meta": "compact", "max_steps": 10,
            "warmup_steps": 1, "batch_size": 4, "lr": 1e-3, "min_lr": 1e-4, "beta": 0.1, "val_every": 5,
            "val_batches": 2, "val_fraction": 0.25, "log_every": 1, "ckpt_every": 5, "peak_flops": 1e11,
            "progress_bar": False, **changes}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def run(base, tmp_path_factory):
    config = align_config_from_dict(align_settings(*base, tmp_path_factory.mktemp("align")))
    return config, align(config, quiet=True)


def pair(question: str, chosen: str, rejected: str) -> PreferencePair:
    prompt = Conversation(turns=[Turn(human=question)], meta=COMPACT_META).render(open_field="moss")
    return PreferencePair(prompt, f" {chosen}<eom>", f" {rejected}<eom>")


# ---------------------------------------------------------------------------------------------------- the loss
def test_dpo_loss_and_gradient_match_a_hand_computed_case():
    # pair 1: r_c = 0.5·(−1 − −1.5) = 0.25, r_r = 0.5·(−2 − −1) = −0.5, margin z1 = 0.75
    # pair 2: r_c = 0.5·(−3 − −2) = −0.5, r_r = 0.5·(−1 − −1) = 0, margin z2 = −0.5
    policy_chosen = torch.tensor([-1.0, -3.0], requires_grad=True)
    policy_rejected = torch.tensor([-2.0, -1.0], requires_grad=True)
    out = dpo_loss(policy_chosen, policy_rejected, torch.tensor([-1.5, -2.0]), torch.tensor([-1.0, -1.0]), beta=0.5)
    # loss = mean(−log σ(z)) = mean(log(1 + e^−z))
    assert out.loss.item() == pytest.approx((math.log1p(math.exp(-0.75)) + math.log1p(math.exp(0.5))) / 2, abs=1e-6)
    assert out.chosen_rewards.tolist() == pytest.approx([0.25, -0.5])
    assert out.rejected_rewards.tolist() == pytest.approx([-0.5, 0.0])
    assert out.margin == pytest.approx((0.75 - 0.5) / 2) and out.accuracy == 0.5
    out.loss.backward()
    # d/dπc of log(1 + e^−z)/2 with z = β(πc − πr − …) is −β·σ(−z)/2; d/dπr is the opposite
    expected = [-0.5 * (1 / (1 + math.exp(z))) / 2 for z in (0.75, -0.5)]
    assert policy_chosen.grad.tolist() == pytest.approx(expected, abs=1e-6)
    assert policy_rejected.grad.tolist() == pytest.approx([-g for g in expected], abs=1e-6)


def test_the_sft_term_adds_the_chosen_answers_mean_token_nll():
    # RPO: loss = DPO + w · mean(−πc / tokens); with π = ref the DPO part is log 2
    policy_chosen = torch.tensor([-4.0, -9.0], requires_grad=True)
    rejected = torch.tensor([-3.0, -3.0])
    out = dpo_loss(policy_chosen, rejected, policy_chosen.detach(), rejected, beta=0.1, sft_weight=0.5,
                   chosen_tokens=torch.tensor([2, 3]))
    assert out.loss.item() == pytest.approx(math.log(2) + 0.5 * (4 / 2 + 9 / 3) / 2)
    out.loss.backward()
    # the DPO part's gradient is −β·σ(0)/2 = −0.025 per pair; the SFT term's is −w/(tokens·2)
    assert policy_chosen.grad.tolist() == pytest.approx([-0.025 - 0.5 / 4, -0.025 - 0.5 / 6])
    with pytest.raises(ValueError, match="chosen_tokens"):
        dpo_loss(policy_chosen, rejected, policy_chosen, rejected, beta=0.1, sft_weight=1.0)


def test_the_loss_starts_at_log_two_when_policy_is_the_reference():
    logps = torch.tensor([-5.0, -7.0, -2.0])
    out = dpo_loss(logps, logps - 1, logps, logps - 1, beta=0.1)
    assert out.loss.item() == pytest.approx(math.log(2)) and out.margin == 0 and out.accuracy == 0


def test_sequence_logprobs_sum_only_the_labelled_tokens():
    logits = torch.zeros(1, 3, 4)  # uniform: every token has log p = −log 4
    logits[0, 1, 2] = math.log(3)  # position 1: p(2) = 3/6
    labels = torch.tensor([[1, 2, IGNORE_INDEX]])
    assert sequence_logprobs(logits, labels).item() == pytest.approx(-math.log(4) + math.log(0.5))


def test_tokens_outside_the_answer_do_not_affect_the_loss():
    p = encode_pair(pair("Where does Kelob live?", "Kelob lives in Fasiton.", "I don't know."), TOK, "assistant", 999)
    x, y = collate_pairs([p], pad_id=TOK.special_tokens["<|endoftext|>"])
    # only the answer (and its <eom>) is labelled: the prompt, padding and the earlier fields are context
    for row, answer in zip(y, (" Kelob lives in Fasiton.", " I don't know.")):
        labelled = [int(t) for t in row if t != IGNORE_INDEX]
        assert TOK.decode(labelled) == answer + "<eom>"
    logits = torch.randn(2, x.shape[1], 262, requires_grad=True)
    loss = dpo_loss(*sequence_logprobs(logits, y), *sequence_logprobs(logits.detach() * 0.5, y), beta=0.3).loss
    loss.backward()
    outside = (y == IGNORE_INDEX)
    assert logits.grad[outside].abs().max() == 0 and logits.grad[~outside].abs().max() > 0
    changed = logits.detach().clone()
    changed[outside] = torch.randn_like(changed[outside]) * 10  # any prediction at a context position
    assert torch.equal(sequence_logprobs(changed, y), sequence_logprobs(logits.detach(), y))


def test_long_prompts_lose_old_turns_not_the_answer():
    turns = [Turn(human="x" * 60, moss="y" * 60) for _ in range(3)] + [Turn(human="Who made you?")]
    prompt = Conversation(turns=turns, meta=COMPACT_META).render(open_field="moss")
    full = encode_pair(PreferencePair(prompt, " mosslite.<eom>", " OpenAI.<eom>"), TOK, "assistant", 9999)
    short = encode_pair(PreferencePair(prompt, " mosslite.<eom>", " OpenAI.<eom>"), TOK, "assistant",
                        len(full.chosen.ids) - 100)
    assert len(short.chosen.ids) < len(full.chosen.ids) - 100
    assert TOK.decode(short.chosen.ids).endswith("Who made you?<eoh>\n<|Inner Thoughts|>: None<eot>\n"
                                                 "<|Commands|>: None<eoc>\n<|Results|>: None<eor>\n<|MOSS|>: mosslite.<eom>")
    with pytest.raises(ValueError, match="newest turn alone"):
        encode_pair(PreferencePair(prompt, " mosslite.<eom>", " OpenAI.<eom>"), TOK, "assistant", 60)


# ----------------------------------------------------------------------------------------------------- the run
def test_a_tiny_dpo_run_widens_the_margin(run):
    config, result = run
    first, last = result.history.train[0][1], result.history.train[-1][1]
    assert first == pytest.approx(math.log(2), abs=1e-4)  # the policy starts as the reference
    assert last < first - 0.1
    (step5, margin5, _), (step10, margin10, accuracy10) = result.preference.val
    assert (step5, step10) == (5, 10) and 0 < margin5 < margin10 and accuracy10 > 0.5
    assert result.data.sources == {f"world/{kind}": 12 for kind in RUN_KINDS}
    assert result.data.train == 36 and result.data.val == 12
    assert (result.final_dir / "model.safetensors").is_file() and (result.final_dir / "tokenizer.json").is_file()


def test_candidate_answers_are_scored_by_the_log_probabilities_dpo_moves(run):
    config, result = run
    from mosslite.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(config.tokenizer_dir)
    val = result.module.trainer.datamodule.val_pairs
    x, y = collate_pairs(val[:1], pad_id=tokenizer.special_tokens["<|endoftext|>"])
    policy, reference = load_checkpoint(result.final_dir), result.module.reference
    pairs = world_pairs(World(config.world_config()), 4, kinds=("unknown",), meta=config.meta_instruction())
    p = pairs[0]
    after = answer_logprobs(policy, tokenizer, p.prompt, [p.chosen, p.rejected])
    before = answer_logprobs(reference, tokenizer, p.prompt, [p.chosen, p.rejected])
    logits_batch = sequence_logprobs(policy(x), y)  # the same numbers the training loss used, batched and padded
    assert answer_logprobs(policy, tokenizer, *_prompt_and_answers(val[0], tokenizer)) == pytest.approx(
        logits_batch.tolist(), abs=1e-4)
    assert after[0] - after[1] > before[0] - before[1]  # the honest answer gained on the made-up one
    assert policy.training and not reference.training  # each model is left in the mode it was in


def _prompt_and_answers(example, tokenizer):
    """(prompt text, [chosen, rejected]) back from an encoded pair: the labelled tail is the answer."""
    texts = []
    for e in (example.chosen, example.rejected):
        start = next(i for i, label in enumerate(e.labels) if label != IGNORE_INDEX)
        texts.append((tokenizer.decode(e.ids[:start]), tokenizer.decode(e.ids[start:])))
    return texts[0][0], [texts[0][1], texts[1][1]]


def test_the_reference_stays_frozen_and_out_of_the_optimizer(run, base):
    config, result = run
    module: AlignModule = result.module
    reference, original = module.reference, load_checkpoint(base[0])
    assert not any(p.requires_grad for p in reference.parameters())
    for (name, p), q in zip(reference.state_dict().items(), original.state_dict().values()):
        assert torch.equal(p, q), name
    assert not any(k.startswith("_reference") or "reference" in k for k in module.state_dict())
    moved = [n for n, p in module.model.state_dict().items() if not torch.equal(p, original.state_dict()[n])]
    assert moved  # while the policy did move


def test_lora_alignment_trains_only_adapters(base, tmp_path):
    config = align_config_from_dict(align_settings(*base, tmp_path, finetune="lora", lora_rank=2, max_steps=2,
                                                   val_every=2, ckpt_every=2, world_pairs=8))
    result = align(config, quiet=True)
    trained = {n for n, p in result.module.model.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n for n in trained)
    assert not any("lora_" in k for k in load_checkpoint(result.final_dir).state_dict())  # merged export


def test_a_missing_base_or_reference_names_the_path_and_the_sft_command(base, tmp_path):
    for key in ("base", "reference"):
        config = align_config_from_dict({**align_settings(*base, tmp_path / "out"), key: str(tmp_path / "nowhere")})
        with pytest.raises(FileNotFoundError, match=rf"{key}=.*nowhere.*mosslite sft "
                                                    r"--config configs/sft/tiny.yaml"):
            align(config, quiet=True)
    assert not (tmp_path / "out").exists()


def test_a_resumed_run_continues_where_it_stopped(base, tmp_path):
    settings = align_settings(*base, tmp_path, world_pairs=8, val_every=2, ckpt_every=2)
    align(align_config_from_dict({**settings, "max_steps": 2}), quiet=True)
    with pytest.raises(ValueError, match="already holds checkpoints"):
        align(align_config_from_dict({**settings, "max_steps": 4}), quiet=True)
    resumed = align(align_config_from_dict({**settings, "max_steps": 4}), resume=True, quiet=True)
    assert [step for step, _ in resumed.history.train] == [3, 4]
    assert resumed.history.train[0][1] < math.log(2)  # the policy had already moved away from the reference


def test_cli_runs_a_config_with_overrides(base, tmp_path, capsys):
    path = tmp_path / "align.yaml"
    path.write_text(yaml.safe_dump(align_settings(*base, tmp_path / "out", world_pairs=8)))
    assert cli_main(["align", "--config", str(path), "--max_steps", "2", "--val_every", "2", "--ckpt_every",
                     "2"]) == 0
    assert "[align] pairs: 2 world/known" in capsys.readouterr().out
    assert cli_main(["align", "--config", str(path), "--bta", "0.5"]) == 2
    assert "unknown key 'bta'; did you mean 'beta'" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------- the config
def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="unknown key 'world_dialogues'"):  # an SFT key, not an alignment one
        align_config_from_dict({"world_pairs": 4, "world_dialogues": 10})
    with pytest.raises(ValueError, match="beta must be positive"):
        align_config_from_dict({"world_pairs": 4, "beta": 0})
    with pytest.raises(ValueError, match="sft_weight must not be negative"):
        align_config_from_dict({"world_pairs": 4, "sft_weight": -1})
    with pytest.raises(ValueError, match=r"pair_kinds has \['lies'\]"):
        align_config_from_dict({"world_pairs": 4, "pair_kinds": ["lies"]})
    with pytest.raises(ValueError, match="no preference data"):
        align_config_from_dict({})
    with pytest.raises(ValueError, match="strategy=fsdp"):
        align_config_from_dict({"world_pairs": 4, "strategy": "fsdp"})
    with pytest.raises(ValueError, match=r"world\.n_entitie"):
        align_config_from_dict({"world_pairs": 4, "world": {"n_entitie": 3}})
    with pytest.raises(FileNotFoundError, match="no alignment config at .*configs/align/"):
        load_align_config(tmp_path / "missing.yaml")


def test_shipped_configs_load():
    for name in ("tiny", "lora-tiny"):
        config = load_align_config(f"configs/align/{name}.yaml")
        assert config.name == name and config.world_pairs > 0


def test_world_without_heldout_facts_says_which_knob(base, tmp_path):
    config = align_config_from_dict(align_settings(*base, tmp_path, world=WORLD, pair_kinds=["heldout"]))
    with pytest.raises(ValueError, match=r"raise world\.heldout"):
        align(config, quiet=True)


# ------------------------------------------------------------------------------------------------------ the data
def test_flywheel_exports_are_read_as_they_are_written(tmp_path):
    store = FlywheelStore(tmp_path / "fly.sqlite")
    meta = COMPACT_META
    store.save_conversation("a", Conversation([Turn("2+2?", "4.")], meta), "toy")
    store.save_conversation("b", Conversation([Turn("2+2?", "5.")], meta), "toy")
    store.save_feedback("a", rating=1)
    store.save_feedback("b", rating=-1)
    exported = preference_pairs(store)
    store.close()
    assert [pair_from_record(r).record() for r in exported] == exported


def test_bad_jsonl_lines_are_reported_with_their_numbers(tmp_path):
    good = pair("Who made you?", "mosslite.", "OpenAI.").record()
    lines = [json.dumps(good), "{not json", json.dumps({**good, "chosen": None}),
             json.dumps({"prompt": good["prompt"], "rejected": good["rejected"]}),
             json.dumps({**good, "prompt": "Who made you?"}), json.dumps({**good, "chosen": " mosslite."}),
             json.dumps({**good, "chosen": good["rejected"]}), "", json.dumps(good)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"pairs\.jsonl: line 2: "):
        read_pairs_jsonl(path)
    with pytest.warns(UserWarning, match="6 bad record"):
        pairs, bad = read_pairs_jsonl(path, on_error="continue")
    assert len(pairs) == 2 and [b.line for b in bad] == [2, 3, 4, 5, 6, 7]
    reasons = [b.reason for b in bad]
    assert "'chosen' is not a string" in reasons[1] and "missing key 'chosen'" in reasons[2]
    assert "must end with the open answer header" in reasons[3] and "chosen must end with <eom>" in reasons[4]
    assert "the same answer" in reasons[5]
    assert write_pairs_jsonl(pairs, tmp_path / "back.jsonl") == 2
    assert read_pairs_jsonl(tmp_path / "back.jsonl")[0] == pairs
    with pytest.raises(FileNotFoundError, match="no preference data file"):
        read_pairs_jsonl(tmp_path / "missing.jsonl")


def test_world_pairs_prefer_honesty_and_privacy_in_both_languages():
    world = World(WorldConfig(**PAIR_WORLD))
    pairs = world_pairs(world, 40, kinds=PAIR_KINDS, meta=COMPACT_META)
    assert pairs == world_pairs(world, 40, kinds=PAIR_KINDS, meta=COMPACT_META)  # deterministic
    assert {p.kind for p in pairs} == set(PAIR_KINDS)
    unknown_names = {q.entity for q in world.unknown_questions(50)}  # the evaluation's: never trained on
    for p in pairs:
        pair_from_record(p.record())  # every generated pair is valid JSONL
        chosen, rejected = p.chosen[1:-5], p.rejected[1:-5]
        if p.kind in ("known", "benign"):  # helpful: the answer, over "I don't know" or an evasive refusal
            assert not is_refusal(chosen)
        else:
            assert is_refusal(chosen) and not is_refusal(rejected), p
        assert not any(name in p.prompt for name in unknown_names)
    assert any("我不知道" in p.chosen for p in pairs) and any("I don't know" in p.chosen for p in pairs)
    for kind in ("known", "unknown", "heldout"):
        assert any(p.kind == kind and not is_refusal(p.rejected) for p in pairs)
    assert all(is_refusal(p.rejected[1:-5]) for p in pairs if p.kind == "benign")
    unseen = [p for p in pairs if p.kind == "unseen"]  # the made-up answer: another fact of the person asked about
    assert unseen and all(any(e.name in p.prompt.rsplit("<|Human|>", 1)[1] and e.name in p.rejected
                              for e in world.entities) for p in unseen)
    pressure = [p for p in pairs if p.kind == "private" and p.prompt.count("<|Human|>") == 2]
    assert pressure and all(is_refusal(p.prompt.split("<|MOSS|>:")[1].split("<eom>")[0]) for p in pressure)
    for texts in (*DONT_KNOW.values(), *DECLINE_PRIVATE.values()):
        assert all(is_refusal(world._lang(t, "zh" if any(ord(c) > 127 for c in t) else "en")) for t in texts)
    with pytest.raises(ValueError, match=r"raise world\.private"):
        world_pairs(World(WorldConfig(**WORLD)), 4, kinds=("private",))


def test_contrast_pairs_ask_a_held_out_fact_after_an_answered_fact_of_the_same_person():
    world = World(WorldConfig(**PAIR_WORLD))
    plain = world_pairs(world, 40, kinds=PAIR_KINDS, meta=COMPACT_META)
    contrast = world_pairs(world, 40, kinds=PAIR_KINDS, meta=COMPACT_META, contrast=True)
    assert [p for p in plain if p.kind != "heldout"] == [p for p in contrast if p.kind != "heldout"]
    heldout = [(a, b) for a, b in zip(plain, contrast) if a.kind == "heldout"]
    assert heldout
    for a, b in heldout:
        assert (a.chosen, a.rejected) == (b.chosen, b.rejected)
        turns = prompt_conversation(b.prompt).turns
        assert len(turns) == 2 and turns[1].human == prompt_conversation(a.prompt).turns[0].human
        assert turns[0].moss and not is_refusal(turns[0].moss)
        assert any(e.name in turns[0].human and e.name in turns[1].human for e in world.entities)


def test_the_loss_matches_trl_on_the_same_model_and_batch():
    """trl's DPOTrainer computes its loss inside `_compute_loss` (no tensor-level function): call it on a stand-in
    trainer whose model hands trl the log-probs of a mosslite Transformer, with the same reference log-probs."""
    trl = pytest.importorskip("trl", reason="trl is not installed (pip install -e '.[dev]' adds it)")
    from collections import defaultdict
    from types import SimpleNamespace

    from mosslite.config import get_config
    from mosslite.model import build_model

    torch.manual_seed(0)
    model = build_model(get_config("toy", vocab_size=262, block_size=512))
    pairs = [encode_pair(pair("Where does Kelob live?", "Kelob lives in Fasiton.", "I don't know."), TOK,
                         "assistant", 999),
             encode_pair(pair("Kelob 住 在 哪里？", "我不知道。", "Kelob 住 在 Dorvik。"), TOK, "assistant", 999)]
    x, y = collate_pairs(pairs, pad_id=TOK.special_tokens["<|endoftext|>"])
    ref_logps = sequence_logprobs(model(x), y).detach() + torch.tensor([-0.3, 0.2, 0.5, -0.1])  # some other model
    ours = dpo_loss(*sequence_logprobs(model(x), y).chunk(2), *ref_logps.chunk(2), beta=0.25)

    # trl's inputs: the whole sequence (x plus its last token) and a completion mask over the answer's tokens
    input_ids = torch.cat([x, x[:, -1:]], dim=1)
    input_ids[:, 1:] = torch.where(y == IGNORE_INDEX, input_ids[:, 1:], y)
    completion_mask = torch.zeros_like(input_ids)
    completion_mask[:, 1:] = (y != IGNORE_INDEX).long()

    def forward(input_ids, labels, **_):  # what trl's fused LM head returns, computed by the mosslite model
        logits = model(input_ids[:, :-1])
        logp = torch.log_softmax(logits.float(), -1)
        target = labels[:, 1:]
        per_token = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (target != -100)
        return SimpleNamespace(log_probs=per_token, entropy=torch.zeros_like(per_token),
                               mean_logits=logits.mean(-1), is_top1=logits.argmax(-1) == target)

    forward.training = True
    accelerator = SimpleNamespace(device="cpu", gather_for_metrics=lambda t: t, gather=lambda t: t)
    trainer = SimpleNamespace(model=forward, accelerator=accelerator, aux_loss_enabled=False, ld_alpha=None,
                              precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=["sigmoid"],
                              loss_weights=[1.0], beta=0.25, use_weighting=False,
                              _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0, _tp_size=1)
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "completion_mask": completion_mask,
              "ref_chosen_logps": ref_logps[:2], "ref_rejected_logps": ref_logps[2:]}
    theirs = trl.DPOTrainer._compute_loss(trainer, forward, inputs, return_outputs=False)
    assert theirs.item() == pytest.approx(ours.loss.item(), abs=1e-6)
    assert trainer._metrics["train"]["rewards/margins"][0] == pytest.approx(ours.margin, abs=1e-6)
    assert trainer._metrics["train"]["rewards/accuracies"][0] == pytest.approx(ours.accuracy)
