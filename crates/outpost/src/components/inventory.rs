//! Every component the daemon lists, and the state each is in: `agent.info` reports it, so
//! an operator can see what this agent runs without reading its config.

use std::sync::{
    atomic::{AtomicU8, Ordering::Relaxed},
    OnceLock,
};

/// Where a component is in its life. Moves forward only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Its config section is off: nothing was built.
    Off,
    Built,
    Registered,
    Running,
    Stopping,
    Stopped,
    /// Its phase's shutdown deadline passed before its tasks ended.
    Abandoned,
}

impl State {
    const ALL: [State; 7] = [
        State::Off,
        State::Built,
        State::Registered,
        State::Running,
        State::Stopping,
        State::Stopped,
        State::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Off => "off",
            State::Built => "built",
            State::Registered => "registered",
            State::Running => "running",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Abandoned => "abandoned",
        }
    }
}

#[derive(Debug)]
pub struct Inventory {
    entries: Vec<(&'static str, AtomicU8)>,
    kinds: OnceLock<Vec<String>>,
}

impl Inventory {
    /// Every name starts `off`.
    pub fn new(names: impl IntoIterator<Item = &'static str>) -> Self {
        Inventory {
            entries: names
                .into_iter()
                .map(|n| (n, AtomicU8::new(State::Off as u8)))
                .collect(),
            kinds: OnceLock::new(),
        }
    }

    pub fn set(&self, name: &str, state: State) {
        if let Some((_, s)) = self.entries.iter().find(|(n, _)| *n == name) {
            s.store(state as u8, Relaxed);
        }
    }

    pub fn states(&self) -> impl Iterator<Item = (&'static str, State)> + '_ {
        self.entries.iter().map(|(n, s)| {
            let v = s.load(Relaxed);
            (
                *n,
                State::ALL.get(v as usize).copied().unwrap_or(State::Off),
            )
        })
    }

    /// The job kinds this agent serves, fixed once every component has registered.
    pub fn set_kinds(&self, mut kinds: Vec<String>) {
        kinds.sort();
        let _ = self.kinds.set(kinds);
    }

    pub fn kinds(&self) -> &[String] {
        self.kinds.get().map(Vec::as_slice).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue12_inventory_reports_each_state_by_name() {
        let inv = Inventory::new(["a", "b"]);
        inv.set("a", State::Running);
        inv.set("nobody", State::Running);
        let got: Vec<_> = inv.states().map(|(n, s)| (n, s.as_str())).collect();
        assert_eq!(got, vec![("a", "running"), ("b", "off")]);
        for s in State::ALL {
            inv.set("b", s);
            assert_eq!(inv.states().nth(1).map(|(_, s)| s), Some(s));
        }
    }
}
