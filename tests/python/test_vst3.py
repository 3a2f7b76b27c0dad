"""The Postmix VST3 bundles hosted by pedalboard (JUCE's VST3 host), checked against the
expectations table in postmix_plugins.py.

pedalboard API notes (0.9.26):
- `plugin.parameters[python_name]` is the parameter object; its `raw_value` is the normalised
  0..1 value. `plugin.<python_name>` returns a plain value, so `plugin.x.raw_value = v` sets
  nothing. Values set as display text are rounded to the display, hence `raw_value` here.
- A parameter change reaches the plugin's processor, and so its saved state, only in the next
  process call (JUCE queues it as a VST3 parameter change): process before reading `raw_state`.
- `plugin.reported_latency_samples` is the plugin's reported latency; pedalboard compensates
  for it, so a correct report puts the output in line with the input.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import juce_state
from postmix_host import bundle_path, known_bug, load, make_signal, per_plugin
from postmix_plugins import (
    COMMON_PARAMS,
    OUTPUT_GAIN_MAX_DB,
    OUTPUT_GAIN_MIN_DB,
    PLUGINS,
    SAMPLE_RATES,
    TRANSPARENT_TOLERANCE,
    db_to_gain,
    output_gain_db_at,
)

HERE = Path(__file__).resolve().parent
#: Output gain uses a 50 ms smoother and bypass a 10 ms crossfade: measure after this.
SETTLE_S = 0.2


def set_raw(plugin, name: str, value: float) -> None:
    plugin.parameters[name].raw_value = value


def raw_values(plugin) -> dict[str, float]:
    return {name: float(p.raw_value) for name, p in plugin.parameters.items()}


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def gain_db(y: np.ndarray, reference: np.ndarray) -> float:
    """Least-squares gain of y relative to reference, in dB."""
    a, b = y.ravel().astype(np.float64), reference.ravel().astype(np.float64)
    return 20.0 * np.log10(np.dot(a, b) / np.dot(b, b))


# --- the bundle directory -------------------------------------------------------------------


def test_every_bundle_has_expectations(bundle_dir: Path) -> None:
    """Every .vst3 in POSTMIX_BUNDLES is in the table (a new plugin gets a row) and vice versa,
    and each has its .clap beside it."""
    found = {p.name for p in bundle_dir.glob("*.vst3")}
    expected = {spec.bundle_name for spec in PLUGINS}
    assert found == expected, f"bundles in {bundle_dir} differ from postmix_plugins.PLUGINS"
    for spec in PLUGINS:
        assert (bundle_dir / f"{spec.name}.clap").exists(), f"{spec.name}.clap is missing"


# --- loading and parameters -----------------------------------------------------------------


@per_plugin
def test_loads_as_an_effect_with_name_and_vendor(spec, bundle_dir) -> None:
    plugin = load(spec, bundle_dir)
    assert plugin.is_effect and not plugin.is_instrument
    assert plugin.manufacturer_name == "Postmix"
    assert plugin.category.split("|")[0] == "Fx", plugin.category


@per_plugin
def test_lists_bypass_and_output_gain(spec, bundle_dir) -> None:
    params = load(spec, bundle_dir).parameters
    for name in (*COMMON_PARAMS, *spec.extra_params):
        assert name in params, f"{name} missing from {sorted(params)}"
    bypass, gain = params["bypass"], params["output_gain_db"]
    assert bypass.name == "Bypass"
    assert len(bypass.valid_values) == 2, bypass.valid_values
    assert gain.name == "Output Gain" and gain.label.strip() == "dB"
    assert gain.range[:2] == (OUTPUT_GAIN_MIN_DB, OUTPUT_GAIN_MAX_DB), gain.range
    for name, p in params.items():
        assert 0.0 <= p.raw_value <= 1.0, f"{name} raw_value {p.raw_value} outside 0..1"


@per_plugin
def test_defaults_are_not_bypassed_at_0_db(spec, bundle_dir) -> None:
    params = load(spec, bundle_dir).parameters
    assert params["bypass"].raw_value == 0.0
    # Normalised 0.5 is exactly 0 dB by construction of the skewed range.
    assert abs(params["output_gain_db"].raw_value - 0.5) < 1e-6
    assert abs(output_gain_db_at(params["output_gain_db"].raw_value)) < 1e-4


# --- audio ----------------------------------------------------------------------------------


@per_plugin
@pytest.mark.parametrize("rate", SAMPLE_RATES)
def test_stereo_output_is_finite_with_the_input_shape(spec, bundle_dir, rate) -> None:
    """Stereo at each rate: same shape, finite, and (where the table says so) equal to the input
    at default settings after pedalboard's latency compensation."""
    plugin = load(spec, bundle_dir)
    x = make_signal(2, rate, 0.5)
    y = plugin(x, rate)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.isfinite(y).all()
    if spec.transparent_at_default:
        assert max_diff(y, x) <= TRANSPARENT_TOLERANCE
    else:
        assert np.max(np.abs(y)) > 0.0, "silent output"


@per_plugin
def test_one_instance_follows_sample_rate_changes(spec, bundle_dir) -> None:
    """The same instance re-prepared at each rate, twice round, gives the same output as at
    first (no state from another rate leaks in)."""
    plugin = load(spec, bundle_dir)
    first = {}
    for rate in (*SAMPLE_RATES, *reversed(SAMPLE_RATES)):
        x = make_signal(2, rate, 0.25)
        y = plugin(x, rate)
        assert np.isfinite(y).all()
        if rate in first:
            assert max_diff(y, first[rate]) <= TRANSPARENT_TOLERANCE, f"differs at {rate} Hz"
        first[rate] = y


@per_plugin
def test_multichannel_layouts(spec, bundle_dir) -> None:
    """Every supported channel count beyond mono processes, transparently at defaults where
    expected; unsupported counts are refused with an exception, not a crash."""
    for channels in spec.channel_counts:
        if channels == 1:
            continue  # test_mono
        plugin = load(spec, bundle_dir)
        x = make_signal(channels, 48000, 0.25)
        y = plugin(x, 48000)
        assert y.shape == x.shape and np.isfinite(y).all(), f"{channels} channels"
        if spec.transparent_at_default:
            assert max_diff(y, x) <= TRANSPARENT_TOLERANCE, f"{channels} channels"
    for channels in spec.rejected_channel_counts:
        plugin = load(spec, bundle_dir)
        with pytest.raises(ValueError, match="does not support"):
            plugin(make_signal(channels, 48000, 0.05), 48000)


@per_plugin
def test_mono(spec, bundle_dir, request) -> None:
    """Mono, as (1, n) and as a 1-D array: same shape, finite, transparent where expected."""
    if 1 not in spec.channel_counts:
        pytest.fail("every Postmix plugin is expected to take mono", pytrace=False)
    known_bug(request, spec, "vst3_mono_with_sidechain")
    x = make_signal(1, 48000, 0.25)
    for signal in (x, x[0]):
        plugin = load(spec, bundle_dir)
        y = plugin(signal, 48000)
        assert y.shape == signal.shape and np.isfinite(y).all()
        if spec.transparent_at_default:
            assert max_diff(y, signal) <= TRANSPARENT_TOLERANCE


@per_plugin
@pytest.mark.parametrize("rate", (48000, 96000))
@pytest.mark.parametrize("block", (64, 8192))
def test_reported_latency_matches_the_real_delay(spec, bundle_dir, rate, block) -> None:
    """An impulse comes out where it went in once pedalboard has compensated the reported
    latency: the report matches the real delay. Checked with small and large host blocks."""
    plugin = load(spec, bundle_dir)
    at = 3001  # odd, and not a multiple of either block size
    x = np.zeros((2, int(0.25 * rate)), dtype=np.float32)
    x[:, at] = 0.25  # -12 dBFS; a gain change (e.g. compression) moves no peak, a delay does
    y = plugin(x, rate, buffer_size=block)
    reported = plugin.reported_latency_samples
    assert reported >= 0
    if spec.latency_at_default is not None:
        assert reported == spec.latency_at_default
    assert np.isfinite(y).all()
    for ch in range(2):
        peak = int(np.argmax(np.abs(y[ch])))
        assert peak == at, f"channel {ch}: impulse at {at} came out at {peak} (reported {reported})"
    if spec.transparent_at_default:
        assert max_diff(y, x) <= TRANSPARENT_TOLERANCE


@per_plugin
def test_non_finite_input_gives_finite_output(spec, bundle_dir) -> None:
    """NaN and inf in the input are replaced, never passed on (conventions: sanitised input)."""
    plugin = load(spec, bundle_dir)
    x = make_signal(2, 48000, 0.25)
    x[0, 1000], x[1, 2000], x[0, 3000] = np.nan, np.inf, -np.inf
    y = plugin(x, 48000)
    assert np.isfinite(y).all()
    if spec.transparent_at_default:
        clean = np.where(np.isfinite(x), x, 0.0)
        assert max_diff(y, clean) <= TRANSPARENT_TOLERANCE


# --- parameters driven through the host -----------------------------------------------------


@per_plugin
@pytest.mark.parametrize("normalized", (0.0, 0.3, 0.5, 0.75, 1.0))
def test_output_gain_applies_the_exact_value(spec, bundle_dir, normalized) -> None:
    """Output gain set by normalised value: the measured gain (against a default instance) is
    the value of nice-plug's skewed range at that point, re-derived independently, and matches
    what the host displays. End points: -24 dB, 0 dB at 0.5, +24 dB."""
    rate = 48000
    x = make_signal(2, rate, 0.5)
    reference = load(spec, bundle_dir)(x, rate)
    plugin = load(spec, bundle_dir)
    set_raw(plugin, "output_gain_db", normalized)
    y = plugin(x, rate)
    settled = int(SETTLE_S * rate)
    expected_db = output_gain_db_at(normalized)
    shown = float(plugin.parameters["output_gain_db"].string_value)
    assert abs(shown - expected_db) <= 0.005 + 1e-9, f"host shows {shown} dB"
    assert np.isfinite(y).all()
    if not spec.output_gain_is_last_stage:
        return
    measured = gain_db(y[:, settled:], reference[:, settled:])
    assert abs(measured - expected_db) < 1e-3, f"measured {measured:.5f} dB, expected {expected_db:.5f}"
    # Sample-exact, not just on average: f32 gain, so relative error of a few ulp.
    expected = reference[:, settled:].astype(np.float64) * db_to_gain(expected_db)
    assert max_diff(y[:, settled:], expected) <= 1e-5 * np.max(np.abs(expected)) + 1e-9


@per_plugin
def test_bypass_passes_the_input_through(spec, bundle_dir) -> None:
    """Bypassed with output gain at +24 dB, the output is the (latency-aligned) input once the
    bypass crossfade is over, and stays finite during it."""
    rate = 48000
    plugin = load(spec, bundle_dir)
    set_raw(plugin, "output_gain_db", 1.0)
    set_raw(plugin, "bypass", 1.0)
    x = make_signal(2, rate, 0.5)
    y = plugin(x, rate)
    assert np.isfinite(y).all()
    settled = int(SETTLE_S * rate)
    assert max_diff(y[:, settled:], x[:, settled:]) <= TRANSPARENT_TOLERANCE
    # And bypass is not stuck: switching it off brings the +24 dB back.
    set_raw(plugin, "bypass", 0.0)
    y = plugin(x, rate)
    reference = load(spec, bundle_dir)(x, rate)
    if spec.output_gain_is_last_stage:
        assert abs(gain_db(y[:, settled:], reference[:, settled:]) - OUTPUT_GAIN_MAX_DB) < 1e-3
    else:
        assert max_diff(y[:, settled:], x[:, settled:]) > 1e-3, "still bypassed"


# --- state ----------------------------------------------------------------------------------


def snapped(normalised: float, num_steps: int) -> float:
    """The normalised value a parameter with `num_steps` steps lands on (continuous: itself)."""
    if num_steps < 2 or num_steps > 100_000:
        return normalised
    return round(normalised * (num_steps - 1)) / (num_steps - 1)


@per_plugin
def test_state_round_trip_restores_parameters_and_sound(spec, bundle_dir) -> None:
    """Change every parameter, save raw_state, load it into a fresh instance: same normalised
    values and the same output, and both differ from a default instance."""
    rate = 48000
    x = make_signal(2, rate, 0.5)
    original = load(spec, bundle_dir)
    for name, p in original.parameters.items():
        if name != "bypass":  # bypassed, the output would not show the other values
            p.raw_value = 0.3 if p.raw_value > 0.5 else 0.8
    original(x, rate)  # deliver the changes to the processor before saving
    state = original.raw_state
    # A stepped parameter (a choice, a switch, a stepped range) lands on its nearest step in the
    # plugin while JUCE keeps reporting the raw value it was given: expect the snapped value.
    saved = {
        name: snapped(value, original.parameters[name].num_steps)
        for name, value in raw_values(original).items()
    }

    restored = load(spec, bundle_dir)
    default_values = raw_values(restored)
    restored.raw_state = state
    values = raw_values(restored)
    assert values.keys() == saved.keys()
    for name in saved:
        assert abs(values[name] - saved[name]) < 1e-6, f"{name}: {values[name]} != {saved[name]}"
    assert values != default_values

    settled = int(SETTLE_S * rate)
    a, b = original(x, rate), restored(x, rate)
    assert max_diff(a[:, settled:], b[:, settled:]) <= TRANSPARENT_TOLERANCE
    default_out = load(spec, bundle_dir)(x, rate)
    assert max_diff(b[:, settled:], default_out[:, settled:]) > 1e-3, "state changed nothing"


@per_plugin
def test_state_round_trip_restores_bypass(spec, bundle_dir) -> None:
    """A session saved bypassed (with +24 dB output gain) comes back bypassed: dry output."""
    rate = 48000
    x = make_signal(2, rate, 0.5)
    original = load(spec, bundle_dir)
    set_raw(original, "output_gain_db", 1.0)
    set_raw(original, "bypass", 1.0)
    original(x, rate)
    restored = load(spec, bundle_dir)
    restored.raw_state = original.raw_state
    assert restored.parameters["bypass"].raw_value == 1.0
    assert restored.parameters["output_gain_db"].raw_value == 1.0
    settled = int(SETTLE_S * rate)
    y = restored(x, rate)
    assert max_diff(y[:, settled:], x[:, settled:]) <= TRANSPARENT_TOLERANCE


@per_plugin
def test_saved_state_uses_the_permanent_parameter_ids(spec, bundle_dir) -> None:
    """Sessions store parameters by ID: the IDs of the common parameters must never change."""
    state = json.loads(juce_state.component_state(load(spec, bundle_dir).raw_state))
    assert set(COMMON_PARAMS.values()) <= set(state["params"]), sorted(state["params"])
    assert state["params"]["bypass"] == {"bool": False}
    assert state["params"]["out_gain"] == {"f32": 1.0}


def run_state_probe(spec, bundle_dir: Path, mode: str) -> tuple[dict, dict]:
    bundle = str(bundle_path(spec, bundle_dir))
    proc = subprocess.run(
        [sys.executable, str(HERE / "state_probe.py"), bundle, mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=HERE,
    )
    assert proc.returncode == 0, (
        f"host process died (exit {proc.returncode}) loading a bad state; last lines of "
        f"stderr:\n{proc.stderr[-2000:]}"
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    defaults = rows[0]
    assert defaults["case"] == "defaults"
    return defaults["raw_values"], {r["case"]: r for r in rows[1:]}


@per_plugin
def test_garbage_state_is_refused_without_crash_and_keeps_defaults(spec, bundle_dir) -> None:
    """Random, truncated, empty and mistyped states (both JUCE's wrapper and the plugin's own
    JSON inside it) neither crash the host nor change anything: defaults stay, output is the
    default output. The states are broken copies of one with every parameter changed, so a
    partial load would show."""
    defaults, cases = run_state_probe(spec, bundle_dir, "garbage")
    assert len(cases) == 12, sorted(cases)
    failures = []
    for label, r in cases.items():
        changed = {k: v for k, v in r["raw_values"].items() if abs(v - defaults[k]) > 1e-6}
        if label.startswith("control_"):
            # The intact state (and its payload re-encoded by juce_state) changes every parameter.
            if changed.keys() != defaults.keys():
                failures.append(f"{label}: the intact state changed only {changed}")
        elif changed or not r["finite"] or r["max_diff_from_default"] > TRANSPARENT_TOLERANCE:
            failures.append(
                f"{label}: changed {changed}, finite {r['finite']}, "
                f"max diff {r['max_diff_from_default']}"
            )
    assert not failures, "\n".join(failures)


@per_plugin
def test_out_of_range_state_values_are_clamped(spec, bundle_dir, request) -> None:
    """A saved output gain outside the range (1000, 1e39 -> inf in f32, negative) ends up inside
    -24..+24 dB, positive and finite, and the host is shown the gain actually applied."""
    known_bug(request, spec, "state_out_of_range_clamped")
    _, cases = run_state_probe(spec, bundle_dir, "out_of_range")
    failures = []
    for label, r in cases.items():
        applied = 20 * np.log10(r["gain"]) if r["finite"] and r["gain"] > 0 else None
        shown = output_gain_db_at(r["raw_values"]["output_gain_db"])
        if spec.output_gain_is_last_stage:
            ok = (
                applied is not None
                and OUTPUT_GAIN_MIN_DB - 1e-3 <= applied <= OUTPUT_GAIN_MAX_DB + 1e-3
                and abs(applied - shown) < 1e-2
            )
        else:
            ok = r["finite"]
        if not ok:
            failures.append(f"{label}: finite {r['finite']}, gain {r['gain']}, host shows {shown:.2f} dB")
    assert not failures, "\n".join(failures)
