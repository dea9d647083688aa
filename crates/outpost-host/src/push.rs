//! Stats push: not written yet.
