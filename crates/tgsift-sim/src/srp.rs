//! The server side of Telegram's 2FA check, SRP-2048 as <https://core.telegram.org/api/srp> gives it.
//!
//! `account.getPassword` hands out `B = k·v + g^b mod p` for a fresh secret `b`, where
//! `v = g^x mod p` and `x = PH2(password, salt1, salt2)`; `auth.checkPassword` brings the client's
//! `A = g^a mod p` and `M1`, which the server recomputes from its side:
//! `u = H(A | B)`, `S = (A · v^u)^b mod p`, `K = H(S)`,
//! `M1 = H(H(p) xor H(g) | H(salt1) | H(salt2) | A | B | K)`. Any client that follows the
//! protocol passes (grammers, Telethon…), whatever secret `a` it draws.

use hmac::Hmac;
use num_bigint::BigUint;
use sha2::{Digest, Sha256, Sha512};

/// What `account.getPassword` handed out and `auth.checkPassword` needs again.
#[derive(Clone, Debug)]
pub(crate) struct Srp {
    /// The server's secret exponent.
    b: Vec<u8>,
    /// `v = g^x mod p`, padded.
    v: Vec<u8>,
    /// `B`, padded to 256 bytes: what the client gets as `srp_B`.
    pub g_b: Vec<u8>,
}

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

/// SH(data, salt) = H(salt | data | salt).
fn sh(data: &[u8], salt: &[u8]) -> [u8; 32] {
    h(&[salt, data, salt])
}

/// PH2(password, salt1, salt2) = SH(pbkdf2(sha512, SH(SH(password, salt1), salt2), salt1, 100000), salt2).
fn ph2(password: &[u8], salt1: &[u8], salt2: &[u8]) -> [u8; 32] {
    let ph1 = sh(&sh(password, salt1), salt2);
    let mut dk = [0u8; 64];
    // The output length is fixed and valid for HMAC-SHA512, so this cannot fail.
    let _ = pbkdf2::pbkdf2::<Hmac<Sha512>>(&ph1, salt1, 100_000, &mut dk);
    sh(&dk, salt2)
}

fn pad(n: &BigUint) -> Vec<u8> {
    let bytes = n.to_bytes_be();
    let mut out = vec![0u8; 256usize.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    out
}

/// `k = H(p | pad(g))`.
fn k(p: &[u8], g: u32) -> BigUint {
    BigUint::from_bytes_be(&h(&[p, &pad(&BigUint::from(g))]))
}

impl Srp {
    /// A new challenge for `password` with these parameters (PBKDF2 with 100,000 rounds: run it
    /// off the async workers).
    pub(crate) fn new(password: &[u8], salt1: &[u8], salt2: &[u8], p: &[u8], g: u32) -> Srp {
        let big_p = BigUint::from_bytes_be(p);
        let big_g = BigUint::from(g);
        let x = BigUint::from_bytes_be(&ph2(password, salt1, salt2));
        let v = big_g.modpow(&x, &big_p);
        let b: Vec<u8> = (0..256).map(|_| rand::random::<u8>()).collect();
        let g_b = (k(p, g) * &v + big_g.modpow(&BigUint::from_bytes_be(&b), &big_p)) % &big_p;
        Srp {
            b,
            v: pad(&v),
            g_b: pad(&g_b),
        }
    }

    /// Whether the client's `A` and `M1` prove it knows the password.
    pub(crate) fn verify(
        &self,
        salt1: &[u8],
        salt2: &[u8],
        p: &[u8],
        g: u32,
        g_a: &[u8],
        m1: &[u8],
    ) -> bool {
        let big_p = BigUint::from_bytes_be(p);
        let big_a = BigUint::from_bytes_be(g_a);
        // A must be a group element other than 0 (and 1, p-1: a client that sends them cheats).
        if big_a <= BigUint::from(1u8) || big_a >= &big_p - 1u8 {
            return false;
        }
        let a_pad = pad(&big_a);
        let u = BigUint::from_bytes_be(&h(&[&a_pad, &self.g_b]));
        let v = BigUint::from_bytes_be(&self.v);
        let s = (big_a * v.modpow(&u, &big_p) % &big_p)
            .modpow(&BigUint::from_bytes_be(&self.b), &big_p);
        let key = h(&[&pad(&s)]);
        let (hp, hg) = (h(&[p]), h(&[&pad(&BigUint::from(g))]));
        let xored: Vec<u8> = hp.iter().zip(hg.iter()).map(|(a, b)| a ^ b).collect();
        let expected = h(&[&xored, &h(&[salt1]), &h(&[salt2]), &a_pad, &self.g_b, &key]);
        expected.as_slice() == m1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// grammers' client proof, with a secret of its own, passes; a wrong password does not.
    #[test]
    fn a_client_proof_is_checked_against_the_password() {
        let p = crate::objects::srp_p();
        let g = crate::objects::SRP_G;
        let (salt1, salt2) = (b"salt-one".to_vec(), b"two".to_vec());
        let srp = Srp::new(b"hunter2", &salt1, &salt2, &p, g as u32);
        let a: Vec<u8> = (0..256).map(|i| (i * 7 + 1) as u8).collect();
        let (m1, g_a) = grammers_crypto::two_factor_auth::calculate_2fa(
            &salt1,
            &salt2,
            &p,
            &g,
            srp.g_b.clone(),
            a.clone(),
            b"hunter2",
        );
        assert!(srp.verify(&salt1, &salt2, &p, g as u32, &g_a, &m1));
        let (m1, g_a) = grammers_crypto::two_factor_auth::calculate_2fa(
            &salt1,
            &salt2,
            &p,
            &g,
            srp.g_b.clone(),
            a,
            b"hunter3",
        );
        assert!(!srp.verify(&salt1, &salt2, &p, g as u32, &g_a, &m1));
        assert!(!srp.verify(&salt1, &salt2, &p, g as u32, &[1], &m1));
    }
}
