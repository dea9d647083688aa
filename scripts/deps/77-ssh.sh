#!/usr/bin/env bash
# Config backups over SSH (issue 17): Debian's OpenSSH server as the device the Towerops
# adapter backs up. The tests start their own `sshd -D` on a loopback port with their own
# config, host key and forced command (test-support sshd.rs); no system sshd is wanted.
source "$(dirname "$0")/../lib/deps.sh"
need_apt_pkg openssh-server
# ssh-keygen (the tests' host keys) comes with openssh-client, a dependency.
[ -x /usr/sbin/sshd ] || { echo "deps: /usr/sbin/sshd still missing after installing openssh-server" >&2; exit 1; }
# Where an init runs, the package's postinst starts the system sshd: stop that one (by the
# PID in its pid file, never by name), so only the tests' own servers ever listen.
if [ -s /run/sshd.pid ]; then
  pid="$(cat /run/sshd.pid)"
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sshd ]; then
    echo "deps: stopping the system sshd the install started (pid $pid)" >&2
    kill "$pid" || true
  fi
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
fi
