//! The kit on its own reference store, and each planted flaw caught by the suite meant to catch
//! it. One test binary with one module per suite.

mod conformance;
