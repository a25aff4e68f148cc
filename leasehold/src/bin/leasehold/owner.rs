//! The default owner name: `user@host:pid`.

/// `user@host:pid`: who holds a lease, as others see it. The user is `$USER` (or `$LOGNAME`,
/// else `uid<N>`), the host the kernel's node name.
pub(crate) fn default_owner() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid{}", rustix::process::getuid().as_raw()));
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    format!("{user}@{host}:{}", std::process::id())
}
