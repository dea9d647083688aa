//! A real rsyslogd (Debian's, scripts/deps/87-rsyslog.sh) in the foreground on a socket of
//! the test's own (never /dev/log), writing every message it receives to a file as
//! `facility.severity tag msg`: what the agent's syslog logging is checked against.
//! Stopped on drop. Fails loudly when rsyslogd is missing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::wait_until;

pub struct Rsyslog {
    pub socket: PathBuf,
    pub out: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Rsyslog {
    pub fn start() -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let (socket, out) = (dir.path().join("log.sock"), dir.path().join("messages"));
        let conf = dir.path().join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{work}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}" CreatePath="on")
template(name="line" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\n")
*.* action(type="omfile" file="{out}" template="line")
"#,
                work = dir.path().display(),
                socket = socket.display(),
                out = out.display(),
            ),
        )
        .unwrap();
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd (scripts/deps/87-rsyslog.sh installs it)");
        wait_until("rsyslogd's socket", Duration::from_secs(10), || {
            socket.exists()
        });
        Rsyslog {
            socket,
            out,
            child,
            _dir: dir,
        }
    }

    /// Every line written so far.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
