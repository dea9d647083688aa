//! `trap_flood`: a fast SNMP trap sender for the trap benchmark. It pre-encodes v2c traps
//! (3 varbinds, as issue 4 measured snmptrapd) with varied request ids and replays them
//! with `sendmmsg` in batches, paced to a target rate.
//!
//! Usage: `trap_flood HOST:PORT RATE_PER_S SECONDS [COMMUNITY]`. Prints `sent N in S s`.

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::Context;
use outpost_test_support::snmp_values::v2c_trap;
use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags};

/// Packets sent per sendmmsg call.
const BATCH: usize = 64;
/// Distinct pre-encoded packets (request ids) replayed in turn.
const VARIANTS: usize = 4096;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        anyhow::bail!("usage: trap_flood HOST:PORT RATE_PER_S SECONDS [COMMUNITY]");
    }
    let dest: SocketAddr = args[1].parse().context("HOST:PORT")?;
    let rate: f64 = args[2].parse().context("RATE_PER_S")?;
    let secs: f64 = args[3].parse().context("SECONDS")?;
    let community = args.get(4).map(String::as_str).unwrap_or("public");
    let total = (rate * secs) as u64;
    let packets: Vec<Vec<u8>> = (0..VARIANTS)
        .map(|i| v2c_trap(community, 0x0100_0000 + i as i32))
        .collect();
    let sock = UdpSocket::bind(if dest.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })?;
    sock.connect(dest)?;
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut next = 0usize;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * rate) as u64).min(total);
        if due <= sent {
            // A plain pacing thread, not a runtime thread: sleeping is what it should do.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let n = ((due - sent) as usize).min(BATCH);
        let iovs: Vec<[IoSlice<'_>; 1]> = (0..n)
            .map(|k| [IoSlice::new(&packets[(next + k) % VARIANTS])])
            .collect();
        let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
            (0..n).map(|_| SendAncillaryBuffer::default()).collect();
        let mut msgs: Vec<MMsgHdr<'_>> = iovs
            .iter()
            .zip(controls.iter_mut())
            .map(|(iov, c)| MMsgHdr::new(iov, c))
            .collect();
        match sendmmsg(&sock, &mut msgs, SendFlags::empty()) {
            Ok(k) => {
                sent += k as u64;
                next = (next + k) % VARIANTS;
            }
            // ECONNREFUSED from an earlier ICMP error: the receiver is not up; keep count.
            Err(e) => anyhow::bail!("sendmmsg after {sent}: {e}"),
        }
    }
    println!(
        "sent {sent} in {:.3} s ({:.0}/s)",
        start.elapsed().as_secs_f64(),
        sent as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}
