"""Explore the translation experiment's committed grid: choose a Chinese share, model size and data design; see the
scores over seeds and the model's own answers to Chinese questions, and re-run that cell live with one button."""

from __future__ import annotations

import html
import statistics
from collections.abc import Callable

import ipywidgets as widgets

from mosslite.experiments.translation.plots import share_label
from mosslite.experiments.translation.sweep import flat_row

SHOWN = (("chat_knowledge", "chat: knowledge transfer (ZH question → right value, either language)"),
         ("chat_answer_zh", "chat: answers written in Chinese"),
         ("chat_relation_ok", "chat: answers naming a value of the asked relation"),
         ("chat_upper_bound", "chat: the same facts asked in English (upper bound)"),
         ("cloze_zh_B", "cloze after pretraining: ZH prefix, group B"),
         ("cloze_en_B", "cloze after pretraining: EN prefix, group B"),
         ("untuned_knowledge", "chat before tuning: ZH question → right value (the untuned base)"))


def matching(results: list[dict], **cell) -> list[dict]:
    """The results whose cell has every given field value (all seeds of one configuration, usually)."""
    return [r for r in results if all(r["cell"][k] == v for k, v in cell.items())]


def scores_html(results: list[dict]) -> str:
    """Mean and min..max over the given results (seeds) of each headline metric, as an HTML table."""
    if not results:
        return "<p><i>This combination is not in the committed grid.</i></p>"
    rows = [flat_row(r) for r in results]
    lines = []
    for key, label in SHOWN:
        values = [100 * row[key] for row in rows if row[key] is not None]
        if values:
            seeds = ", ".join(f"{v:.0f}" for v in values)
            lines.append(f"<tr><td>{label}</td><td><b>{statistics.fmean(values):.0f}%</b></td>"
                         f"<td>{min(values):.0f}–{max(values):.0f}</td><td>{seeds}</td></tr>")
    return ("<table><tr><th>measure</th><th>mean</th><th>range</th><th>per seed</th></tr>" + "".join(lines)
            + "</table>")


def answers_html(result: dict, n: int = 8) -> str:
    """The first `n` Chinese questions about group B with the model's answers (✓ = right value, either language)."""
    rows = []
    for a in [a for a in result["chat"]["answers"] if a["lang"] == "zh"][:n]:
        mark = "✓" if a["correct"] else "✗"
        rows.append(f"<tr><td>{html.escape(a['question'])}</td><td>{html.escape(a['answer'])}</td>"
                    f"<td>{html.escape(str(a['gold']))}</td><td>{mark}</td></tr>")
    return ("<table><tr><th>question (never seen in Chinese)</th><th>answer</th><th>gold</th><th></th></tr>"
            + "".join(rows) + "</table>")


class TranslationExplorer(widgets.VBox):
    """Sliders over the committed grid; `run_live(cell_fields) -> result dict` backs the button (None: no button)."""

    def __init__(self, results: list[dict], run_live: Callable[[dict], dict] | None = None) -> None:
        self.results = results
        cells = [r["cell"] for r in results]
        values = lambda key: sorted({c[key] for c in cells})  # noqa: E731
        self.share = widgets.SelectionSlider(options=[(share_label(s), s) for s in values("zh")],
                                             description="Chinese share")
        self.size = widgets.ToggleButtons(options=values("size"), description="model")
        self.design = widgets.Dropdown(options=values("design"), description="design")
        self.seed = widgets.Dropdown(options=values("seed"), description="answers of seed")
        default_share = 0.01 if 0.01 in values("zh") else values("zh")[-1]
        self.share.value = default_share
        for control, preferred in ((self.size, "toy"), (self.design, "default")):  # the headline grid first
            if preferred in control.options:
                control.value = preferred
        self.scores = widgets.HTML()
        self.answers = widgets.HTML()
        self.status = widgets.HTML()
        self.run_live = run_live
        controls = [self.share, self.size, self.design, self.seed]
        for control in controls:
            control.observe(lambda _: self.refresh(), names="value")
        children = [widgets.HBox(controls[:2]), widgets.HBox(controls[2:]), self.scores, self.answers]
        if run_live is not None:
            self.button = widgets.Button(description="re-run this cell live", icon="play")
            self.button.on_click(lambda _: self.rerun())
            children += [self.button, self.status]
        super().__init__(children)
        self.refresh()

    def selected(self) -> dict:
        return {"zh": self.share.value, "size": self.size.value, "design": self.design.value}

    def refresh(self) -> None:
        found = matching(self.results, **self.selected())
        found = [r for r in found if r["cell"]["tune"] == "full"] or found
        self.scores.value = scores_html(found)
        mine = [r for r in found if r["cell"]["seed"] == self.seed.value]
        self.answers.value = answers_html(mine[0]) if mine else ""

    def rerun(self) -> dict:
        cell = {**self.selected(), "seed": self.seed.value}
        self.status.value = f"<i>running {html.escape(str(cell))} …</i>"
        result = self.run_live(cell)
        self.status.value = "<b>live run:</b>" + scores_html([result]) + answers_html(result)
        return result
