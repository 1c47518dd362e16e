//! The sender domain's mail records as receiving servers read them, for `doctor`: DMARC and
//! (for a custom MAIL FROM domain) SPF from DNS, DKIM from SES. Two TXT questions over UDP
//! to the system's resolver; where no resolver answers, the checks say so and judge nothing.
//!
//! Why no resolver crate: these are two advisory questions; a full stub resolver (TCP
//! fallback, search domains, caching) would add a dozen crates to every build for them.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// What a TXT question got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The name's TXT records, each one string (its character-strings joined).
    Found(Vec<String>),
    /// The name does not exist, or holds no TXT record.
    Nothing,
    /// No answer: no resolver, a timeout, a server failure, a malformed reply.
    Unreachable(String),
}

const TXT: u16 = 16;
const CLASS_IN: u16 = 1;
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The first `nameserver` of `/etc/resolv.conf`, at port 53.
pub fn system_nameserver() -> Option<SocketAddr> {
    let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    nameserver_in(&conf)
}

fn nameserver_in(conf: &str) -> Option<SocketAddr> {
    conf.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
}

/// The TXT records of `name`, asked of `server` (blocking, at most [`TIMEOUT`]).
pub fn txt(server: SocketAddr, name: &str) -> Lookup {
    let id = std::process::id() as u16 ^ (name.len() as u16).rotate_left(7);
    let ask = || -> Result<Vec<u8>, String> {
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().expect("a literal address")
        } else {
            "[::]:0".parse().expect("a literal address")
        };
        let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        socket
            .send_to(&query(id, name)?, server)
            .map_err(|e| e.to_string())?;
        let mut reply = vec![0u8; 4096];
        let (length, _) = socket.recv_from(&mut reply).map_err(|e| e.to_string())?;
        reply.truncate(length);
        Ok(reply)
    };
    match ask().and_then(|reply| answers(&reply, id)) {
        Ok(records) if records.is_empty() => Lookup::Nothing,
        Ok(records) => Lookup::Found(records),
        Err(why) => Lookup::Unreachable(format!("asking {server} for {name} TXT: {why}")),
    }
}

/// A recursive TXT question for `name`.
fn query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let mut packet = Vec::with_capacity(32 + name.len());
    packet.extend(id.to_be_bytes());
    packet.extend(0x0100u16.to_be_bytes()); // a standard query, recursion desired
    packet.extend([0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("{name:?} is not a domain name"));
        }
        packet.push(label.len() as u8);
        packet.extend(label.as_bytes());
    }
    packet.push(0);
    packet.extend(TXT.to_be_bytes());
    packet.extend(CLASS_IN.to_be_bytes());
    Ok(packet)
}

/// The TXT answers of a reply to question `id`; empty for NXDOMAIN or no TXT record.
fn answers(reply: &[u8], id: u16) -> Result<Vec<String>, String> {
    let malformed = || "a malformed reply".to_owned();
    let u16_at = |at: usize| -> Result<u16, String> {
        reply
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(malformed)
    };
    if u16_at(0)? != id {
        return Err("a reply to another question".to_owned());
    }
    let flags = u16_at(2)?;
    match flags & 0x000f {
        0 => {}
        3 => return Ok(Vec::new()),
        code => return Err(format!("the server answered with error code {code}")),
    }
    if flags & 0x0200 != 0 {
        return Err("the reply was truncated".to_owned());
    }
    let (questions, records) = (u16_at(4)?, u16_at(6)?);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(reply, at).ok_or_else(malformed)? + 4;
    }
    let mut found = Vec::new();
    for _ in 0..records {
        at = skip_name(reply, at).ok_or_else(malformed)?;
        let (kind, length) = (u16_at(at)?, usize::from(u16_at(at + 8)?));
        let data = reply.get(at + 10..at + 10 + length).ok_or_else(malformed)?;
        at += 10 + length;
        if kind != TXT {
            continue;
        }
        let mut text = Vec::new();
        let mut rest = data;
        while let Some((&size, tail)) = rest.split_first() {
            let piece = tail.get(..usize::from(size)).ok_or_else(malformed)?;
            text.extend_from_slice(piece);
            rest = &tail[usize::from(size)..];
        }
        found.push(String::from_utf8_lossy(&text).into_owned());
    }
    Ok(found)
}

/// Where the name starting at `at` ends: labels, then a zero or a compression pointer.
fn skip_name(packet: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *packet.get(at)?;
        match length {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

/// The DMARC record among `_dmarc.<domain>`'s TXT records, if any.
pub fn dmarc_record(records: &[String]) -> Option<&str> {
    records
        .iter()
        .map(String::as_str)
        .find(|r| r.trim_start().to_ascii_lowercase().starts_with("v=dmarc1"))
}

/// The SPF record among a domain's TXT records, and whether it lets SES send.
pub fn spf_allows_ses(records: &[String]) -> Option<bool> {
    records
        .iter()
        .find(|r| r.trim_start().to_ascii_lowercase().starts_with("v=spf1"))
        .map(|r| {
            r.split_whitespace()
                .any(|term| term.eq_ignore_ascii_case("include:amazonses.com"))
        })
}

/// A DNS server on loopback for tests (this crate's and the doctor emulator test): answers
/// TXT questions from a fixed zone. Not for anything else.
#[doc(hidden)]
pub mod test_server {
    use std::net::{SocketAddr, UdpSocket};

    use super::{CLASS_IN, TXT};

    /// A reply to `question` (as `query` makes it) with `records` as TXT answers, each split
    /// into character-strings of at most 255 bytes, or NXDOMAIN when `records` is `None`.
    pub fn reply(question: &[u8], records: Option<&[&str]>) -> Vec<u8> {
        let mut packet = question[..2].to_vec();
        let rcode = if records.is_none() { 3 } else { 0 };
        packet.extend((0x8180u16 | rcode).to_be_bytes());
        let count = records.map_or(0, <[&str]>::len) as u16;
        packet.extend([0, 1]);
        packet.extend(count.to_be_bytes());
        packet.extend([0, 0, 0, 0]);
        packet.extend(&question[12..]);
        for record in records.unwrap_or_default() {
            let mut data = Vec::new();
            for piece in record.as_bytes().chunks(255) {
                data.push(piece.len() as u8);
                data.extend(piece);
            }
            packet.extend([0xc0, 12]); // the name: a pointer to the question's
            packet.extend(TXT.to_be_bytes());
            packet.extend(CLASS_IN.to_be_bytes());
            packet.extend(300u32.to_be_bytes());
            packet.extend((data.len() as u16).to_be_bytes());
            packet.extend(data);
        }
        packet
    }

    /// A DNS server on loopback answering every TXT question from `zone`, until dropped.
    pub fn serve(zone: Vec<(String, Vec<String>)>) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            while let Ok((length, from)) = socket.recv_from(&mut buffer) {
                let question = &buffer[..length];
                let name = question_name(question);
                let records = zone
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, r)| r.iter().map(String::as_str).collect::<Vec<_>>());
                let _ = socket.send_to(&reply(question, records.as_deref()), from);
            }
        });
        address
    }

    fn question_name(question: &[u8]) -> String {
        let mut labels = Vec::new();
        let mut at = 12;
        while question[at] != 0 {
            let length = usize::from(question[at]);
            labels.push(String::from_utf8_lossy(&question[at + 1..at + 1 + length]).into_owned());
            at += 1 + length;
        }
        labels.join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::test_server::{reply, serve};
    use super::*;

    #[test]
    fn txt_records_are_read_joined_and_a_missing_name_is_nothing() {
        let long = format!(
            "v=DMARC1; p=reject; rua=mailto:{}@acme.example",
            "a".repeat(300)
        );
        let server = serve(vec![
            (
                "_dmarc.acme.example".into(),
                vec!["unrelated".into(), long.clone()],
            ),
            ("empty.acme.example".into(), vec![]),
        ]);
        assert_eq!(
            txt(server, "_dmarc.acme.example"),
            Lookup::Found(vec!["unrelated".into(), long.clone()])
        );
        assert_eq!(txt(server, "_dmarc.other.example"), Lookup::Nothing);
        assert_eq!(txt(server, "empty.acme.example"), Lookup::Nothing);
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let started = std::time::Instant::now();
        let unanswered = txt(silent.local_addr().unwrap(), "acme.example");
        assert!(
            matches!(unanswered, Lookup::Unreachable(_)),
            "{unanswered:?}"
        );
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(1));
    }

    #[test]
    fn replies_that_do_not_answer_our_question_are_refused() {
        let question = query(7, "acme.example").unwrap();
        let good = reply(&question, Some(&["v=spf1 -all"]));
        assert_eq!(answers(&good, 7).unwrap(), ["v=spf1 -all"]);
        assert!(answers(&good, 8).is_err(), "another id");
        assert!(answers(&good[..good.len() - 3], 7).is_err(), "cut short");
        let mut failed = good.clone();
        failed[3] = (failed[3] & 0xf0) | 2;
        assert!(answers(&failed, 7).unwrap_err().contains("error code 2"));
        assert!(query(1, "a..b").is_err());
    }

    #[test]
    fn records_are_recognised_by_their_version_tag() {
        let records = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            dmarc_record(&records(&["x", "v=DMARC1; p=none"])),
            Some("v=DMARC1; p=none")
        );
        assert_eq!(dmarc_record(&records(&["v=spf1 -all"])), None);
        assert_eq!(
            spf_allows_ses(&records(&["v=spf1 include:amazonses.com ~all"])),
            Some(true)
        );
        assert_eq!(spf_allows_ses(&records(&["v=spf1 mx -all"])), Some(false));
        assert_eq!(
            spf_allows_ses(&records(&["google-site-verification=x"])),
            None
        );
        assert_eq!(
            nameserver_in("# generated\nsearch x\nnameserver 10.0.0.2\nnameserver 1.1.1.1\n"),
            Some("10.0.0.2:53".parse().unwrap())
        );
        assert_eq!(nameserver_in("search x\n"), None);
    }
}
