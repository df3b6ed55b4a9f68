//! Batch Ed25519 verification that folds signatures made with the same key together.
//!
//! Every invocation on a lattice is signed with the same cluster key, so a receiver that
//! verifies a batch of `n` invocations sees `n` signatures by (usually) one key `A`. The
//! batch equation of `ed25519_dalek::verify_batch` is, with random 128-bit `zᵢ`,
//! `sᵢ` the signatures' scalars, `Rᵢ` their points and `hᵢ = H(Rᵢ ‖ A ‖ Mᵢ)`:
//!
//! ```text
//! [−Σ zᵢ·sᵢ]B + Σ [zᵢ]Rᵢ + Σ [zᵢ·hᵢ]Aᵢ = 0
//! ```
//!
//! a multiscalar multiplication over `2n + 1` points, half of them `Aᵢ` with full-size
//! scalars. When many `Aᵢ` are the same point the last sum is an identity away from
//! `[Σ zᵢ·hᵢ]A`: one point per *distinct* key, so the multiplication shrinks to `n + 1 + k`
//! points (`k` distinct keys, normally 1) and loses its most expensive terms. The equation
//! checked is the same one, term for term — this is algebra, not a weaker check.
//!
//! The coefficients `zᵢ` are derived as dalek derives them: deterministically from a hash
//! of every `hᵢ` (which binds `Rᵢ`, the key and the message) and every `sᵢ`, so whoever
//! makes the signatures cannot choose them; each is a 128-bit value, forced odd so none is
//! zero. As with dalek's batch check, a batch with any bad signature fails except with
//! probability about 2⁻¹²⁸, and the caller then checks each signature on its own to find
//! the bad ones ([`crate::claims::verify_batch`]). Like dalek's, `s` must be canonical
//! (`< ℓ`) and every `R` must decompress; the single check ([`ed25519_dalek::Verifier`])
//! stays the reference for which signatures are accepted.

use std::iter::once;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};

/// Domain separation of the coefficient hash.
const DOMAIN: &[u8] = b"lattice-proto ed25519 same-key batch v1";

/// One signature to check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item<'a> {
    pub(crate) message: &'a [u8],
    pub(crate) signature: &'a Signature,
    pub(crate) key: &'a VerifyingKey,
}

/// `true` when every signature verifies (see the module docs for the equation). An empty
/// batch verifies.
pub(crate) fn verify(items: &[Item<'_>]) -> bool {
    let n = items.len();
    let mut hrams = Vec::with_capacity(n);
    let mut ss = Vec::with_capacity(n);
    let mut rs = Vec::with_capacity(n);
    let mut seed = Sha512::new_with_prefix(DOMAIN);
    for item in items {
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*item.signature.s_bytes())) else {
            return false;
        };
        let Some(r) = CompressedEdwardsY(*item.signature.r_bytes()).decompress() else {
            return false;
        };
        let hram: [u8; 64] = Sha512::new()
            .chain_update(item.signature.r_bytes())
            .chain_update(item.key.as_bytes())
            .chain_update(item.message)
            .finalize()
            .into();
        seed.update(hram);
        seed.update(item.signature.s_bytes());
        hrams.push(Scalar::from_bytes_mod_order_wide(&hram));
        ss.push(s);
        rs.push(r);
    }
    let zs = coefficients(&seed.finalize().into(), n);

    let mut b_coefficient = Scalar::ZERO;
    // (key bytes, key point, Σ zᵢ·hᵢ over the signatures by that key)
    let mut keys: Vec<(&[u8; 32], EdwardsPoint, Scalar)> = Vec::with_capacity(1);
    for (((item, z), s), h) in items.iter().zip(&zs).zip(&ss).zip(&hrams) {
        b_coefficient += z * s;
        let zh = z * h;
        match keys.iter_mut().find(|(bytes, _, _)| *bytes == item.key.as_bytes()) {
            Some((_, _, sum)) => *sum += zh,
            None => keys.push((item.key.as_bytes(), item.key.to_edwards(), zh)),
        }
    }
    let scalars = once(-b_coefficient).chain(zs).chain(keys.iter().map(|(_, _, sum)| *sum));
    let points = once(ED25519_BASEPOINT_POINT).chain(rs).chain(keys.iter().map(|(_, point, _)| *point));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// `n` odd 128-bit coefficients from `seed`: four per SHA-512 block `H(seed ‖ j)`.
fn coefficients(seed: &[u8; 64], n: usize) -> Vec<Scalar> {
    let mut zs = Vec::with_capacity(n);
    let mut block = 0u64;
    while zs.len() < n {
        let bytes: [u8; 64] = Sha512::new().chain_update(seed).chain_update(block.to_le_bytes()).finalize().into();
        for chunk in bytes.chunks_exact(16).take(n - zs.len()) {
            let mut z = [0u8; 32];
            z[..16].copy_from_slice(chunk);
            z[0] |= 1;
            zs.push(Scalar::from_bytes_mod_order(z));
        }
        block += 1;
    }
    zs
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use ed25519_dalek::{Signer, SigningKey, Verifier};
    use proptest::prelude::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    struct Batch {
        msgs: Vec<Vec<u8>>,
        sigs: Vec<Signature>,
        keys: Vec<VerifyingKey>,
    }

    impl Batch {
        fn new(msgs: Vec<Vec<u8>>, signer_of: impl Fn(usize) -> u8) -> Self {
            let signers: Vec<SigningKey> = (0..msgs.len()).map(|i| key(signer_of(i))).collect();
            let sigs = msgs.iter().zip(&signers).map(|(m, k)| k.sign(m)).collect();
            let keys = signers.iter().map(SigningKey::verifying_key).collect();
            Self { msgs, sigs, keys }
        }

        fn ours(&self) -> bool {
            let items: Vec<Item<'_>> = (0..self.msgs.len())
                .map(|i| Item { message: &self.msgs[i], signature: &self.sigs[i], key: &self.keys[i] })
                .collect();
            verify(&items)
        }

        fn dalek_batch(&self) -> bool {
            let msgs: Vec<&[u8]> = self.msgs.iter().map(Vec::as_slice).collect();
            ed25519_dalek::verify_batch(&msgs, &self.sigs, &self.keys).is_ok()
        }

        fn each_single(&self) -> bool {
            (0..self.msgs.len()).all(|i| self.keys[i].verify(&self.msgs[i], &self.sigs[i]).is_ok())
        }
    }

    #[test]
    fn an_empty_batch_verifies() {
        assert!(verify(&[]));
    }

    #[test]
    fn coefficients_are_odd_distinct_and_128_bit() {
        let zs = coefficients(&[7; 64], 9);
        assert_eq!(zs.len(), 9);
        for (i, z) in zs.iter().enumerate() {
            let b = z.to_bytes();
            assert_eq!(b[0] & 1, 1);
            assert!(b[16..].iter().all(|&x| x == 0));
            assert!(zs[..i].iter().all(|other| other != z));
        }
        assert_ne!(coefficients(&[8; 64], 1), coefficients(&[7; 64], 1));
    }

    #[test]
    fn a_signature_by_an_unexpected_key_fails() {
        let mut batch = Batch::new(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()], |_| 1);
        batch.keys[1] = key(2).verifying_key();
        assert!(!batch.ours());
    }

    #[test]
    fn a_non_canonical_s_fails() {
        let mut batch = Batch::new(vec![b"a".to_vec(), b"b".to_vec()], |_| 1);
        let mut bytes = batch.sigs[0].to_bytes();
        bytes[63] |= 0xf0;
        batch.sigs[0] = Signature::from_bytes(&bytes);
        assert!(!batch.ours());
        assert!(!batch.each_single());
    }

    #[test]
    fn swapped_signatures_fail() {
        let mut batch = Batch::new(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()], |_| 1);
        batch.sigs.swap(0, 2);
        assert!(!batch.ours());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Valid batches, one key or several, verify; the result agrees with dalek's
        /// batch check and with checking each signature.
        #[test]
        fn valid_batches_verify(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..24),
            keys in 1u8..4,
        ) {
            let batch = Batch::new(msgs, |i| 1 + (i as u8 % keys));
            prop_assert!(batch.each_single());
            prop_assert!(batch.dalek_batch());
            prop_assert!(batch.ours());
        }

        /// Any single flipped bit — in a message, a signature's R or s, or a key — fails
        /// the batch, as it fails dalek's checks.
        #[test]
        fn one_flipped_bit_fails(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 2..12),
            keys in 1u8..3,
            which in any::<prop::sample::Index>(),
            part in 0u8..3,
            bit in 0usize..512,
        ) {
            let mut batch = Batch::new(msgs, |i| 1 + (i as u8 % keys));
            let i = which.index(batch.msgs.len());
            match part {
                0 => { let m = &mut batch.msgs[i]; let b = bit % (m.len() * 8); m[b / 8] ^= 1 << (b % 8); }
                1 => {
                    let mut bytes = batch.sigs[i].to_bytes();
                    bytes[bit / 8 % 64] ^= 1 << (bit % 8);
                    batch.sigs[i] = Signature::from_bytes(&bytes);
                }
                _ => {
                    let other = key(200).verifying_key();
                    batch.keys[i] = other;
                }
            }
            prop_assert!(!batch.each_single());
            prop_assert!(!batch.ours());
        }
    }
}
