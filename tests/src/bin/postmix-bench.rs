//! `postmix-bench`: throughput of every plugin in `POSTMIX_BUNDLES` through the real CLAP host.
//!
//! ```text
//! POSTMIX_BUNDLES=$PWD/target/bundled postmix-bench [--quick] [--blocks 64,1024] [--repeat N] [--plugins-only]
//! ```
//!
//! `--plugins-only` skips the engine table (handy under a profiler: only plugin code runs).
//!
//! Processes `shared_dsp::signal::programme(48000, 60 s, seed 1)` in stereo (10 s with `--quick`)
//! at each host block size and prints "x realtime" (seconds of 48 kHz stereo audio per CPU second
//! of the audio thread; the fastest of `--repeat` runs, default 5, and the median), beside a
//! pass-through reference: the same host loop (the same buffer copies in and out) copying input
//! to output without a plugin, measured in the same rounds. The repeats are interleaved: each
//! round runs the reference and every plugin at every block size once.

use postmix_tests::{
    Blocks, HostBuffers, Library, Plugin, Run, bundle_dir, clap_bundles, param_id_hash,
    thread_cpu_seconds,
};
use std::process::ExitCode;

/// Per-plugin settings applied before the runs (through `params.flush`, before activation), so
/// the benchmark measures a realistic, busy configuration rather than the defaults:
/// (CLAP plugin ID, parameter string ID or display name, value as CLAP sees it - for nice-plug
/// that is the normalized value 0..=1, or the step index for stepped parameters).
///
/// A setting naming a parameter the plugin does not have is an error, so stale entries surface.
const BENCH_SETTINGS: &[(&str, &str, f64)] = &[
    // Bus compressor: RMS detector, auto release (issue 5).
    ("org.postmix.bus-compressor", "det", 1.0),
    ("org.postmix.bus-compressor", "auto_rel", 1.0),
    // Limiter: true peak, 4x (choice index 2), +6.5 dB input (~6 dB GR into -1 dBTP) (issue 4).
    ("org.postmix.limiter", "tp", 1.0),
    ("org.postmix.limiter", "os", 2.0),
    ("org.postmix.limiter", "in_gain", 0.3268),
    // Linear-phase EQ: medium resolution (index 2), 8 bands on at +6 dB (issue 6).
    ("org.postmix.linear-phase-eq", "res", 2.0),
    ("org.postmix.linear-phase-eq", "b1_on", 1.0),
    ("org.postmix.linear-phase-eq", "b1_gain", 0.6),
    ("org.postmix.linear-phase-eq", "b2_on", 1.0),
    ("org.postmix.linear-phase-eq", "b2_gain", 0.6),
    ("org.postmix.linear-phase-eq", "b3_on", 1.0),
    ("org.postmix.linear-phase-eq", "b3_gain", 0.6),
    ("org.postmix.linear-phase-eq", "b4_on", 1.0),
    ("org.postmix.linear-phase-eq", "b4_gain", 0.6),
    ("org.postmix.linear-phase-eq", "b5_on", 1.0),
    ("org.postmix.linear-phase-eq", "b5_gain", 0.6),
    ("org.postmix.linear-phase-eq", "b6_on", 1.0),
    ("org.postmix.linear-phase-eq", "b6_gain", 0.6),
    ("org.postmix.linear-phase-eq", "b7_on", 1.0),
    ("org.postmix.linear-phase-eq", "b7_gain", 0.6),
    ("org.postmix.linear-phase-eq", "b8_on", 1.0),
    ("org.postmix.linear-phase-eq", "b8_gain", 0.6),
    // Channel strip: every section engaged: 12 dB/oct HPF and LPF, 4 bands, gate,
    // compressor, 2x saturation (issue 7).
    ("org.postmix.channel-strip", "hpf_slope", 1.0),
    ("org.postmix.channel-strip", "lpf_slope", 1.0),
    ("org.postmix.channel-strip", "lf_gain", 0.6),
    ("org.postmix.channel-strip", "lmf_gain", 0.4),
    ("org.postmix.channel-strip", "hmf_gain", 0.6),
    ("org.postmix.channel-strip", "hf_gain", 0.6),
    ("org.postmix.channel-strip", "gate_byp", 0.0),
    ("org.postmix.channel-strip", "comp_byp", 0.0),
    ("org.postmix.channel-strip", "sat_byp", 0.0),
];

/// Sample rate of the benchmark signal.
const FS: f64 = 48_000.0;

struct Options {
    seconds: f64,
    blocks: Vec<usize>,
    /// Skip the engine table.
    plugins_only: bool,
    /// Timed runs (rounds) per plugin and block size; the fastest counts.
    repeat: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        seconds: 60.0,
        blocks: vec![64, 1024],
        plugins_only: false,
        repeat: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => opts.seconds = 10.0,
            "--plugins-only" => opts.plugins_only = true,
            "--repeat" => {
                let n = args.next().ok_or("--repeat needs a count")?;
                opts.repeat = n
                    .parse::<usize>()
                    .map_err(|e| format!("--repeat {n}: {e}"))?
                    .max(1);
            }
            "--blocks" => {
                let list = args.next().ok_or("--blocks needs a list, e.g. 64,1024")?;
                opts.blocks = list
                    .split(',')
                    .map(|b| {
                        b.trim()
                            .parse::<usize>()
                            .map_err(|e| format!("--blocks {b}: {e}"))
                    })
                    .collect::<Result<_, _>>()?;
                if opts.blocks.contains(&0) {
                    return Err("block sizes must be positive".into());
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: postmix-bench [--quick] [--blocks 64,1024] [--repeat N] [--plugins-only]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(opts)
}

/// Applies [`BENCH_SETTINGS`] for this plugin.
fn apply_settings(plugin: &mut Plugin) -> Result<Vec<String>, String> {
    let id = plugin.descriptor.id.clone();
    let params = plugin.params();
    let mut changes = Vec::new();
    let mut applied = Vec::new();
    for &(_, key, value) in BENCH_SETTINGS.iter().filter(|(p, _, _)| *p == id) {
        let hash = param_id_hash(key);
        let p = params
            .iter()
            .find(|p| p.id == hash || p.name == key)
            .ok_or_else(|| format!("{id}: bench setting names unknown parameter {key:?}"))?;
        if !(p.min..=p.max).contains(&value) {
            return Err(format!(
                "{id}: bench setting {key} = {value} outside {}..={}",
                p.min, p.max
            ));
        }
        changes.push((p.id, value));
        applied.push(format!(
            "{}={}",
            p.name,
            plugin.param_value_to_text(p.id, value).unwrap_or_default()
        ));
    }
    if !changes.is_empty() {
        plugin
            .flush_params(&changes)
            .map_err(|e| format!("{id}: {e}"))?;
    }
    Ok(applied)
}

/// One benchmark row.
struct Row {
    name: String,
    block: usize,
    /// From the fastest run.
    x_realtime: f64,
    /// From the median run.
    median: f64,
    /// The pass-through reference's fastest run.
    reference: f64,
    note: String,
}

/// A plugin under test: its instance and its timed runs (seconds) per block size (no runs
/// once it failed).
struct Subject {
    name: String,
    plugin: Plugin,
    /// The bench settings applied, as "name=value".
    applied: Vec<String>,
    runs: Vec<Vec<f64>>,
}

/// Fastest and median of a set of run times.
struct Stats {
    fastest: f64,
    median: f64,
}

impl Stats {
    fn of(runs: &[f64]) -> Self {
        let mut v = runs.to_vec();
        v.sort_by(f64::total_cmp);
        Self {
            fastest: v[0],
            median: v[v.len() / 2],
        }
    }
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("postmix-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let use_cpu = thread_cpu_seconds().is_some();
    let dir = bundle_dir();
    let bundles = clap_bundles(&dir);
    if bundles.is_empty() {
        eprintln!("postmix-bench: no .clap bundles in {}", dir.display());
        return ExitCode::FAILURE;
    }
    let input = shared_dsp::signal::programme(FS, opts.seconds, 1).to_vec();
    let warmup: Vec<Vec<f32>> = input
        .iter()
        .map(|c| c[..(FS as usize).min(c.len())].to_vec())
        .collect();
    println!(
        "postmix-bench: {} s of 48 kHz stereo programme per run, timed by {}",
        opts.seconds,
        if use_cpu {
            "thread CPU time of the audio thread"
        } else {
            "wall time (no thread CPU clock)"
        }
    );

    // Every plugin, instantiated with its bench settings and warmed up at each block size.
    let mut failed = false;
    let mut libs = Vec::new();
    let mut subjects = Vec::new();
    for path in &bundles {
        match Library::load(path) {
            Ok(l) => libs.push(l),
            Err(e) => {
                eprintln!("FAILED {}: {e}", path.display());
                failed = true;
            }
        }
    }
    for lib in &libs {
        for d in lib.descriptors() {
            let made = (|| -> Result<Subject, String> {
                let mut plugin = lib.instantiate(&d.id).map_err(|e| e.to_string())?;
                let applied = apply_settings(&mut plugin)?;
                for &block in &opts.blocks {
                    plugin
                        .activate(FS, 1, block as u32)
                        .map_err(|e| e.to_string())?;
                    plugin
                        .process(&Run::new(&warmup, Blocks::Fixed(block)))
                        .map_err(|e| e.to_string())?;
                }
                Ok(Subject {
                    name: d.name.clone(),
                    plugin,
                    applied,
                    runs: vec![Vec::new(); opts.blocks.len()],
                })
            })();
            match made {
                Ok(s) => subjects.push(s),
                Err(e) => {
                    eprintln!("FAILED {}: {e}", d.name);
                    failed = true;
                }
            }
        }
    }

    // NOTE: the repeats are interleaved: each round times the pass-through reference and then
    // every plugin at every block size once. On a shared machine whose speed drifts for
    // seconds at a time, back-to-back repeats of one plugin all land in the same phase; spread
    // over the whole benchmark, the fastest run of each is the least disturbed one.
    let mut reference_runs = vec![Vec::new(); opts.blocks.len()];
    let mut passthrough: Vec<HostBuffers> = opts
        .blocks
        .iter()
        .map(|&block| {
            let mut bufs = HostBuffers::new(&[2], &[2], block);
            bufs.passthrough(&Run::new(&warmup, Blocks::Fixed(block)));
            bufs
        })
        .collect();
    for _ in 0..opts.repeat {
        for (b, &block) in opts.blocks.iter().enumerate() {
            let p = passthrough[b].passthrough(&Run::new(&input, Blocks::Fixed(block)));
            reference_runs[b].push(p.cpu_seconds.unwrap_or(p.wall_seconds).max(1e-9));
        }
        for subject in subjects.iter_mut().filter(|s| !s.runs.is_empty()) {
            let timed = (|| -> Result<(), String> {
                for (b, &block) in opts.blocks.iter().enumerate() {
                    // Each run from a fresh activation.
                    subject
                        .plugin
                        .activate(FS, 1, block as u32)
                        .map_err(|e| e.to_string())?;
                    let p = subject
                        .plugin
                        .process(&Run::new(&input, Blocks::Fixed(block)))
                        .map_err(|e| e.to_string())?;
                    if p.output.iter().flatten().any(|v| !v.is_finite()) {
                        return Err(format!("non-finite output at block {block}"));
                    }
                    subject.runs[b].push(p.cpu_seconds.unwrap_or(p.wall_seconds).max(1e-9));
                }
                Ok(())
            })();
            if let Err(e) = timed {
                eprintln!("FAILED {}: {e}", subject.name);
                failed = true;
                subject.runs.clear();
            }
        }
    }

    let reference: Vec<Stats> = reference_runs.iter().map(|r| Stats::of(r)).collect();
    let mut rows = Vec::new();
    for subject in subjects.iter_mut().filter(|s| !s.runs.is_empty()) {
        for (b, &block) in opts.blocks.iter().enumerate() {
            let t = Stats::of(&subject.runs[b]);
            let mut note = format!("latency {}", subject.plugin.latency());
            if !subject.applied.is_empty() {
                note.push_str(&format!("; {}", subject.applied.join(", ")));
            }
            rows.push(Row {
                name: subject.name.clone(),
                block,
                x_realtime: opts.seconds / t.fastest,
                median: opts.seconds / t.median,
                reference: opts.seconds / reference[b].fastest,
                note,
            });
        }
    }
    drop(subjects);
    drop(libs);

    println!();
    println!(
        "{:<28} {:>6} {:>12} {:>10} {:>14} {:>10}  notes",
        "plugin", "block", "x realtime", "median", "pass-through", "% of ref"
    );
    for r in &rows {
        println!(
            "{:<28} {:>6} {:>12.1} {:>10.1} {:>14.1} {:>9.2}%  {}",
            r.name,
            r.block,
            r.x_realtime,
            r.median,
            r.reference,
            100.0 * r.x_realtime / r.reference,
            r.note
        );
    }
    if opts.plugins_only {
        return if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    println!();
    println!(
        "{:<36} {:>6} {:>12}  {:<30} {:>12} {:>7}  notes",
        "engine", "block", "x realtime", "reference", "x realtime", "ratio"
    );
    for r in postmix_tests::engines::run(opts.seconds, &opts.blocks) {
        println!(
            "{:<36} {:>6} {:>12.0}  {:<30} {:>12.0} {:>7.2}  {}",
            r.engine,
            r.block,
            r.x_realtime,
            r.reference,
            r.reference_x,
            r.x_realtime / r.reference_x,
            r.note
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
