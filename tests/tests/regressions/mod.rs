//! TOCTOU regressions: one bug per file, each with a header telling the interleaving, the cause
//! and the fix, each run against the planted store (the bug reproduces) and the real one (it
//! does not).
