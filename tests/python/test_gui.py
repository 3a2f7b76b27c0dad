"""Each plugin's editor opened in a real host window (pedalboard's `show_editor`, JUCE), captured
with ImageMagick's `import`, and required to show something: not blank, not one colour. The
captures land in target/screenshots/<crate>.png for people to look at.

Needs an X display (`cargo xtask test` starts Xvfb with xsettingsd and openbox, and runs these
with `-m gui`) and ImageMagick. pedalboard's JUCE dies with "BadWindow (X_GetProperty)" when no
XSETTINGS manager owns the screen, so the fixture starts xsettingsd itself if none does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from postmix_host import REPO_ROOT, bundle_path, per_plugin

pytestmark = pytest.mark.gui

HERE = Path(__file__).resolve().parent
SCREENSHOT_DIR = REPO_ROOT / "target" / "screenshots"
#: Hands off the display for this long after `show_editor` is called: polling the window tree
#: and capturing while the editor starts up made about 1 open in 15 never paint (see
#: editor_sometimes_never_paints in postmix_plugins.py); waiting first made 0 in 70.
STARTUP_QUIET_S = 2.0
#: The editor's window must appear within this time after `show_editor` is called.
WINDOW_TIMEOUT_S = 15.0
#: ...and show a non-blank picture within this time after it appears.
RENDER_TIMEOUT_S = 10.0
#: Blank-window thresholds: ImageMagick's normalised standard deviation (0..1, mean of the
#: channels) and number of distinct colours. A blank or single-colour window gives 0 and 1; the
#: Postmix editors (text, sliders, meter, antialiasing) give about 0.07 and a few hundred.
MIN_STDDEV = 0.02
MIN_COLOURS = 32
#: Smallest plausible editor window (shared-ui's DEFAULT_SIZE is 460 x 340 logical pixels).
MIN_SIZE = (200, 150)


#: Xlib error handler that ignores errors: windows come and go while the tree is walked, and
#: Xlib's default handler would exit this (the pytest) process on the resulting BadWindow.
_X_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(
    lambda _display, _event: 0
)


def _xlib():
    name = ctypes.util.find_library("X11")
    if name is None:
        pytest.fail("libX11 not found: the GUI tests need an X11 client library", pytrace=False)
    lib = ctypes.cdll.LoadLibrary(name)
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XInternAtom.restype = ctypes.c_ulong
    lib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.XGetSelectionOwner.restype = ctypes.c_ulong
    lib.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    lib.XDefaultScreen.argtypes = [ctypes.c_void_p]
    lib.XDefaultRootWindow.restype = ctypes.c_ulong
    lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    lib.XFetchName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_char_p)]
    lib.XGetWindowAttributes.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p]
    lib.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong] + [ctypes.c_void_p] * 4
    lib.XFree.argtypes = [ctypes.c_void_p]
    lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    lib.XSetErrorHandler.argtypes = [ctypes.c_void_p]
    lib.XSetErrorHandler.restype = ctypes.c_void_p
    lib.XSetErrorHandler(ctypes.cast(_X_ERROR_HANDLER, ctypes.c_void_p))
    return lib


class _XWindowAttributes(ctypes.Structure):
    """Xlib's XWindowAttributes (X11/Xlib.h), for map_state."""

    _fields_ = [
        ("x", ctypes.c_int), ("y", ctypes.c_int),
        ("width", ctypes.c_int), ("height", ctypes.c_int),
        ("border_width", ctypes.c_int), ("depth", ctypes.c_int),
        ("visual", ctypes.c_void_p), ("root", ctypes.c_ulong),
        ("c_class", ctypes.c_int), ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int), ("backing_store", ctypes.c_int),
        ("backing_planes", ctypes.c_ulong), ("backing_pixel", ctypes.c_ulong),
        ("save_under", ctypes.c_int), ("colormap", ctypes.c_ulong),
        ("map_installed", ctypes.c_int), ("map_state", ctypes.c_int),
        ("all_event_masks", ctypes.c_long), ("your_event_mask", ctypes.c_long),
        ("do_not_propagate_mask", ctypes.c_long), ("override_redirect", ctypes.c_int),
        ("screen", ctypes.c_void_p),
    ]


def _open_display(lib, display_name: str):
    display = lib.XOpenDisplay(display_name.encode())
    if not display:
        pytest.fail(f"cannot open X display {display_name!r}", pytrace=False)
    return display


def xsettings_owned(display_name: str) -> bool:
    """Whether an XSETTINGS manager owns the default screen of the display."""
    lib = _xlib()
    display = _open_display(lib, display_name)
    try:
        screen = lib.XDefaultScreen(display)
        atom = lib.XInternAtom(display, f"_XSETTINGS_S{screen}".encode(), 0)
        return lib.XGetSelectionOwner(display, atom) != 0
    finally:
        lib.XCloseDisplay(display)


def find_window(display_name: str, title: str) -> int | None:
    """The id of a mapped window titled `title` (WM_NAME), searching the whole tree, or None.
    (ImageMagick's `import -window <name>` waits for a mouse click when the name is unknown.)"""
    lib = _xlib()
    display = _open_display(lib, display_name)
    try:
        pending = [lib.XDefaultRootWindow(display)]
        while pending:
            window = pending.pop()
            name = ctypes.c_char_p()
            if lib.XFetchName(display, window, ctypes.byref(name)) and name.value is not None:
                matches = name.value.decode(errors="replace") == title
                lib.XFree(name)
                attrs = _XWindowAttributes()
                if matches and lib.XGetWindowAttributes(display, window, ctypes.byref(attrs)):
                    if attrs.map_state == 2:  # IsViewable
                        return window
            root, parent = ctypes.c_ulong(), ctypes.c_ulong()
            children, count = ctypes.POINTER(ctypes.c_ulong)(), ctypes.c_uint()
            if lib.XQueryTree(display, window, ctypes.byref(root), ctypes.byref(parent),
                              ctypes.byref(children), ctypes.byref(count)):
                pending.extend(children[i] for i in range(count.value))
                if children:
                    lib.XFree(children)
        return None
    finally:
        lib.XCloseDisplay(display)


def _die_with_parent() -> None:
    """In a child before exec: get SIGTERM when the parent (pytest) dies, so that a helper it
    started does not outlive a crashed run (Linux prctl PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(1, 15, 0, 0, 0)


@pytest.fixture(scope="module")
def x_display():
    """The X display to open editors on, with an XSETTINGS manager running."""
    display = os.environ.get("DISPLAY")
    if not display:
        pytest.fail(
            "DISPLAY is not set: the GUI tests need an X server "
            "(`cargo xtask test` runs them under Xvfb)",
            pytrace=False,
        )
    for tool in ("import", "convert"):
        if shutil.which(tool) is None:
            pytest.fail(f"ImageMagick's `{tool}` is missing: apt-get install imagemagick", pytrace=False)
    started = None
    if not xsettings_owned(display):
        if shutil.which("xsettingsd") is None:
            pytest.fail(
                "no XSETTINGS manager on the display and xsettingsd is not installed: "
                "pedalboard's JUCE crashes (BadWindow) without one",
                pytrace=False,
            )
        conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        conf.write("Xft/DPI 98304\n")  # 96 dpi * 1024
        conf.close()
        started = subprocess.Popen(
            ["xsettingsd", "-c", conf.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 5.0
        while not xsettings_owned(display):
            if started.poll() is not None or time.monotonic() > deadline:
                pytest.fail("could not start xsettingsd", pytrace=False)
            time.sleep(0.05)
    yield display
    if started is not None:
        started.terminate()
        started.wait(timeout=5)
        os.unlink(conf.name)


def capture(display_name: str, title: str, path: Path) -> bool:
    """Screenshot of the window titled `title` into `path`; False while there is none."""
    window = find_window(display_name, title)
    if window is None:
        return False
    result = subprocess.run(
        ["import", "-display", display_name, "-window", hex(window), str(path)],
        capture_output=True,
        timeout=20,
    )
    return result.returncode == 0 and path.exists()


def image_stats(path: Path) -> tuple[float, int, int, int]:
    """(normalised standard deviation, distinct colours, width, height) of an image."""
    out = subprocess.run(
        ["convert", str(path), "-format", "%[fx:standard_deviation] %k %w %h", "info:"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.split()
    return float(out[0]), int(out[1]), int(out[2]), int(out[3])


def looks_blank(stats: tuple[float, int, int, int]) -> bool:
    stddev, colours, _, _ = stats
    return stddev < MIN_STDDEV or colours < MIN_COLOURS


def expect_line(proc: subprocess.Popen, wanted: str, timeout: float, stderr: Path) -> None:
    """Reads the probe's stdout until `wanted`; fails with the probe's stderr if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == wanted:
            return
        if line == "" and proc.poll() is not None:
            break
    proc.kill()
    proc.wait(timeout=10)
    err = stderr.read_text(errors="replace")
    pytest.fail(
        f"editor host did not say {wanted!r} (exit status {proc.returncode}); stderr:\n{err[-3000:]}",
        pytrace=False,
    )


def wait_for_editor(display: str, name: str, shot: Path) -> tuple[float, int, int, int]:
    """Polls until the window exists and shows a non-blank picture; returns the last stats."""
    deadline = time.monotonic() + WINDOW_TIMEOUT_S
    time.sleep(STARTUP_QUIET_S)
    while not capture(display, name, shot):
        if time.monotonic() > deadline:
            pytest.fail(f"no window named {name!r} appeared within {WINDOW_TIMEOUT_S} s", pytrace=False)
        time.sleep(0.2)
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    stats = image_stats(shot)
    while looks_blank(stats) and time.monotonic() < deadline:
        time.sleep(0.5)
        if capture(display, name, shot):
            stats = image_stats(shot)
    return stats


@per_plugin
def test_editor_opens_shows_its_controls_and_reopens(spec, bundle_dir, x_display, tmp_path) -> None:
    """Open the editor, capture it (target/screenshots/<crate>.png), require a picture (not
    blank, not one colour, plausible size), close it, then open and close it once more: hosts
    open and close editors many times per session.

    An open that never paints is a bug. While `editor_sometimes_never_paints` is listed for the
    plugin (postmix_plugins.py), one such open is retried and the test reports XFAIL with the
    blank capture saved beside the screenshot; two, or an unlisted one, fail."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / f"{spec.crate}.png"
    for old in (shot, *SCREENSHOT_DIR.glob(f"{spec.crate}-blank-*.png")):
        old.unlink(missing_ok=True)
    env = dict(os.environ, DISPLAY=x_display)
    stderr = tmp_path / "stderr.txt"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "editor_probe.py"), str(bundle_path(spec, bundle_dir))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr.open("w"),
        text=True,
        cwd=HERE,
        env=env,
    )

    def command(line: str) -> None:
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    painted, blanks = 0, []
    try:
        for attempt in range(1, 4):
            if painted == 2 or len(blanks) == 2:
                break
            command("open")
            expect_line(proc, f"opening {attempt}", 30, stderr)
            target = shot if painted == 0 else tmp_path / f"open-{attempt}.png"
            stddev, colours, width, height = stats = wait_for_editor(x_display, spec.name, target)
            if looks_blank(stats):
                blank = SCREENSHOT_DIR / f"{spec.crate}-blank-{attempt}.png"
                if target.exists():
                    target.replace(blank)
                blanks.append(
                    f"open {attempt}: stddev {stddev:.4f} (min {MIN_STDDEV}), {colours} colours "
                    f"(min {MIN_COLOURS}) after {RENDER_TIMEOUT_S} s; see {blank}"
                )
            else:
                assert width >= MIN_SIZE[0] and height >= MIN_SIZE[1], f"window is {width}x{height}"
                painted += 1
            command("close")
            expect_line(proc, f"closed {attempt}", 30, stderr)
        command("quit")
        assert proc.wait(timeout=30) == 0, f"editor host exited with {proc.returncode}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert painted == 2, "editor window stayed blank:\n" + "\n".join(blanks)
    if blanks:
        message = "editor window stayed blank, painted on retry:\n" + "\n".join(blanks)
        if "editor_sometimes_never_paints" in spec.known_bugs:
            pytest.xfail(f"known bug in {spec.crate}: {message}")
        pytest.fail(message)
