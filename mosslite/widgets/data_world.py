"""Browse the bilingual world: an entity's facts in English and Chinese with where each one appears, then the
pretraining documents, SFT dialogues and evaluation questions the same knowledge base renders."""

from __future__ import annotations

import html
import json

import ipywidgets as widgets

from mosslite.data.world import World

EXPOSURE_NOTE = {"en+zh": "English and Chinese pretraining", "en": "English pretraining only",
                 "search": "held out: only Search finds it"}


def entity_html(world: World, name: str) -> str:
    """A table of one entity's facts: the English and Chinese sentence for each, and where it appears."""
    entity = world.by_name[name]
    rows = []
    for fact in world.facts_of(entity):
        note = EXPOSURE_NOTE[fact.exposure] + (" (private)" if fact.attribute.private else "")
        rows.append(f"<tr><td>{fact.attribute.name}</td><td>{html.escape(world.statement(fact, 'en'))}</td>"
                    f"<td>{html.escape(world.statement(fact, 'zh'))}</td><td>{note}</td></tr>")
    head = (f"<b>{html.escape(entity.name)}</b> ({html.escape(entity.name_zh)}), a {entity.kind} in group "
            f"<b>{entity.group}</b>: {'may appear in Chinese text and SFT' if entity.group == 'A' else 'English only'}")
    return (f"<p>{head}</p><table><tr><th>attribute</th><th>English</th><th>中文</th><th>seen in</th></tr>"
            + "".join(rows) + "</table>")


def _pre(text: str) -> str:
    return f"<pre style='white-space:pre-wrap;font-size:12px'>{html.escape(text)}</pre>"


class WorldBrowser(widgets.Tab):
    """Four tabs over one World: entities, pretraining documents, dialogues, questions."""

    def __init__(self, world: World, n_documents: int = 400, n_dialogues: int = 24) -> None:
        self.world = world
        self.docs = [d for _, d in zip(range(n_documents), world.documents())]
        self.dialogues = world.dialogues(n_dialogues, ("en", "zh"), ("fact", "arithmetic", "no_tool", "search",
                                                                      "calculate", "solve"))
        self.questions = world.questions()
        names = [f"{e.name}" for e in world.entities if e.group]
        self.entity = widgets.Dropdown(options=names, description="entity")
        self.entity_view = widgets.HTML()
        self.kind = widgets.ToggleButtons(options=["all", "en", "bilingual", "dictionary", "arithmetic"])
        self.doc_index = widgets.IntSlider(0, 0, 0, description="document")
        self.doc_view = widgets.HTML()
        self.dialogue_index = widgets.IntSlider(0, 0, len(self.dialogues) - 1, description="dialogue")
        self.dialogue_view = widgets.HTML()
        self.split = widgets.Dropdown(options=sorted({q.split for q in self.questions}), description="split")
        self.question_view = widgets.HTML()
        self.entity.observe(lambda _: self._entity(), names="value")
        self.kind.observe(lambda _: self._kind(), names="value")
        self.doc_index.observe(lambda _: self._doc(), names="value")
        self.dialogue_index.observe(lambda _: self._dialogue(), names="value")
        self.split.observe(lambda _: self._questions(), names="value")
        super().__init__([widgets.VBox([self.entity, self.entity_view]),
                          widgets.VBox([self.kind, self.doc_index, self.doc_view]),
                          widgets.VBox([self.dialogue_index, self.dialogue_view]),
                          widgets.VBox([self.split, self.question_view])])
        for i, title in enumerate(["entities", "pretraining text", "dialogues", "questions"]):
            self.set_title(i, title)
        self._entity()
        self._kind()
        self._dialogue()
        self._questions()

    def _entity(self) -> None:
        self.entity_view.value = entity_html(self.world, self.entity.value)

    def _selected(self) -> list:
        return [d for d in self.docs if self.kind.value in ("all", d.kind)]

    def _kind(self) -> None:
        self.doc_index.max = max(len(self._selected()) - 1, 0)
        self.doc_index.value = 0
        self._doc()

    def _doc(self) -> None:
        docs = self._selected()
        if not docs:
            self.doc_view.value = "<i>none of this kind among the first documents</i>"
            return
        doc = docs[self.doc_index.value]
        self.doc_view.value = (f"<small>{doc.kind}: {doc.en_units} English + {doc.zh_units} Chinese units</small>"
                               + _pre(doc.text))

    def _dialogue(self) -> None:
        d = self.dialogues[self.dialogue_index.value]
        body = json.dumps([t.as_dict() for t in d.turns], ensure_ascii=False, indent=1)
        self.dialogue_view.value = f"<small>{d.kind}, {d.lang}, tools: {list(d.tools) or 'none'}</small>" + _pre(body)

    def _questions(self) -> None:
        rows = [f"<tr><td>{html.escape(q.en)}</td><td>{html.escape(q.zh)}</td><td>{html.escape(q.answer_en or '?')}"
                f" / {html.escape(q.answer_zh or '?')}</td></tr>"
                for q in self.questions if q.split == self.split.value][:12]
        self.question_view.value = ("<table><tr><th>English</th><th>中文</th><th>gold</th></tr>" + "".join(rows)
                                    + "</table>")
