//! The Redis data layout of the Redis backend: keys, event ids, the publish script, and how
//! one webhook is one stream entry.
//!
//! Per channel `<prefix>:stream:<channel>` is a stream of its webhooks and `<prefix>:meta:<channel>`
//! a hash (`created`, `last_used`, `last_id`, `last_ms`, `seq`, `subscribed`, and `by` while a
//! sender's publish created it and nobody subscribed); both expire `max_age` after the
//! channel's last webhook. Per sender address, `<prefix>:sender:<address>` is the sorted set of
//! the channels its publishes created that nobody subscribed to yet (scored by when they
//! expire): the sender's channel quota, shared by every instance. Every publish is announced on
//! the pub/sub channel `<prefix>:notify` (the message is the channel name) so every instance
//! wakes its subscribers of that channel.
//!
//! Entry ids are `<ms>-<n>`: the Redis server's time, and `n` counting the channel's webhooks
//! from 1. So an id is a valid stream id (trimming by age works on it) and tells how many
//! webhooks came before it: a subscriber resuming after `<ms>-7` whose next entry is `<ms>-10`
//! missed exactly two, which the stream no longer holds.

use std::collections::HashMap;

use bytes::Bytes;
use redis::Value;

use crate::delivery::WebhookRequest;

/// Stores one webhook: assigns its id, appends it, trims the stream by length and age, updates
/// the channel's metadata and announces it. Atomic (one script), so ids stay in order whatever
/// instance publishes.
///
/// A channel nobody ever subscribed to expires `publish_ttl` after its last webhook (so senders
/// cannot fill Redis with channels nobody reads); a subscribed one (`subscribed` in its meta)
/// `max_age` after.
///
/// A publish that creates a channel counts against its sender's quota (`quota` < 0: none) in
/// the same step: at the quota it stores nothing and returns `{'', -1}`. The channel leaves the
/// quota when someone subscribes ([`SUBSCRIBED_LUA`]) or when it expires. Redis down means
/// nothing is stored and nothing counted: never more permissive than one instance alone.
///
/// With `hold_ms` > 0 and a replying subscriber alive in the channel's repliers set, the
/// sender is held: the event's reply key `<reply prefix><id>` is set to `w` (awaited) for
/// `hold_ms`, in the same step (see `redis_reply.rs`).
///
/// KEYS: stream, meta, repliers, sender. ARGV: max_len, max_age_ms, notify channel, channel
/// name, publish_ttl_ms, hold_ms, reply key prefix, quota, then the entry's field/value pairs.
/// Returns `{id, held}`.
pub(crate) const PUBLISH_LUA: &str = r#"
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local real = ms
local quota = tonumber(ARGV[8])
local by = false
if redis.call('EXISTS', KEYS[2]) == 0 then
  if quota >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', string.format('%.0f', real))
    if redis.call('ZCARD', KEYS[4]) >= quota then return {'', -1} end
    by = KEYS[4]
  end
elseif not redis.call('HGET', KEYS[2], 'subscribed') then
  by = redis.call('HGET', KEYS[2], 'by')
end
local last = tonumber(redis.call('HGET', KEYS[2], 'last_ms') or '0')
if ms < last then ms = last end
if last == 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  -- the metadata is gone but the stream is not (evicted or deleted): continue after its top
  local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  local tms, tn = string.match(top[1] and top[1][1] or '', '^(%d+)-(%d+)$')
  if tms then
    if tonumber(tms) > ms then ms = tonumber(tms) end
    if tonumber(redis.call('HGET', KEYS[2], 'seq') or '0') < tonumber(tn) then
      redis.call('HSET', KEYS[2], 'seq', tn)
    end
  end
end
local n = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local id = string.format('%.0f-%d', ms, n)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], id, unpack(ARGV, 9))
local age = tonumber(ARGV[2])
if ms > age then
  redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', ms - age))
end
local now = string.format('%.0f', ms)
redis.call('HSET', KEYS[2], 'last_ms', now, 'last_id', id, 'last_used', now)
redis.call('HSETNX', KEYS[2], 'created', now)
local ttl = math.ceil(age / 1000)
if not redis.call('HGET', KEYS[2], 'subscribed') then
  ttl = math.min(ttl, math.ceil(tonumber(ARGV[5]) / 1000))
end
if by then
  redis.call('HSET', KEYS[2], 'by', by)
  redis.call('ZADD', by, string.format('%.0f', real + tonumber(ARGV[5])), ARGV[4])
  redis.call('PEXPIRE', by, ARGV[5])
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
local held = 0
if tonumber(ARGV[6]) > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('%.0f', real))
  if redis.call('ZCARD', KEYS[3]) > 0 then
    redis.call('SET', ARGV[7] .. id, 'w', 'PX', ARGV[6])
    held = 1
  end
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {id, held}
"#;

/// Marks a channel subscribed and keeps it (and its stream) `max_age`; takes it out of its
/// creating sender's quota; returns its newest id.
/// KEYS: stream, meta. ARGV: max_age_ms, channel name.
pub(crate) const SUBSCRIBED_LUA: &str = r#"
local t = redis.call('TIME')
local now = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local by = redis.call('HGET', KEYS[2], 'by')
if by then
  redis.call('ZREM', by, ARGV[2])
  redis.call('HDEL', KEYS[2], 'by')
end
redis.call('HSET', KEYS[2], 'subscribed', '1', 'last_used', now)
redis.call('HSETNX', KEYS[2], 'created', now)
local ttl = math.ceil(tonumber(ARGV[1]) / 1000)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[1], ttl)
return redis.call('HGET', KEYS[2], 'last_id')
"#;

/// Reads a subscriber's next entries, bounded in count and bytes (`XRANGE` alone cannot bound
/// bytes): entries after `after` one at a time, while their field and value bytes stay within
/// `max_bytes`. When the first entry alone is larger, it returns `{'big', id, bytes}` instead
/// (the caller reserves that much of its memory budget and asks again with `at_least_one`).
/// KEYS: stream. ARGV: `(<id>` (exclusive start), count, max_bytes, at_least_one (`1`/`0`).
/// Returns `{'ok', {entry...}}` with entries as `XRANGE` gives them.
pub(crate) const READ_LUA: &str = r#"
local out, total, after = {}, 0, ARGV[1]
local limit = tonumber(ARGV[3])
for i = 1, tonumber(ARGV[2]) do
  local e = redis.call('XRANGE', KEYS[1], after, '+', 'COUNT', 1)[1]
  if not e then break end
  local size = #e[1]
  for j = 1, #e[2] do size = size + #e[2][j] end
  if total + size > limit and not (i == 1 and ARGV[4] == '1') then
    if i == 1 then return {'big', e[1], size} end
    break
  end
  total = total + size
  out[i] = e
  after = '(' .. e[1]
end
return {'ok', out}
"#;

/// What [`READ_LUA`] gave.
pub(crate) enum Read {
    /// Entries in order (`Err(id)`: an entry that is not a webhook) and their bytes.
    Entries(Vec<Result<Stored, String>>, usize),
    /// The next entry alone is larger than asked for: this many bytes.
    Big(usize),
}

/// Parse [`READ_LUA`]'s reply; `None` when it is not one.
pub(crate) fn parse_read(v: Value) -> Option<Read> {
    let Value::Array(mut parts) = v else {
        return None;
    };
    let text = |v: &Value| match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok().map(str::to_string),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    match text(parts.first()?)?.as_str() {
        "big" => match parts.get(2)? {
            Value::Int(n) => Some(Read::Big(usize::try_from(*n).ok()?)),
            _ => None,
        },
        "ok" => {
            let Value::Array(entries) = parts.pop()? else {
                return None;
            };
            let mut out = Vec::with_capacity(entries.len());
            let mut bytes = 0;
            for entry in entries {
                let Value::Array(mut e) = entry else {
                    return None;
                };
                let (Value::Array(flat), id) = (e.pop()?, text(e.first()?)?) else {
                    return None;
                };
                bytes += id.len();
                let mut map = HashMap::with_capacity(flat.len() / 2);
                let mut it = flat.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    let k = text(&k)?;
                    bytes += k.len() + value_len(&v);
                    map.insert(k, v);
                }
                out.push(decode(&id, map).ok_or(id));
            }
            Some(Read::Entries(out, bytes))
        }
        _ => None,
    }
}

fn value_len(v: &Value) -> usize {
    match v {
        Value::BulkString(b) => b.len(),
        Value::SimpleString(s) => s.len(),
        _ => 0,
    }
}

/// The key names of one relay deployment.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    pub fn stream(&self, channel: &str) -> String {
        format!("{}:stream:{channel}", self.prefix)
    }

    pub fn meta(&self, channel: &str) -> String {
        format!("{}:meta:{channel}", self.prefix)
    }

    pub fn notify(&self) -> String {
        format!("{}:notify", self.prefix)
    }

    /// The sorted set of the channels a sender's publishes created and nobody subscribed to
    /// (its channel quota), scored by when they expire (ms).
    pub fn sender(&self, ip: std::net::IpAddr) -> String {
        format!("{}:sender:{ip}", self.prefix)
    }

    /// The sorted set of a channel's replying subscribers (secret hash, scored by expiry ms).
    pub fn repliers(&self, channel: &str) -> String {
        format!("{}:repliers:{channel}", self.prefix)
    }

    /// The prefix of a channel's reply keys (`<prefix><event id>`).
    pub fn reply_prefix(&self, channel: &str) -> String {
        format!("{}:reply:{channel}:", self.prefix)
    }

    /// The pub/sub channel announcing answers (the message is the reply key).
    pub fn replied(&self) -> String {
        format!("{}:replied", self.prefix)
    }
}

/// A place in a channel's stream: the entry id `<ms>-<n>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub ms: u64,
    pub n: u64,
}

impl Pos {
    /// Before every entry.
    pub const START: Pos = Pos { ms: 0, n: 0 };

    /// Parse `<ms>-<n>` (decimal digits only).
    pub fn parse(raw: &str) -> Option<Pos> {
        let (ms, n) = raw.trim().split_once('-')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(n) {
            return None;
        }
        Some(Pos {
            ms: ms.parse().ok()?,
            n: n.parse().ok()?,
        })
    }

    pub fn id(&self) -> String {
        format!("{}-{}", self.ms, self.n)
    }
}

/// The field/value pairs of one webhook's entry. The body is stored as its bytes.
pub(crate) fn entry_fields(
    req: &WebhookRequest,
    received_at_ms: i64,
) -> [(&'static str, Bytes); 6] {
    let headers = serde_json::to_vec(&req.headers).unwrap_or_else(|_| b"[]".to_vec());
    [
        ("t", Bytes::from(received_at_ms.to_string())),
        ("m", Bytes::from(req.method.clone())),
        ("p", Bytes::from(req.path.clone())),
        ("q", Bytes::from(req.query.clone())),
        ("h", Bytes::from(headers)),
        ("b", req.body.clone()),
    ]
}

/// A stored webhook read back.
pub(crate) struct Stored {
    pub pos: Pos,
    pub received_at_ms: i64,
    pub request: WebhookRequest,
}

/// Decode one entry; `None` when it is not one of ours (its id or fields do not parse).
pub(crate) fn decode(id: &str, mut map: HashMap<String, Value>) -> Option<Stored> {
    let pos = Pos::parse(id)?;
    let mut bytes = |k: &str| match map.remove(k) {
        Some(Value::BulkString(b)) => Some(b),
        Some(Value::SimpleString(s)) => Some(s.into_bytes()),
        _ => None,
    };
    let text = |b: Vec<u8>| String::from_utf8(b).ok();
    let received_at_ms = text(bytes("t")?)?.parse().ok()?;
    let method = text(bytes("m")?)?;
    let path = text(bytes("p")?)?;
    let query = text(bytes("q")?)?;
    let headers: Vec<(String, String)> = serde_json::from_slice(&bytes("h")?).ok()?;
    let body = Bytes::from(bytes("b")?);
    Some(Stored {
        pos,
        received_at_ms,
        request: WebhookRequest {
            method,
            path,
            query,
            headers,
            body,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_order() {
        assert_eq!(Pos::parse("1700-7"), Some(Pos { ms: 1700, n: 7 }));
        assert_eq!(Pos::parse("abc-7"), None);
        assert_eq!(Pos::parse("17007"), None);
        assert_eq!(Pos::parse("1-"), None);
        assert!(Pos { ms: 5, n: 9 } < Pos { ms: 6, n: 1 });
        assert_eq!(Pos { ms: 5, n: 9 }.id(), "5-9");
    }

    #[test]
    fn entries_round_trip() {
        let req = WebhookRequest {
            method: "PATCH".into(),
            path: "/a%2Fb".into(),
            query: "x=1&x=2".into(),
            headers: vec![("x-a".into(), "1".into()), ("x-a".into(), "2".into())],
            body: Bytes::from_static(b"\x00\xff{\"k\": 1}\r\n"),
        };
        let map = entry_fields(&req, 42)
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::BulkString(v.to_vec())))
            .collect();
        let got = decode("9-3", map).unwrap();
        assert_eq!(got.pos, Pos { ms: 9, n: 3 });
        assert_eq!(got.received_at_ms, 42);
        assert_eq!(got.request, req);
    }
}
