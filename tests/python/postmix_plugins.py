"""What each Postmix plugin is expected to do when hosted as a VST3: one row per plugin.

The tests in this folder are written against this table, not against the plugins' current code,
so when a plugin grows real DSP, update its row here (and say why in the commit) instead of
weakening a test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

#: Output gain range of every plugin (shared-ui/src/output.rs: OUTPUT_GAIN_MIN_DB/MAX_DB).
OUTPUT_GAIN_MIN_DB = -24.0
OUTPUT_GAIN_MAX_DB = 24.0

#: Parameters every plugin carries (shared-ui/src/output.rs: OutputParams), by pedalboard's Python
#: name (display name + unit, snake_case) and by the permanent nice-plug ID saved in sessions.
COMMON_PARAMS = {"bypass": "bypass", "output_gain_db": "out_gain"}

#: Sample rates every plugin must handle.
SAMPLE_RATES = (44100, 48000, 96000)


@dataclass(frozen=True)
class PluginSpec:
    """Expectations for one plugin, as hosted by pedalboard (JUCE's VST3 host)."""

    #: Directory under plugins/, also the screenshot name (target/screenshots/<crate>.png).
    crate: str
    #: `Plugin::NAME`: the bundle is "<name>.vst3" and the editor window has this title.
    name: str
    #: At default parameter values the output equals the input (after latency compensation)
    #: within TRANSPARENT_TOLERANCE. True for every plugin whose defaults are neutral.
    transparent_at_default: bool = True
    #: Latency in samples the plugin reports at default settings, or None when it depends on
    #: the sample rate (the impulse test then only checks that the report matches the real delay).
    latency_at_default: int | None = 0
    #: Output gain is the last stage before bypass (shared-ui OutputStage), so the output with
    #: gain g is exactly g times the output at 0 dB whatever the DSP does. Set False for a plugin
    #: that applies it earlier (e.g. before a limiter's ceiling).
    output_gain_is_last_stage: bool = True
    #: Main-bus channel counts the plugin accepts (input == output).
    channel_counts: tuple[int, ...] = (1, 2)
    #: Channel counts the host must refuse cleanly (an exception, not a crash).
    rejected_channel_counts: tuple[int, ...] = (3,)
    #: Plugin-specific parameters (pedalboard names) beyond COMMON_PARAMS that must be listed.
    extra_params: tuple[str, ...] = ()
    #: Known, reported bugs: names of checks expected to fail until fixed (strict xfail, so a
    #: fix makes the suite say so). Keep each entry next to a comment naming the bug.
    known_bugs: frozenset[str] = field(default_factory=frozenset)

    @property
    def bundle_name(self) -> str:
        return f"{self.name}.vst3"

    def bundle(self, bundle_dir: Path) -> Path:
        return bundle_dir / self.bundle_name


# Out-of-range values in a saved state are applied unclamped: out_gain 1000.0 gives +60 dB,
# 1e39 gives an infinite gain (non-finite output), -3.0 inverts the polarity, while the host
# is told +24 dB / -24 dB (nice-plug's FloatParam::set_plain_value does not clamp on state load).
# Fixed by shared_ui::state::sanitize_state in a plugin's Plugin::filter_state.
_UNCLAMPED_STATE = "state_out_of_range_clamped"
# nice-plug 0.4.2's VST3 setBusArrangements (src/wrapper/vst3/wrapper.rs:858) compares the aux
# input ports against the arrangement one index too early (the main bus), so a layout with a
# main input and a sidechain matches only when both have the same channel count: the declared
# mono + stereo-sidechain layout is refused and VST3 hosts cannot run these plugins in mono.
# A mono key instead (mono + mono sidechain) is accepted, but pedalboard (JUCE) then passes the
# inactive sidechain as one channel with a null pointer and nice-plug's BufferManager copies from
# it (segfault in create_buffers), so the layout stays mono + stereo sidechain, usable from CLAP.
_MONO_WITH_SIDECHAIN = "vst3_mono_with_sidechain"
# About 1 in 15 editor opens under Xvfb never painted (white window, black 128x128 corner, for
# good) while the test polled the window tree and captured during the editor's start-up:
# baseview 0.4.2's X11 window thread idles in its event loop; moving, resizing or remapping the
# window does not recover it. Its frame pacing waits on X Present CompleteNotify events with no
# fallback if one never arrives (baseview src/platform/x11/present.rs, handle_present_notify).
# Without the early polling: 0 in 70 opens, so test_gui now waits before its first capture.
_NEVER_PAINTS = "editor_sometimes_never_paints"

PLUGINS: tuple[PluginSpec, ...] = (
    PluginSpec(
        crate="channel-strip",
        name="Postmix Channel Strip",
        # Defaults are flat: filters and EQ in at 0 dB, dynamics and saturation bypassed; the
        # constant 4-sample latency (2x saturation oversampler, polyphase IIR half-bands) is
        # reported and compensated.
        latency_at_default=4,
        known_bugs=frozenset({_MONO_WITH_SIDECHAIN, _NEVER_PAINTS}),
    ),
    PluginSpec(
        crate="bus-compressor",
        name="Postmix Bus Compressor",
        # Defaults compress (threshold -20 dB, ratio 4:1): a real compressor, not a shell.
        transparent_at_default=False,
        known_bugs=frozenset({_MONO_WITH_SIDECHAIN, _NEVER_PAINTS}),
    ),
    PluginSpec(
        crate="linear-phase-eq",
        name="Postmix Linear-Phase EQ",
        # Default: Medium resolution, all bands off: transparent, delayed by a rate-dependent
        # latency (6144 samples at 48 kHz) that pedalboard compensates.
        latency_at_default=None,
        known_bugs=frozenset({_NEVER_PAINTS}),
    ),
    PluginSpec(
        crate="limiter",
        name="Postmix Limiter",
        # Defaults: true-peak mode at 4x, whose half-band filters remove content above ~20 kHz
        # from the test's full-band noise; latency (look-ahead + oversampling) depends on the
        # rate (193 samples at 48 kHz). The impulse test checks report == real delay.
        transparent_at_default=False,
        latency_at_default=None,
        known_bugs=frozenset({_NEVER_PAINTS}),
    ),
    PluginSpec(
        crate="loudness-meter",
        name="Postmix Loudness Meter",
        # Metering also accepts 5.0 and 5.1 (BS.1770 weights surround channels).
        channel_counts=(1, 2, 5, 6),
        known_bugs=frozenset({_NEVER_PAINTS}),
    ),
)

#: Largest |output - input| allowed where a plugin is transparent. The plugins process f32, so an
#: exact pass-through gives 0; 1e-6 (-120 dBFS) leaves room for a gain of 1 - 1 ulp.
TRANSPARENT_TOLERANCE = 1e-6


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def output_gain_db_at(normalized: float) -> float:
    """Output gain in dB at a normalised parameter value.

    Independent re-derivation of nice-plug's `FloatRange::Skewed` with
    `gain_skew_factor(-24, 24)` (shared-ui/src/output.rs: output_gain_range):
    plain = min + (max - min) * normalized^(1/factor), with the factor chosen so that
    normalised 0.5 is the gain halfway between the end points in dB (0 dB).
    """
    lo, hi = db_to_gain(OUTPUT_GAIN_MIN_DB), db_to_gain(OUTPUT_GAIN_MAX_DB)
    mid = db_to_gain((OUTPUT_GAIN_MIN_DB + OUTPUT_GAIN_MAX_DB) / 2.0)
    factor = math.log(0.5, (mid - lo) / (hi - lo))  # log base ((mid-lo)/(hi-lo)) of 0.5
    gain = lo + (hi - lo) * normalized ** (1.0 / factor)
    return 20.0 * math.log10(gain)
