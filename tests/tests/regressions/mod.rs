//! TOCTOU regressions: one bug per file, each with a header telling the interleaving, the cause
//! and the fix, each run against the planted store (the bug reproduces) and the real one (it
//! does not).

mod lost_reply;
mod model_path_replay;
mod seed_interleaving;
mod stale_release;
mod string_timestamps;
