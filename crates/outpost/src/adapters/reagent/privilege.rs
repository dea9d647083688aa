//! Reagent's privilege rule (../shared/compat/reagent.md §3): the backend's own caller
//! (`caller_authid == "system"`) passes unless the call names a `requestor_account_key`
//! (in kwargs or `args[0]`); then that account must hold the privilege, which the backend
//! answers through `reswarm.devices.check_privilege`. Answers are cached briefly, in a
//! bounded map, so a burst of calls from one account costs one check. Every procedure
//! needs one of the privileges: Reagent's "open" procedures are checked here too.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use outpost_proto::wamp::{Dict, Payload};
use serde_json::{json, Value};

pub const CHECK_PROCEDURE: &str = "reswarm.devices.check_privilege";
/// How long an answer is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// At most this many (account, privilege) answers are kept.
pub const CACHE_MAX: usize = 256;

/// What a procedure asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privilege {
    Read,
    Maintain,
    Develop,
    Network,
}

impl Privilege {
    pub fn name(self) -> &'static str {
        match self {
            Privilege::Read => "READ",
            Privilege::Maintain => "MAINTAIN",
            Privilege::Develop => "DEVELOP",
            Privilege::Network => "NETWORK",
        }
    }
}

/// What the invocation says about its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Allowed,
    /// Ask the backend: call [`CHECK_PROCEDURE`] with this payload.
    Check {
        account: u64,
        payload: Payload,
    },
    Denied(String),
}

/// The account an invocation acts for: `requestor_account_key` in kwargs, else in `args[0]`.
fn requestor(payload: &Payload) -> Option<&Value> {
    payload
        .kwargs
        .get("requestor_account_key")
        .or_else(|| payload.args.first()?.get("requestor_account_key"))
}

#[derive(Default)]
pub struct Privileges {
    cache: HashMap<(u64, Privilege), (bool, Instant)>,
}

impl Privileges {
    /// The first step for an invocation of a procedure needing `want`.
    pub fn decide(
        &self,
        want: Privilege,
        details: &Dict,
        payload: &Payload,
        swarm_key: u64,
        device_key: u64,
        now: Instant,
    ) -> Decision {
        let account = match requestor(payload) {
            None if details.get("caller_authid").and_then(Value::as_str) == Some("system") => {
                return Decision::Allowed
            }
            None => {
                return Decision::Denied("no requestor_account_key for a privilege check".into())
            }
            Some(v) => match v.as_u64() {
                Some(a) => a,
                None => {
                    return Decision::Denied(
                        "requestor_account_key must be a non-negative integer".into(),
                    )
                }
            },
        };
        if let Some((ok, at)) = self.cache.get(&(account, want)) {
            if now.duration_since(*at) < CACHE_TTL {
                return if *ok {
                    Decision::Allowed
                } else {
                    Decision::Denied(denied(account, want))
                };
            }
        }
        Decision::Check {
            account,
            payload: Payload::args(vec![json!({
                "privilege": want.name(),
                "entity": "DEVICE",
                "entity_key": device_key,
                "requestor_account_key": account,
                "swarm_key": swarm_key,
            })]),
        }
    }

    /// Records the backend's answer (`args[0]` a bool; anything else is a refusal).
    pub fn answer(
        &mut self,
        account: u64,
        want: Privilege,
        reply: &Payload,
        now: Instant,
    ) -> Decision {
        let ok = reply.args.first().and_then(Value::as_bool) == Some(true);
        if self.cache.len() >= CACHE_MAX {
            self.cache
                .retain(|_, (_, at)| now.duration_since(*at) < CACHE_TTL);
            if self.cache.len() >= CACHE_MAX {
                self.cache.clear();
            }
        }
        self.cache.insert((account, want), (ok, now));
        if ok {
            Decision::Allowed
        } else {
            Decision::Denied(denied(account, want))
        }
    }
}

fn denied(account: u64, want: Privilege) -> String {
    format!(
        "account {account} lacks the {} privilege on this device",
        want.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(authid: &str) -> Dict {
        json!({"caller_authid": authid})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn issue19_privilege_system_passes_unless_it_names_an_account() {
        let p = Privileges::default();
        let now = Instant::now();
        let none = Payload::default();
        assert_eq!(
            p.decide(Privilege::Read, &details("system"), &none, 7, 42, now),
            Decision::Allowed
        );
        assert!(matches!(
            p.decide(Privilege::Read, &details("someone"), &none, 7, 42, now),
            Decision::Denied(_)
        ));
        let named = Payload::args(vec![json!({"requestor_account_key": 5})]);
        let Decision::Check { account, payload } =
            p.decide(Privilege::Read, &details("system"), &named, 7, 42, now)
        else {
            panic!("an account named by the system caller is checked");
        };
        assert_eq!(account, 5);
        assert_eq!(
            payload.args[0],
            json!({"privilege": "READ", "entity": "DEVICE", "entity_key": 42, "requestor_account_key": 5, "swarm_key": 7})
        );
        let mut kw = Payload::default();
        kw.kwargs.insert("requestor_account_key".into(), json!("x"));
        assert!(matches!(
            p.decide(Privilege::Read, &details("system"), &kw, 7, 42, now),
            Decision::Denied(_)
        ));
    }

    #[test]
    fn issue19_privilege_answers_are_cached_and_bounded() {
        let mut p = Privileges::default();
        let now = Instant::now();
        let named = Payload::args(vec![json!({"requestor_account_key": 5})]);
        assert!(matches!(
            p.answer(5, Privilege::Read, &Payload::args(vec![json!(false)]), now),
            Decision::Denied(_)
        ));
        assert!(matches!(
            p.decide(Privilege::Read, &Dict::new(), &named, 7, 42, now),
            Decision::Denied(_)
        ));
        assert!(matches!(
            p.decide(
                Privilege::Read,
                &Dict::new(),
                &named,
                7,
                42,
                now + CACHE_TTL
            ),
            Decision::Check { .. }
        ));
        for a in 0..(CACHE_MAX as u64 * 2) {
            p.answer(a, Privilege::Read, &Payload::args(vec![json!(true)]), now);
            assert!(p.cache.len() <= CACHE_MAX);
        }
    }
}
