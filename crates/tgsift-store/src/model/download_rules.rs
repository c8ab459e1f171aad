//! `media.download`: which files are fetched. A rule is a kind with an optional size cap
//! (`photo`, `document<=20MB`, `any<=5MB`); a rule that starts with a channel (`@news:video<=2GB`,
//! `1234567:photo`) applies to that channel alone, and a channel with rules of its own follows only
//! those (`@news:none` fetches nothing from it). Sizes are decimal (`KB`, `MB`, `GB`, `TB`, as
//! `posts show` prints them) or binary (`KiB`, `MiB`, `GiB`); a bare number is bytes.

use crate::model::media::MediaKind;

/// One rule: files of a kind (any kind with a file, for `None`) up to a size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    /// The kind, or `None` for `any`.
    pub kind: Option<MediaKind>,
    /// The largest file fetched, bytes; `None` for no cap.
    pub max: Option<i64>,
}

impl Rule {
    fn wants(&self, kind: MediaKind, size: Option<i64>) -> bool {
        self.kind.is_none_or(|k| k == kind)
            && match (self.max, size) {
                (None, _) => true,
                (Some(max), Some(size)) => size <= max,
                // A file of unknown size is not fetched under a cap: it could be any size.
                (Some(_), None) => false,
            }
    }
}

/// A channel named by a rule: its username (without `@`, lowercase) or its Telegram id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChannelName {
    /// `@name:`.
    Username(String),
    /// `1234567:`.
    Id(i64),
}

/// All of `media.download`, parsed: what the downloader asks of every file it finds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownloadRules {
    every: Vec<Rule>,
    channels: Vec<(ChannelName, Vec<Rule>)>,
}

/// Whether a rule may name `kind`: the kinds whose media is a file, and link previews (their photo).
fn has_file(kind: MediaKind) -> bool {
    kind.has_file() || kind == MediaKind::WebPage
}

impl DownloadRules {
    /// The rules written `items`, or an error naming the first that does not parse and the form.
    pub fn parse(items: &[String]) -> Result<DownloadRules, String> {
        let mut rules = DownloadRules::default();
        for item in items {
            let (channel, rule) =
                parse_item(item.trim()).map_err(|why| format!("`{item}`: {why}"))?;
            match channel {
                None => rules.every.extend(rule),
                Some(name) => match rules.channels.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, list)) => list.extend(rule),
                    None => rules.channels.push((name, rule.into_iter().collect())),
                },
            }
        }
        Ok(rules)
    }

    /// Whether nothing is ever fetched (the default): no downloader runs.
    pub fn is_empty(&self) -> bool {
        self.every.is_empty() && self.channels.iter().all(|(_, r)| r.is_empty())
    }

    /// Whether a file of `kind` and `size` in the channel (`username`, Telegram id) is fetched.
    pub fn wants(
        &self,
        username: Option<&str>,
        tg_id: i64,
        kind: MediaKind,
        size: Option<i64>,
    ) -> bool {
        let own = self.channels.iter().find(|(name, _)| match name {
            ChannelName::Id(id) => *id == tg_id,
            ChannelName::Username(u) => username.is_some_and(|n| n.eq_ignore_ascii_case(u)),
        });
        let rules = own.map_or(&self.every, |(_, r)| r);
        rules.iter().any(|r| r.wants(kind, size))
    }
}

/// One item: an optional channel and its rule (`None` for `none`).
fn parse_item(item: &str) -> Result<(Option<ChannelName>, Option<Rule>), String> {
    let (channel, rule) = match item.split_once(':') {
        Some((ch, rule)) => (Some(parse_channel(ch.trim())?), rule.trim()),
        None => (None, item),
    };
    if rule == "none" {
        if channel.is_none() {
            return Err(
                "`none` needs a channel (`@name:none`); leave the list empty to fetch nothing"
                    .into(),
            );
        }
        return Ok((channel, None));
    }
    let (kind, max) = match rule.split_once("<=") {
        Some((k, size)) => (k.trim(), Some(parse_size(size.trim())?)),
        None => (rule, None),
    };
    let kind = if kind == "any" {
        None
    } else {
        let found = MediaKind::parse(kind).filter(|k| has_file(*k));
        Some(found.ok_or_else(|| {
            let names: Vec<&str> = MediaKind::ALL
                .iter()
                .filter(|k| has_file(**k))
                .map(|k| k.as_str())
                .collect();
            format!(
                "unknown file kind `{kind}`: use any, {} (with an optional size cap, e.g. document<=20MB)",
                names.join(", ")
            )
        })?)
    };
    Ok((channel, Some(Rule { kind, max })))
}

fn parse_channel(s: &str) -> Result<ChannelName, String> {
    if let Some(name) = s.strip_prefix('@') {
        let ok = (4..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return if ok {
            Ok(ChannelName::Username(name.to_ascii_lowercase()))
        } else {
            Err(format!(
                "`{s}` is not a channel username (@ and 4 to 32 letters, digits or _)"
            ))
        };
    }
    s.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(ChannelName::Id)
        .ok_or_else(|| format!("`{s}` is neither @username nor a channel id"))
}

/// Bytes written `s`: a number with an optional unit (`20MB`, `1.5 GB`, `512KiB`, `100`).
pub fn parse_size(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit_bytes: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024f64.powi(4),
        _ => return Err(format!("`{s}` is not a size (e.g. 20MB, 1.5GB, 512KiB)")),
    };
    let n: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("`{s}` is not a size (e.g. 20MB, 1.5GB, 512KiB)"))?;
    let bytes = n * unit_bytes;
    if bytes > i64::MAX as f64 {
        return Err(format!("`{s}` is too large"));
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(items: &[&str]) -> DownloadRules {
        DownloadRules::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("rules")
    }

    #[test]
    fn sizes_read_in_decimal_and_binary_units() {
        assert_eq!(parse_size("20MB"), Ok(20_000_000));
        assert_eq!(parse_size("1.5 GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("512KiB"), Ok(524_288));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("2gib"), Ok(2_147_483_648));
        for bad in ["", "MB", "-1MB", "20 parsecs", "1e3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_caps_and_channels_decide_what_is_fetched() {
        let r = rules(&[
            "photo",
            "document<=20MB",
            "@Big_Files:video<=2GB",
            "@Big_Files:photo",
            "777777:none",
        ]);
        assert!(!r.is_empty());
        // Every channel: photos of any size, documents up to 20 MB, nothing else.
        assert!(r.wants(Some("news"), 1, MediaKind::Photo, Some(10_000_000_000)));
        assert!(r.wants(Some("news"), 1, MediaKind::Document, Some(20_000_000)));
        assert!(!r.wants(Some("news"), 1, MediaKind::Document, Some(20_000_001)));
        assert!(
            !r.wants(Some("news"), 1, MediaKind::Document, None),
            "unknown size under a cap"
        );
        assert!(!r.wants(Some("news"), 1, MediaKind::Video, Some(1)));
        // @big_files has its own rules (names are case-blind), and only those.
        assert!(r.wants(Some("big_FILES"), 2, MediaKind::Video, Some(2_000_000_000)));
        assert!(!r.wants(Some("big_files"), 2, MediaKind::Video, Some(2_000_000_001)));
        assert!(!r.wants(Some("big_files"), 2, MediaKind::Document, Some(1)));
        // A channel turned off by id.
        assert!(!r.wants(None, 777_777, MediaKind::Photo, Some(1)));
        let any = rules(&["any<=5MB"]);
        assert!(any.wants(None, 1, MediaKind::Voice, Some(5_000_000)));
        assert!(!any.wants(None, 1, MediaKind::Voice, Some(5_000_001)));
        assert!(rules(&[]).is_empty());
        assert!(rules(&["@news:none"]).is_empty());
    }

    #[test]
    fn bad_rules_are_named_with_the_form() {
        let err = |items: &[&str]| {
            DownloadRules::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect_err("refused")
        };
        assert!(err(&["photos"]).contains("unknown file kind `photos`"));
        assert!(
            err(&["poll"]).contains("unknown file kind `poll`"),
            "polls have no file"
        );
        assert!(err(&["video<=lots"]).contains("not a size"));
        assert!(err(&["none"]).contains("needs a channel"));
        assert!(err(&["@ab:photo"]).contains("not a channel username"));
        assert!(err(&["news:photo"]).contains("neither @username nor a channel id"));
    }
}
