//! The progress line of long CLI runs (`replay` of queued messages, `replay --scope`): one line on
//! stderr, redrawn in place (indicatif), drawn only when stderr is a terminal. When it is not, nothing is
//! drawn and whole lines go to stderr as they are.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A progress line on stderr, or nothing when stderr is not a terminal. Dropping it clears the line.
pub struct Line(Option<ProgressBar>);

impl Line {
    /// A drawn line when stderr is a terminal; otherwise one that draws nothing.
    pub fn on_stderr() -> Line {
        if !std::io::stderr().is_terminal() {
            return Line(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {wide_msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Line(Some(bar))
    }

    /// Whether the line is drawn (stderr is a terminal).
    pub fn is_drawn(&self) -> bool {
        self.0.is_some()
    }

    /// Replace the line's text (escaped by the caller: it is shown as given).
    pub fn set(&self, text: String) {
        if let Some(bar) = &self.0 {
            bar.set_message(text);
        }
    }

    /// A whole line on stderr: above the progress line when it is drawn, otherwise as `eprintln!`.
    pub fn println(&self, line: &str) {
        match &self.0 {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Clear the line (before the result goes to stdout, which may be the same terminal).
    pub fn clear(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        self.clear();
    }
}
