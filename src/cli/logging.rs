//! Logging set-up: tracing-subscriber on stderr, pretty or JSON, `RUST_LOG` honoured.

use std::io::IsTerminal;

use tracing_indicatif::IndicatifLayer;
use tracing_indicatif::filter::{IndicatifFilter, hide_indicatif_span_fields};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use super::LogFormat;

/// Installs the global subscriber. `RUST_LOG` wins over `-v`/`-q` when it is set.
pub(super) fn init(format: LogFormat, verbose: u8, quiet: u8) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // Our own crate at the chosen level; dependencies one step quieter unless tracing everything.
        let deps = if level == "trace" { "debug" } else { "warn" };
        EnvFilter::new(format!("{deps},tgsift={level}"))
    });
    let terminal = std::io::stderr().is_terminal();
    let result = match format {
        // On a terminal, log lines go through the progress bars' writer so they never garble a bar;
        // bars exist only for spans that ask for one (`indicatif.pb_show`, see ingest::progress).
        LogFormat::Pretty if terminal => {
            let bars = IndicatifLayer::new()
                .with_span_field_formatter(hide_indicatif_span_fields(DefaultFields::new()));
            let lines = tracing_subscriber::fmt::layer()
                .with_writer(bars.get_stderr_writer())
                .with_target(false)
                .fmt_fields(hide_indicatif_span_fields(DefaultFields::new()))
                .with_filter(filter);
            tracing_subscriber::registry()
                .with(lines)
                .with(bars.with_filter(IndicatifFilter::new(false)))
                .try_init()
                .map_err(|e| e.to_string())
        }
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(false)
            .try_init()
            .map_err(|e| e.to_string()),
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .try_init()
            .map_err(|e| e.to_string()),
    };
    // A subscriber already installed (tests, embedding) is fine.
    let _ = result;
}
