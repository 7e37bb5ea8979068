//! [`ToSocketAddrs`]: what `bind`, `connect` and `send_to` accept, and how
//! it becomes a list of socket addresses without stalling a worker (also
//! offered as [`lookup_host`]).
//!
//! Literal addresses (`SocketAddr`, `(IpAddr, u16)`, `"127.0.0.1:8080"`,
//! `("::1", 80)`) are parsed in place. Anything else is a host name: it is
//! resolved with the standard library's resolver (`getaddrinfo`), which may
//! block, on the runtime's blocking pool (`spawn_blocking`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Converts or resolves a value to one or more socket addresses: the inputs
/// of [`std::net::ToSocketAddrs`] (socket addresses, `(ip, port)` pairs,
/// `"host:port"` strings, `(host, port)` pairs, slices of addresses, and
/// references to any of these).
///
/// Unlike the standard library's trait, host names are resolved on the
/// runtime's blocking pool, so a slow DNS lookup never stalls a worker.
/// Literal addresses are parsed without any lookup.
///
/// This trait is sealed: it cannot be implemented outside weft.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// use std::net::{Ipv4Addr, SocketAddr};
/// use weft::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0").await?;
/// let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
/// let c = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
/// # let _ = (a, b, c);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub trait ToSocketAddrs: sealed::ToSocketAddrsPriv {}

mod sealed {
    use std::net::SocketAddr;

    /// The addresses a [`super::ToSocketAddrs`] value stands for: known at
    /// once, or a host name to look up.
    #[derive(Debug)]
    pub enum Addrs {
        /// One literal address (no allocation: `send_to`'s usual case).
        One(SocketAddr),
        /// Several literal addresses.
        Many(Vec<SocketAddr>),
        /// A `"host:port"` string that is not a literal address.
        Name(String),
        /// A `(host, port)` pair whose host is not a literal IP.
        HostPort(String, u16),
    }

    /// The conversion itself, hidden from users.
    pub trait ToSocketAddrsPriv {
        /// Parses `self` into addresses or a name to resolve.
        fn to_addrs(&self) -> Addrs;
    }
}

use sealed::{Addrs, ToSocketAddrsPriv};

/// Resolves `host` (a `"host:port"` string, a `(host, port)` pair, or any
/// other [`ToSocketAddrs`]) into the socket addresses it stands for, as
/// `getaddrinfo` returns them.
///
/// Host names are looked up on the runtime's blocking pool, so a slow DNS
/// server never stalls a worker (outside a runtime, on the calling thread);
/// literal addresses come back as they are, without any lookup.
///
/// # Errors
/// The resolver's error: an unknown host, a string without a port
/// ([`io::ErrorKind::InvalidInput`])...
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// for addr in weft::net::lookup_host("localhost:8080").await? {
///     assert!(addr.ip().is_loopback());
///     assert_eq!(addr.port(), 8080);
/// }
/// let mut addrs = weft::net::lookup_host("127.0.0.1:5").await?;
/// assert_eq!(addrs.next(), Some("127.0.0.1:5".parse().unwrap()));
/// assert_eq!(addrs.next(), None);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn lookup_host<T: ToSocketAddrs>(
    host: T,
) -> io::Result<impl Iterator<Item = SocketAddr>> {
    resolve(&host).await.map(Vec::into_iter)
}

/// Resolves `addr` into its socket addresses (host names on the blocking
/// pool, or inline when called outside a runtime).
pub(super) async fn resolve(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<Vec<SocketAddr>> {
    resolve_addrs(addr.to_addrs()).await
}

/// Resolves `addr` and returns its first address (for `send_to`).
pub(super) async fn resolve_first(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<SocketAddr> {
    match addr.to_addrs() {
        Addrs::One(addr) => Ok(addr),
        addrs => resolve_addrs(addrs).await?.into_iter().next().ok_or_else(no_addresses),
    }
}

async fn resolve_addrs(addrs: Addrs) -> io::Result<Vec<SocketAddr>> {
    match addrs {
        Addrs::One(addr) => Ok(vec![addr]),
        Addrs::Many(addrs) => Ok(addrs),
        Addrs::Name(name) => {
            lookup(move || collect(std::net::ToSocketAddrs::to_socket_addrs(&name))).await
        }
        Addrs::HostPort(host, port) => {
            lookup(move || {
                collect(std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)))
            })
            .await
        }
    }
}

/// Runs `f` on each address in turn until one succeeds, like the standard
/// library's `bind`/`connect`: the last error if all fail.
pub(super) fn each_addr<T>(
    addrs: Vec<SocketAddr>,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last_err = None;
    for addr in addrs {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(no_addresses))
}

/// The error for an input that resolved to no address (std's wording).
pub(super) fn no_addresses() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")
}

fn collect(addrs: io::Result<impl Iterator<Item = SocketAddr>>) -> io::Result<Vec<SocketAddr>> {
    addrs.map(Iterator::collect)
}

async fn lookup<F>(f: F) -> io::Result<Vec<SocketAddr>>
where
    F: FnOnce() -> io::Result<Vec<SocketAddr>> + Send + 'static,
{
    match crate::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .unwrap_or_else(|e| Err(io::Error::other(format!("address lookup failed: {e}")))),
        // No runtime, so no worker to stall (and the socket's creation
        // will report the missing runtime).
        Err(_) => f(),
    }
}

fn ready(addr: impl Into<SocketAddr>) -> Addrs {
    Addrs::One(addr.into())
}

macro_rules! literal {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {}
        impl ToSocketAddrsPriv for $ty {
            fn to_addrs(&self) -> Addrs {
                ready(*self)
            }
        }
    )*};
}

literal!(SocketAddr, SocketAddrV4, SocketAddrV6, (IpAddr, u16), (Ipv4Addr, u16), (Ipv6Addr, u16));

impl ToSocketAddrs for [SocketAddr] {}
impl ToSocketAddrsPriv for [SocketAddr] {
    fn to_addrs(&self) -> Addrs {
        Addrs::Many(self.to_vec())
    }
}

impl ToSocketAddrs for str {}
impl ToSocketAddrsPriv for str {
    fn to_addrs(&self) -> Addrs {
        match self.parse::<SocketAddr>() {
            Ok(addr) => ready(addr),
            Err(_) => Addrs::Name(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {}
impl ToSocketAddrsPriv for String {
    fn to_addrs(&self) -> Addrs {
        self.as_str().to_addrs()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl ToSocketAddrsPriv for (&str, u16) {
    fn to_addrs(&self) -> Addrs {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => ready((ip, port)),
            Err(_) => Addrs::HostPort(host.to_owned(), port),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl ToSocketAddrsPriv for (String, u16) {
    fn to_addrs(&self) -> Addrs {
        (self.0.as_str(), self.1).to_addrs()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrsPriv + ?Sized> ToSocketAddrsPriv for &T {
    fn to_addrs(&self) -> Addrs {
        (**self).to_addrs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready_of(addr: impl ToSocketAddrs) -> Vec<SocketAddr> {
        match addr.to_addrs() {
            Addrs::One(addr) => vec![addr],
            Addrs::Many(addrs) => addrs,
            other => panic!("expected literal addresses, got {other:?}"),
        }
    }

    #[test]
    fn literals_parse_without_lookup() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(ready_of("127.0.0.1:80"), [v4]);
        assert_eq!(ready_of(String::from("[::1]:80")), [v6]);
        assert_eq!(ready_of(("127.0.0.1", 80)), [v4]);
        assert_eq!(ready_of(("::1".to_string(), 80)), [v6]);
        assert_eq!(ready_of((Ipv4Addr::LOCALHOST, 80)), [v4]);
        let by_ref: &SocketAddr = &v6;
        assert_eq!(ready_of(by_ref), [v6]);
        assert_eq!(ready_of(&[v4, v6][..]), [v4, v6]);
    }

    #[test]
    fn names_are_looked_up() {
        assert!(matches!("localhost:80".to_addrs(), Addrs::Name(n) if n == "localhost:80"));
        assert!(matches!(("localhost", 80).to_addrs(), Addrs::HostPort(h, 80) if h == "localhost"));
    }
}
