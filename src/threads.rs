//! Scheduling of rtbox's own threads (the SQLite writer, the fan-out stage, the WAL
//! checkpointer) next to the HTTP workers on the same cores. Each helper applies to the
//! calling thread; where the OS refuses, the thread runs with the default policy.

/// Marks the calling thread SCHED_BATCH. A stage thread (the writer, the fan-out stage)
/// woken by a job then does not preempt the thread that queued it: the submitters that
/// are ready run first, and the stage takes what they queued as one batch. Woken as
/// normal threads, the fan-out stage preempted the HTTP worker once per publish (518,784
/// involuntary switches in a 5 s in-memory publish run, 1,269 as a batch thread).
pub fn batch_scheduling(name: &str) {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain syscall on the calling thread with a valid, initialized param.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        if rc != 0 {
            tracing::debug!(thread = name, "SCHED_BATCH unavailable");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = name;
}

/// Nice 10 for background work (WAL checkpoints): it yields to request handling, the
/// writer and fan-out on a busy core, still gets a tenth of a contended core, and all of
/// an idle one.
pub fn lower_priority(name: &str) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscalls on the calling thread.
        let rc = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 10)
        };
        if rc != 0 {
            tracing::debug!(thread = name, "could not lower the thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = name;
}
