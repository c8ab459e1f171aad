//! A simulated Telegram data centre: a real MTProto 2.0 server on 127.0.0.1.

pub mod crypto;
pub mod textgen;
pub mod transport;
pub mod world;
