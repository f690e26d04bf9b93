"""The scaling-law experiment: its fits recover known laws, its error bars cover the truth, and the smoke run writes
the results the notebook reads."""

import json
import math

import numpy as np
import pytest

from mosslite.cli import main
from mosslite.config import get_config
from mosslite.experiments import scaling as S
from mosslite.experiments.cli import EXPERIMENTS

N = np.array([3e3, 7e3, 1.4e4, 4e4, 8.4e4])


def test_fits_recover_known_laws():
    a, alpha = S.fit_power_law(N, 7.5 * N ** -0.15)
    assert (a, alpha) == pytest.approx((7.5, 0.15), rel=1e-9)
    e, big_a, alpha = S.fit_saturating(N, 0.5 + 10.0 * N ** -0.22, grid=2000)
    assert (e, big_a, alpha) == pytest.approx((0.5, 10.0, 0.22), rel=0.02)


def test_error_bars_cover_the_true_exponent():
    """Simulated runs of a true power law (1% noise per seed): the interval from the scatter about the line covers
    the true exponent about 95% of the time; the seed bootstrap is centred on the fit and narrows with the noise."""
    rng = np.random.default_rng(0)

    def seeds(noise):
        return [7.5 * n ** -0.15 * np.exp(rng.normal(0, noise, 3)) for n in N]

    covered = 0
    for _ in range(200):
        lo, hi = S.residual_intervals(N, np.array([x.mean() for x in seeds(0.01)]), 1.5e10)["alpha"]
        covered += lo < 0.15 < hi
    assert 0.88 <= covered / 200 <= 1.0
    exact = S.residual_intervals(N, 7.5 * N ** -0.15, 1.5e10)
    assert exact["alpha"] == pytest.approx([0.15, 0.15])
    assert exact["at_target"][0] == pytest.approx(7.5 * 1.5e10 ** -0.15)

    losses = seeds(0.01)
    boot = S.interval(S.bootstrap_fits(N, losses, target=1.5e10, replicates=200)["alpha"])
    point = S.fit_power_law(N, np.array([x.mean() for x in losses]))[1]
    assert boot["lo95"] < boot["lo68"] < boot["median"] < boot["hi68"] < boot["hi95"]
    assert boot["median"] == pytest.approx(point, abs=0.005)
    quiet = S.interval(S.bootstrap_fits(N, seeds(0.001), target=1.5e10, replicates=200)["alpha"])
    assert quiet["hi95"] - quiet["lo95"] < boot["hi95"] - boot["lo95"]


def test_non_embedding_count_of_moss_is_its_blocks():
    assert S.non_embedding_parameters(get_config("moss-16b")) == 34 * (12 * 6144**2 + 7 * 6144) + 2 * 6144


@pytest.mark.slow
def test_smoke_run_from_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOSSLITE_CACHE", str(tmp_path / "cache"))
    assert main(["experiment", "scaling", "--smoke", "--out", str(tmp_path / "law")]) == 0
    assert "[scaling] power law" in capsys.readouterr().out
    results = S.load_results(tmp_path / "law")
    assert {p.name for p in (tmp_path / "law").iterdir()} >= {"results.json", "runs.csv", "scaling.png"}
    assert len(results["runs"]) == len(S.SMOKE.sizes) * len(S.SMOKE.seeds)
    fit = results["fit"]
    assert fit["mean_loss"][0] > fit["mean_loss"][-1]  # the biggest model beats the smallest
    assert all(math.isfinite(r["val_loss"]) and r["tokens"] > 0 and r["flops"] > 0 for r in results["runs"])
    assert json.loads((tmp_path / "law" / "results.json").read_text())["fit"]["extrapolation"]["non_embedding"] > 1e10


def test_experiment_registry_and_errors(tmp_path, capsys):
    assert "scaling" in EXPERIMENTS
    with pytest.raises(SystemExit):
        main(["experiment", "--help"])
    assert "scaling" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="no scaling results"):
        S.load_results(tmp_path)
