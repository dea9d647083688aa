//! Service checks with Nagios' result model.
//!
//! Every check, whether built in (`tcp`, `http`, `dns`, `tls`) or a Nagios plugin run by the
//! agent, ends in one [`CheckResult`]: a [`Status`] (0 OK, 1 WARNING, 2 CRITICAL,
//! 3 UNKNOWN), a one-line output, the response time and [`Perfdata`]. The control plane and
//! an operator's Nagios/Icinga dashboards read the same four things.
//!
//! Only results and their text forms live here; the agent's job kinds (`check.*`) translate
//! job params to and from these types.

pub mod dns;
pub mod http;
pub mod perfdata;
pub mod plugin;
pub mod result;
pub mod spec;
pub mod status_set;
pub mod tcp;
pub mod tls;
pub mod tls_config;

pub use perfdata::{Perfdata, PerfdataError};
pub use result::{CheckResult, Status};
