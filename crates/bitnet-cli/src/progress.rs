//! A progress bar on stderr that appears only when it helps: stderr is a terminal, the caller
//! did not ask for machine output, and the work is still running after [`DELAY`].
//!
//! The bar is created hidden; a helper thread reveals it after the delay unless the work has
//! finished by then. Nothing is ever written to stdout.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work runs before the bar appears.
const DELAY: Duration = Duration::from_secs(1);

/// A delayed progress bar over `len` units (bytes).
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    stop: Option<Sender<()>>,
    reveal: Option<JoinHandle<()>>,
}

impl Progress {
    /// A bar over `len` bytes labelled `verb`; it stays hidden unless `wanted` (not `--json`)
    /// and stderr is a terminal.
    pub(crate) fn new(wanted: bool, len: u64, verb: &'static str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {prefix} {wide_msg} {bytes}/{total_bytes} [{elapsed}]",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(verb);
        let mut progress = Self {
            bar,
            stop: None,
            reveal: None,
        };
        if wanted && std::io::stderr().is_terminal() {
            let (stop, stopped) = mpsc::channel::<()>();
            let bar = progress.bar.clone();
            progress.reveal = Some(std::thread::spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(DELAY) {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    bar.enable_steady_tick(Duration::from_millis(120));
                }
            }));
            progress.stop = Some(stop);
        }
        progress
    }

    /// Names what is being worked on.
    pub(crate) fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Records `delta` more bytes done.
    pub(crate) fn inc(&self, delta: u64) {
        self.bar.inc(delta);
    }

    /// Runs `f` (which writes output) with the bar cleared from the terminal.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar (if it was shown) and stops the helper thread.
    pub(crate) fn finish(&mut self) {
        // Dropping the sender wakes the helper before its delay runs out.
        self.stop = None;
        if let Some(reveal) = self.reveal.take() {
            let _ = reveal.join();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_when_not_wanted() {
        let mut p = Progress::new(false, 10, "checking");
        p.inc(5);
        assert!(p.reveal.is_none());
        assert!(p.bar.is_hidden());
        p.finish();
    }
}
