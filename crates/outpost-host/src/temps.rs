//! Temperatures from hwmon (/sys/class/hwmon/hwmon*/temp*_input).

use serde::Serialize;
use std::path::Path;

/// One temperature sensor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Temperature {
    /// The hwmon chip's `name`, e.g. `coretemp`; node_exporter's `chip` label.
    pub chip: String,
    /// The sensor file stem, e.g. `temp1`; node_exporter's `sensor` label.
    pub sensor: String,
    /// `temp*_label` when the driver gives one, e.g. `Package id 0`.
    pub label: Option<String>,
    /// Degrees Celsius.
    pub celsius: f32,
}

/// Chips whose sensors measure the CPU even without a telling label.
const CPU_CHIPS: &[&str] = &[
    "coretemp",
    "k10temp",
    "zenpower",
    "cpu_thermal",
    "soc_thermal",
];

/// The CPU temperature socktop shows: the first sensor labelled like a CPU
/// package (socktop's rule), else the first sensor of a known CPU chip.
pub fn cpu_temperature(temps: &[Temperature]) -> Option<f32> {
    let labelled = temps.iter().find(|t| {
        t.label.as_deref().is_some_and(|l| {
            let l = l.to_ascii_lowercase();
            ["cpu", "package", "tctl", "tdie"]
                .iter()
                .any(|k| l.contains(k))
        })
    });
    labelled
        .or_else(|| temps.iter().find(|t| CPU_CHIPS.contains(&t.chip.as_str())))
        .map(|t| t.celsius)
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Scans hwmon. No hwmon directory (containers, VMs) is an empty list, not
/// an error; unreadable sensors are skipped.
pub(crate) fn collect(sys_root: &Path) -> Vec<Temperature> {
    let base = sys_root.join("class/hwmon");
    let Ok(chips) = std::fs::read_dir(&base) else {
        return Vec::new();
    };
    let mut chips: Vec<_> = chips.flatten().map(|e| e.path()).collect();
    chips.sort();
    let mut out = Vec::new();
    for chip_dir in chips {
        let chip = read_trimmed(&chip_dir.join("name")).unwrap_or_else(|| {
            chip_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let Ok(files) = std::fs::read_dir(&chip_dir) else {
            continue;
        };
        let mut sensors: Vec<String> = files
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                let stem = name.strip_suffix("_input")?;
                stem.starts_with("temp").then(|| stem.to_string())
            })
            .collect();
        sensors.sort();
        for sensor in sensors {
            let Some(milli) = read_trimmed(&chip_dir.join(format!("{sensor}_input")))
                .and_then(|v| v.parse::<i64>().ok())
            else {
                continue;
            };
            out.push(Temperature {
                chip: chip.clone(),
                label: read_trimmed(&chip_dir.join(format!("{sensor}_label"))),
                sensor,
                celsius: milli as f32 / 1000.0,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fake_hwmon() {
        let dir = tempfile::tempdir().unwrap();
        let chip = dir.path().join("class/hwmon/hwmon0");
        std::fs::create_dir_all(&chip).unwrap();
        std::fs::write(chip.join("name"), "coretemp\n").unwrap();
        std::fs::write(chip.join("temp1_input"), "45500\n").unwrap();
        std::fs::write(chip.join("temp1_label"), "Package id 0\n").unwrap();
        std::fs::write(chip.join("temp2_input"), "garbage\n").unwrap();
        let nvme = dir.path().join("class/hwmon/hwmon1");
        std::fs::create_dir_all(&nvme).unwrap();
        std::fs::write(nvme.join("name"), "nvme\n").unwrap();
        std::fs::write(nvme.join("temp1_input"), "38000\n").unwrap();

        let t = collect(dir.path());
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].chip, "coretemp");
        assert_eq!(t[0].celsius, 45.5);
        assert_eq!(cpu_temperature(&t), Some(45.5));
        assert_eq!(cpu_temperature(&t[1..]), None);
        assert!(collect(&dir.path().join("absent")).is_empty());
    }
}
