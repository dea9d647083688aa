//! WALK (GETNEXT) and BULKWALK (GETBULK) with net-snmp's semantics, so the
//! output matches `snmpwalk`/`snmpbulkwalk` line for line, and with loop
//! protection: an agent that does not advance is an error, never a hang.

use crate::engine::Session;
use crate::error::SnmpError;
use crate::message::Version;
use crate::oid::Oid;
use crate::pdu::ErrorStatus;
use crate::value::VarBind;

/// How a walk ended, beyond the varbinds it delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WalkSummary {
    /// Varbinds handed to the callback.
    pub delivered: usize,
    /// A v1 agent ended the walk with noSuchName; `snmpwalk` prints
    /// "End of MIB" then, and the CLI does too.
    pub end_of_mib: bool,
}

/// How to walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkMode {
    /// One GETNEXT per varbind (`snmpwalk`).
    GetNext,
    /// GETBULK with this many max-repetitions (`snmpbulkwalk -Cr`).
    Bulk(u32),
}

impl Session {
    /// Walks the subtree under `root`, handing each varbind to `each` as it
    /// arrives (so a long walk can stream). Returns the number delivered.
    ///
    /// Like net-snmp: an exception value inside the subtree is delivered and
    /// ends the walk; if nothing at all lies under `root`, `root` itself is
    /// fetched with GET and delivered.
    pub async fn walk_each(
        &self,
        root: &Oid,
        mode: WalkMode,
        mut each: impl FnMut(VarBind),
    ) -> Result<WalkSummary, SnmpError> {
        let mode = match (mode, self.version()) {
            (WalkMode::Bulk(_), Version::V1) => WalkMode::GetNext,
            (m, _) => m,
        };
        let mut cur = root.clone();
        let mut delivered = 0usize;
        let mut running = true;
        let mut end_of_mib = false;
        while running {
            let res = match mode {
                WalkMode::GetNext => self.get_next(std::slice::from_ref(&cur)).await,
                WalkMode::Bulk(r) => self.get_bulk(0, r.max(1), std::slice::from_ref(&cur)).await,
            };
            let vbs = match res {
                Ok(v) => v,
                // v1 agents signal the end of the MIB with noSuchName.
                Err(SnmpError::Agent { status, .. })
                    if status == ErrorStatus::NO_SUCH_NAME && self.version() == Version::V1 =>
                {
                    end_of_mib = true;
                    break;
                }
                Err(e) => return Err(e),
            };
            if vbs.is_empty() {
                break;
            }
            let request_oid = cur.clone();
            let mut prev = cur.clone();
            for vb in vbs {
                if !vb.oid.starts_with(root) {
                    running = false;
                    continue;
                }
                let exception = vb.value.is_exception();
                let received = vb.oid.clone();
                delivered += 1;
                each(vb);
                if exception {
                    running = false;
                    continue;
                }
                if received <= request_oid || received <= prev {
                    return Err(SnmpError::OidNotIncreasing {
                        previous: prev,
                        received,
                    });
                }
                prev = received;
            }
            cur = prev;
        }
        if delivered == 0 {
            for vb in self.get(std::slice::from_ref(root)).await? {
                delivered += 1;
                each(vb);
            }
        }
        Ok(WalkSummary {
            delivered,
            end_of_mib,
        })
    }

    /// Walks and collects.
    pub async fn walk(&self, root: &Oid, mode: WalkMode) -> Result<Vec<VarBind>, SnmpError> {
        let mut out = Vec::new();
        self.walk_each(root, mode, |vb| out.push(vb)).await?;
        Ok(out)
    }

    /// BULKWALK (GETNEXT walk for v1).
    pub async fn bulk_walk(
        &self,
        root: &Oid,
        max_repetitions: u32,
    ) -> Result<Vec<VarBind>, SnmpError> {
        self.walk(root, WalkMode::Bulk(max_repetitions)).await
    }
}
