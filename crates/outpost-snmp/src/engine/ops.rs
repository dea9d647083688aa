//! The operations a caller asks for (GET, GETNEXT, SET, GETBULK) and what they do when
//! the agent answers tooBig: a varbind list is split in halves and each half re-sent,
//! GETBULK's max-repetitions is halved, so a request the agent cannot answer in one
//! message still gets its answer. A non-zero error-status becomes an error naming the
//! failed varbind.

use std::collections::VecDeque;

use super::Session;
use crate::error::SnmpError;
use crate::message::Version;
use crate::oid::Oid;
use crate::pdu::{ErrorStatus, Pdu, PduType};
use crate::value::VarBind;

impl Session {
    /// Sends a request PDU of `t`, splitting the varbind list on tooBig.
    async fn request_split(
        &self,
        t: PduType,
        vbs: Vec<VarBind>,
    ) -> Result<Vec<VarBind>, SnmpError> {
        let mut out = Vec::with_capacity(vbs.len());
        let mut queue: VecDeque<Vec<VarBind>> = VecDeque::from([vbs]);
        while let Some(chunk) = queue.pop_front() {
            let resp = self.request(Pdu::new(t, 0, chunk.clone())).await?;
            if resp.error_status == ErrorStatus::TOO_BIG.0 && chunk.len() > 1 {
                let mut a = chunk;
                let b = a.split_off(a.len() / 2);
                queue.push_front(b);
                queue.push_front(a);
                continue;
            }
            check_status(&resp, &chunk)?;
            out.extend(resp.varbinds);
        }
        Ok(out)
    }

    /// GET.
    pub async fn get(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
        self.request_split(
            PduType::Get,
            oids.iter().cloned().map(VarBind::null).collect(),
        )
        .await
    }

    /// GETNEXT.
    pub async fn get_next(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
        self.request_split(
            PduType::GetNext,
            oids.iter().cloned().map(VarBind::null).collect(),
        )
        .await
    }

    /// SET; values must already carry their SMI types.
    pub async fn set(&self, varbinds: &[VarBind]) -> Result<Vec<VarBind>, SnmpError> {
        self.request_split(PduType::Set, varbinds.to_vec()).await
    }

    /// GETBULK; on tooBig, max-repetitions is halved and the request retried.
    pub async fn get_bulk(
        &self,
        non_repeaters: u32,
        max_repetitions: u32,
        oids: &[Oid],
    ) -> Result<Vec<VarBind>, SnmpError> {
        if self.version() == Version::V1 {
            return Err(SnmpError::InvalidRequest(
                "GETBULK needs SNMP v2c or v3".into(),
            ));
        }
        let vbs: Vec<VarBind> = oids.iter().cloned().map(VarBind::null).collect();
        let mut reps = max_repetitions.min(i32::MAX as u32);
        loop {
            let pdu = Pdu::get_bulk(
                0,
                non_repeaters.min(i32::MAX as u32) as i32,
                reps as i32,
                vbs.clone(),
            );
            let resp = self.request(pdu).await?;
            if resp.error_status == ErrorStatus::TOO_BIG.0 && reps > 1 {
                reps /= 2;
                continue;
            }
            check_status(&resp, &vbs)?;
            return Ok(resp.varbinds);
        }
    }
}

/// Turns a non-zero error-status into an error naming the failed varbind
/// (net-snmp's "Failed object"), taken from the request we sent.
fn check_status(resp: &Pdu, request: &[VarBind]) -> Result<(), SnmpError> {
    if resp.error_status != 0 {
        let index = u32::try_from(resp.error_index).unwrap_or(0);
        let failed = (index as usize)
            .checked_sub(1)
            .and_then(|i| request.get(i))
            .map(|vb| vb.oid.clone());
        return Err(SnmpError::Agent {
            status: ErrorStatus(resp.error_status),
            index,
            failed,
        });
    }
    Ok(())
}
