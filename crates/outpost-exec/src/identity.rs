//! Users and groups a command runs as. Names are looked up in `/etc/passwd` and `/etc/group`
//! directly (no NSS: an LDAP or systemd-homed user must be given by number).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A user or group, by name or by number (`user = "nobody"` or `user = 65534`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UserRef {
    Id(u32),
    Name(String),
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Name(n) => f.write_str(n),
        }
    }
}

/// The uid and gid a child switches to (supplementary groups are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
}

/// Resolves a user (and an optional group; without one, the user's primary group).
pub fn resolve(user: &UserRef, group: Option<&UserRef>) -> Result<Identity, String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let (uid, primary) = match user {
        UserRef::Id(id) => {
            let primary = passwd_entries(&passwd)
                .find(|e| e.1 == *id)
                .map(|e| e.2)
                .unwrap_or(*id);
            (*id, primary)
        }
        UserRef::Name(name) => passwd_entries(&passwd)
            .find(|e| e.0 == name)
            .map(|e| (e.1, e.2))
            .ok_or_else(|| format!("user {name:?} is not in /etc/passwd"))?,
    };
    let gid = match group {
        None => primary,
        Some(UserRef::Id(id)) => *id,
        Some(UserRef::Name(name)) => {
            let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
            groups
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(':');
                    let n = f.next()?;
                    let _pw = f.next()?;
                    let gid = f.next()?.parse::<u32>().ok()?;
                    Some((n, gid))
                })
                .find(|e| e.0 == name)
                .map(|e| e.1)
                .ok_or_else(|| format!("group {name:?} is not in /etc/group"))?
        }
    };
    Ok(Identity { uid, gid })
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = (&str, u32, u32)> {
    passwd.lines().filter_map(|l| {
        let mut f = l.split(':');
        let n = f.next()?;
        let _pw = f.next()?;
        let uid = f.next()?.parse::<u32>().ok()?;
        let gid = f.next()?.parse::<u32>().ok()?;
        Some((n, uid, gid))
    })
}
