//! The outpost-snmp suite's harness: real peers from `outpost-test-support` (net-snmp's
//! snmpd and tools) under the names the tests use.
#![allow(unused_imports)]

pub use outpost_test_support::netsnmp::*;
pub use outpost_test_support::ports::free_port;
pub use outpost_test_support::snmpd::*;
