"""Reads and rewrites the plugin's own state inside pedalboard's VST3 `raw_state`.

pedalboard's `raw_state` for a VST3 is JUCE's `VST3PluginInstance::getStateInformation` blob:
`AudioProcessor::copyXmlToBinary` of
`<VST3PluginState><IComponent>..</IComponent><IEditController>..</IEditController></VST3PluginState>`,
i.e. the magic "VC2!", a little-endian uint32 string length, the UTF-8 XML and a NUL. Each element
holds a `juce::MemoryBlock::toBase64Encoding` string: "<byte count>.<chars>", where the chars take
the block as one little-endian bit string, 6 bits at a time from bit 0, through JUCE's table
".ABC..Zabc..z0..9+" (not RFC 4648 base64).

The IComponent block is what the plugin itself wrote in `IComponent::getState` (nice-plug: JSON).
Rewriting it lets the tests feed broken payloads to the plugin's state parser, past JUCE's own
checks on the outer wrapper.
"""

from __future__ import annotations

import re
import struct

MAGIC = b"VC2!"
_TABLE = ".ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
_COMPONENT = re.compile(rb"<IComponent>(.*?)</IComponent>", re.S)


def juce_base64_decode(text: str) -> bytes:
    size_text, dot, chars = text.partition(".")
    if not dot:
        raise ValueError(f"not a JUCE base64 block: {text[:40]!r}")
    size = int(size_text)
    bits = 0
    for i, c in enumerate(chars):
        bits |= _TABLE.index(c) << (6 * i)
    return bits.to_bytes(size + 1, "little")[:size]


def juce_base64_encode(data: bytes) -> str:
    bits = int.from_bytes(data, "little")
    count = (len(data) * 8 + 5) // 6
    return f"{len(data)}." + "".join(_TABLE[(bits >> (6 * i)) & 63] for i in range(count))


def _xml(raw: bytes) -> bytes:
    if raw[:4] != MAGIC:
        raise ValueError(f"not a JUCE binary XML state (starts with {raw[:8]!r})")
    (length,) = struct.unpack("<I", raw[4:8])
    return raw[8 : 8 + length]


def component_state(raw: bytes) -> bytes:
    """The plugin's own state (IComponent::getState) inside a pedalboard VST3 raw_state."""
    m = _COMPONENT.search(_xml(raw))
    if m is None:
        raise ValueError("no <IComponent> element in the VST3 state")
    return juce_base64_decode(m.group(1).decode("ascii"))


def with_component_state(raw: bytes, payload: bytes) -> bytes:
    """`raw` (a pedalboard VST3 raw_state) with the plugin's own state replaced by `payload`."""
    encoded = b"<IComponent>" + juce_base64_encode(payload).encode("ascii") + b"</IComponent>"
    xml, count = _COMPONENT.subn(lambda _m: encoded, _xml(raw))
    if count != 1:
        raise ValueError("expected exactly one <IComponent> element in the VST3 state")
    return MAGIC + struct.pack("<I", len(xml)) + xml + b"\0"
