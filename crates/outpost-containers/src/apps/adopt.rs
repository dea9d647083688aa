//! Adoption: a container another agent made, taken over as a declared service's container
//! without recreating it (a drop-in replacing Reagent finds its apps running).
//!
//! The reconciler's ownership rule stays: it only touches containers labelled
//! `outpost.app`/`outpost.service`. Adoption is an explicit mapping a caller sets up before
//! it declares the app: "the container named N that carries label K=V is service S of app
//! A, made from the spec whose hash is H". A container that matches a rule and carries no
//! `outpost.*` ownership label is given those labels as the engine lists it (and in its
//! events), so the plan sees the declared service's current container and leaves it
//! running. Labels cannot be added to an existing container: the mapping is applied on
//! every listing, and a spec change recreates the container (with real labels), after
//! which the rule no longer matters.
//!
//! Engine-free: the `OnEngine` listing and event stream call [`Adoptions::claim`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::convert::{APP_LABEL, SERVICE_LABEL};
use super::hash::SPEC_HASH_LABEL;

/// Marks a container the reconciler sees through an adoption rule (never on the engine).
pub const ADOPTED_LABEL: &str = "outpost.adopted";

/// At most this many rules are kept; a new one beyond replaces none and is refused.
pub const MAX_RULES: usize = 1024;

/// One adoption: whose container a matching one becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptRule {
    pub app: String,
    pub service: String,
    /// The label the other agent put on its containers (key, value); the value is
    /// compared without case (Reagent writes `True` and reads `true`).
    pub label: (String, String),
    /// The spec hash of the declared service the container is taken as.
    pub spec_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    #[error("too many adoption rules (at most {MAX_RULES})")]
    Full,
}

/// The rules by container name, shared between whoever declares the apps and the engine
/// view of the reconciler.
#[derive(Debug, Clone, Default)]
pub struct Adoptions(Arc<Mutex<BTreeMap<String, AdoptRule>>>);

impl Adoptions {
    fn rules(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AdoptRule>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets (or replaces) the rule for the container named `container`.
    pub fn set(&self, container: &str, rule: AdoptRule) -> Result<(), AdoptError> {
        let mut r = self.rules();
        if r.len() >= MAX_RULES && !r.contains_key(container) {
            return Err(AdoptError::Full);
        }
        r.insert(container.to_owned(), rule);
        Ok(())
    }

    pub fn forget(&self, container: &str) {
        self.rules().remove(container);
    }

    pub fn is_empty(&self) -> bool {
        self.rules().is_empty()
    }

    /// The label keys the rules ask for: the engine lists candidates by them.
    pub fn label_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.rules().values().map(|r| r.label.0.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The labels to add to container `name` (Docker's `/` prefix allowed) with `labels`,
    /// when a rule adopts it: the ownership labels, the rule's spec hash and
    /// [`ADOPTED_LABEL`]. `None` when no rule matches, or the container carries an
    /// ownership label already (it is Outpost's, or claimed otherwise).
    pub fn claim(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Option<BTreeMap<String, String>> {
        if labels.contains_key(APP_LABEL) || labels.contains_key(SERVICE_LABEL) {
            return None;
        }
        let name = name.strip_prefix('/').unwrap_or(name);
        let rules = self.rules();
        let rule = rules.get(name)?;
        let (key, want) = &rule.label;
        if !labels.get(key)?.eq_ignore_ascii_case(want) {
            return None;
        }
        Some(BTreeMap::from([
            (APP_LABEL.to_owned(), rule.app.clone()),
            (SERVICE_LABEL.to_owned(), rule.service.clone()),
            (SPEC_HASH_LABEL.to_owned(), rule.spec_hash.clone()),
            (ADOPTED_LABEL.to_owned(), "true".to_owned()),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> AdoptRule {
        AdoptRule {
            app: "prod_1_app".into(),
            service: "app".into(),
            label: ("real".into(), "True".into()),
            spec_hash: "h1".into(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn issue19_adoption_claims_a_named_labelled_unowned_container() {
        let a = Adoptions::default();
        assert!(a.is_empty());
        a.set("prod_1_app", rule()).unwrap();
        let got = a
            .claim("/prod_1_app", &labels(&[("real", "true")]))
            .expect("adopted");
        assert_eq!(got[APP_LABEL], "prod_1_app");
        assert_eq!(got[SERVICE_LABEL], "app");
        assert_eq!(got[SPEC_HASH_LABEL], "h1");
        assert_eq!(got[ADOPTED_LABEL], "true");
        assert_eq!(a.label_keys(), vec!["real".to_owned()]);
    }

    #[test]
    fn issue19_adoption_never_takes_what_does_not_match() {
        let a = Adoptions::default();
        a.set("prod_1_app", rule()).unwrap();
        // Another name, no label, another value, or an owned container: no claim.
        assert!(a
            .claim("prod_2_app", &labels(&[("real", "True")]))
            .is_none());
        assert!(a.claim("prod_1_app", &labels(&[])).is_none());
        assert!(a
            .claim("prod_1_app", &labels(&[("real", "false")]))
            .is_none());
        assert!(a
            .claim(
                "prod_1_app",
                &labels(&[("real", "True"), (APP_LABEL, "other")])
            )
            .is_none());
        a.forget("prod_1_app");
        assert!(a
            .claim("prod_1_app", &labels(&[("real", "True")]))
            .is_none());
    }

    #[test]
    fn issue19_adoption_rules_are_bounded() {
        let a = Adoptions::default();
        for i in 0..MAX_RULES {
            a.set(&format!("c{i}"), rule()).unwrap();
        }
        assert_eq!(a.set("one_more", rule()), Err(AdoptError::Full));
        // Replacing an existing rule is fine.
        a.set("c0", rule()).unwrap();
    }
}
