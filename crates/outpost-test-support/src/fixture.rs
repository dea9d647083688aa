//! What a proptest builds once and shares between its cases: a runtime, a temporary
//! directory, and the thing under test built inside them (an agent core, a running agent).
//! Building it per case would measure start-up, not the property.

use std::path::Path;

pub struct Fixture<T> {
    pub rt: tokio::runtime::Runtime,
    /// The thing under test.
    pub value: T,
    _dir: tempfile::TempDir,
}

impl<T> Fixture<T> {
    /// A two-worker runtime and a fresh directory, and `build(runtime, directory)` in them.
    pub fn new(build: impl FnOnce(&tokio::runtime::Runtime, &Path) -> T) -> Fixture<T> {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let value = build(&rt, dir.path());
        Fixture {
            rt,
            value,
            _dir: dir,
        }
    }
}
