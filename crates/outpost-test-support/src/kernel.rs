//! The kernel's own figures, read here independently of `outpost-host`, as the reference
//! the host-metrics tests compare against.

/// A `/proc/meminfo` field (`MemTotal`, `SwapTotal`, ...) in KiB.
pub fn meminfo_kib(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == key).then(|| v.split_whitespace().next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {key} in /proc/meminfo"))
}

/// MemTotal in bytes.
pub fn mem_total_bytes() -> u64 {
    meminfo_kib("MemTotal") * 1024
}

/// The cores `/proc/stat` lists (`cpuN` lines).
pub fn cpu_cores() -> usize {
    std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count()
}
