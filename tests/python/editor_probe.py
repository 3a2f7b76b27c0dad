"""Opens one plugin's editor in pedalboard's host window, `opens` times in a row, driven over
stdin/stdout by test_gui.py. Runs in a child process: `show_editor` must own the main thread,
and an editor that crashes takes its host down with it.

    python editor_probe.py <bundle.vst3> <opens>

Prints "opening <i>" before each `show_editor` and "closed <i>" after it returns; a line "close"
on stdin closes the open window. A watchdog closes it after WATCHDOG_S and exits with status 3.
"""

from __future__ import annotations

import sys
import threading

import pedalboard

WATCHDOG_S = 60.0


def main() -> None:
    bundle, opens = sys.argv[1], int(sys.argv[2])
    plugin = pedalboard.load_plugin(bundle)
    events = [threading.Event() for _ in range(opens)]
    timed_out = threading.Event()

    def read_commands() -> None:
        index = 0
        for line in sys.stdin:
            if line.strip() == "close" and index < opens:
                events[index].set()
                index += 1

    def watchdog() -> None:
        timed_out.set()
        for event in events:
            event.set()

    threading.Thread(target=read_commands, daemon=True).start()
    timer = threading.Timer(WATCHDOG_S, watchdog)
    timer.daemon = True
    timer.start()
    for i, event in enumerate(events, start=1):
        print(f"opening {i}", flush=True)
        plugin.show_editor(event)  # blocks until the event is set or the window is closed
        print(f"closed {i}", flush=True)
    timer.cancel()
    sys.exit(3 if timed_out.is_set() else 0)


if __name__ == "__main__":
    main()
