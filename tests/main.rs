//! Every integration test of `tgsift`, built as one binary: one link instead of one per file, and the
//! tests of every file share the harness's threads instead of running file after file. Each file is a
//! module (`cargo test --test integration http::` runs one; a test name alone finds it anywhere), and
//! `common` is their shared scaffolding: the simulator, a database and `tgsift` as a process.

mod common;

mod accounts;
mod cli;
mod client_layer;
mod dashboard;
mod data_out;
mod dialogs;
mod embedded_tagger;
mod http;
mod ingest;
mod live;
mod llm_tagger;
mod postgres;
mod service;
mod sim_history;
mod sim_protocol;
mod sim_updates;
mod tagging;
mod tags_top;
