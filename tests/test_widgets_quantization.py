import matplotlib

matplotlib.use("Agg")

from mosslite.deploy import PrecisionRow  # noqa: E402
from mosslite.widgets.quantization import draw_precisions, precision_widget  # noqa: E402

ROWS = [PrecisionRow("fp32", 4_000_000, 100.0, 20.0), PrecisionRow("bf16", 2_000_000, 120.0, 20.02),
        PrecisionRow("int8", 1_200_000, 90.0, 20.05), PrecisionRow("int4", 800_000, 70.0, 21.0)]


def test_charts_title_the_selected_precision_with_its_ratio_to_fp32():
    axes = draw_precisions(ROWS, "int8")
    assert "int8: 1.2 (0.30× fp32)" in axes[0].get_title()
    assert [p.get_facecolor() == matplotlib.colors.to_rgba("tab:orange") for p in axes[2].patches] == [
        False, False, True, False]


def test_slider_redraws_for_each_bit_width(monkeypatch):
    calls = []
    monkeypatch.setattr("mosslite.widgets.quantization.draw_precisions", lambda rows, sel: calls.append(sel))
    box = precision_widget(ROWS)
    for precision in ("fp32", "bf16", "int8"):
        box.slider.value = precision
    assert calls == ["int4", "fp32", "bf16", "int8"]
