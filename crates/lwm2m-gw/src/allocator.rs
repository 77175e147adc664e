//! Allocator settings of the long-running subcommands (`run`, `server`).
//!
//! glibc's malloc serves blocks of 128 KiB and more with `mmap`, but each time such a block is
//! freed it raises that threshold to the block's size (up to 32 MiB), and the heap's trim
//! threshold with it. From then on the large transient buffers of a registration burst (a
//! `/25` body kept for its Block2 transfer, the old bucket array of a hash table that grew,
//! a SenML payload being built) come from the heap, and their pages stay with the process
//! once freed. A fixed threshold keeps them in `mmap`, so they go back to the system when
//! freed: −0.34 KiB per End-Device at N = 1 000 (docs/benchmarks.md).

/// Blocks of at least this many bytes are mapped on their own (glibc's initial default).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Makes malloc give large freed blocks back to the system (see the module docs).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn return_large_blocks() {
    // SAFETY: `mallopt` only sets a malloc parameter; it takes no pointers and is called once
    // at start, before any other thread exists.
    let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
    if accepted != 1 {
        tracing::debug!("malloc refused a fixed mmap threshold; large freed blocks may stay resident");
    }
}

/// Other allocators keep their own policy.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn return_large_blocks() {}
