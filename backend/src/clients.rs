//! Requests per client address: with the account limits in the triggers, what keeps one
//! client from spending a stranger's send budget or guessing toward their lock. A fixed
//! window per minute, in this process's memory (each replica counts its own share).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use axum::http::HeaderMap;

/// Past this many clients in the table, those not seen this minute are dropped first.
const PRUNE_ABOVE: usize = 10_000;

pub struct ClientLimit {
    per_minute: u32,
    trusted_proxies: Vec<IpAddr>,
    windows: Mutex<HashMap<IpAddr, (u64, u32)>>,
}

impl ClientLimit {
    pub fn new(per_minute: u32, trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            per_minute,
            trusted_proxies,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The client behind a request from `peer`: `peer` itself, unless it is a trusted proxy;
    /// then the nearest address in `X-Forwarded-For` that is not one (the entries before it
    /// are whatever the client wrote, so they are never believed).
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|entry| entry.trim().parse().ok())
            .collect();
        forwarded
            .into_iter()
            .rev()
            .find(|address| !self.trusted_proxies.contains(address))
            .unwrap_or(peer)
    }

    /// Counts one request of `client` at `now` (Unix seconds); when it is over the limit,
    /// the seconds until the next minute starts.
    pub fn admit(&self, client: IpAddr, now: u64) -> Result<(), u64> {
        let minute = now / 60;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (seen, _)| *seen == minute);
        }
        let (seen, count) = windows.entry(client).or_insert((minute, 0));
        if *seen != minute {
            *seen = minute;
            *count = 0;
        }
        if *count >= self.per_minute {
            return Err(60 - now % 60);
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn a_client_gets_its_limit_each_minute_and_is_told_when_the_next_starts() {
        let limit = ClientLimit::new(2, Vec::new());
        let (alice, bob) = (ip("203.0.113.7"), ip("198.51.100.2"));
        assert_eq!(limit.admit(alice, 600), Ok(()));
        assert_eq!(limit.admit(alice, 610), Ok(()));
        assert_eq!(limit.admit(alice, 615), Err(45));
        assert_eq!(
            limit.admit(bob, 615),
            Ok(()),
            "one client's use is not another's"
        );
        assert_eq!(limit.admit(alice, 660), Ok(()), "a new minute, a new count");
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy = ip("10.0.0.5");
        let untrusting = ClientLimit::new(5, Vec::new());
        let headers = forwarded("203.0.113.7");
        assert_eq!(untrusting.client_of(proxy, &headers), proxy);
        let trusting = ClientLimit::new(5, vec![proxy]);
        assert_eq!(trusting.client_of(proxy, &headers), ip("203.0.113.7"));
        // A client cannot choose its own address by writing the header itself: the entry
        // the trusted proxy appended (the last) is the one believed.
        let spoofed = forwarded("1.2.3.4, 203.0.113.7");
        assert_eq!(trusting.client_of(proxy, &spoofed), ip("203.0.113.7"));
        assert_eq!(
            trusting.client_of(ip("198.51.100.2"), &spoofed),
            ip("198.51.100.2")
        );
        assert_eq!(trusting.client_of(proxy, &HeaderMap::new()), proxy);
    }
}
