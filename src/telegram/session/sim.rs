//! Sessions for the simulated DC ([`tgsift_sim`]): the simulator hands out auth keys as grammers'
//! [`SessionData`](grammers_session::SessionData); this writes them in tgsift's and Telethon's formats.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use tgsift_sim::{HOME_DC, Sim};

use super::{SessionError, SqliteSession, TelethonString};

/// Session files and strings for the simulator's accounts, so tests, `demo` and `sim serve` log in
/// the way a user's client does.
pub trait SimSessions {
    /// Writes a tgsift session file (mode 0600) for `account`; see [`Sim::new_session`].
    fn write_session(
        &self,
        path: &Path,
        account: usize,
        authorized: bool,
    ) -> Result<SqliteSession, SessionError>;

    /// A Telethon string session for the same kind of key (home DC), for other MTProto clients.
    fn telethon_string(&self, account: usize, authorized: bool) -> String;
}

impl SimSessions for Sim {
    fn write_session(
        &self,
        path: &Path,
        account: usize,
        authorized: bool,
    ) -> Result<SqliteSession, SessionError> {
        SqliteSession::import_data(path, &self.new_session(account, authorized))
    }

    fn telethon_string(&self, account: usize, authorized: bool) -> String {
        let data = self.new_session(account, authorized);
        let (addr, auth_key) = match data.dc_options.get(&HOME_DC) {
            Some(o) => (SocketAddr::V4(o.ipv4), o.auth_key.unwrap_or([0; 256])),
            None => (SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), [0; 256]),
        };
        TelethonString {
            dc_id: HOME_DC as u8,
            addr,
            auth_key,
        }
        .encode()
    }
}
