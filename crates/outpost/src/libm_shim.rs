//! `pow`, `log` and `log2` for the binary itself, so that the process never loads glibc's
//! libm.so.
//!
//! Why: of libm's hundreds of functions the whole agent calls three (tokio's scheduler
//! statistics call `pow`, SQLite's FTS5 ranking `log`, the SSH client's big integers
//! `log2`). Loading the library for them costs every process about 0.5 MiB of resident
//! mappings (its symbol and relocation tables, data and the pages around the code called),
//! which was most of the gap between our idle RSS and socktop_agent's (bench/host/RESULTS.md).
//! Defined here, the link resolves the three calls to these definitions and `--as-needed`
//! drops libm from the binary's `NEEDED` list; `issue11_the_agent_does_not_load_libm` checks
//! the running agent's mappings.
//!
//! The implementations are the `libm` crate's (rust-lang's port of musl's libm, accurate to
//! within 1 ulp as glibc's are). A symbol defined in the executable also takes precedence
//! over libm's for any library loaded later, which is what is wanted: one implementation
//! per process. A new libm call somewhere in a dependency brings libm.so back (the build
//! still links); the test above fails and says so.
#![allow(unsafe_code)] // `no_mangle`: exporting C symbols is what this module is for.

/// C's `double pow(double, double)`.
#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// C's `double log(double)`.
#[no_mangle]
pub extern "C" fn log(x: f64) -> f64 {
    libm::log(x)
}

/// C's `double log2(double)`.
#[no_mangle]
pub extern "C" fn log2(x: f64) -> f64 {
    libm::log2(x)
}

#[cfg(test)]
mod tests {
    /// The shim answers as C's functions do, special values included (C99 Annex F).
    #[test]
    fn issue11_libm_shim_answers_as_c_does() {
        let close = |a: f64, b: f64| (a - b).abs() <= b.abs() * 4.0 * f64::EPSILON;
        assert!(close(super::pow(2.0, 10.0), 1024.0));
        assert!(close(super::pow(0.9, 7.0), 0.478_296_9));
        assert!(close(super::pow(10.0, -2.0), 0.01));
        assert_eq!(super::pow(0.0, 0.0), 1.0);
        assert_eq!(super::pow(f64::NAN, 0.0), 1.0);
        assert!(super::pow(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(super::pow(0.0, -1.0), f64::INFINITY);
        assert!(close(super::log(std::f64::consts::E), 1.0));
        assert!(close(super::log(10.0), std::f64::consts::LN_10));
        assert_eq!(super::log(0.0), f64::NEG_INFINITY);
        assert!(super::log(-1.0).is_nan());
        assert_eq!(super::log2(1024.0), 10.0);
        assert!(close(super::log2(10.0), std::f64::consts::LOG2_10));
        assert_eq!(super::log2(0.0), f64::NEG_INFINITY);
    }
}
