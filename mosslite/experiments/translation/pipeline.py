"""One cell end to end: tokenizer -> packed corpus -> pretrained base -> cloze probe -> chat probe of the untuned base
-> English-only SFT -> chat probe.

Each stage is cached under `<cache>/translation/<stage>-<hash>` (the hash covers exactly what the stage depends on),
so a base is pretrained once and then reused by every fine-tuning recipe, probe and notebook that needs it. The
library does the work: `World` writes the text, `train_tokenizer` + `pack` prepare it, `pretrain` and `sft` train,
`mosslite.evaluate` asks the chat questions; this module only wires them and records what came out.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import lightning as L
import torch

from mosslite.chat import Conversation, MetaInstruction, Turn
from mosslite.data.world import World, WorldConfig
from mosslite.experiments.stages import finish_stage as _finish
from mosslite.experiments.stages import load_average as load  # wall times depend on it; cpu_time does not
from mosslite.experiments.stages import stage_done as _done
from mosslite.experiments.translation.design import (
    TRAINING,
    TUNES,
    Cell,
    Tune,
    cache_key,
    tokenizer_world,
    world_config,
)
from mosslite.experiments.translation.inside import translation_similarity
from mosslite.experiments.translation.score import (
    ChatScores,
    ClozeScores,
    chat_scores,
    cloze_probe,
    question_probe,
)

LR = {"toy": 3e-3, "tiny": 2e-3, "small": 1e-3}  # smaller models take (and need) larger steps
# Fine-tuning rates scale down with size too. At toy's rate small forgot how to answer even in English (1% Chinese,
# seed 0: English upper bound 59%, chat knowledge 39%); at 0.3 times it keeps 100% and 90%.
TUNE_LR_SCALE = {"toy": 1.0, "tiny": 1.0, "small": 0.3}
VOCAB = 1024  # enough for every word of the world to be one token (the text is word-segmented)
# Transliterated names (no-code-switch) are words of their own: at 1,024 their character merges crowd out English and
# chat words and no tuning dialogue fits the context. Its BPE stops by itself at ~1,200 tokens, one per word again.
VOCAB_TRANSLITERATED = 2048
EVAL_TOKENS = 24  # new tokens per answer field: a one-sentence answer is ~8


def vocab_size(world: WorldConfig) -> int:
    """The BPE budget of a world's tokenizer (and so the base's embedding rows)."""
    return VOCAB if world.zh_code_switch else VOCAB_TRANSLITERATED


def stage_dir(stage: str, key: str, root: str | Path | None = None) -> Path:
    from mosslite import cache_dir

    return Path(root or Path(cache_dir()) / "translation") / f"{stage}-{key}"


# ---------------------------------------------------------------------------------------------- tokenizer
def tokenizer_texts(world: World, meta: MetaInstruction) -> list[str]:
    """Every sentence form of every fact in both languages, word lists, English documents and the chat scaffolding:
    a vocabulary that does not depend on the Chinese share (see design.tokenizer_world)."""
    texts = []
    for fact in world.facts:
        for lang in ("en", "zh"):
            for t in range(6):  # more than any attribute has templates; repeats are harmless
                texts += [world.statement(fact, lang, t), world.question_text(fact, lang, t)]
    for attr in {f.attribute.name: f.attribute for f in world.facts}.values():
        texts += [f"{en} = {zh}" for en, zh in zip(*world.choices(attr))]
    for i, doc in enumerate(world.documents()):
        if i == 2000:
            break
        texts.append(doc.text)
    question, answer = world.question_text(world.facts[0], "en"), world.statement(world.facts[0], "en")
    texts += [Conversation([Turn(question, answer)], meta).render()] * 20
    return texts


def build_tokenizer(cell: Cell, meta: MetaInstruction, root=None) -> Path:
    from mosslite.tokenizer import train_tokenizer

    wc = tokenizer_world(cell)
    folder = stage_dir("tokenizer", cache_key("tokenizer", wc, vocab_size(wc), meta.render()), root)
    if (folder / "tokenizer.json").is_file():
        return folder
    tokenizer = train_tokenizer(tokenizer_texts(World(wc), meta), vocab_size=vocab_size(wc))
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")  # parallel workers may build the same one
    tokenizer.save(tmp)
    try:
        os.replace(tmp, folder)
    except OSError:  # another worker finished first: the two are identical
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# ------------------------------------------------------------------------------------------------- corpus
def build_corpus(cell: Cell, tokenizer_dir: Path, root=None) -> tuple[Path, dict]:
    """Pack the cell's pretraining text; returns (folder, stats with the measured Chinese share)."""
    from mosslite.data.pack import ChatLogTokenizer, pack
    from mosslite.tokenizer import load_tokenizer

    wc = world_config(cell)
    tokenizer = load_tokenizer(tokenizer_dir)
    folder = stage_dir("corpus", cache_key("corpus", wc, tokenizer.fingerprint()), root)
    info = _done(folder)
    if info is not None:
        return folder, info
    shutil.rmtree(folder, ignore_errors=True)
    counts = {"en_units": 0, "zh_units": 0, "documents": 0, "bilingual": 0}

    def documents():
        for doc in World(wc).documents():
            counts["en_units"] += doc.en_units
            counts["zh_units"] += doc.zh_units
            counts["documents"] += 1
            counts["bilingual"] += doc.kind != "en"
            yield doc.text

    # About 10k validation tokens (a few batches), whatever the corpus size.
    val_fraction = min(0.2, max(0.01, 10_000 / (wc.docs_per_fact * 1850)))
    if wc.qa_layout == "chat":  # chat logs in the text end their fields with the ids chat itself uses
        tokenizer = ChatLogTokenizer(tokenizer)
    meta = pack(documents(), tokenizer, folder, val_fraction=val_fraction, seed=0, progress=False)
    counts["zh_share"] = counts["zh_units"] / max(1, counts["en_units"] + counts["zh_units"])
    counts["tokens"] = meta["tokens"]
    return folder, _finish(folder, counts)


# --------------------------------------------------------------------------------------------------- base
def base_key(cell: Cell) -> str:
    wc = world_config(cell)
    vocab = vocab_size(wc)
    named = [] if vocab == VOCAB else [vocab]  # named only where it differs: old keys stay valid
    return cache_key("base", wc, cell.size, cell.steps, TRAINING, LR[cell.size], *named)


def pretrain_config(cell: Cell, data_dir: Path, tokenizer_dir: Path, out_dir: Path, progress: bool = False):
    from mosslite.train import PretrainConfig

    lr = LR[cell.size]
    return PretrainConfig(
        name=f"translation-{cell.size}", out_dir=str(out_dir), seed=cell.seed, model=cell.size,
        data_dir=str(data_dir), tokenizer_dir=str(tokenizer_dir), block_size=TRAINING.context,
        batch_size=TRAINING.batch_size, max_steps=cell.steps, lr=lr, min_lr=lr / 10,
        warmup_steps=min(TRAINING.warmup_steps, cell.steps // 5), val_every=cell.steps, val_batches=4,
        ckpt_every=cell.steps, keep_checkpoints=1, log_every=10, sample_every=0, progress_bar=progress)


@dataclass
class Base:
    folder: Path  # final/ holds the mosslite checkpoint
    tokenizer_dir: Path
    info: dict  # corpus stats, loss history, wall time, load, cloze probes
    fresh: bool = True  # trained by this call (False: read from the cache)


def pretrain_base(cell: Cell, meta: MetaInstruction, root=None, progress: bool = False) -> Base:
    """The cell's pretrained base, from the cache when it was trained before (any fine-tuning recipe)."""
    from mosslite.checkpoint import load_checkpoint
    from mosslite.tokenizer import load_tokenizer
    from mosslite.train import pretrain

    tokenizer_dir = build_tokenizer(cell, meta, root)
    folder = stage_dir("base", base_key(cell), root)
    info = _done(folder)
    if info is not None:
        return Base(folder, tokenizer_dir, info, fresh=False)
    shutil.rmtree(folder, ignore_errors=True)  # a run that died half-way starts over
    data_dir, corpus = build_corpus(cell, tokenizer_dir, root)
    load_before, cpu_before = load(), time.process_time()
    world, tokenizer = World(world_config(cell)), load_tokenizer(tokenizer_dir)
    curve = ClozeCurve(world, tokenizer, every=max(1, cell.steps // CURVE_POINTS))
    result = pretrain(pretrain_config(cell, data_dir, tokenizer_dir, folder, progress), quiet=not progress,
                      callbacks=[curve])
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)  # the optimizer state is not needed again
    model = load_checkpoint(folder / "final").eval()
    cloze = {lang: cloze_probe(model, tokenizer, world, lang) for lang in ("en", "zh")}
    question = {lang: asdict(question_probe(model, tokenizer, world, lang)) for lang in ("en", "zh")}
    similarity = {split: asdict(translation_similarity(model, tokenizer, world, split)) for split in ("A", "B")}
    info = {"cell": {k: v for k, v in asdict(cell).items() if k != "tune"}, "corpus": corpus,
            "wall_time": round(result.wall_time, 1), "cpu_time": round(time.process_time() - cpu_before, 1),
            "load": [load_before, load()],
            "steps": cell.steps, "parameters": model.num_parameters(),
            "train_loss": _thin(result.history.train), "val_loss": result.history.val,
            "cloze_curve": curve.points, "cloze": {lang: asdict(c) for lang, c in cloze.items()},
            "question": question, "similarity": similarity}
    return Base(folder, tokenizer_dir, _finish(folder, info))


CURVE_POINTS = 6  # cloze probes during pretraining (each costs about as much as a few training steps)


class ClozeCurve(L.Callback):
    """The cloze probe every `every` steps during pretraining: when does the Chinese prefix start to find B facts?"""

    def __init__(self, world: World, tokenizer, every: int) -> None:
        self.world, self.tokenizer, self.every = world, tokenizer, every
        self.points: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every or (self.points and self.points[-1]["step"] == step):
            return
        model = pl_module.model
        model.eval()
        point = {"step": step}
        for lang in ("en", "zh"):
            scores = cloze_probe(model, self.tokenizer, self.world, lang, max_examples=0)
            point[f"{lang}_B"] = scores.accuracy.get("B/en")
            point[f"{lang}_A"] = next((v for k, v in scores.accuracy.items() if k.startswith("A/")), None)
        model.train()
        self.points.append(point)


def _thin(curve: list[tuple[int, float]], points: int = 50) -> list[tuple[int, float]]:
    """At most `points` (step, value) pairs, evenly spaced, the last one kept."""
    if len(curve) <= points:
        return [(s, round(v, 4)) for s, v in curve]
    keep = sorted({round(i * (len(curve) - 1) / (points - 1)) for i in range(points)})
    return [(curve[i][0], round(curve[i][1], 4)) for i in keep]


# ---------------------------------------------------------------------------------------------------- SFT
def tune_of(cell: Cell) -> Tune:
    """The cell's fine-tuning recipe at its model size's rate (the cache key names the rate actually used)."""
    tune, scale = TUNES[cell.tune], TUNE_LR_SCALE[cell.size]
    return tune if scale == 1.0 else replace(tune, lr=float(f"{tune.lr * scale:.3g}"))


def sft_config(cell: Cell, base: Base, out_dir: Path, progress: bool = False):
    from mosslite.train.sft_config import SFTConfig

    tune = tune_of(cell)
    world_cfg = replace(world_config(cell), answer_template=tune.answer_template)  # only the dialogues change
    world = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(world_cfg).items()}
    return SFTConfig(
        name=f"translation-sft-{cell.tune}", out_dir=str(out_dir), seed=cell.seed, base=str(base.folder / "final"),
        tokenizer_dir=str(base.tokenizer_dir), world=world, world_dialogues=tune.dialogues, world_languages=["en"],
        world_kinds=["fact"], meta="compact", block_size=TRAINING.context, val_fraction=0.05,
        finetune=tune.finetune, lora_rank=tune.lora_rank, lora_alpha=2.0 * tune.lora_rank, batch_size=16,
        max_steps=tune.max_steps, lr=tune.lr, min_lr=tune.lr / 10, warmup_steps=min(20, tune.max_steps // 5),
        val_every=tune.max_steps, val_batches=2, ckpt_every=tune.max_steps, progress_bar=progress)


def meta_instruction() -> MetaInstruction:
    """The compact meta instruction every fine-tuning and chat probe of this experiment uses (fits a 128 context)."""
    from mosslite.train.sft_config import SFTConfig

    return replace(SFTConfig(), meta="compact").meta_instruction()


def untuned_chat(cell: Cell, base: Base, meta: MetaInstruction, root=None) -> dict:
    """The chat probe on the untuned base (same questions, format and scorer as after tuning), a cached stage.

    The rung between cloze and tuned chat: does the base already answer a Chinese question asked in the chat format?
    (For the chat-log design the plain-text question rung cannot say: its questions are always followed by <eoh>.)"""
    from mosslite.checkpoint import load_checkpoint
    from mosslite.tokenizer import load_tokenizer

    questions = TUNES[cell.tune].questions
    folder = stage_dir("untuned", cache_key("untuned", base_key(cell), EVAL_TOKENS, questions, TRAINING.context), root)
    info = _done(folder)
    if info is not None:
        return info
    folder.mkdir(parents=True, exist_ok=True)
    start_load, cpu_before, start = load(), time.process_time(), time.perf_counter()
    model = load_checkpoint(base.folder / "final").eval()
    chat = chat_scores(model, load_tokenizer(base.tokenizer_dir), World(world_config(cell)), meta, EVAL_TOKENS,
                       questions)
    return _finish(folder, {"wall_time": round(time.perf_counter() - start, 1),
                            "cpu_time": round(time.process_time() - cpu_before, 1),
                            "load": [start_load, load()], "chat": asdict(chat)})


@dataclass
class CellResult:
    cell: Cell
    base: dict  # Base.info
    sft: dict  # loss, wall time
    chat: ChatScores
    cloze: dict[str, ClozeScores]
    untuned: ChatScores | None = None  # the chat probe on the base before tuning
    untuned_info: dict | None = None  # its wall time, CPU seconds and load

    def to_dict(self) -> dict:
        out = {"cell": asdict(self.cell), "label": self.cell.label, "base": self.base, "sft": self.sft,
               "chat": asdict(self.chat), "cloze": {k: asdict(v) for k, v in self.cloze.items()}}
        if self.untuned is not None:
            out["untuned"] = {**(self.untuned_info or {}), "chat": asdict(self.untuned)}
        return out


def run_cell(cell: Cell, root=None, progress: bool = False, threads: int | None = None) -> CellResult:
    """Pretrain (or reuse) the base, probe it through the chat format, fine-tune it on English chat about group A,
    then probe group B in Chinese again."""
    from mosslite.checkpoint import load_checkpoint
    from mosslite.tokenizer import load_tokenizer
    from mosslite.train.sft import sft

    if threads:
        torch.set_num_threads(threads)
    meta = meta_instruction()
    base = pretrain_base(cell, meta, root, progress)
    untuned = untuned_chat(cell, base, meta, root)
    folder = stage_dir("sft", cache_key("sft", base_key(cell), tune_of(cell), TRAINING.context), root)
    info = _done(folder)
    fresh_sft = info is None
    if info is None:
        shutil.rmtree(folder, ignore_errors=True)
        start_load, cpu_before = load(), time.process_time()
        result = sft(sft_config(cell, base, folder, progress), quiet=not progress)
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
        model = load_checkpoint(folder / "final").eval()
        tokenizer = load_tokenizer(base.tokenizer_dir)
        world = World(world_config(cell))
        chat = chat_scores(model, tokenizer, world, meta, EVAL_TOKENS, TUNES[cell.tune].questions)
        info = _finish(folder, {"wall_time": round(result.wall_time, 1),
                                "cpu_time": round(time.process_time() - cpu_before, 1),
                                "load": [start_load, load()],
                                "train_loss": _thin(result.history.train), "val_loss": result.history.val,
                                "chat": asdict(chat)})
    chat = ChatScores(**info["chat"])
    cloze = {k: ClozeScores(**v) for k, v in base.info["cloze"].items()}
    sft_info = {k: v for k, v in info.items() if k != "chat"}
    base_info = {**{k: v for k, v in base.info.items() if k != "cloze"}, "fresh": base.fresh}
    return CellResult(cell, base_info, {**sft_info, "fresh": fresh_sft}, chat, cloze, ChatScores(**untuned["chat"]),
                      {k: v for k, v in untuned.items() if k != "chat"})


def world_of(cell: Cell) -> WorldConfig:
    return world_config(cell)
