"""Feeds broken or out-of-range states to one plugin and reports what happened, one JSON line per
case. Run by test_vst3.py in a child process, because a plugin that crashes on bad state takes
its host (here: the Python process) down with it.

    python state_probe.py <bundle.vst3> garbage|out_of_range

Every case uses a fresh instance: set `raw_state`, then process a test signal. Printed per case:
the exception (if the host refused the state), every parameter's normalised value, whether the
output is finite, the largest difference from a fresh default instance's output, and the gain
relative to that output (least squares over the part after parameter smoothing has settled).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pedalboard

import juce_state
from postmix_host import make_signal

RATE = 48000
#: Parameter smoothers (output gain: 50 ms) have settled after this many seconds.
SETTLE_S = 0.2


def raw_values(plugin) -> dict[str, float]:
    return {name: float(p.raw_value) for name, p in plugin.parameters.items()}


def modified_payload(bundle: str) -> tuple[bytes, bytes]:
    """The raw_state and plugin JSON of an instance whose every parameter is off its default,
    so that a broken copy of it that were partly applied would be visible."""
    plugin = pedalboard.load_plugin(bundle)
    for p in plugin.parameters.values():
        p.raw_value = 0.3 if p.raw_value > 0.5 else 0.8
    # Parameter changes reach the plugin's processor (and so its saved state) in process().
    plugin(make_signal(2, RATE, 0.05), RATE)
    raw = plugin.raw_state
    return raw, juce_state.component_state(raw)


def garbage_cases(bundle: str) -> dict[str, bytes]:
    raw, payload = modified_payload(bundle)
    rng = np.random.default_rng(7)
    state = json.loads(payload)
    wrong_types = json.loads(payload)
    for name, value in wrong_types["params"].items():
        wrong_types["params"][name] = {"f32": 0.7} if "bool" in value else {"bool": True}
    unknown_ids = json.loads(payload)
    unknown_ids["params"] = {f"zz_{k}": v for k, v in state["params"].items()}
    return {
        # Positive control: the unbroken state must load (else the cases below prove nothing).
        "control_intact": raw,
        "control_payload_reencoded": juce_state.with_component_state(raw, payload),
        "raw_random_bytes": rng.bytes(512),
        "raw_truncated": raw[: len(raw) // 2],
        "raw_empty": b"",
        "raw_wrong_magic": b"XXXX" + raw[4:],
        "payload_random_bytes": juce_state.with_component_state(raw, rng.bytes(256)),
        "payload_truncated_json": juce_state.with_component_state(raw, payload[: len(payload) // 2]),
        "payload_empty": juce_state.with_component_state(raw, b""),
        "payload_json_array": juce_state.with_component_state(raw, b"[1, 2, 3]"),
        "payload_wrong_value_types": juce_state.with_component_state(
            raw, json.dumps(wrong_types).encode()
        ),
        "payload_unknown_ids": juce_state.with_component_state(
            raw, json.dumps(unknown_ids).encode()
        ),
    }


def out_of_range_cases(bundle: str) -> dict[str, bytes]:
    raw = pedalboard.load_plugin(bundle).raw_state
    state = json.loads(juce_state.component_state(raw))
    cases = {}
    for label, value in [("out_gain_1000", 1000.0), ("out_gain_1e39", 1e39), ("out_gain_-3", -3.0)]:
        state["params"]["out_gain"] = {"f32": value}
        cases[label] = juce_state.with_component_state(raw, json.dumps(state).encode())
    return cases


def main() -> None:
    bundle, mode = sys.argv[1], sys.argv[2]
    cases = {"garbage": garbage_cases, "out_of_range": out_of_range_cases}[mode](bundle)
    x = make_signal(2, RATE, 0.5)
    settled = int(SETTLE_S * RATE)
    fresh = pedalboard.load_plugin(bundle)
    reference = fresh(x, RATE)
    print(json.dumps({"case": "defaults", "raw_values": raw_values(fresh)}), flush=True)
    for label, state in cases.items():
        print(f"case {label}", file=sys.stderr, flush=True)
        plugin = pedalboard.load_plugin(bundle)
        error = None
        try:
            plugin.raw_state = state
        except Exception as e:  # the host refusing a state is fine; crashing is not
            error = f"{type(e).__name__}: {e}"
        y = plugin(x, RATE)
        finite = bool(np.isfinite(y).all())
        a, b = y[:, settled:].ravel().astype(np.float64), reference[:, settled:].ravel()
        gain = float(np.dot(a, b) / np.dot(b, b)) if finite else float("nan")
        result = {
            "case": label,
            "error": error,
            "raw_values": raw_values(plugin),
            "finite": finite,
            "max_diff_from_default": float(np.max(np.abs(y - reference))) if finite else None,
            "gain": gain,
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
