"""The data chapter's widgets build and show what they claim (rendered HTML, not pixels)."""

import matplotlib

matplotlib.use("Agg")

from mosslite.data.clean import explain  # noqa: E402
from mosslite.data.corpora import mix  # noqa: E402
from mosslite.data.dirty_pages import PAGES, ZH_NEWS  # noqa: E402
from mosslite.data.world import World, WorldConfig  # noqa: E402
from mosslite.widgets.data_cleaning import CleaningViewer, render_lines  # noqa: E402
from mosslite.widgets.data_mixture import plot_mixture  # noqa: E402
from mosslite.widgets.data_world import WorldBrowser, entity_html  # noqa: E402


def test_cleaning_viewer_colours_each_step_and_reacts_to_toggles():
    html = render_lines(explain(ZH_NEWS))
    assert "<s>相关新闻</s>" in html and "related-news header" in html and "→ 据馆长介绍，" in html
    viewer = CleaningViewer(PAGES)
    viewer.page.value = "zh_repost"
    assert "near_dup" in viewer.view.value
    next(t for t in viewer.toggles if t.description == "near_dup").value = False
    assert "near_dup" not in viewer.view.value and "本报讯" in viewer.view.value


def test_world_browser_and_mixture_chart():
    world = World(WorldConfig(n_entities=20, docs_per_fact=2, zh_share=0.1))
    b_person = next(e for e in world.entities if e.group == "B" and e.kind == "person")
    assert "English pretraining only" in entity_html(world, b_person.name)
    browser = WorldBrowser(world, n_documents=100, n_dialogues=6)
    browser.kind.value = "bilingual"
    assert "Chinese units" in browser.doc_view.value
    browser.split.value = "B/en"
    assert "<td>" in browser.question_view.value
    fig = plot_mixture(mix({"a": 0.999, "b": 0.001}, sources={"a": lambda: ["word " * 50] * 400,
                                                             "b": lambda: ["字" * 20] * 10}))
    assert fig.axes[0].get_xscale() == "log"
