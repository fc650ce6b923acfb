//! The open-file limit: every WebSocket is a file descriptor, so `serve` raises its soft
//! limit to the hard one at start (as Go servers do), and `doctor` compares the limit a
//! server gets with what the settings need.

/// File descriptors beyond the connections: database, pool, listener, logs, outbound HTTP.
pub const RESERVED_FDS: u64 = 256;

/// `(soft, hard)` RLIMIT_NOFILE of this process.
pub fn nofile() -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target
    Ok((lim.rlim_cur as u64, lim.rlim_max as u64))
}

/// Raises the soft limit to the hard limit; returns the soft limit now in force.
pub fn raise_nofile() -> std::io::Result<u64> {
    let (soft, hard) = nofile()?;
    if soft >= hard {
        return Ok(soft);
    }
    let lim = libc::rlimit {
        rlim_cur: hard as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we own; raising soft up to hard needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(hard)
}

/// The soft "Max open files" limit of another process, from /proc/PID/limits.
pub fn nofile_of(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    parse_proc_limits(&text)
}

fn parse_proc_limits(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

/// Descriptors a server with these settings should be able to open: one client address
/// alone may hold `max_connections_per_ip` sockets.
pub fn needed(max_connections_per_ip: usize) -> u64 {
    max_connections_per_ip as u64 + RESERVED_FDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_limit_from_proc() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            1024                 524288               files     \n";
        assert_eq!(parse_proc_limits(text), Some(1024));
        assert_eq!(nofile_of(std::process::id()), Some(nofile().unwrap().0));
    }
}
