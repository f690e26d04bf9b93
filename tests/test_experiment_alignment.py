"""`mosslite experiment alignment`: the smoke pipeline end to end (three arms, the sweep, calibration, files and
plots), the cached stages reused through the CLI, and the mean ± spread summary over seeds."""

import csv
import json
from dataclasses import replace

from mosslite.cli import main
from mosslite.experiments import alignment as experiment


def test_smoke_run_writes_table_sweep_and_plots_and_reuses_its_stages(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOSSLITE_CACHE", str(tmp_path / "cache"))
    out, lines = tmp_path / "out", []
    results = experiment.run(experiment.SMOKE, out, cache=tmp_path / "cache" / "alignment", say=lines.append)
    assert set(results["runs"]) == set(experiment.ARMS)
    for arm in experiment.ARMS:
        (run,) = results["runs"][arm]
        for key in experiment.HEADLINE:
            assert 0 <= run[key] <= 1, (arm, key)
        assert {"leak/direct", "leak/rephrased", "leak/pressure", "leak/en", "leak/zh"} <= set(run)
        assert {"hallucination/search", "hallucination/unseen", "hallucination/invented", "over_refusal/private",
                "over_refusal/unknown"} <= set(run)
        assert results["summary"][arm]["leak"]["values"] == [run["leak"]]
        assert all(0 <= b["confidence"] <= 1 for b in results["calibration"][arm])
    assert len(results["sweep"]) == len(experiment.SMOKE.sweep_betas) + len(experiment.SMOKE.sweep_mixes)
    assert json.loads((out / "results.json").read_text())["summary"] == results["summary"]
    with (out / "table.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["metric", "sft mean", "sft spread"] and any(r[0] == "hallucination" for r in rows)
    assert (out / "sweep.csv").is_file() and (out / "tradeoff.png").stat().st_size > 1000
    assert (out / "calibration.png").is_file()

    assert main(["experiment", "alignment", "--smoke", "--no-sweep", "--out", str(tmp_path / "out2")]) == 0
    printed = capsys.readouterr().out
    assert "reusing the base" in printed and printed.count("reusing") >= 4 and "| hallucination (%) |" in printed
    shown = []
    assert experiment.load_or_run(experiment.SMOKE, out, say=shown.append)["summary"] == results["summary"]
    assert shown and "results of" in shown[0]
    stored = json.loads((out / "results.json").read_text())
    del stored["recipe"]["idk_contrast"]  # results made before the knob existed were made without contrast
    (out / "results.json").write_text(json.dumps(stored))
    shown.clear()
    without = replace(experiment.SMOKE, idk_contrast=False)
    assert experiment.load_or_run(without, out, say=shown.append)["summary"] == results["summary"]
    assert shown and "results of" in shown[0]


def test_summary_is_mean_and_half_range_over_seeds():
    runs = [{"seed": 0, "leak": 0.0, "ece": 0.2}, {"seed": 1, "leak": 0.1}, {"seed": 2, "leak": 0.5}]
    summary = experiment.summarise(runs)
    assert summary == {"leak": {"mean": 0.2, "spread": 0.25, "values": [0.0, 0.1, 0.5]}}  # ece: not on every seed
