"""Opens one plugin's editor in pedalboard's host window on command, driven over stdin/stdout by
test_gui.py. Runs in a child process: `show_editor` must own the main thread, and an editor that
crashes takes its host down with it.

    python editor_probe.py <bundle.vst3>

Commands, one per line on stdin: "open" prints "opening <i>" and calls `show_editor`, which
blocks until the next line ("close") arrives, then prints "closed <i>"; "quit" (or end of input)
exits. A watchdog closes a window left open for WATCHDOG_S and makes the exit status 3.
"""

from __future__ import annotations

import sys
import threading

import pedalboard

WATCHDOG_S = 60.0


def main() -> None:
    plugin = pedalboard.load_plugin(sys.argv[1])
    timed_out = False
    opened = 0
    for command in sys.stdin:
        command = command.strip()
        if command == "quit":
            break
        if command != "open":
            print(f"unknown command {command!r}", file=sys.stderr, flush=True)
            sys.exit(2)
        opened += 1
        close = threading.Event()

        def wait_for_close(event: threading.Event = close) -> None:
            sys.stdin.readline()  # "close" (or end of input)
            event.set()

        threading.Thread(target=wait_for_close, daemon=True).start()
        watchdog = threading.Timer(WATCHDOG_S, close.set)
        watchdog.daemon = True
        watchdog.start()
        print(f"opening {opened}", flush=True)
        plugin.show_editor(close)  # blocks until `close` is set or the window is closed
        if not watchdog.is_alive():
            timed_out = True
        watchdog.cancel()
        print(f"closed {opened}", flush=True)
    sys.exit(3 if timed_out else 0)


if __name__ == "__main__":
    main()
