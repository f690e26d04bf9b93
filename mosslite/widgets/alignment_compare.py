"""Put the same question to several models (SFT, SFT+IDK, SFT+DPO) side by side: each model's greedy answer, and the
log-probability it gives each candidate answer (the right one, a made-up one, "I don't know", a refusal)."""

from __future__ import annotations

import html
import math
import random
from collections.abc import Sequence

import ipywidgets as widgets

from mosslite.align import answer_logprobs
from mosslite.chat import Conversation
from mosslite.data.honesty import ALIGN_META, DECLINE_PRIVATE, DONT_KNOW, Probe
from mosslite.data.preference import answer_text
from mosslite.data.world import World


def candidate_answers(world: World, probe: Probe) -> dict[str, str]:
    """label -> answer text: the gold statement (when there is one), a confident wrong one, "I don't know" and the
    privacy refusal, all in the probe's language."""
    q, lang = probe.question, probe.lang
    entity = world.by_name.get(q.entity)  # None for a person who does not exist
    values = [f for f in world.facts if f.attribute.name == q.attribute]
    if not values:  # an attribute no document states: the made-up answer states another fact of the person
        values = [f for f in world.facts_of(entity) if not f.attribute.private]
    attribute = values[0].attribute
    name = q.entity if lang == "en" or entity is None else world.zh_name(entity)
    template = (attribute.en if lang == "en" else attribute.zh)[0].replace("{x}", name)
    values = [f for f in values if f.attribute == attribute]
    gold = q.answer_en if lang == "en" else q.answer_zh
    others = [f for f in values if (f.value_en if lang == "en" else f.value_zh) != gold]
    wrong = random.Random(q.id).choice(others) if others else None
    out = {}
    if gold is not None:
        out["right answer"] = world._lang(template.replace("{v}", gold), lang)
    if wrong is not None:
        out["made-up answer"] = world._lang(template.replace("{v}", wrong.value_en if lang == "en"
                                                             else wrong.value_zh), lang)
    out["I don't know"] = world._lang(DONT_KNOW[lang][0], lang)
    out["refusal"] = world._lang(DECLINE_PRIVATE[lang][0], lang)
    return out


def compare(models: dict, tokenizer, world: World, probe: Probe, max_new_tokens: int = 24) -> dict:
    """{"answers": {model: greedy answer}, "candidates": {label: text}, "logprobs": {model: {label: log p}},
    "shares": {model: {label: probability among the candidates}}}."""
    from mosslite.experiments.alignment import ask_probes

    candidates = candidate_answers(world, probe)
    prompt = Conversation(turns=list(probe.turns), meta=ALIGN_META).render(open_field="moss")
    out: dict = {"answers": {}, "candidates": candidates, "logprobs": {}, "shares": {}}
    for name, model in models.items():
        out["answers"][name] = ask_probes(model, tokenizer, [probe], max_new_tokens)[0]
        logps = answer_logprobs(model, tokenizer, prompt, [answer_text(t) for t in candidates.values()])
        top = max(logps)
        total = sum(math.exp(x - top) for x in logps)
        out["logprobs"][name] = dict(zip(candidates, logps))
        out["shares"][name] = {label: math.exp(x - top) / total for label, x in zip(candidates, logps)}
    return out


def compare_html(result: dict) -> str:
    names = list(result["answers"])
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = ["<tr><td><b>greedy answer</b></td>" + "".join(
        f"<td>{html.escape(result['answers'][n]) or '<i>(none)</i>'}</td>" for n in names) + "</tr>"]
    for label, text in result["candidates"].items():
        cells = []
        for n in names:
            share = result["shares"][n][label]
            best = share == max(result["shares"][n].values())
            value = f"{result['logprobs'][n][label]:.1f} ({100 * share:.0f}%)"
            cells.append(f"<td>{'<b>' + value + '</b>' if best else value}</td>")
        rows.append(f"<tr><td>{html.escape(label)}: <i>{html.escape(text)}</i></td>{''.join(cells)}</tr>")
    return (f"<table><tr><th>log p (share among the candidates)</th>{head}</tr>" + "".join(rows) + "</table>")


def probe_label(probe: Probe) -> str:
    extra = f", {probe.phrasing}" if probe.group == "private" else ""
    return f"[{probe.group}, {probe.lang}{extra}] {probe.text}"


class SideBySide(widgets.VBox):
    """Pick a question (known, unknown, private in a held-out phrasing, benign); every model answers it, and the
    table shows the log-probability each model gives the candidate answers: what DPO moved."""

    def __init__(self, models: dict, tokenizer, world: World, probes: Sequence[Probe],
                 max_new_tokens: int = 24) -> None:
        self.models, self.tokenizer, self.world, self.max_new_tokens = models, tokenizer, world, max_new_tokens
        self.probes = list(probes)
        self.picker = widgets.Dropdown(options=[(probe_label(p), i) for i, p in enumerate(self.probes)],
                                       description="question", layout=widgets.Layout(width="95%"))
        self.history = widgets.HTML()
        self.table = widgets.HTML()
        self.picker.observe(lambda _: self.refresh(), names="value")
        super().__init__([self.picker, self.history, self.table])
        self.result: dict = {}
        self.refresh()

    def refresh(self) -> dict:
        probe = self.probes[self.picker.value]
        earlier = [f"user: {html.escape(t.human)}<br>MOSS: {html.escape(t.moss)}" for t in probe.turns[:-1]]
        self.history.value = ("<p><i>earlier in the conversation:</i><br>" + "<br>".join(earlier) + "</p>"
                              if earlier else "")
        self.result = compare(self.models, self.tokenizer, self.world, probe, self.max_new_tokens)
        self.table.value = compare_html(self.result)
        return self.result
