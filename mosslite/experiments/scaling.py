"""A small scaling law: validation loss against parameters on the bilingual world, fitted and extrapolated to MOSS.

Five MOSS-shaped models, from 3 thousand to 84 thousand non-embedding parameters, each train on the same fixed number
of tokens: 20 per parameter of the largest (Chinchilla's rule), so the largest is trained compute-optimally and the
smaller ones longer, towards convergence. Every run's compute budget is fixed in advance (FLOPs per token x tokens);
the loss then depends on the parameters alone, which is the setting of Kaplan et al.'s L(N) = (N_c/N)^alpha. Two
forms are fitted: that pure power law, and L = E + A·N^-alpha with an irreducible loss E (Chinchilla's form). Error
bars come from a bootstrap over training seeds, and the fits are extrapolated to MOSS-16B's 15.4B non-embedding
parameters, where those bars (and the gap between the two forms) show how little five small models can promise.

    mosslite experiment scaling          # 15 runs, one thread: 6.5 min of CPU time (20 min wall on a busy machine)
    mosslite experiment scaling --smoke  # seconds: three tiny models, for tests
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

# Kaplan: L(N) of models trained to convergence; Chinchilla: the N term of L(N, D) = E + A/N^a + B/D^b.
PUBLISHED_ALPHA = {
    "Kaplan et al. 2020, L(N) = (N_c/N)^alpha (pure power law)": 0.076,
    "Hoffmann et al. 2022 (Chinchilla), L = E + A/N^alpha + B/D^beta": 0.34,
    "Besiroglu et al. 2024, Chinchilla fit replicated": 0.35,
}
MOSS_PRESET = "moss-16b"


@dataclass(frozen=True)
class Size:
    """A MOSS-shaped model (parallel block, partial interleaved rotary) of `n_layer` blocks, width `n_embd`."""

    n_layer: int
    n_embd: int
    n_head: int

    @property
    def label(self) -> str:
        return f"L{self.n_layer}-d{self.n_embd}"


@dataclass(frozen=True)
class ScalingSettings:
    sizes: tuple[Size, ...] = (Size(1, 16, 2), Size(1, 24, 3), Size(2, 24, 3), Size(2, 40, 5), Size(3, 48, 6))
    seeds: tuple[int, ...] = (0, 1, 2)
    tokens_per_parameter: float = 20.0  # of the largest model; every model sees the same tokens
    world: str = "world:n_entities=1500,docs_per_fact=20,zh_share=0.1"  # about 3.2M training tokens, read <1 time
    vocab_size: int = 512
    context: int = 128
    batch_size: int = 16
    lr: float = 3e-3
    evals: int = 4  # validation points per run (the last one is the result)
    val_batches: int = 16
    threads: int = 1  # tiny matrices: one thread each is faster than two fighting over a busy machine
    bootstrap: int = 2000

    def to_dict(self) -> dict:
        return asdict(self)


SMOKE = ScalingSettings(sizes=(Size(1, 8, 1), Size(1, 16, 2), Size(2, 16, 2)), seeds=(0, 1), tokens_per_parameter=4,
                        world="world:n_entities=40,zh_share=0.1", vocab_size=300, context=32, batch_size=8, evals=1,
                        val_batches=4, bootstrap=200)


# ------------------------------------------------------------------------------------------------------ models
def model_args(size: Size, context: int) -> dict:
    head_dim = size.n_embd // size.n_head
    return dict(n_layer=size.n_layer, n_embd=size.n_embd, n_head=size.n_head, rotary_dim=min(8, head_dim),
                block_size=context)


def non_embedding_parameters(config) -> int:
    """Parameters outside the vocabulary matrices (token embedding, positions, head): Kaplan et al.'s N."""
    from mosslite.model import build_model
    from mosslite.scaling import parameter_breakdown

    roles = parameter_breakdown(build_model(config, device="meta"))
    return roles["attention"] + roles["mlp"] + roles["norm"]


# -------------------------------------------------------------------------------------------------------- fits
def fit_power_law(n: np.ndarray, loss: np.ndarray) -> tuple[float, float]:
    """L = a·N^-alpha by least squares on log L = log a - alpha·log N; returns (a, alpha)."""
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    return float(math.exp(intercept)), float(-slope)


def fit_saturating(n: np.ndarray, loss: np.ndarray, grid: int = 400) -> tuple[float, float, float]:
    """L = E + A·N^-alpha: for each E on a grid below the lowest loss, a power law on L - E; keeps the E whose fit has
    the least squared error in L. Returns (E, A, alpha); E = 0 is the pure power law."""
    best = (math.inf, 0.0, 0.0, 0.0)
    for e in np.linspace(0.0, 0.995 * float(loss.min()), grid):
        a, alpha = fit_power_law(n, loss - e)
        error = float(((e + a * n ** -alpha - loss) ** 2).sum())
        if error < best[0]:
            best = (error, float(e), a, alpha)
    return best[1], best[2], best[3]


def bootstrap_fits(sizes_n: np.ndarray, losses: list[np.ndarray], target: float, replicates: int,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Refit on seed-resampled data `replicates` times: per size, seeds drawn with replacement and averaged.

    Returns arrays of alpha and of the loss predicted at `target` parameters, for both forms. The spread is what
    seed-to-seed noise alone allows; it says nothing about whether the form is right (compare the two forms for that).
    """
    rng = np.random.default_rng(seed)
    out = {k: np.empty(replicates) for k in ("alpha", "at_target", "sat_alpha", "sat_E", "sat_at_target")}
    for r in range(replicates):
        means = np.array([rng.choice(x, size=len(x), replace=True).mean() for x in losses])
        a, alpha = fit_power_law(sizes_n, means)
        e, a2, alpha2 = fit_saturating(sizes_n, means, grid=100)
        out["alpha"][r], out["at_target"][r] = alpha, a * target ** -alpha
        out["sat_alpha"][r], out["sat_E"][r], out["sat_at_target"][r] = alpha2, e, e + a2 * target ** -alpha2
    return out


# Two-sided 95% quantiles of Student's t for 1-8 degrees of freedom (no scipy needed for five points).
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306}


def residual_intervals(n: np.ndarray, loss: np.ndarray, target: float) -> dict[str, list[float]]:
    """95% intervals from the scatter of the size means around the fitted line (ordinary least squares in log-log,
    t with n-2 degrees of freedom): for alpha, and for the loss predicted at `target`. Unlike the seed bootstrap they
    include how far the points are from a straight line, i.e. how well a power law describes them at all."""
    x, y = np.log(n), np.log(loss)
    slope, intercept = np.polyfit(x, y, 1)
    dof = len(x) - 2
    if dof < 1:
        return {"alpha": [math.nan, math.nan], "at_target": [math.nan, math.nan]}
    s = math.sqrt(((y - (intercept + slope * x)) ** 2).sum() / dof)
    sxx = ((x - x.mean()) ** 2).sum()
    t = T95.get(dof, 1.96)
    se_slope = s / math.sqrt(sxx)
    x0 = math.log(target)
    se_mean = s * math.sqrt(1 / len(x) + (x0 - x.mean()) ** 2 / sxx)
    centre = intercept + slope * x0
    return {"alpha": [-slope - t * se_slope, -slope + t * se_slope],
            "at_target": [math.exp(centre - t * se_mean), math.exp(centre + t * se_mean)]}


def interval(values: np.ndarray) -> dict[str, float]:
    """Median, 68% and 95% percentile intervals of a bootstrap distribution."""
    q = np.percentile(values, [2.5, 16, 50, 84, 97.5])
    return {"median": float(q[2]), "lo68": float(q[1]), "hi68": float(q[3]), "lo95": float(q[0]), "hi95": float(q[4])}


def analyse(runs: list[dict], target: float, replicates: int) -> dict:
    """Fits, bootstrap intervals, local slopes and the extrapolation to `target` non-embedding parameters."""
    labels = sorted({r["size"] for r in runs}, key=lambda s: next(r["non_embedding"] for r in runs if r["size"] == s))
    n = np.array([next(r["non_embedding"] for r in runs if r["size"] == s) for s in labels], dtype=float)
    losses = [np.array([r["val_loss"] for r in runs if r["size"] == s]) for s in labels]
    means = np.array([x.mean() for x in losses])
    a, alpha = fit_power_law(n, means)
    e, a2, alpha2 = fit_saturating(n, means)
    boot = bootstrap_fits(n, losses, target, replicates)
    residual = np.log(means) - np.log(a * n ** -alpha)
    scatter = residual_intervals(n, means, target)
    return {
        "sizes": labels,
        "non_embedding": n.tolist(),
        "mean_loss": means.tolist(),
        "seed_std": [float(x.std(ddof=1)) if len(x) > 1 else 0.0 for x in losses],
        "power_law": {"a": a, "alpha": alpha, "alpha_bootstrap": interval(boot["alpha"]),
                      "alpha_residual_95": scatter["alpha"],
                      "rms_log_residual": float(np.sqrt((residual ** 2).mean()))},
        "saturating": {"E": e, "A": a2, "alpha": alpha2, "alpha_bootstrap": interval(boot["sat_alpha"]),
                       "E_bootstrap": interval(boot["sat_E"])},
        # Slope between neighbouring sizes: a true power law has the same one everywhere.
        "local_alpha": [float(-np.log(means[i + 1] / means[i]) / np.log(n[i + 1] / n[i])) for i in range(len(n) - 1)],
        "extrapolation": {"non_embedding": target, "power_law": a * target ** -alpha,
                          "power_law_bootstrap": interval(boot["at_target"]),
                          "power_law_residual_95": scatter["at_target"],
                          "saturating": e + a2 * target ** -alpha2,
                          "saturating_bootstrap": interval(boot["sat_at_target"])},
        "published_alpha": PUBLISHED_ALPHA,
    }


# --------------------------------------------------------------------------------------------------- the runs
def prepare(settings: ScalingSettings) -> tuple[Path, Path]:
    """The world packed with its own BPE tokenizer (cached: a second run reuses it)."""
    from mosslite.train.data import prepare_data

    return prepare_data(shares={settings.world: 1.0}, total_units=None, vocab_size=settings.vocab_size)


def train_one(size: Size, seed: int, settings: ScalingSettings, data: tuple[Path, Path], out: Path, tokens: int,
              peak: float) -> dict:
    """Pretrain one size with one seed on `tokens` tokens; its row of the results table."""
    from mosslite.scaling import training_flops_per_token
    from mosslite.train import config_from_dict, pretrain

    steps = max(2, round(tokens / (settings.batch_size * settings.context)))
    config = config_from_dict({
        "name": f"scaling-{size.label}-seed{seed}", "out_dir": str(out / f"{size.label}-seed{seed}"), "seed": seed,
        "model": "toy", "model_args": model_args(size, settings.context), "data_dir": str(data[0]),
        "tokenizer_dir": str(data[1]), "block_size": settings.context, "batch_size": settings.batch_size,
        "max_steps": steps, "lr": settings.lr, "min_lr": settings.lr / 10, "warmup_steps": max(1, steps // 10),
        "val_every": max(1, steps // settings.evals), "val_batches": settings.val_batches, "ckpt_every": steps,
        "keep_checkpoints": 1, "log_every": max(1, steps // 50), "peak_flops": peak, "accelerator": "cpu",
        "progress_bar": False})
    result = pretrain(config, quiet=True)
    model_config = result.module.model_config
    h = result.history
    trained = steps * settings.batch_size * settings.context
    flops_per_token = training_flops_per_token(model_config, settings.context)
    return {"size": size.label, "seed": seed, "n_layer": size.n_layer, "n_embd": size.n_embd, "n_head": size.n_head,
            "parameters": result.module.model.num_parameters(), "non_embedding": non_embedding_parameters(model_config),
            "tokens": trained, "steps": steps, "flops": flops_per_token * trained, "val_loss": h.val[-1][1],
            "train_loss": h.train[-1][1], "seconds": result.wall_time,
            "tokens_per_s": h.tokens_per_s[-1][1] if h.tokens_per_s else None,
            "val_curve": [[s * settings.batch_size * settings.context, v] for s, v in h.val]}


def _load() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def run(settings: ScalingSettings, out: str | Path, progress=print) -> dict:
    """Train every size with every seed, fit, extrapolate; write results.json, runs.csv and scaling.png to `out`."""
    import torch

    from mosslite.config import get_config
    from mosslite.train.callbacks import measure_cpu_flops

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start, load_before = time.perf_counter(), _load()
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        data = prepare(settings)
        progress(f"[scaling] data ready in {time.perf_counter() - start:.0f} s: {data[0]}")
        vocab = json.loads((data[0] / "meta.json").read_text())["vocab_size"]
        largest = max(non_embedding_parameters(get_config("toy", vocab_size=vocab, **model_args(s, settings.context)))
                      for s in settings.sizes)
        tokens = int(settings.tokens_per_parameter * largest)
        peak = measure_cpu_flops()
        runs = []
        for size in settings.sizes:
            for seed in settings.seeds:
                row = train_one(size, seed, settings, data, out / "runs", tokens, peak)
                runs.append(row)
                progress(f"[scaling] {size.label} ({row['non_embedding']:,} non-embedding parameters) seed {seed}: "
                         f"val loss {row['val_loss']:.4f} after {row['tokens']:,} tokens in {row['seconds']:.0f} s")
    finally:
        torch.set_num_threads(threads)
    target = non_embedding_parameters(get_config(MOSS_PRESET))
    results = {"settings": settings.to_dict(), "tokens_per_run": tokens, "runs": runs,
               "fit": analyse(runs, target, settings.bootstrap),
               "machine": {"cpus": os.cpu_count(), "threads": settings.threads, "torch": torch.__version__,
                           "platform": platform.platform(), "matmul_gflops": peak / 1e9,
                           "load_before": load_before, "load_after": _load()},
               "wall_seconds": time.perf_counter() - start}
    write(results, out)
    return results


def write(results: dict, out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    columns = [k for k in results["runs"][0] if k != "val_curve"]
    with open(out / "runs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results["runs"])
    import matplotlib.pyplot as plt

    fig = plot_scaling(results)
    fig.savefig(out / "scaling.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def load_results(path: str | Path) -> dict:
    """results.json of an earlier run (a folder or the file itself)."""
    path = Path(path)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no scaling results at {path}; run `mosslite experiment scaling --out {path.parent}`")
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------------- the plot
def plot_scaling(results: dict):
    """Left: loss against non-embedding parameters with both fits; right: the extrapolation to MOSS-16B."""
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    fit = results["fit"]
    n, means, std = np.array(fit["non_embedding"]), np.array(fit["mean_loss"]), np.array(fit["seed_std"])
    pl, sat, ex = fit["power_law"], fit["saturating"], fit["extrapolation"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, hi in ((left, n.max() * 2), (right, ex["non_embedding"] * 3)):
        grid = np.geomspace(n.min() / 1.5, hi, 200)
        for run in results["runs"]:
            ax.scatter(run["non_embedding"], run["val_loss"], s=10, color="tab:blue", alpha=0.35)
        ax.errorbar(n, means, yerr=std, fmt="o", color="tab:blue", capsize=3, label="mean over seeds (± std)")
        lo, hi = pl["alpha_residual_95"]
        ax.plot(grid, pl["a"] * grid ** -pl["alpha"], color="tab:orange",
                label=f"L = a·N^-α, α = {pl['alpha']:.3f} [95%: {lo:.3f}, {hi:.3f}]")
        ax.plot(grid, sat["E"] + sat["A"] * grid ** -sat["alpha"], color="tab:green", ls="--",
                label=f"L = E + A·N^-α, α = {sat['alpha']:.2f}, E = {sat['E']:.2f}")
        ax.set(xscale="log", yscale="log", xlabel="non-embedding parameters N", ylabel="validation loss (nats/token)")
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.2g"))
        ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%.2g"))
    x0, point = ex["non_embedding"], ex["power_law"]
    lo, hi = ex["power_law_residual_95"]
    right.errorbar([x0], [point], yerr=[[point - lo], [hi - point]], fmt="s", color="tab:red", capsize=4,
                   label=f"MOSS-16B, power law: {point:.2f} [95%: {lo:.2f}, {hi:.2f}]")
    sb = ex["saturating_bootstrap"]
    right.errorbar([x0 * 1.6], [ex["saturating"]], yerr=[[ex["saturating"] - sb["lo95"]], [sb["hi95"] - ex["saturating"]]],
                   fmt="D", color="tab:green", capsize=4,
                   label=f"MOSS-16B, with E: {ex['saturating']:.2f} [95%: {sb['lo95']:.2f}, {sb['hi95']:.2f}]")
    right.axvspan(n.min(), n.max(), color="tab:blue", alpha=0.08)
    left.set_title(f"{len(n)} sizes × {len(results['settings']['seeds'])} seeds, "
                   f"{results['tokens_per_run'] / 1e6:.2f}M tokens each", fontsize=9)
    decades = math.log10(ex["non_embedding"] / n.max())
    right.set_title(f"extrapolated {decades:.1f} decades to MOSS-16B (shaded: measured range)", fontsize=9)
    left.legend(fontsize=7)
    right.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------------ the CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, help="results folder (default: runs/experiments/scaling/<time>)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per size (default 3; smoke 2)")
    parser.add_argument("--tokens-per-parameter", type=float, default=None,
                        help="tokens per non-embedding parameter of the largest model (default 20)")
    parser.add_argument("--smoke", action="store_true", help="three tiny models in seconds (also: MOSSLITE_SMOKE=1)")


def settings_from_args(args: argparse.Namespace) -> ScalingSettings:
    from mosslite import is_smoke

    settings = SMOKE if args.smoke or is_smoke() else ScalingSettings()
    changes: dict = {}
    if args.seeds:
        changes["seeds"] = tuple(range(args.seeds))
    if args.tokens_per_parameter:
        changes["tokens_per_parameter"] = args.tokens_per_parameter
    return replace(settings, **changes)


def summary(results: dict) -> str:
    fit = results["fit"]
    pl, sat, ex = fit["power_law"], fit["saturating"], fit["extrapolation"]
    b, bs, be = pl["alpha_bootstrap"], ex["power_law_bootstrap"], ex["saturating_bootstrap"]
    r, rt = pl["alpha_residual_95"], ex["power_law_residual_95"]
    lines = [f"[scaling] power law   L = {pl['a']:.3f}·N^-{pl['alpha']:.4f}; alpha 95%: [{b['lo95']:.4f}, "
             f"{b['hi95']:.4f}] from seed noise, [{r[0]:.4f}, {r[1]:.4f}] from the scatter about the line "
             f"(rms log residual {pl['rms_log_residual']:.4f})",
             f"[scaling] saturating L = {sat['E']:.3f} + {sat['A']:.2f}·N^-{sat['alpha']:.3f}; alpha 95% "
             f"[{sat['alpha_bootstrap']['lo95']:.3f}, {sat['alpha_bootstrap']['hi95']:.3f}]",
             f"[scaling] local slopes between sizes: {', '.join(f'{x:.3f}' for x in fit['local_alpha'])}",
             "[scaling] published alpha: " + "; ".join(f"{k}: {v}" for k, v in fit["published_alpha"].items()),
             f"[scaling] at MOSS-16B ({ex['non_embedding'] / 1e9:.2f}B non-embedding): power law {ex['power_law']:.3f} "
             f"[95%: {bs['lo95']:.3f}, {bs['hi95']:.3f} seeds; {rt[0]:.3f}, {rt[1]:.3f} scatter], "
             f"saturating {ex['saturating']:.3f} "
             f"[95%: {be['lo95']:.3f}, {be['hi95']:.3f}] nats/token (this world's tokens, not MOSS's)",
             f"[scaling] {len(results['runs'])} runs in {results['wall_seconds']:.0f} s; load average before "
             f"{results['machine']['load_before']}, after {results['machine']['load_after']}"]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    out = Path(args.out or Path("runs/experiments/scaling") / time.strftime("%Y%m%d-%H%M%S"))
    results = run(settings, out)
    print(summary(results))
    print(f"[scaling] results: {out / 'results.json'}, {out / 'runs.csv'}, {out / 'scaling.png'}")
    return 0
