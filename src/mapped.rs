//! Input files mapped into memory, for `busbar filter`.
//!
//! Reading a file with `read(2)` copies every byte from the page cache into
//! the process before anything is searched; mapping it lets the search read
//! the page cache itself. On the 180 MB citylots-like file a memchr line
//! count takes 9-10 ms mapped against 18-20 ms read in 4 MiB pieces (one
//! core, warm cache, 2026-12-06), and for rule sets whose literals rule most
//! events out that copy was a third of `filter`'s time.
//!
//! The cost of mapping is that a file truncated by another process while it
//! is searched makes the next access to a vanished page raise SIGBUS. That
//! would kill the process with no word of why; [`map`] installs a handler
//! that says what happened, and how to avoid it (`--no-mmap`), and exits
//! with status 2, the status of any other read error. A file that is
//! rewritten in place is read as whatever bytes it holds at each moment,
//! as `read(2)` would give them; they are validated like any other input.

use std::fs::File;
use std::io;
use std::sync::Once;

/// Below this size a file is read: mapping and unmapping cost more than
/// copying a few pages.
pub const MIN_BYTES: u64 = 1 << 20;

/// A whole file, mapped read-only.
pub struct Mapped(memmap2::Mmap);

impl std::ops::Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Maps `file` when it is a regular file of at least [`MIN_BYTES`];
/// `Ok(None)` for anything else (a pipe, a device, a small file), which the
/// caller reads instead.
#[allow(unsafe_code)]
pub fn map(file: &File) -> io::Result<Option<Mapped>> {
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() < MIN_BYTES {
        return Ok(None);
    }
    static HANDLER: Once = Once::new();
    HANDLER.call_once(install_sigbus_handler);
    // SAFETY: the map is read-only and private to this process. Another
    // process may still change the file under it: a truncation raises
    // SIGBUS, which the handler above turns into an error exit (never a read
    // of memory outside the map); bytes rewritten in place are read as they
    // are, and every byte is validated before it is trusted.
    // Not populated up front: a file larger than memory, or one that
    // `--quiet` leaves at its first line, is paged in as it is read.
    let map = unsafe { memmap2::Mmap::map(file)? };
    // The search reads the file front to back, once.
    let _ = map.advise(memmap2::Advice::Sequential);
    // Where the kernel allows transparent huge pages on request, a file that
    // is not yet in the page cache is read into it in 2 MiB pieces, which
    // this run and every later one map with one page-table entry each. A
    // file cached in small pieces (as a program that wrote it in small
    // writes leaves it) costs one fault per 64 KiB: on the 180 MB
    // citylots-like file, 2,800 faults and about 25 ms in the kernel
    // against 150 faults and 4 ms (2026-12-07). The advice changes nothing
    // for a file already cached.
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    Ok(Some(Mapped(map)))
}

/// Exits with status 2 and a message on SIGBUS: the only way a read of a
/// mapped input raises it is a file that shrank under the map.
#[allow(unsafe_code)]
fn install_sigbus_handler() {
    extern "C" fn on_sigbus(_: libc::c_int) {
        const MSG: &[u8] = b"busbar: an input file shrank while it was being read \
(it is memory-mapped; --no-mmap reads files instead)\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; MSG is a
        // static buffer.
        unsafe {
            libc::write(2, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(2);
        }
    }
    // SAFETY: a zeroed sigaction is valid (no flags, empty mask); the
    // handler only calls async-signal-safe functions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_large_regular_files_only() {
        let dir = std::env::temp_dir().join(format!("busbar-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, b"{}\n").unwrap();
        assert!(map(&File::open(&small).unwrap()).unwrap().is_none());

        let large = dir.join("large");
        let mut f = File::create(&large).unwrap();
        let line = b"{\"a\":1}\n";
        for _ in 0..(MIN_BYTES as usize / line.len() + 1) {
            f.write_all(line).unwrap();
        }
        drop(f);
        let m = map(&File::open(&large).unwrap()).unwrap().expect("mapped");
        assert_eq!(&m[..], &std::fs::read(&large).unwrap()[..]);

        // A directory is not a regular file.
        assert!(map(&File::open(&dir).unwrap()).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
