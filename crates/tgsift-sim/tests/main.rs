//! The simulator's integration tests, one binary: each file is a module (`cargo test -p tgsift-sim
//! --test sim files::` runs one).

mod common;

mod comments;
mod dialogs;
mod files;
mod silences;
