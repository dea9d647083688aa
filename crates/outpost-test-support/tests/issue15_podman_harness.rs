//! Issue 15: the Podman harness leaves nothing on the host. A container still running when
//! the test stopped the engine's service (as `issue15_podman_frozen_or_stopped_mid_job_...`
//! does) used to be killed without Podman's network teardown: its network namespace stayed
//! in /run/netns and its veth on the podman0 bridge, one more each test run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use outpost_test_support::dockerd::Dockerd;

#[test]
fn issue15_podman_stopped_with_a_running_container_leaves_no_network_namespace() {
    let mut d = Dockerd::podman();
    let image = d.busybox();
    d.docker(&["run", "-d", "--name", "left", image, "sleep", "300"]);
    let netns = d.docker(&["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "left"]);
    assert!(
        netns.starts_with('/') && Path::new(&netns).exists(),
        "the running container has a network namespace: {netns:?}"
    );
    // The service goes, the container stays (under conmon), as an operator's stop leaves it.
    d.stop_engine();
    assert!(Path::new(&netns).exists(), "{netns} went with the service");
    drop(d);
    assert!(
        !Path::new(&netns).exists(),
        "{netns} outlived the engine's harness"
    );
}
