//! Memory and swap from /proc/meminfo.

use serde::Serialize;

/// Memory and swap, in bytes, as /proc/meminfo reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// MemTotal: RAM the kernel can use.
    pub total_bytes: u64,
    /// MemFree: RAM nobody uses, not even the page cache.
    pub free_bytes: u64,
    /// MemAvailable: RAM a new program could get without swapping; the honest "free".
    pub available_bytes: u64,
    /// Buffers: block-device cache.
    pub buffers_bytes: u64,
    /// Cached: page cache.
    pub cached_bytes: u64,
    /// SwapTotal.
    pub swap_total_bytes: u64,
    /// SwapFree.
    pub swap_free_bytes: u64,
}

impl Memory {
    /// Used RAM the way socktop and `free` count it: total minus available.
    pub fn used_bytes(&self) -> u64 {
        self.total_bytes.saturating_sub(self.available_bytes)
    }

    /// Swap in use.
    pub fn swap_used_bytes(&self) -> u64 {
        self.swap_total_bytes.saturating_sub(self.swap_free_bytes)
    }
}

/// Parses /proc/meminfo. Values are in kB there; we return bytes.
pub fn parse_meminfo(text: &str) -> Result<Memory, &'static str> {
    let mut m = Memory::default();
    let mut saw_total = false;
    let mut saw_available = false;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_ascii_whitespace();
        let Some(Ok(value)) = parts.next().map(str::parse::<u64>) else {
            continue;
        };
        let bytes = match parts.next() {
            Some("kB") => value.saturating_mul(1024),
            _ => value,
        };
        match key {
            "MemTotal" => {
                m.total_bytes = bytes;
                saw_total = true;
            }
            "MemFree" => m.free_bytes = bytes,
            "MemAvailable" => {
                m.available_bytes = bytes;
                saw_available = true;
            }
            "Buffers" => m.buffers_bytes = bytes,
            "Cached" => m.cached_bytes = bytes,
            "SwapTotal" => m.swap_total_bytes = bytes,
            "SwapFree" => m.swap_free_bytes = bytes,
            _ => {}
        }
    }
    if !saw_total {
        return Err("no MemTotal");
    }
    if !saw_available {
        // Kernels before 3.14 lack MemAvailable; this is their usual estimate.
        m.available_bytes = m
            .free_bytes
            .saturating_add(m.buffers_bytes)
            .saturating_add(m.cached_bytes);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo() {
        let m = parse_meminfo(
            "MemTotal:       16000 kB\nMemFree: 1000 kB\nMemAvailable:    8000 kB\n\
             Buffers: 10 kB\nCached: 20 kB\nSwapTotal: 4000 kB\nSwapFree: 1000 kB\nHugePages_Total: 0\n",
        )
        .unwrap();
        assert_eq!(m.total_bytes, 16000 * 1024);
        assert_eq!(m.used_bytes(), 8000 * 1024);
        assert_eq!(m.swap_used_bytes(), 3000 * 1024);
    }

    #[test]
    fn missing_total_is_an_error() {
        assert!(parse_meminfo("MemFree: 1 kB").is_err());
        assert!(parse_meminfo("garbage\n:::\nMemTotal: x kB").is_err());
    }
}
