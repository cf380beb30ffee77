//! One integration-test binary: every feature's tests, sharing the harness.

mod helpers;

mod foundation;
