"""Helpers shared by the test modules: loading bundles through pedalboard, test signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from postmix_plugins import PLUGINS, PluginSpec

#: Repository root (tests/python/postmix_host.py -> ../..).
REPO_ROOT = Path(__file__).resolve().parents[2]


def bundle_path(spec: PluginSpec, bundle_dir: Path) -> Path:
    """The plugin's .vst3 bundle; fails the test (never skips) when it is missing."""
    path = spec.bundle(bundle_dir)
    if not path.is_dir():
        pytest.fail(f"{path} is missing: build it with `cargo xtask bundle-all`", pytrace=False)
    return path


def load(spec: PluginSpec, bundle_dir: Path):
    """A fresh instance of the plugin, loaded through pedalboard's VST3 host."""
    import pedalboard

    plugin = pedalboard.load_plugin(str(bundle_path(spec, bundle_dir)))
    assert plugin.name == spec.name, f"bundle {spec.bundle_name} loaded plugin {plugin.name!r}"
    return plugin


#: Decorator: run the test once per plugin in the expectations table (test id = crate name).
per_plugin = pytest.mark.parametrize("spec", PLUGINS, ids=[p.crate for p in PLUGINS])


def known_bug(request: pytest.FixtureRequest, spec: PluginSpec, check: str) -> None:
    """When the table lists `check` as a known bug of this plugin, the running test is still run
    but expected to fail (strict: once the bug is fixed, the XPASS fails the run until the entry
    is removed from postmix_plugins.py)."""
    if check in spec.known_bugs:
        reason = f"known bug in {spec.crate}: {check} (see postmix_plugins.py)"
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def make_signal(channels: int, sample_rate: int, seconds: float, seed: int = 1) -> np.ndarray:
    """Deterministic programme-like test signal: a -20 dBFS sine per channel (different
    frequencies) plus -40 dBFS white noise, float32, shape (channels, samples). Never exactly
    zero for long, so gain ratios can be measured sample by sample."""
    n = int(round(sample_rate * seconds))
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(seed)
    rows = []
    for ch in range(channels):
        f = 220.0 * (1.5**ch)
        rows.append(0.1 * np.sin(2 * np.pi * f * t + ch) + 0.01 * rng.standard_normal(n))
    return np.asarray(rows, dtype=np.float32)
