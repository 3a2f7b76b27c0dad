//! `cargo xtask`: bundle, install, test and benchmark the Postmix suite.
//!
//! ```text
//! cargo xtask bundle-all              release bundles of all five plugins in target/bundled/
//! cargo xtask install [--dest DIR]    bundle-all, then copy into the VST3 and CLAP folders
//! cargo xtask test                    the whole suite, in order, stopping at the first failure
//! cargo xtask bench                   throughput (x realtime) of every plugin and DSP engine
//! cargo xtask bundle <args>           nice-plug's own bundler, for single packages
//! ```

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The plugin packages, in the order they are built and tested.
const PLUGINS: [&str; 5] = [
    "postmix-channel-strip",
    "postmix-bus-compressor",
    "postmix-linear-phase-eq",
    "postmix-limiter",
    "postmix-loudness-meter",
];

/// Where `cargo xtask test` puts the bundles it tests (built with `assert_process_allocs`).
const TEST_BUNDLE_DIR: &str = "target/test-bundles";

fn main() -> Result<()> {
    nice_plug_xtask::chdir_workspace_root()?;
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "bundle-all" => bundle_all(),
        "install" => install(&rest),
        "test" => test(&rest),
        "bench" => bench(&rest),
        "bundle" | "bundle-universal" | "known-packages" => {
            nice_plug_xtask::main_with_args("cargo xtask", std::iter::once(command).chain(rest))
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <bundle-all | install [--dest DIR] | test | bench | bundle ...>"
            );
            bail!("unknown command '{command}'")
        }
    }
}

/// Runs nice-plug's bundler on all five plugins with extra cargo arguments.
fn bundle_plugins(extra: &[&str]) -> Result<()> {
    let mut args = vec!["bundle".to_owned()];
    for p in PLUGINS {
        args.push("-p".into());
        args.push(p.into());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    nice_plug_xtask::main_with_args("cargo xtask", args)
}

/// Release bundles of all five plugins in `target/bundled/` (ten bundles).
fn bundle_all() -> Result<()> {
    step("bundle-all: release build of all five plugins");
    bundle_plugins(&["--release"])
}

/// The folders DAWs scan for VST3 and CLAP plugins on this platform.
fn plugin_folders() -> Result<(PathBuf, PathBuf)> {
    if cfg!(target_os = "windows") {
        let common = std::env::var_os("COMMONPROGRAMFILES")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(r"C:\Program Files\Common Files"));
        return Ok((common.join("VST3"), common.join("CLAP")));
    }
    let home = PathBuf::from(std::env::var_os("HOME").context("$HOME is not set")?);
    if cfg!(target_os = "macos") {
        let base = home.join("Library/Audio/Plug-Ins");
        Ok((base.join("VST3"), base.join("CLAP")))
    } else {
        Ok((home.join(".vst3"), home.join(".clap")))
    }
}

/// `install [--dest DIR]`: bundle-all, then copy every bundle into the plugin folders (or into
/// DIR/vst3 and DIR/clap), replacing older copies.
fn install(args: &[String]) -> Result<()> {
    let (vst3_dir, clap_dir) = match args {
        [] => plugin_folders()?,
        [flag, dest] if flag == "--dest" => {
            let d = PathBuf::from(dest);
            (d.join("vst3"), d.join("clap"))
        }
        _ => bail!("usage: cargo xtask install [--dest DIR]"),
    };
    bundle_all()?;
    step("install: copying bundles");
    let bundled = Path::new("target/bundled");
    let mut written = 0;
    for entry in std::fs::read_dir(bundled).context("target/bundled is missing")? {
        let src = entry?.path();
        let name = src.file_name().context("bundle without a name")?.to_owned();
        let dest_dir = match src.extension().and_then(|e| e.to_str()) {
            Some("vst3") => &vst3_dir,
            Some("clap") => &clap_dir,
            _ => continue,
        };
        std::fs::create_dir_all(dest_dir)
            .with_context(|| format!("cannot create {}", dest_dir.display()))?;
        let dest = dest_dir.join(&name);
        remove_any(&dest)?;
        copy_recursive(&src, &dest)?;
        println!("installed {}", dest.display());
        written += 1;
    }
    if written != 2 * PLUGINS.len() {
        bail!(
            "expected {} bundles in target/bundled, installed {written}",
            2 * PLUGINS.len()
        );
    }
    Ok(())
}

/// Removes a file or directory if it exists.
fn remove_any(path: &Path) -> Result<()> {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else if path.exists() {
        std::fs::remove_file(path)
    } else {
        Ok(())
    };
    result.with_context(|| format!("cannot remove old {}", path.display()))
}

/// Copies a file or a directory tree.
fn copy_recursive(src: &Path, dest: &Path) -> Result<()> {
    if src.is_dir() {
        std::fs::create_dir_all(dest)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_recursive(&entry.path(), &dest.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(src, dest)
            .with_context(|| format!("cannot copy {} to {}", src.display(), dest.display()))?;
    }
    Ok(())
}

/// Prints a step banner.
fn step(what: &str) {
    println!("\n==> {what}");
}

/// Runs a command, failing loudly (with the command line) when it does not succeed.
fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("FAILED: {shown} ({status})");
    }
    Ok(())
}

/// `test`: unit and conformance tests, test bundles, CLAP tests through clack-host, VST3 tests
/// through pedalboard, GUI tests under Xvfb. Stops at the first failure.
fn test(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let skip_gui = args.iter().any(|a| a == "--no-gui");
    step("1/5 unit and conformance tests");
    run(Command::new("cargo").args(["test", "--workspace", "--exclude", "postmix-tests"]))?;

    step("2/5 test bundles (release speed, debug assertions, assert_process_allocs)");
    build_test_bundles()?;
    let bundles = std::fs::canonicalize(TEST_BUNDLE_DIR)?;

    step("3/5 CLAP tests through clack-host");
    run(Command::new("cargo")
        .args(["test", "-p", "postmix-tests", "--release"])
        .env("POSTMIX_BUNDLES", &bundles))?;

    step("4/5 VST3 tests through pedalboard");
    let python = python_venv()?;
    run(Command::new(&python)
        .args(["-m", "pytest", "-q", "tests/python", "-m", "not gui"])
        .env("POSTMIX_BUNDLES", &bundles))?;

    step("5/5 GUI tests under Xvfb");
    if skip_gui {
        println!("SKIPPED: GUI tests (--no-gui)");
    } else if which("Xvfb").is_none() {
        if std::env::var_os("CI").is_some() {
            bail!("Xvfb is missing on CI: GUI tests must run there (apt-get install xvfb)");
        }
        println!(
            "SKIPPED: GUI tests need Xvfb, xsettingsd, openbox and imagemagick \
             (apt-get install xvfb xsettingsd openbox imagemagick)"
        );
    } else {
        let display = XDisplay::start()?;
        let result = run(Command::new(&python)
            .args(["-m", "pytest", "-q", "tests/python", "-m", "gui"])
            .env("POSTMIX_BUNDLES", &bundles)
            .env("DISPLAY", &display.name));
        drop(display);
        result?;
    }
    println!(
        "\nall tests passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds the bundles the tests load into target/test-bundles. nice-plug's bundler always writes
/// to target/bundled, so release bundles already there are set aside and put back afterwards.
fn build_test_bundles() -> Result<()> {
    let bundled = Path::new("target/bundled");
    let parked = Path::new("target/bundled.release");
    remove_any(parked)?;
    if bundled.exists() {
        std::fs::rename(bundled, parked).context("cannot set the release bundles aside")?;
    }
    let built = bundle_plugins(&[
        "--profile",
        "test-bundle",
        "--features",
        "assert_process_allocs",
    ]);
    let dest = Path::new(TEST_BUNDLE_DIR);
    remove_any(dest)?;
    let moved = if built.is_ok() {
        std::fs::rename(bundled, dest).context("cannot move the test bundles")
    } else {
        Ok(())
    };
    remove_any(bundled)?;
    if parked.exists() {
        std::fs::rename(parked, bundled).context("cannot restore the release bundles")?;
    }
    built.and(moved)
}

/// Makes (once) a Python venv under target/ with pedalboard and pytest; returns its python.
fn python_venv() -> Result<PathBuf> {
    let venv = Path::new("target/py-venv");
    let python = venv.join(if cfg!(windows) {
        "Scripts/python.exe"
    } else {
        "bin/python"
    });
    let stamp = venv.join(".requirements");
    let wanted = std::fs::read_to_string("tests/python/requirements.txt")?;
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let system_python = which("python3")
            .or_else(|| which("python"))
            .context("no python3")?;
        run(Command::new(system_python).args(["-m", "venv"]).arg(venv))?;
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "-q",
            "-r",
            "tests/python/requirements.txt",
        ]))?;
        std::fs::write(&stamp, wanted)?;
    }
    // NOTE: not canonicalize(): the venv python is a symlink to the base interpreter, and
    // resolving it would leave the venv (and its packages) behind.
    Ok(std::env::current_dir()?.join(python))
}

/// Finds a program on PATH.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A private X display (Xvfb) with a settings daemon and a window manager, as a desktop host
/// would have; stopped on drop.
struct XDisplay {
    /// `:N` display name.
    name: String,
    /// Xvfb, xsettingsd and openbox.
    children: Vec<Child>,
}

impl XDisplay {
    fn start() -> Result<Self> {
        // NOTE: `-displayfd` makes Xvfb pick a free display itself and print its number once
        // it accepts connections: no guessed number that a stale lock from an earlier run could
        // occupy, and no race with the helpers started next.
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1600x1200x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start Xvfb")?;
        let stdout = xvfb.stdout.take().context("Xvfb's stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let number = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if !line.trim().is_empty() => line.trim().to_owned(),
            _ => {
                let _ = xvfb.kill();
                let _ = xvfb.wait();
                bail!("Xvfb did not come up (no display number within 10 s)");
            }
        };
        let name = format!(":{number}");
        // xsettingsd exits at once without a config file; a desktop's usual settings (96 dpi).
        let config = std::env::temp_dir().join(format!("postmix-xsettingsd-{number}"));
        std::fs::write(&config, "Xft/DPI 98304\nXft/Antialias 1\n")?;
        let mut display = Self {
            name,
            children: vec![xvfb],
        };
        for (program, args) in [
            (
                "xsettingsd",
                vec!["-c".to_owned(), config.display().to_string()],
            ),
            ("openbox", vec![]),
        ] {
            match Command::new(program)
                .args(&args)
                .env("DISPLAY", &display.name)
                .spawn()
            {
                Ok(child) => display.children.push(child),
                Err(e) => bail!("cannot start {program} ({e}): apt-get install {program}"),
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        for child in display.children.iter_mut() {
            if let Some(status) = child.try_wait()? {
                bail!("an X helper of the GUI tests exited at once ({status})");
            }
        }
        Ok(display)
    }
}

impl Drop for XDisplay {
    fn drop(&mut self) {
        // NOTE: SIGTERM first, so that Xvfb removes its socket and lock file (a SIGKILL leaves
        // them behind in /tmp); SIGKILL only for what has not stopped within a second.
        for child in self.children.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(1);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `bench`: release bundles, then the benchmark binary (x realtime per plugin at host blocks of
/// 64 and 1024, beside a pass-through reference, plus the DSP engines against their references).
fn bench(args: &[String]) -> Result<()> {
    bundle_all()?;
    let bundles = std::fs::canonicalize("target/bundled")?;
    step("bench");
    run(Command::new("cargo")
        .args([
            "run",
            "--release",
            "-p",
            "postmix-tests",
            "--bin",
            "postmix-bench",
            "--",
        ])
        .args(args)
        .env("POSTMIX_BUNDLES", &bundles))
}
