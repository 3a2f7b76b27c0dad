//! Postmix Linear-Phase EQ: A precise linear-phase mastering equalizer.
//!
//! Glue only: parameters to engine settings, the process loop, latency reporting, meters and
//! analyzer samples for the editor. The DSP lives in `shared-dsp` (`filter` for the curve model
//! and the zero-latency biquads, `fir` for kernel design and FFT convolution); [`engine`] wires
//! it up framework-free so that the tests run the same audio path as the plugin.
//!
//! Kernel design runs on a design thread the plugin owns ([`DesignThread`]); the audio thread only
//! posts changed settings, raises a flag, and swaps in finished kernels through lock-free triple
//! buffers.
//!
//! NOTE: not nice-plug's `BackgroundTask` executor: its worker thread upgrades the plugin
//! wrapper's `Weak` while a task runs (nice-plug 0.4.2, `src/event_loop/background_thread.rs:148`),
//! so when the host destroys the instance during a design (tens of ms) the wrapper is dropped on
//! the worker thread itself, which then joins itself (`:101-106`: "Resource deadlock avoided")
//! and the next instance's shutdown panics in `drop` (`:100`) and aborts the host. The suite's
//! CLAP harness hit exactly that.

use atomic_float::AtomicF32;
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;
use shared_ui::meter::MeterValue;
use shared_ui::output::OutputStage;
use shared_ui::spectrum::SampleRing;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

mod editor;
pub mod engine;
pub mod handoff;
mod params;

use engine::{Designer, Processor};
pub use params::*;

/// Samples of history each analyzer ring holds (a power of two, > the largest FFT).
pub const ANALYZER_RING: usize = 16_384;

/// Values the audio thread shares with the editor, lock-free.
#[derive(Debug)]
pub struct EditorShared {
    /// Output peak (linear).
    pub output_meter: MeterValue,
    /// Mono input samples (pre-EQ) for the analyzer.
    pub pre: SampleRing,
    /// Mono output samples (post-EQ) for the analyzer.
    pub post: SampleRing,
    /// Sample rate in Hz (0 before activation).
    pub sample_rate: AtomicF32,
    /// Latency reported to the host, samples.
    pub latency: AtomicU32,
    /// Worst deviation of the linear-phase kernels in use from the curve, dB (negative on the
    /// zero-latency path); see [`engine::Deviation`].
    pub deviation_db: AtomicF32,
    /// Where that deviation is, Hz.
    pub deviation_hz: AtomicF32,
    /// The editor is open and wants analyzer samples (the audio thread skips the rings
    /// otherwise).
    pub analyzer_wanted: AtomicBool,
}

impl Default for EditorShared {
    fn default() -> Self {
        Self {
            output_meter: MeterValue::new(),
            pre: SampleRing::new(ANALYZER_RING),
            post: SampleRing::new(ANALYZER_RING),
            sample_rate: AtomicF32::new(0.0),
            latency: AtomicU32::new(0),
            deviation_db: AtomicF32::new(-1.0),
            deviation_hz: AtomicF32::new(0.0),
            analyzer_wanted: AtomicBool::new(false),
        }
    }
}

/// The designer, shared with the design thread. Only the design thread locks it while the
/// plugin runs (plus `activate` on the main thread, and a non-blocking `try_lock` when the host
/// renders offline); the audio thread never waits on it.
type SharedDesigner = Arc<Mutex<Option<Designer>>>;

/// How often the idle design thread looks for work.
// NOTE: polling keeps the audio thread free of syscalls (no unpark/futex wake): it only stores
// a flag. 5 ms is well below the time a design takes, and the idle cost is ~200 atomic loads/s.
const DESIGN_POLL: Duration = Duration::from_millis(5);

/// The plugin's kernel design thread: runs [`Designer::run`] whenever the audio thread raises
/// the wake flag. Stopped and joined on drop.
#[derive(Debug)]
struct DesignThread {
    /// Asks the thread to exit.
    stop: Arc<AtomicBool>,
    /// The thread.
    handle: Option<JoinHandle<()>>,
}

impl DesignThread {
    /// Starts the thread.
    fn spawn(designer: SharedDesigner, wake: Arc<AtomicBool>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("postmix-eq-design".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Acquire) {
                    if wake.swap(false, Ordering::AcqRel)
                        && let Ok(mut guard) = designer.lock()
                        && let Some(d) = guard.as_mut()
                    {
                        d.run();
                    }
                    std::thread::park_timeout(DESIGN_POLL);
                }
            })
            .ok();
        Self { stop, handle }
    }
}

impl Drop for DesignThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// The plugin instance.
pub struct LinearPhaseEq {
    /// Parameters shared with the host and the editor.
    params: Arc<LinearPhaseEqParams>,
    /// The audio half of the engine (built in `activate`).
    processor: Option<Processor>,
    /// The design half of the engine.
    designer: SharedDesigner,
    /// Raised by the audio thread when new settings wait for a design.
    wake: Arc<AtomicBool>,
    /// The design thread (started at the first activation).
    design_thread: Option<DesignThread>,
    /// The host renders offline: kernels are designed on the audio thread before the block.
    offline: bool,
    /// Output gain, bypass and input sanitising.
    output: OutputStage,
    /// Meter, analyzer samples, latency and rate for the editor.
    shared: Arc<EditorShared>,
    /// Latency last reported to the host, samples.
    reported_latency: u32,
    /// Editor window size and open state.
    editor_state: Arc<EguiEditorState>,
    /// `params.changed` count the processor's settings were built from (`None`: rebuild).
    settings_count: Option<u32>,
}

impl Default for LinearPhaseEq {
    fn default() -> Self {
        Self {
            params: Arc::new(LinearPhaseEqParams::default()),
            processor: None,
            designer: Arc::new(Mutex::new(None)),
            wake: Arc::new(AtomicBool::new(false)),
            design_thread: None,
            offline: false,
            output: OutputStage::default(),
            shared: Arc::new(EditorShared::default()),
            reported_latency: 0,
            editor_state: editor::default_state(),
            settings_count: None,
        }
    }
}

/// Mono mix of the first two channels pushed to an analyzer ring.
fn push_mono(ring: &SampleRing, channels: &[&mut [f32]]) {
    match channels {
        [l, r, ..] => ring.push_iter(l.iter().zip(r.iter()).map(|(a, b)| 0.5 * (a + b))),
        [m] => ring.push_iter(m.iter().copied()),
        [] => {}
    }
}

impl Plugin for LinearPhaseEq {
    const NAME: &'static str = "Postmix Linear-Phase EQ";
    const VENDOR: &'static str = "Postmix";
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = "postmix@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = shared_ui::layouts::STEREO_AND_MONO;

    type Editor = nice_plug_egui::EguiEditor<editor::EqEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn filter_state(state: &mut PluginState) {
        shared_ui::state::sanitize_state::<LinearPhaseEqParams>(state);
    }

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.params.clone(),
            self.shared.clone(),
            self.editor_state.clone(),
        )
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let fs = buffer_config.sample_rate as f64;
        let max_block = buffer_config.max_buffer_size.max(1) as usize;
        self.offline = buffer_config.process_mode == ProcessMode::Offline;
        self.settings_count = Some(self.params.changed.count());
        // The previous designer's plans and last design carry over (waits for the design
        // thread if it is designing).
        // A design thread that panicked poisons the lock but leaves a usable designer slot.
        let mut guard = self
            .designer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let memory = guard.take().map(Designer::into_memory);
        let (processor, designer) =
            engine::build_reusing(fs, max_block, &self.params.settings(), memory);
        self.reported_latency = processor.latency() as u32;
        self.processor = Some(processor);
        *guard = Some(designer);
        drop(guard);
        if self.design_thread.is_none() {
            self.design_thread = Some(DesignThread::spawn(
                self.designer.clone(),
                self.wake.clone(),
            ));
        }
        context.set_latency_samples(self.reported_latency);
        self.shared
            .latency
            .store(self.reported_latency, Ordering::Relaxed);
        self.shared
            .sample_rate
            .store(buffer_config.sample_rate, Ordering::Relaxed);
        self.output
            .activate(buffer_config.sample_rate, &self.params.output);
        true
    }

    fn reset(&mut self) {
        if let Some(p) = self.processor.as_mut() {
            p.reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let Some(processor) = self.processor.as_mut() else {
            return ProcessStatus::Normal;
        };
        if buffer.samples() == 0 || buffer.channels() == 0 {
            return ProcessStatus::Normal;
        }
        self.output.sanitize_input(buffer);

        // Settings are rebuilt only after a parameter change (the count is read first: see
        // `params::Changed`).
        let count = self.params.changed.count();
        if self.settings_count != Some(count) && processor.set_settings(&self.params.settings()) {
            let designed_here = self.offline
                && match self.designer.try_lock() {
                    Ok(mut guard) => guard.as_mut().is_some_and(|d| {
                        d.run();
                        true
                    }),
                    Err(_) => false,
                };
            if !designed_here {
                self.wake.store(true, Ordering::Release);
            }
        }

        self.settings_count = Some(count);

        let channels = buffer.channels().min(2);
        let analyzer = self.shared.analyzer_wanted.load(Ordering::Relaxed);
        if analyzer {
            push_mono(&self.shared.pre, &buffer.as_slice()[..channels]);
        }
        processor.process(&mut buffer.as_slice()[..channels]);

        let latency = processor.latency() as u32;
        if latency != self.reported_latency {
            shared_ui::latency::report_latency_change(context, latency);
            self.reported_latency = latency;
            self.shared.latency.store(latency, Ordering::Relaxed);
        }
        let deviation = processor
            .deviation()
            .unwrap_or(engine::Deviation { db: -1.0, hz: 0.0 });
        self.shared
            .deviation_db
            .store(deviation.db, Ordering::Relaxed);
        self.shared
            .deviation_hz
            .store(deviation.hz, Ordering::Relaxed);

        let dry = processor.dry();
        self.output.process(
            buffer,
            &self.params.output,
            &self.shared.output_meter,
            Some(&dry[..channels]),
        );
        if analyzer {
            push_mono(&self.shared.post, &buffer.as_slice()[..channels]);
        }
        ProcessStatus::Normal
    }
}

impl ClapPlugin for LinearPhaseEq {
    const CLAP_ID: &'static str = "org.postmix.linear-phase-eq";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("A precise linear-phase mastering equalizer.");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Equalizer,
        ClapFeature::Stereo,
    ];
}

impl Vst3Plugin for LinearPhaseEq {
    // NOTE: never change this ID: hosts identify saved sessions by it.
    const VST3_CLASS_ID: [u8; 16] = *b"PostmixLinPhEQ01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Eq];
}

nice_export_clap!(LinearPhaseEq);
nice_export_vst3!(LinearPhaseEq);
