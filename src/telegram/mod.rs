//! The client layer: everything between tgsift and Telegram.

pub mod session;
