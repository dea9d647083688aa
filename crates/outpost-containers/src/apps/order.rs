//! Start order from `depends_on`: a service starts after everything it depends on; among
//! services free to start, the smaller name first, so the order is the same on every run.
//! Stopping and removing go in the reverse order.

use std::collections::{BTreeMap, BTreeSet};

use super::compose::AppSpec;

/// Services in start order, or the first dependency cycle found (`[a, b, a]`).
/// Dependencies on services the app does not have are ignored here (validation refuses
/// them with their position).
pub fn start_order(app: &AppSpec) -> Result<Vec<String>, Vec<String>> {
    let deps: BTreeMap<&str, BTreeSet<&str>> = app
        .services
        .iter()
        .map(|(name, s)| {
            let d = s
                .depends_on
                .keys()
                .map(String::as_str)
                .filter(|d| app.services.contains_key(*d))
                .collect();
            (name.as_str(), d)
        })
        .collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::with_capacity(deps.len());
    // Quadratic in the number of services, which is small; simple beats clever here.
    loop {
        let next = deps
            .iter()
            .find(|(n, d)| !done.contains(*n) && d.iter().all(|x| done.contains(x)))
            .map(|(n, _)| *n);
        match next {
            Some(n) => {
                done.insert(n);
                order.push(n.to_owned());
            }
            None => break,
        }
    }
    if order.len() == deps.len() {
        return Ok(order);
    }
    // Every service left waits on another one left: walking "first unmet dependency"
    // from any of them must come back to a service already on the walk.
    let mut walk: Vec<&str> = Vec::new();
    let mut at = deps
        .keys()
        .find(|n| !done.contains(*n))
        .copied()
        .unwrap_or_default();
    loop {
        if let Some(i) = walk.iter().position(|x| *x == at) {
            let mut cycle: Vec<String> = walk[i..].iter().map(|s| (*s).to_owned()).collect();
            cycle.push(at.to_owned());
            return Err(cycle);
        }
        walk.push(at);
        match deps
            .get(at)
            .and_then(|d| d.iter().find(|x| !done.contains(*x)))
        {
            Some(next) => at = next,
            None => return Err(walk.iter().map(|s| (*s).to_owned()).collect()),
        }
    }
}

/// The order to stop or remove an app's services: dependents first.
pub fn stop_order(app: &AppSpec) -> Result<Vec<String>, Vec<String>> {
    let mut o = start_order(app)?;
    o.reverse();
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::compose::{DependsOn, ServiceSpec};

    fn app(edges: &[(&str, &[&str])]) -> AppSpec {
        let mut a = AppSpec {
            name: "t".into(),
            services: BTreeMap::new(),
        };
        for (n, deps) in edges {
            let mut s = ServiceSpec::new("busybox:local");
            for d in *deps {
                s.depends_on.insert((*d).into(), DependsOn::Started);
            }
            a.services.insert((*n).into(), s);
        }
        a
    }

    #[test]
    fn dependencies_first_then_by_name() {
        let a = app(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &[]),
            ("api", &["db"]),
        ]);
        assert_eq!(start_order(&a).unwrap(), vec!["cache", "db", "api", "web"]);
        assert_eq!(stop_order(&a).unwrap(), vec!["web", "api", "db", "cache"]);
    }

    #[test]
    fn cycles_are_named() {
        let a = app(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        assert_eq!(start_order(&a).unwrap_err(), vec!["a", "b", "c", "a"]);
        let a = app(&[("a", &["a"])]);
        assert_eq!(start_order(&a).unwrap_err(), vec!["a", "a"]);
    }
}
