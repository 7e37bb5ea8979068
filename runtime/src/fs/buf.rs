//! [`Buf`]: a [`File`](super::File)'s one buffer, which travels to the
//! blocking pool with each operation and comes back with its result.
//!
//! Between operations it is empty or holds bytes read ahead of the caller
//! (a read whose caller asked for fewer bytes than arrived, or gave up
//! waiting). Those bytes are already consumed from the OS file position,
//! so whoever moves the position must account for them
//! ([`Buf::discard_unread`]). Bytes to write never stay in it: a write
//! starts as soon as they are copied in and empties it on the pool.

use std::fs::File as StdFile;
use std::io::{self, Read, Write};

/// The default and largest size of one read or write on the pool.
pub(super) const MAX_BUF_SIZE: usize = 2 * 1024 * 1024;

/// Bytes on their way between a caller and the OS.
#[derive(Debug, Default)]
pub(super) struct Buf {
    data: Vec<u8>,
    /// How many bytes of `data` the caller has taken (reads only).
    pos: usize,
}

impl Buf {
    /// An empty buffer (allocates nothing).
    pub(super) fn new() -> Buf {
        Buf::default()
    }

    /// Bytes read ahead and not yet handed to the caller.
    pub(super) fn unread(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Copies as many unread bytes as fit into `dst`; returns how many.
    pub(super) fn copy_to(&mut self, dst: &mut [u8]) -> usize {
        let n = self.unread().min(dst.len());
        dst[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.data.len() {
            self.clear();
        }
        n
    }

    /// Drops the unread bytes; returns how many there were (the distance
    /// the OS position is ahead of the caller's).
    pub(super) fn discard_unread(&mut self) -> usize {
        let n = self.unread();
        self.clear();
        n
    }

    /// Fills an empty buffer with up to `max` bytes of `src` to write;
    /// returns how many were taken.
    pub(super) fn copy_from(&mut self, src: &[u8], max: usize) -> usize {
        debug_assert_eq!(self.unread(), 0, "unread bytes must be discarded before a write");
        self.clear();
        let n = src.len().min(max);
        self.data.extend_from_slice(&src[..n]);
        n
    }

    /// On the pool: one read of up to `len` bytes from `file` into the
    /// emptied buffer (retried if interrupted); returns the count, 0 at
    /// end of file.
    pub(super) fn read_from(&mut self, mut file: &StdFile, len: usize) -> io::Result<usize> {
        self.clear();
        self.data.resize(len, 0);
        let result = loop {
            match file.read(&mut self.data) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.data.truncate(*result.as_ref().unwrap_or(&0));
        result
    }

    /// On the pool: writes all the buffered bytes to `file` and empties the
    /// buffer, whether or not the write succeeded.
    pub(super) fn write_to(&mut self, mut file: &StdFile) -> io::Result<()> {
        debug_assert_eq!(self.pos, 0, "a write buffer holds no read bytes");
        let result = file.write_all(&self.data);
        self.clear();
        result
    }

    /// A buffer holding `data` just read (nothing handed out yet).
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(super) fn from_read(data: Vec<u8>) -> Buf {
        Buf { data, pos: 0 }
    }

    /// The bytes to write, for an operation that lends them to the kernel
    /// (the buffer is left empty).
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(super) fn take_data(&mut self) -> Vec<u8> {
        debug_assert_eq!(self.pos, 0, "a write buffer holds no read bytes");
        std::mem::take(&mut self.data)
    }

    /// An empty buffer reusing `data`'s allocation.
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(super) fn recycle(mut data: Vec<u8>) -> Buf {
        data.clear();
        Buf { data, pos: 0 }
    }

    fn clear(&mut self) {
        self.data.clear();
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_to_hands_out_bytes_in_order_and_empties() {
        let mut buf = Buf::new();
        assert_eq!(buf.copy_from(b"abcdef", MAX_BUF_SIZE), 6);
        // Pretend the bytes were read: nothing consumed yet.
        let mut out = [0; 4];
        assert_eq!(buf.copy_to(&mut out), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(buf.unread(), 2);
        assert_eq!(buf.copy_to(&mut out), 2);
        assert_eq!(&out[..2], b"ef");
        assert_eq!(buf.unread(), 0);
    }

    #[test]
    fn copy_from_is_bounded_and_discard_counts() {
        let mut buf = Buf::new();
        assert_eq!(buf.copy_from(&[7; 100], 10), 10);
        assert_eq!(buf.unread(), 10);
        assert_eq!(buf.discard_unread(), 10);
        assert_eq!(buf.unread(), 0);
        assert_eq!(buf.discard_unread(), 0);
    }
}
