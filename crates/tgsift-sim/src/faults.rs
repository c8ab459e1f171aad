//! Injected faults: random ones (reproducible from a seed) and scripted ones (exact, for tests).
//!
//! A fault replaces the normal answer to one API call: an RPC error Telegram is known to send, a TCP
//! close without any reply, or a slow reply. Scripted faults are matched first, in the order they were
//! added; random faults are drawn per call from their probabilities.
//!
//! Page faults change the content of an answer instead: posts hidden from one account (stable for
//! the run, decided by a hash of seed, account, channel and id), pages cut short, `messageEmpty`
//! placeholders and repeated messages, as Telegram's history pages can be at their worst.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::textgen::SplitMix64;

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
    /// Probability that a post is hidden from an account, decided once per (account, channel, id)
    /// for the run: history pages come back short in the middle, `channels.getMessages` answers
    /// `messageEmpty`, differences and pushes leave it out. Another account may still see it.
    pub hidden: f64,
    /// Probability that a getHistory page of at least 2 messages is cut to a shorter, non-empty
    /// prefix (per call).
    pub short_page: f64,
    /// Probability, per message of a page, getMessages or difference answer, that it is sent as a
    /// `messageEmpty` placeholder although it exists (per call).
    pub empty: f64,
    /// Probability that a page, getMessages or difference answer repeats one of its messages right
    /// after itself (per call).
    pub dup: f64,
    /// Probability, per packet a client sends, that its connection becomes a black hole from then
    /// on: open, silent (no answers, pongs or pushes) and never closed by the server.
    pub blackhole: f64,
    /// Probability, per API call, that the server forgets the connection's session first
    /// (`new_session_created`; no pushes until the client asks for updates again).
    pub session_reset: f64,
    /// Probability, per push delivery, that the push carries an update of a newer layer the client
    /// cannot decode, so the whole push is lost to it.
    pub unknown_update: f64,
}

impl RandomFaults {
    /// Parses `flood=0.01,disconnect=0.001,internal=0.001,slow=0.01,slow_ms=200,flood_secs=2`,
    /// the page faults `hidden=0.01,short_page=0.05,empty=0.01,dup=0.01` and the silences
    /// `blackhole=0.0001,session_reset=0.001,unknown_update=0.001`.
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
                "hidden" => f.hidden = prob()?,
                "short_page" => f.short_page = prob()?,
                "empty" => f.empty = prob()?,
                "dup" => f.dup = prob()?,
                "blackhole" => f.blackhole = prob()?,
                "session_reset" => f.session_reset = prob()?,
                "unknown_update" => f.unknown_update = prob()?,
                other => {
                    return Err(format!(
                        "unknown fault `{other}` (known: flood, flood_secs, disconnect, internal, slow, slow_ms, hidden, short_page, empty, dup, blackhole, session_reset, unknown_update)"
                    ));
                }
            }
        }
        Ok(f)
    }

    /// Whether any page fault is on (otherwise answers are built without looking at them).
    fn pages_on(&self) -> bool {
        self.hidden > 0.0 || self.short_page > 0.0 || self.empty > 0.0 || self.dup > 0.0
    }

    /// Whether any random silence is on (otherwise packets and pushes skip the draw and its lock).
    fn silences_on(&self) -> bool {
        self.blackhole > 0.0 || self.session_reset > 0.0 || self.unknown_update > 0.0
    }
}

/// The random silences, drawn per packet, call or push from their own generator (so turning one on
/// does not change which calls get the per-call faults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RandomSilence {
    /// [`RandomFaults::blackhole`], per client packet.
    BlackHole,
    /// [`RandomFaults::session_reset`], per API call.
    SessionReset,
    /// [`RandomFaults::unknown_update`], per push delivery.
    UnknownUpdate,
}

/// Keeps the silences' generator apart from the per-call one of the same seed.
const SALT_SILENCES: u64 = 0x7369_6c65_6e63;

/// Salt of the hidden-post hash (keeps it apart from content hashes of the same seed).
const SALT_HIDDEN: u64 = 0x6869_6464_656e;

/// The run's rule for which posts an account cannot see: a hash of (seed, user id, channel id,
/// message id) against the probability, so it is stable across calls and costs no memory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hider {
    /// Hash of (seed, user id).
    who: u64,
    p: f64,
}

impl Hider {
    /// Whether post `id` of channel `channel_id` is hidden from this account.
    pub(crate) fn hides(&self, channel_id: i64, id: i32) -> bool {
        let h = crate::textgen::hash3(self.who, channel_id as u64, id as u32 as u64);
        // 53 random bits as a uniform number in [0, 1).
        ((h >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < self.p
    }
}

/// The page faults of one call: the account's hidden posts and this call's own draws.
pub(crate) struct PageFaults {
    hider: Option<Hider>,
    short_page: f64,
    empty: f64,
    dup: f64,
    rng: SplitMix64,
}

impl PageFaults {
    /// Whether post `id` of the channel is hidden from the caller (never for no account).
    pub(crate) fn hides(&self, channel_id: i64, id: i32) -> bool {
        self.hider.is_some_and(|h| h.hides(channel_id, id))
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.rng.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p
    }

    /// The length a history page of `len` messages is cut to: a shorter prefix of at least 1 with
    /// probability `short_page` when there are at least 2, else `len`.
    pub(crate) fn page_len(&mut self, len: usize) -> usize {
        if len >= 2 && self.chance(self.short_page) {
            1 + self.rng.below(len - 1)
        } else {
            len
        }
    }

    /// Whether this message of the answer is sent as a `messageEmpty` placeholder.
    pub(crate) fn blank(&mut self) -> bool {
        self.chance(self.empty)
    }

    /// Repeats one message right after itself, with probability `dup`.
    pub(crate) fn maybe_dup<T: Clone>(&mut self, items: &mut Vec<T>) {
        if !items.is_empty() && self.chance(self.dup) {
            let at = self.rng.below(items.len());
            let copy = items[at].clone();
            items.insert(at + 1, copy);
        }
    }
}

struct Inner {
    random: RandomFaults,
    rng: StdRng,
    silence_rng: StdRng,
    script: Vec<Scripted>,
}

/// The fault plan of a running simulator.
pub struct Faults {
    inner: Mutex<Inner>,
    /// The run seed (hidden posts are a hash of it).
    seed: u64,
    /// Any page fault on: checked without the lock so answers skip page faults when all are off.
    pages: AtomicBool,
    /// Any random silence on: checked without the lock, per packet and push.
    silences: AtomicBool,
}

impl Faults {
    /// A plan with these random faults, drawn from `seed`.
    pub fn new(random: RandomFaults, seed: u64) -> Self {
        Faults {
            pages: AtomicBool::new(random.pages_on()),
            silences: AtomicBool::new(random.silences_on()),
            inner: Mutex::new(Inner {
                random,
                rng: StdRng::seed_from_u64(seed),
                silence_rng: StdRng::seed_from_u64(crate::textgen::hash3(seed, SALT_SILENCES, 0)),
                script: Vec::new(),
            }),
            seed,
        }
    }

    /// Draws whether a random silence hits this packet, call or push (never when it is off).
    pub(crate) fn silence(&self, which: RandomSilence) -> bool {
        if !self.silences.load(Ordering::Relaxed) {
            return false;
        }
        let mut inner = self.lock();
        let p = match which {
            RandomSilence::BlackHole => inner.random.blackhole,
            RandomSilence::SessionReset => inner.random.session_reset,
            RandomSilence::UnknownUpdate => inner.random.unknown_update,
        };
        p > 0.0 && inner.silence_rng.random_bool(p)
    }

    /// The page faults of one call by the account with this user id (`None`: not logged in, nothing
    /// hidden); `None` when every page fault is off.
    pub(crate) fn page_faults(&self, user_id: Option<i64>) -> Option<PageFaults> {
        if !self.pages.load(Ordering::Relaxed) {
            return None;
        }
        let mut inner = self.lock();
        let r = &inner.random;
        let hider = self.hider_with(r, user_id);
        let (short_page, empty, dup) = (r.short_page, r.empty, r.dup);
        let draws = inner.rng.random::<u64>();
        Some(PageFaults {
            hider,
            short_page,
            empty,
            dup,
            rng: SplitMix64::new(draws),
        })
    }

    /// The hidden-post rule for the account with this user id, when `hidden` is on.
    pub(crate) fn hider(&self, user_id: Option<i64>) -> Option<Hider> {
        if !self.pages.load(Ordering::Relaxed) {
            return None;
        }
        self.hider_with(&self.lock().random, user_id)
    }

    fn hider_with(&self, random: &RandomFaults, user_id: Option<i64>) -> Option<Hider> {
        let user_id = user_id?;
        (random.hidden > 0.0).then(|| Hider {
            who: crate::textgen::hash3(self.seed, SALT_HIDDEN, user_id as u64),
            p: random.hidden,
        })
    }

    /// Adds a scripted fault (matched before random ones, in order of addition).
    pub fn script(&self, s: Scripted) {
        self.lock().script.push(s);
    }

    /// Replaces the random fault probabilities.
    pub fn set_random(&self, random: RandomFaults) {
        let mut inner = self.lock();
        self.pages.store(random.pages_on(), Ordering::Relaxed);
        self.silences.store(random.silences_on(), Ordering::Relaxed);
        inner.random = random;
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

    #[test]
    fn parse_knows_the_page_faults_and_checks_their_range() {
        let f = RandomFaults::parse("hidden=0.01,short_page=0.05,empty=0.02,dup=1").expect("parse");
        assert_eq!(
            (f.hidden, f.short_page, f.empty, f.dup),
            (0.01, 0.05, 0.02, 1.0)
        );
        assert_eq!(f.flood, 0.0, "the others stay off");
        for bad in [
            "hidden=1.5",
            "short_page=-0.1",
            "empty=2",
            "dup=x",
            "hidden",
        ] {
            assert!(RandomFaults::parse(bad).is_err(), "{bad}");
        }
        let err = RandomFaults::parse("shortpage=0.1").expect_err("unknown");
        assert!(err.contains("short_page") && err.contains("dup"), "{err}");
        assert!(!RandomFaults::default().pages_on());
    }

    #[test]
    fn parse_knows_the_silences_and_they_are_drawn_only_when_on() {
        let f =
            RandomFaults::parse("blackhole=0.5,session_reset=1,unknown_update=0").expect("parse");
        assert_eq!(
            (f.blackhole, f.session_reset, f.unknown_update),
            (0.5, 1.0, 0.0)
        );
        assert!(RandomFaults::parse("blackhole=2").is_err());
        let err = RandomFaults::parse("black_hole=0.1").expect_err("unknown");
        assert!(
            err.contains("blackhole") && err.contains("unknown_update"),
            "{err}"
        );

        let faults = Faults::new(f.clone(), 5);
        assert!((0..100).all(|_| faults.silence(RandomSilence::SessionReset)));
        assert!((0..100).all(|_| !faults.silence(RandomSilence::UnknownUpdate)));
        let holes = (0..1_000)
            .filter(|_| faults.silence(RandomSilence::BlackHole))
            .count();
        assert!((400..600).contains(&holes), "{holes}");
        let off = Faults::new(RandomFaults::default(), 5);
        assert!(!off.silence(RandomSilence::BlackHole));
        // The per-call faults draw the same with silences on or off.
        let calls = RandomFaults::parse("flood=0.3").expect("parse");
        let with = Faults::new(
            RandomFaults {
                blackhole: 0.5,
                ..calls.clone()
            },
            9,
        );
        let without = Faults::new(calls, 9);
        let a: Vec<_> = (0..200)
            .map(|_| {
                with.silence(RandomSilence::BlackHole);
                with.pick("m", None)
            })
            .collect();
        let b: Vec<_> = (0..200).map(|_| without.pick("m", None)).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn page_faults_are_off_unless_set_and_hiding_is_stable_per_account() {
        let f = Faults::new(RandomFaults::default(), 7);
        assert!(f.page_faults(Some(1)).is_none());
        f.set_random(RandomFaults {
            hidden: 0.1,
            ..Default::default()
        });
        let a = f.page_faults(Some(1)).expect("on");
        let b = f.page_faults(Some(2)).expect("on");
        assert!(!f.page_faults(None).expect("on").hides(5, 10), "no account");
        let hidden_a: Vec<i32> = (1..10_000).filter(|&id| a.hides(5, id)).collect();
        let hidden_b: Vec<i32> = (1..10_000).filter(|&id| b.hides(5, id)).collect();
        assert!((800..1_200).contains(&hidden_a.len()), "{}", hidden_a.len());
        assert_ne!(hidden_a, hidden_b, "another account sees other posts");
        let again = f.hider(Some(1)).expect("on");
        assert!(hidden_a.iter().all(|&id| again.hides(5, id)), "stable");
        assert_ne!(
            hidden_a,
            (1..10_000).filter(|&id| a.hides(6, id)).collect::<Vec<_>>(),
            "per channel"
        );
    }

    #[test]
    fn short_pages_keep_a_non_empty_prefix_and_dups_repeat_in_place() {
        let f = Faults::new(
            RandomFaults {
                short_page: 1.0,
                dup: 1.0,
                ..Default::default()
            },
            3,
        );
        let mut pf = f.page_faults(None).expect("on");
        for len in [0, 1, 2, 3, 100] {
            let cut = pf.page_len(len);
            if len >= 2 {
                assert!((1..len).contains(&cut), "{len} -> {cut}");
            } else {
                assert_eq!(cut, len);
            }
        }
        let mut v = vec![5, 4, 3];
        pf.maybe_dup(&mut v);
        assert_eq!(v.len(), 4);
        assert!(v.windows(2).any(|w| w[0] == w[1]), "{v:?}");
        let mut none: Vec<i32> = vec![];
        pf.maybe_dup(&mut none);
        assert!(none.is_empty());
    }
}
