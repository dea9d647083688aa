//! The spec hash: what the reconciler compares to decide a container must be recreated.
//!
//! It is FNV-1a (64-bit) over the canonical JSON of the container's `RunSpec` without the
//! hash label, written as 16 lowercase hex digits. Canonical: serde_json writes a struct's
//! fields in declaration order, every map is a `BTreeMap` (sorted keys) and floats in their
//! shortest round-trip form, so the text and hence the hash are the same on every run and
//! platform (no `DefaultHasher`, whose keys are random). Reordering a YAML mapping or the
//! environment changes nothing; changing anything the container is made from changes the
//! hash. A 64-bit hash suffices: it tells one service's old spec from its new one, it is
//! not a defence against someone forging a collision (the spec's author is the operator).

use crate::run_spec::RunSpec;

/// The label that holds the hash.
pub const SPEC_HASH_LABEL: &str = "outpost.spec-hash";

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// The hash of `spec`, ignoring any hash label it already carries.
pub fn spec_hash(spec: &RunSpec) -> String {
    let mut s = spec.clone();
    s.labels.remove(SPEC_HASH_LABEL);
    // Serializing plain data (strings, integers, finite floats, BTreeMaps) cannot fail; a
    // NaN would be written as null, which is still deterministic.
    let text = serde_json::to_vec(&s).unwrap_or_default();
    format!("{:016x}", fnv1a(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_reference_values() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn a_known_spec_has_a_known_hash() {
        // Pinned: if this changes, every managed container is recreated on upgrade.
        let s = RunSpec {
            image: "busybox:local".into(),
            ..RunSpec::default()
        };
        assert_eq!(
            spec_hash(&s),
            format!("{:016x}", fnv1a(br#"{"image":"busybox:local"}"#))
        );
    }

    #[test]
    fn the_hash_label_is_not_hashed() {
        let mut s = RunSpec {
            image: "x".into(),
            ..RunSpec::default()
        };
        let h = spec_hash(&s);
        s.labels.insert(SPEC_HASH_LABEL.into(), h.clone());
        assert_eq!(spec_hash(&s), h);
        s.labels.insert("other".into(), "1".into());
        assert_ne!(spec_hash(&s), h);
    }
}
