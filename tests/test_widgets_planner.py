import matplotlib

matplotlib.use("Agg")

from mosslite.widgets.planner import draw_plan, planner_widget  # noqa: E402


def test_planner_bars_show_what_sharding_and_checkpointing_buy():
    plans = draw_plan("moss-16b", gpus=8, gpu_memory=80, seq_len=2048, micro_batch=1, precision="bf16-mixed",
                      mfu=0.4, peak_tflops=989.5)
    ddp, fsdp, fsdp_ckpt = (p.total_gb for p in plans)
    assert ddp > 80 > fsdp_ckpt and fsdp_ckpt < fsdp < ddp


def test_planner_widget_redraws_for_every_preset_without_error(monkeypatch):
    calls = []
    monkeypatch.setattr("mosslite.widgets.planner.draw_plan", lambda **kw: calls.append(kw))
    box = planner_widget("toy")
    box.controls["preset"].value = "small"
    box.controls["gpus"].value = 2
    assert [c["preset"] for c in calls] == ["toy", "small", "small"] and calls[-1]["gpus"] == 2
