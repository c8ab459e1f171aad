//! Injected faults: random ones (reproducible from a seed) and scripted ones (exact, for tests).
//!
//! A fault replaces the normal answer to one API call: an RPC error Telegram is known to send, a TCP
//! close without any reply, or a slow reply. Scripted faults are matched first, in the order they were
//! added; random faults are drawn per call from their probabilities.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What happens to one call instead of (or before) its normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `420 FLOOD_WAIT_X`.
    FloodWait(u32),
    /// `420 SLOWMODE_WAIT_X`.
    SlowmodeWait(u32),
    /// Any RPC error, e.g. `500 INTERNAL`, `500 RPC_CALL_FAIL`, `401 AUTH_KEY_UNREGISTERED`,
    /// `400 CHANNEL_PRIVATE`, `400 USERNAME_NOT_OCCUPIED`.
    Rpc { code: i32, message: String },
    /// Close the TCP connection without replying (the call is lost mid-flight).
    Disconnect,
    /// Answer normally, but only after this delay.
    Slow(Duration),
    /// Answer with an object the client cannot decode (an unknown constructor), as a client of an
    /// older layer meets a newer type: only this call fails, the connection stays.
    Garbled,
}

impl Fault {
    /// `500 INTERNAL`.
    pub fn internal() -> Self {
        Fault::Rpc {
            code: 500,
            message: "INTERNAL".into(),
        }
    }

    /// An RPC error with the given code and message.
    pub fn rpc(code: i32, message: &str) -> Self {
        Fault::Rpc {
            code,
            message: message.into(),
        }
    }
}

/// A fault for calls that match: method (TL name) and account (user id), after skipping some.
#[derive(Clone, Debug)]
pub struct Scripted {
    /// Only this method (`messages.getHistory`); `None` = any API method.
    pub method: Option<String>,
    /// Only this account's user id; `None` = any.
    pub account: Option<i64>,
    /// Matching calls to let through first.
    pub skip: u32,
    /// How many matching calls get the fault.
    pub times: u32,
    /// The fault.
    pub fault: Fault,
}

impl Scripted {
    /// `fault` on the next call of `method`.
    pub fn on(method: &str, fault: Fault) -> Self {
        Scripted {
            method: Some(method.into()),
            account: None,
            skip: 0,
            times: 1,
            fault,
        }
    }

    /// Lets `n` matching calls through first.
    pub fn after(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    /// Applies to `n` matching calls.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Only for this account.
    pub fn for_account(mut self, user_id: i64) -> Self {
        self.account = Some(user_id);
        self
    }
}

/// Probabilities of random faults per API call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RandomFaults {
    /// Probability of `FLOOD_WAIT_X`.
    pub flood: f64,
    /// The X of random floods, seconds.
    pub flood_secs: u32,
    /// Probability of a TCP close without reply.
    pub disconnect: f64,
    /// Probability of `500 INTERNAL` or `500 RPC_CALL_FAIL`.
    pub internal: f64,
    /// Probability of a slow reply.
    pub slow: f64,
    /// Delay of slow replies, milliseconds.
    pub slow_ms: u64,
}

impl RandomFaults {
    /// Parses `flood=0.01,disconnect=0.001,internal=0.001,slow=0.01,slow_ms=200,flood_secs=2`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut f = RandomFaults {
            flood_secs: 1,
            slow_ms: 500,
            ..Default::default()
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not name=value"))?;
            let prob = || -> Result<f64, String> {
                let p: f64 = v
                    .parse()
                    .map_err(|_| format!("`{v}` in `{part}` is not a number"))?;
                if (0.0..=1.0).contains(&p) {
                    Ok(p)
                } else {
                    Err(format!("`{part}`: probability must be 0..1"))
                }
            };
            let int = || {
                v.parse::<u64>()
                    .map_err(|_| format!("`{v}` in `{part}` is not a whole number"))
            };
            match k.trim() {
                "flood" => f.flood = prob()?,
                "disconnect" => f.disconnect = prob()?,
                "internal" => f.internal = prob()?,
                "slow" => f.slow = prob()?,
                "flood_secs" => f.flood_secs = int()?.clamp(1, 86_400) as u32,
                "slow_ms" => f.slow_ms = int()?,
                other => {
                    return Err(format!(
                        "unknown fault `{other}` (known: flood, flood_secs, disconnect, internal, slow, slow_ms)"
                    ));
                }
            }
        }
        Ok(f)
    }
}

struct Inner {
    random: RandomFaults,
    rng: StdRng,
    script: Vec<Scripted>,
}

/// The fault plan of a running simulator.
pub struct Faults {
    inner: Mutex<Inner>,
}

impl Faults {
    /// A plan with these random faults, drawn from `seed`.
    pub fn new(random: RandomFaults, seed: u64) -> Self {
        Faults {
            inner: Mutex::new(Inner {
                random,
                rng: StdRng::seed_from_u64(seed),
                script: Vec::new(),
            }),
        }
    }

    /// Adds a scripted fault (matched before random ones, in order of addition).
    pub fn script(&self, s: Scripted) {
        self.lock().script.push(s);
    }

    /// Replaces the random fault probabilities.
    pub fn set_random(&self, random: RandomFaults) {
        self.lock().random = random;
    }

    /// Drops all scripted faults that have not fired yet.
    pub fn clear_script(&self) {
        self.lock().script.clear();
    }

    /// The fault for this call, if any.
    pub fn pick(&self, method: &str, account: Option<i64>) -> Option<Fault> {
        let mut inner = self.lock();
        let hit = inner.script.iter_mut().position(|s| {
            let matches = s.method.as_deref().is_none_or(|m| m == method)
                && s.account.is_none_or(|a| Some(a) == account);
            if matches && s.skip > 0 {
                s.skip -= 1;
                return false;
            }
            matches
        });
        if let Some(i) = hit {
            let s = &mut inner.script[i];
            let fault = s.fault.clone();
            s.times = s.times.saturating_sub(1);
            if s.times == 0 {
                inner.script.remove(i);
            }
            return Some(fault);
        }
        let Inner { random, rng, .. } = &mut *inner;
        if random.flood > 0.0 && rng.random_bool(random.flood) {
            return Some(Fault::FloodWait(random.flood_secs));
        }
        if random.disconnect > 0.0 && rng.random_bool(random.disconnect) {
            return Some(Fault::Disconnect);
        }
        if random.internal > 0.0 && rng.random_bool(random.internal) {
            let name = if rng.random_bool(0.5) {
                "INTERNAL"
            } else {
                "RPC_CALL_FAIL"
            };
            return Some(Fault::rpc(500, name));
        }
        if random.slow > 0.0 && rng.random_bool(random.slow) {
            return Some(Fault::Slow(Duration::from_millis(random.slow_ms)));
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_faults_skip_then_fire_then_expire() {
        let f = Faults::new(RandomFaults::default(), 1);
        f.script(
            Scripted::on("messages.getHistory", Fault::FloodWait(2))
                .after(1)
                .times(2),
        );
        assert_eq!(
            f.pick("messages.getHistory", None),
            None,
            "first call let through"
        );
        assert_eq!(
            f.pick("users.getUsers", None),
            None,
            "other method untouched"
        );
        assert_eq!(
            f.pick("messages.getHistory", None),
            Some(Fault::FloodWait(2))
        );
        assert_eq!(
            f.pick("messages.getHistory", None),
            Some(Fault::FloodWait(2))
        );
        assert_eq!(
            f.pick("messages.getHistory", None),
            None,
            "expired after two"
        );
    }

    #[test]
    fn scripted_faults_can_target_an_account() {
        let f = Faults::new(RandomFaults::default(), 1);
        f.script(Scripted::on("messages.getHistory", Fault::internal()).for_account(7));
        assert_eq!(f.pick("messages.getHistory", Some(8)), None);
        assert_eq!(
            f.pick("messages.getHistory", Some(7)),
            Some(Fault::internal())
        );
    }

    #[test]
    fn random_faults_are_reproducible_from_the_seed() {
        let spec = RandomFaults::parse("flood=0.1,disconnect=0.05,internal=0.05,flood_secs=2")
            .expect("parse");
        let draw = |seed| {
            let f = Faults::new(spec.clone(), seed);
            (0..2_000).map(|_| f.pick("m", None)).collect::<Vec<_>>()
        };
        let a = draw(42);
        assert_eq!(a, draw(42));
        assert_ne!(a, draw(43));
        let floods = a
            .iter()
            .filter(|x| **x == Some(Fault::FloodWait(2)))
            .count();
        assert!(
            (120..=280).contains(&floods),
            "about 10 % floods, got {floods}"
        );
    }

    #[test]
    fn parse_rejects_nonsense() {
        assert!(RandomFaults::parse("flood=2").is_err());
        assert!(RandomFaults::parse("floods=0.1").is_err());
        assert!(RandomFaults::parse("flood").is_err());
        assert_eq!(RandomFaults::parse("").map(|f| f.flood), Ok(0.0));
    }
}
