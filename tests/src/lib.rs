//! postmix-tests: a small, real CLAP host for end-to-end tests and benchmarks of the Postmix
//! plugins.
//!
//! It loads a `.clap` bundle through [`clack_host`], lists its descriptors, instantiates a plugin,
//! queries its audio ports, audio-port configurations, parameters and latency, activates it, and
//! processes `f32` audio on a separate audio thread (as a DAW does) in blocks of any size, with
//! parameter changes at sample offsets. It answers the host callbacks a plugin may make
//! (`request_restart`, `request_callback`, `latency.changed`, `params.rescan`, `log`, ...) the way
//! the CLAP spec asks: a restart request deactivates and reactivates the plugin with the same
//! configuration, a callback request runs the plugin's `on_main_thread` on the main thread.
//!
//! ```no_run
//! use postmix_tests::{Blocks, Library, Run};
//! let lib = Library::load("target/bundled/Postmix Limiter.clap".as_ref()).unwrap();
//! let mut plugin = lib.instantiate("org.postmix.limiter").unwrap();
//! plugin.activate(48_000.0, 1, 512).unwrap();
//! let input = shared_dsp::signal::programme(48_000.0, 1.0, 1).to_vec();
//! let out = plugin.process(&Run::new(&input, Blocks::Fixed(512))).unwrap();
//! assert!(out.output.iter().flatten().all(|x| x.is_finite()));
//! ```
//!
//! The "main thread" of a [`Plugin`] is the thread that instantiated it; every method of
//! [`Plugin`] must be called from that thread (the type is `!Send`).

pub mod engines;

use clack_extensions::audio_ports::{
    AudioPortFlags, AudioPortInfoBuffer, AudioPortRescanFlags, HostAudioPorts, HostAudioPortsImpl,
    PluginAudioPorts,
};
use clack_extensions::audio_ports_config::{
    AudioPortsConfigBuffer, HostAudioPortsConfig, HostAudioPortsConfigImpl, PluginAudioPortsConfig,
};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::log::{HostLog, HostLogImpl, LogSeverity};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamInfoBuffer,
    ParamInfoFlags, ParamRescanFlags, PluginParams,
};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::{HostState, HostStateImpl, PluginState};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use std::ffi::CString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Instant;

/// Everything that can go wrong while hosting a plugin, as a readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HostError {}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, HostError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(HostError(msg.into()))
}

/// The bundle directory named by `POSTMIX_BUNDLES` (set by `cargo xtask test` / `cargo xtask
/// bench`).
///
/// # Panics
/// Panics with instructions when the variable is unset or does not name a directory: the
/// end-to-end tests must never pass silently without plugins to test.
pub fn bundle_dir() -> PathBuf {
    let Some(dir) = std::env::var_os("POSTMIX_BUNDLES") else {
        panic!(
            "POSTMIX_BUNDLES is not set: these tests load the plugin bundles. Run `cargo xtask \
             test`, or build bundles (`cargo xtask bundle-all`) and run \
             `POSTMIX_BUNDLES=$PWD/target/bundled cargo test -p postmix-tests --release`"
        );
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.is_dir(),
        "POSTMIX_BUNDLES={} is not a directory",
        dir.display()
    );
    dir
}

/// Every `.clap` bundle in `dir`, sorted by name.
pub fn clap_bundles(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "clap"))
        .collect();
    found.sort();
    found
}

/// nice-plug's CLAP parameter ID for a parameter's string ID (`#[id = "..."]`): the Java string
/// hash (`h = 31 h + byte`) with the top bit cleared (VST3 reserves it). Mirrors
/// `nice_plug::wrapper::util::hash_param_id`, so tests can find `bypass` or `out_gain` by their
/// permanent IDs rather than by display names.
pub fn param_id_hash(id: &str) -> u32 {
    let mut hash: u32 = 0;
    for b in id.bytes() {
        hash = hash.wrapping_mul(31).wrapping_add(u32::from(b));
    }
    hash & !(1 << 31)
}

pub use shared_dsp::testing::thread_cpu_seconds;

// ------------------------------------------------------------------------------------------------
// Host callbacks

/// A log message a plugin sent through the CLAP `log` extension.
#[derive(Debug, Clone)]
pub struct LogMessage {
    /// Severity as CLAP names it (`Debug`, `Info`, `Warning`, `Error`, `Fatal`, ...).
    pub severity: String,
    /// The message text.
    pub message: String,
}

/// Host state reachable from any thread: flags the plugin raises through its callbacks.
#[derive(Default)]
pub struct HostShared {
    /// `request_callback`: run `on_main_thread` on the main thread soon.
    callback_requested: AtomicBool,
    /// `request_restart`: deactivate and reactivate.
    restart_requested: AtomicBool,
    /// `params.request_flush` (we process often enough that it needs no action).
    flush_requested: AtomicBool,
    /// `latency.changed` calls so far.
    latency_changed: AtomicU32,
    /// `params.rescan` calls so far.
    param_rescans: AtomicU32,
    /// `state.mark_dirty` was called.
    state_dirty: AtomicBool,
    /// Every `log` message, in order.
    log: Mutex<Vec<LogMessage>>,
}

impl SharedHandler<'_> for HostShared {
    fn request_restart(&self) {
        self.restart_requested.store(true, Ordering::SeqCst);
    }
    fn request_process(&self) {
        // We process whenever the test asks; nothing to wake up.
    }
    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

impl HostLogImpl for HostShared {
    fn log(&self, severity: LogSeverity, message: &str) {
        let entry = LogMessage {
            severity: format!("{severity:?}"),
            message: message.to_owned(),
        };
        if let Ok(mut log) = self.log.lock() {
            log.push(entry);
        }
    }
}

impl HostParamsImplShared for HostShared {
    fn request_flush(&self) {
        self.flush_requested.store(true, Ordering::SeqCst);
    }
}

/// Host state on the main thread: a view of the shared flags.
pub struct HostMainThread<'a> {
    /// The shared flags (owned by the plugin instance).
    shared: &'a HostShared,
}

impl<'a> MainThreadHandler<'a> for HostMainThread<'a> {}

impl HostLatencyImpl for HostMainThread<'_> {
    fn changed(&self) {
        self.shared.latency_changed.fetch_add(1, Ordering::SeqCst);
    }
}

impl HostParamsImplMainThread for HostMainThread<'_> {
    fn rescan(&self, _flags: ParamRescanFlags) {
        self.shared.param_rescans.fetch_add(1, Ordering::SeqCst);
    }
    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {}
}

impl HostStateImpl for HostMainThread<'_> {
    fn mark_dirty(&self) {
        self.shared.state_dirty.store(true, Ordering::SeqCst);
    }
}

impl HostAudioPortsImpl for HostMainThread<'_> {
    fn is_rescan_flag_supported(&self, _flag: AudioPortRescanFlags) -> bool {
        true
    }
    fn rescan(&self, _flags: AudioPortRescanFlags) {}
}

impl HostAudioPortsConfigImpl for HostMainThread<'_> {
    fn rescan(&self) {}
}

/// The host's callback types.
pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = HostShared;
    type MainThread<'a> = HostMainThread<'a>;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder
            .register::<HostLog>()
            .register::<HostLatency>()
            .register::<HostParams>()
            .register::<HostState>()
            .register::<HostAudioPorts>()
            .register::<HostAudioPortsConfig>();
    }
}

fn host_info() -> HostInfo {
    HostInfo::new(
        "postmix-tests",
        "Postmix",
        "https://example.invalid/postmix",
        "0.1.0",
    )
    .expect("valid host info")
}

// ------------------------------------------------------------------------------------------------
// Library and descriptors

/// A plugin descriptor as the factory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Reverse-DNS plugin ID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Vendor.
    pub vendor: String,
    /// Version string.
    pub version: String,
    /// Short description.
    pub description: String,
    /// CLAP feature strings, in the order the plugin lists them.
    pub features: Vec<String>,
}

/// A loaded `.clap` bundle.
pub struct Library {
    /// The initialised CLAP entry.
    entry: PluginEntry,
    /// Where it was loaded from.
    path: PathBuf,
}

impl Library {
    /// Loads and initialises a `.clap` bundle.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            return err(format!("bundle {} does not exist", path.display()));
        }
        // SAFETY: loading a CLAP bundle runs its code; that is what these tests are for.
        let entry = unsafe { PluginEntry::load(path) }
            .map_err(|e| HostError(format!("cannot load {}: {e}", path.display())))?;
        // NOTE: the library is never unloaded (one leaked reference per path), as most DAWs do.
        // Plugin code leaves pthread TLS destructors on host threads (Rust std's thread-local
        // machinery); if the host dlclose()d the bundle while such a thread lives on, the thread
        // would jump into unmapped code when it exits (seen as SIGSEGV in
        // __nptl_deallocate_tsd when tests on parallel threads drop their last instance).
        static KEPT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
        let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        if !kept.iter().any(|p| p == path) {
            kept.push(path.to_owned());
            std::mem::forget(entry.clone());
        }
        drop(kept);
        Ok(Self {
            entry,
            path: path.to_owned(),
        })
    }

    /// Where this library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every plugin descriptor of the bundle's plugin factory.
    pub fn descriptors(&self) -> Vec<Descriptor> {
        let Some(factory) = self.entry.get_plugin_factory() else {
            return Vec::new();
        };
        let s = |c: Option<&std::ffi::CStr>| {
            c.map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        factory
            .plugin_descriptors()
            .map(|d| Descriptor {
                id: s(d.id()),
                name: s(d.name()),
                vendor: s(d.vendor()),
                version: s(d.version()),
                description: s(d.description()),
                features: d
                    .features()
                    .map(|f| f.to_string_lossy().into_owned())
                    .collect(),
            })
            .collect()
    }

    /// Creates a plugin instance (inactive) on the calling thread, which becomes its main thread.
    pub fn instantiate(&self, id: &str) -> Result<Plugin> {
        let cid = CString::new(id).map_err(|_| HostError("plugin id has a NUL".into()))?;
        let instance = PluginInstance::<TestHost>::new(
            |_| HostShared::default(),
            |shared| HostMainThread { shared },
            &self.entry,
            &cid,
            &host_info(),
        )
        .map_err(|e| HostError(format!("cannot instantiate {id}: {e}")))?;
        let shared = instance.plugin_shared_handle();
        let ext = PluginExtensions {
            params: shared.get_extension(),
            state: shared.get_extension(),
            latency: shared.get_extension(),
            audio_ports: shared.get_extension(),
            audio_ports_config: shared.get_extension(),
            render: shared.get_extension(),
        };
        let descriptor = self
            .descriptors()
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| HostError(format!("no descriptor for {id}")))?;
        Ok(Plugin {
            instance,
            processor: None,
            config: None,
            ext,
            descriptor,
            restarts: 0,
        })
    }
}

/// The plugin-side extensions this host uses (`None` where the plugin lacks one).
#[derive(Clone, Copy)]
struct PluginExtensions {
    params: Option<PluginParams>,
    state: Option<PluginState>,
    latency: Option<PluginLatency>,
    audio_ports: Option<PluginAudioPorts>,
    audio_ports_config: Option<PluginAudioPortsConfig>,
    render: Option<PluginRender>,
}

// ------------------------------------------------------------------------------------------------
// Plugin info types

/// One audio port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// Stable port ID.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Channels.
    pub channel_count: u32,
    /// Flagged as the main port.
    pub is_main: bool,
    /// CLAP port type (`mono`, `stereo`, `surround`, ...), if the plugin names one.
    pub port_type: Option<String>,
    /// The output (or input) port it can process in place with.
    pub in_place_pair: Option<u32>,
}

/// One audio-ports configuration (`audio-ports-config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// ID to pass to [`Plugin::select_port_config`].
    pub id: u32,
    /// Display name (`Stereo`, `5.1`, ...).
    pub name: String,
    /// Number of input ports (main + auxiliary).
    pub input_port_count: u32,
    /// Number of output ports (main + auxiliary).
    pub output_port_count: u32,
    /// Main input channel count, if it has a main input.
    pub main_input_channels: Option<u32>,
    /// Main output channel count, if it has a main output.
    pub main_output_channels: Option<u32>,
}

/// One parameter, as `params.get_info` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    /// CLAP parameter ID (for nice-plug: [`param_id_hash`] of the string ID).
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Module path (group).
    pub module: String,
    /// Minimum plain value.
    pub min: f64,
    /// Maximum plain value.
    pub max: f64,
    /// Default plain value.
    pub default: f64,
    /// Stepped (integer values only).
    pub stepped: bool,
    /// The plugin's bypass parameter.
    pub bypass: bool,
    /// Automatable.
    pub automatable: bool,
    /// Hidden from the user.
    pub hidden: bool,
    /// Read-only.
    pub read_only: bool,
}

/// A parameter change delivered as a `CLAP_EVENT_PARAM_VALUE` at `sample` (counted from the start
/// of the run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamChange {
    /// Sample index in the run.
    pub sample: usize,
    /// CLAP parameter ID.
    pub id: u32,
    /// New plain value (`min..=max` of the parameter).
    pub value: f64,
}

/// How a run is split into host blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocks {
    /// Every block this size (the last one may be shorter).
    Fixed(usize),
    /// These sizes in turn, repeated until the signal ends (the last block may be shorter).
    Sizes(Vec<usize>),
}

impl Blocks {
    /// `count` block sizes drawn uniformly from `lo..=hi` with a seeded [`shared_dsp::signal::Rng`].
    pub fn random(seed: u64, lo: usize, hi: usize, count: usize) -> Self {
        let mut rng = shared_dsp::signal::Rng::new(seed);
        Self::Sizes((0..count).map(|_| rng.range(lo, hi)).collect())
    }

    /// The block sizes covering `len` samples.
    pub fn split(&self, len: usize) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < len {
            let want = match self {
                Blocks::Fixed(n) => *n,
                Blocks::Sizes(s) => s[i % s.len()],
            }
            .max(1);
            let n = want.min(len - pos);
            sizes.push(n);
            pos += n;
            i += 1;
        }
        sizes
    }

    /// The largest block this plan produces.
    pub fn max_block(&self) -> usize {
        match self {
            Blocks::Fixed(n) => *n,
            Blocks::Sizes(s) => s.iter().copied().max().unwrap_or(1),
        }
    }
}

/// One processing run: the whole input, how to split it, and what to automate.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// Main input, one `Vec` per channel, all the same length.
    pub input: &'a [Vec<f32>],
    /// Second input port (sidechain), if the plugin has one; `None` feeds silence.
    pub sidechain: Option<&'a [Vec<f32>]>,
    /// Host block sizes.
    pub blocks: Blocks,
    /// Parameter changes, sorted by `sample`.
    pub events: &'a [ParamChange],
}

impl<'a> Run<'a> {
    /// A run of `input` in `blocks`, no sidechain signal, no automation.
    pub fn new(input: &'a [Vec<f32>], blocks: Blocks) -> Self {
        Self {
            input,
            sidechain: None,
            blocks,
            events: &[],
        }
    }

    /// Adds parameter changes (must be sorted by sample).
    pub fn with_events(mut self, events: &'a [ParamChange]) -> Self {
        self.events = events;
        self
    }

    /// Feeds the second input port with `sidechain`.
    pub fn with_sidechain(mut self, sidechain: &'a [Vec<f32>]) -> Self {
        self.sidechain = Some(sidechain);
        self
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Processed {
    /// Main output, one `Vec` per channel, as long as the input.
    pub output: Vec<Vec<f32>>,
    /// CPU time of the audio thread inside the block loop (thread CPU clock), if available.
    pub cpu_seconds: Option<f64>,
    /// Wall time of the block loop.
    pub wall_seconds: f64,
    /// Number of `process` calls.
    pub blocks: usize,
}

// ------------------------------------------------------------------------------------------------
// The plugin instance

/// An instantiated plugin on its main thread.
pub struct Plugin {
    /// The clack instance (owns the host handlers).
    instance: PluginInstance<TestHost>,
    /// The audio processor while active (sent to the audio thread for each run).
    processor: Option<StoppedPluginAudioProcessor<TestHost>>,
    /// The configuration it is active with.
    config: Option<PluginAudioConfiguration>,
    /// Plugin-side extensions.
    ext: PluginExtensions,
    /// Its descriptor.
    pub descriptor: Descriptor,
    /// Restarts done for `request_restart`.
    restarts: u32,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        if let Some(p) = self.processor.take() {
            self.instance.deactivate(p);
        }
    }
}

impl Plugin {
    fn shared<R>(&self, f: impl FnOnce(&HostShared) -> R) -> R {
        self.instance.access_shared_handler(f)
    }

    /// Activates at `sample_rate` with host blocks of `min_block..=max_block` frames, then
    /// handles any callbacks the plugin raised while activating.
    pub fn activate(&mut self, sample_rate: f64, min_block: u32, max_block: u32) -> Result<()> {
        if self.processor.is_some() {
            self.deactivate();
        }
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: min_block,
            max_frames_count: max_block,
        };
        self.activate_with(config)?;
        self.pump()
    }

    fn activate_with(&mut self, config: PluginAudioConfiguration) -> Result<()> {
        let processor = self
            .instance
            .activate(|_, _| (), config)
            .map_err(|e| HostError(format!("activate failed: {e}")))?;
        self.processor = Some(processor);
        self.config = Some(config);
        Ok(())
    }

    /// Deactivates (no-op when inactive).
    pub fn deactivate(&mut self) {
        if let Some(p) = self.processor.take() {
            self.instance.deactivate(p);
        }
        self.config = None;
    }

    /// Whether the plugin is active.
    pub fn is_active(&self) -> bool {
        self.processor.is_some()
    }

    /// Handles pending callbacks on the main thread: `request_callback` runs the plugin's
    /// `on_main_thread`; `request_restart` deactivates and reactivates with the same
    /// configuration (as CLAP asks hosts to do, e.g. after a latency change). Repeats until the
    /// plugin raises nothing more.
    pub fn pump(&mut self) -> Result<()> {
        for _ in 0..100 {
            let callback = self.shared(|s| s.callback_requested.swap(false, Ordering::SeqCst));
            if callback {
                self.instance.call_on_main_thread_callback();
            }
            let restart = self.shared(|s| s.restart_requested.swap(false, Ordering::SeqCst));
            if restart && let Some(config) = self.config {
                if let Some(p) = self.processor.take() {
                    self.instance.deactivate(p);
                }
                self.restarts += 1;
                self.activate_with(config)?;
            }
            if !callback && !restart {
                return Ok(());
            }
        }
        err("the plugin keeps requesting callbacks/restarts (100 rounds)")
    }

    /// Restarts done so far because the plugin asked (`request_restart`).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// `latency.changed` calls so far.
    pub fn latency_changed_count(&self) -> u32 {
        self.shared(|s| s.latency_changed.load(Ordering::SeqCst))
    }

    /// `params.rescan` calls so far.
    pub fn param_rescan_count(&self) -> u32 {
        self.shared(|s| s.param_rescans.load(Ordering::SeqCst))
    }

    /// Messages the plugin logged through the `log` extension.
    pub fn log_messages(&self) -> Vec<LogMessage> {
        self.shared(|s| s.log.lock().map(|l| l.clone()).unwrap_or_default())
    }

    /// Reported latency in samples (0 when the plugin has no latency extension).
    pub fn latency(&mut self) -> u32 {
        match self.ext.latency {
            Some(l) => l.get(&self.instance.plugin_handle()),
            None => 0,
        }
    }

    /// Whether the plugin has the extension named (`params`, `state`, `latency`, `audio-ports`,
    /// `audio-ports-config`).
    pub fn has_extension(&self, name: &str) -> bool {
        match name {
            "params" => self.ext.params.is_some(),
            "state" => self.ext.state.is_some(),
            "latency" => self.ext.latency.is_some(),
            "audio-ports" => self.ext.audio_ports.is_some(),
            "audio-ports-config" => self.ext.audio_ports_config.is_some(),
            "render" => self.ext.render.is_some(),
            _ => false,
        }
    }

    /// The current audio ports (`is_input` selects inputs or outputs).
    pub fn audio_ports(&mut self, is_input: bool) -> Vec<PortInfo> {
        let Some(ports) = self.ext.audio_ports else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = AudioPortInfoBuffer::new();
        (0..ports.count(&handle, is_input))
            .filter_map(|i| {
                ports.get(&handle, i, is_input, &mut buf).map(|p| PortInfo {
                    id: p.id.get(),
                    name: String::from_utf8_lossy(p.name).into_owned(),
                    channel_count: p.channel_count,
                    is_main: p.flags.contains(AudioPortFlags::IS_MAIN),
                    port_type: p.port_type.map(|t| t.0.to_string_lossy().into_owned()),
                    in_place_pair: p.in_place_pair.map(|c| c.get()),
                })
            })
            .collect()
    }

    /// Every audio-ports configuration the plugin offers (empty without `audio-ports-config`).
    pub fn port_configs(&mut self) -> Vec<PortConfig> {
        let Some(configs) = self.ext.audio_ports_config else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = AudioPortsConfigBuffer::new();
        (0..configs.count(&handle))
            .filter_map(|i| {
                configs.get(&handle, i, &mut buf).map(|c| PortConfig {
                    id: c.id.get(),
                    name: String::from_utf8_lossy(c.name).into_owned(),
                    input_port_count: c.input_port_count,
                    output_port_count: c.output_port_count,
                    main_input_channels: c.main_input.map(|p| p.channel_count),
                    main_output_channels: c.main_output.map(|p| p.channel_count),
                })
            })
            .collect()
    }

    /// Selects an audio-ports configuration; the plugin must be inactive.
    pub fn select_port_config(&mut self, id: u32) -> Result<()> {
        if self.is_active() {
            return err("select_port_config needs an inactive plugin");
        }
        let Some(configs) = self.ext.audio_ports_config else {
            return err("plugin has no audio-ports-config extension");
        };
        configs
            .select(&self.instance.plugin_handle(), ClapId::new(id))
            .map_err(|e| HostError(format!("select config {id}: {e}")))
    }

    /// Switches between realtime and offline rendering (`render.set`), then handles the
    /// callbacks it raises (nice-plug asks for a restart when this happens while active).
    pub fn set_offline_rendering(&mut self, offline: bool) -> Result<()> {
        let Some(render) = self.ext.render else {
            return err("plugin has no render extension");
        };
        let mode = if offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        };
        render
            .set(&self.instance.plugin_handle(), mode)
            .map_err(|e| HostError(format!("render.set failed: {e}")))?;
        self.pump()
    }

    /// The active configuration: (sample rate, min block, max block), `None` when inactive.
    pub fn active_config(&self) -> Option<(f64, u32, u32)> {
        self.config
            .map(|c| (c.sample_rate, c.min_frames_count, c.max_frames_count))
    }

    /// Every parameter's info.
    pub fn params(&mut self) -> Vec<ParamInfo> {
        let Some(params) = self.ext.params else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = ParamInfoBuffer::new();
        (0..params.count(&handle))
            .filter_map(|i| {
                params.get_info(&handle, i, &mut buf).map(|p| ParamInfo {
                    id: p.id.get(),
                    name: String::from_utf8_lossy(p.name).into_owned(),
                    module: String::from_utf8_lossy(p.module).into_owned(),
                    min: p.min_value,
                    max: p.max_value,
                    default: p.default_value,
                    stepped: p.flags.contains(ParamInfoFlags::IS_STEPPED),
                    bypass: p.flags.contains(ParamInfoFlags::IS_BYPASS),
                    automatable: p.flags.contains(ParamInfoFlags::IS_AUTOMATABLE),
                    hidden: p.flags.contains(ParamInfoFlags::IS_HIDDEN),
                    read_only: p.flags.contains(ParamInfoFlags::IS_READONLY),
                })
            })
            .collect()
    }

    /// A parameter's current plain value.
    pub fn param_value(&mut self, id: u32) -> Option<f64> {
        let params = self.ext.params?;
        params.get_value(&self.instance.plugin_handle(), ClapId::new(id))
    }

    /// The plugin's text for a parameter value.
    pub fn param_value_to_text(&mut self, id: u32, value: f64) -> Option<String> {
        let params = self.ext.params?;
        let mut buf = [0u8; 256];
        params
            .value_to_text(
                &self.instance.plugin_handle(),
                ClapId::new(id),
                value,
                &mut buf,
            )
            .ok()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The plugin's value for a parameter text.
    pub fn param_text_to_value(&mut self, id: u32, text: &str) -> Option<f64> {
        let params = self.ext.params?;
        let text = CString::new(text).ok()?;
        params.text_to_value(&self.instance.plugin_handle(), ClapId::new(id), &text)
    }

    /// Sets parameters while inactive through `params.flush` (how hosts apply values outside
    /// processing).
    pub fn flush_params(&mut self, changes: &[(u32, f64)]) -> Result<()> {
        let Some(params) = self.ext.params else {
            return err("plugin has no params extension");
        };
        let mut input = EventBuffer::with_capacity(changes.len());
        for &(id, value) in changes {
            input.push(&ParamValueEvent::new(
                0,
                ClapId::new(id),
                Pckn::match_all(),
                value,
            ));
        }
        let mut output = EventBuffer::new();
        let Some(mut handle) = self.instance.inactive_plugin_handle() else {
            return err("flush_params needs an inactive plugin (use events in a run instead)");
        };
        params.flush(&mut handle, &input.as_input(), &mut output.as_output());
        self.pump()
    }

    /// Saves the state (`state.save`) as bytes.
    pub fn save_state(&mut self) -> Result<Vec<u8>> {
        let Some(state) = self.ext.state else {
            return err("plugin has no state extension");
        };
        let mut bytes = Vec::new();
        state
            .save(&self.instance.plugin_handle(), &mut bytes)
            .map_err(|e| HostError(format!("state save failed: {e}")))?;
        Ok(bytes)
    }

    /// Loads a state (`state.load`) from bytes, then handles the callbacks it raises.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(state) = self.ext.state else {
            return err("plugin has no state extension");
        };
        let mut reader = bytes;
        let result = state
            .load(&self.instance.plugin_handle(), &mut reader)
            .map_err(|e| HostError(format!("state load failed: {e}")));
        self.pump()?;
        result
    }

    /// Processes a whole run on a separate audio thread (`start_processing`, one `process` call
    /// per block, `stop_processing`), then handles the callbacks the plugin raised.
    ///
    /// Input port 0 gets `run.input` (its channel count must match the port); input port 1 gets
    /// `run.sidechain` or silence; further ports get silence. Returns the main output.
    pub fn process(&mut self, run: &Run) -> Result<Processed> {
        let Some(config) = self.config else {
            return err("process needs an active plugin");
        };
        let max_block = run.blocks.max_block();
        if max_block > config.max_frames_count as usize {
            return err(format!(
                "block of {max_block} frames exceeds the activated maximum {}",
                config.max_frames_count
            ));
        }
        let inputs = self.audio_ports(true);
        let outputs = self.audio_ports(false);
        let Some(main_in) = inputs.first() else {
            return err("plugin has no input port");
        };
        if main_in.channel_count as usize != run.input.len() {
            return err(format!(
                "main input port has {} channels, the run gives {}",
                main_in.channel_count,
                run.input.len()
            ));
        }
        let len = run.input.first().map_or(0, Vec::len);
        if run.input.iter().any(|c| c.len() != len) {
            return err("input channels differ in length");
        }
        let mut layout = HostBuffers::new(
            &inputs
                .iter()
                .map(|p| p.channel_count as usize)
                .collect::<Vec<_>>(),
            &outputs
                .iter()
                .map(|p| p.channel_count as usize)
                .collect::<Vec<_>>(),
            config.max_frames_count as usize,
        );
        let processor = self.processor.take().expect("active");
        let (processor, result) = std::thread::scope(|s| {
            s.spawn(move || audio_thread(processor, &mut layout, run))
                .join()
                .expect("audio thread panicked")
        });
        self.processor = Some(processor);
        self.pump()?;
        result
    }
}

/// `channels` output channels of `len` zeros, every page written once.
///
/// NOTE: a fresh allocation this large is mapped lazily, so its first writes fault pages in;
/// done inside a timed run, that kernel time (about a fifth of a 10 s run of the Channel
/// Strip) was billed to the plugin and to the pass-through reference. Written here, before
/// the clock starts, it is not.
fn output_buffers(channels: usize, len: usize) -> Vec<Vec<f32>> {
    (0..channels)
        .map(|_| {
            let mut c = vec![0.0f32; len];
            // `black_box`: the compiler may not drop the write as storing zeros into zeros.
            c.fill(std::hint::black_box(0.0));
            c
        })
        .collect()
}

/// Preallocated host-side buffers: per port, per channel, `max_block` samples.
pub struct HostBuffers {
    /// Input ports' channel buffers.
    inputs: Vec<Vec<Vec<f32>>>,
    /// Output ports' channel buffers.
    outputs: Vec<Vec<Vec<f32>>>,
    /// clack's input port descriptors.
    in_ports: AudioPorts,
    /// clack's output port descriptors.
    out_ports: AudioPorts,
    /// Input events for the current block.
    events: EventBuffer,
    /// Output events of the current block (discarded).
    out_events: EventBuffer,
}

impl HostBuffers {
    /// Buffers for ports with these channel counts and blocks up to `max_block`.
    pub fn new(input_channels: &[usize], output_channels: &[usize], max_block: usize) -> Self {
        let make = |counts: &[usize]| -> Vec<Vec<Vec<f32>>> {
            counts
                .iter()
                .map(|&c| vec![vec![0.0f32; max_block]; c])
                .collect()
        };
        Self {
            inputs: make(input_channels),
            outputs: make(output_channels),
            in_ports: AudioPorts::with_capacity(input_channels.iter().sum(), input_channels.len()),
            out_ports: AudioPorts::with_capacity(
                output_channels.iter().sum(),
                output_channels.len(),
            ),
            events: EventBuffer::with_capacity(1024),
            out_events: EventBuffer::with_capacity(1024),
        }
    }

    /// Copies block `[pos, pos + n)` of the run's input (and sidechain, or silence) into the
    /// input buffers, and the run's parameter changes in that range into the event buffer.
    /// `next_event` is the index of the first event not yet sent; returns the new index.
    fn fill(&mut self, run: &Run, pos: usize, n: usize, mut next_event: usize) -> usize {
        for (port_index, port) in self.inputs.iter_mut().enumerate() {
            let source = match port_index {
                0 => Some(run.input),
                1 => run.sidechain,
                _ => None,
            };
            for (ch, buf) in port.iter_mut().enumerate() {
                match source.and_then(|s| s.get(ch)) {
                    Some(src) => buf[..n].copy_from_slice(&src[pos..pos + n]),
                    None => buf[..n].fill(0.0),
                }
            }
        }
        self.events.clear();
        while let Some(e) = run.events.get(next_event) {
            if e.sample >= pos + n {
                break;
            }
            let time = e.sample.saturating_sub(pos) as u32;
            self.events.push(&ParamValueEvent::new(
                time,
                ClapId::new(e.id),
                Pckn::match_all(),
                e.value,
            ));
            next_event += 1;
        }
        next_event
    }

    /// Copies the main output of an `n`-frame block into `output` at `pos`.
    fn drain(&self, output: &mut [Vec<f32>], pos: usize, n: usize) {
        if let Some(port) = self.outputs.first() {
            for (dst, src) in output.iter_mut().zip(port) {
                dst[pos..pos + n].copy_from_slice(&src[..n]);
            }
        }
    }

    /// The reference host loop without a plugin: the same copies in and out as a plugin run,
    /// with the main input copied straight to the main output. For benchmarks.
    pub fn passthrough(&mut self, run: &Run) -> Processed {
        let len = run.input.first().map_or(0, Vec::len);
        let mut output = output_buffers(self.outputs.first().map_or(0, Vec::len), len);
        let sizes = run.blocks.split(len);
        let cpu0 = thread_cpu_seconds();
        let wall0 = Instant::now();
        let mut pos = 0;
        let mut next_event = 0;
        for &n in &sizes {
            next_event = self.fill(run, pos, n, next_event);
            let (ins, outs) = (&self.inputs, &mut self.outputs);
            if let (Some(i), Some(o)) = (ins.first(), outs.first_mut()) {
                for (src, dst) in i.iter().zip(o.iter_mut()) {
                    dst[..n].copy_from_slice(&src[..n]);
                }
            }
            std::hint::black_box(&mut self.outputs);
            self.drain(&mut output, pos, n);
            pos += n;
        }
        let wall_seconds = wall0.elapsed().as_secs_f64();
        let cpu_seconds = match (cpu0, thread_cpu_seconds()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        Processed {
            output,
            cpu_seconds,
            wall_seconds,
            blocks: sizes.len(),
        }
    }
}

/// The audio thread's side of [`Plugin::process`].
fn audio_thread(
    processor: StoppedPluginAudioProcessor<TestHost>,
    bufs: &mut HostBuffers,
    run: &Run,
) -> (StoppedPluginAudioProcessor<TestHost>, Result<Processed>) {
    let mut started = match processor.start_processing() {
        Ok(p) => p,
        Err(e) => return (e.into_stopped_processor(), err("start_processing failed")),
    };
    let len = run.input.first().map_or(0, Vec::len);
    let mut output = output_buffers(bufs.outputs.first().map_or(0, Vec::len), len);
    let sizes = run.blocks.split(len);
    let cpu0 = thread_cpu_seconds();
    let wall0 = Instant::now();
    let mut pos = 0;
    let mut next_event = 0;
    let mut failure = None;
    for &n in &sizes {
        next_event = bufs.fill(run, pos, n, next_event);
        let HostBuffers {
            inputs,
            outputs,
            in_ports,
            out_ports,
            events,
            out_events,
        } = &mut *bufs;
        let audio_in = in_ports.with_input_buffers(inputs.iter_mut().map(|port| AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                port.iter_mut().map(|c| InputChannel::variable(&mut c[..n])),
            ),
        }));
        let mut audio_out =
            out_ports.with_output_buffers(outputs.iter_mut().map(|port| AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    port.iter_mut().map(|c| &mut c[..n]),
                ),
            }));
        out_events.clear();
        let status = started.process(
            &audio_in,
            &mut audio_out,
            &events.as_input(),
            &mut out_events.as_output(),
            Some(pos as u64),
            None,
        );
        if let Err(e) = status {
            failure = Some(format!("process failed at sample {pos} (block {n}): {e}"));
            break;
        }
        bufs.drain(&mut output, pos, n);
        pos += n;
    }
    let wall_seconds = wall0.elapsed().as_secs_f64();
    let cpu_seconds = match (cpu0, thread_cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let stopped = started.stop_processing();
    let result = match failure {
        Some(f) => err(f),
        None => Ok(Processed {
            output,
            cpu_seconds,
            wall_seconds,
            blocks: sizes.len(),
        }),
    };
    (stopped, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_split_covers_the_signal_exactly_with_the_planned_sizes() {
        assert_eq!(Blocks::Fixed(4).split(10), vec![4, 4, 2]);
        assert_eq!(Blocks::Sizes(vec![3, 1]).split(9), vec![3, 1, 3, 1, 1]);
        assert!(Blocks::Fixed(4).split(0).is_empty());
        let random = Blocks::random(1, 1, 100, 50);
        let sizes = random.split(12_345);
        assert_eq!(sizes.iter().sum::<usize>(), 12_345);
        assert!(sizes.iter().all(|&n| (1..=100).contains(&n)));
        assert!(random.max_block() <= 100);
    }

    #[test]
    fn param_id_hash_is_the_java_string_hash_without_the_top_bit() {
        // "a" = 97; "ab" = 97 * 31 + 98 = 3105 (Java's String.hashCode definition).
        assert_eq!(param_id_hash("a"), 97);
        assert_eq!(param_id_hash("ab"), 3105);
        // A long ID overflows and must still have bit 31 cleared.
        assert_eq!(param_id_hash("a_rather_long_parameter_id") >> 31, 0);
    }
}
